/*	kmodbuild: sys/sys/module.h -- kernel modules (NetBSD sys/module.h 1.48) */

/*
 * Layout and constants follow spec sections 1.2-1.4 exactly: the loader
 * reads modinfo_t from the single pointer in a module's link_set_modules.
 */

#ifndef _SYS_MODULE_H_
#define	_SYS_MODULE_H_

#include <sys/types.h>
#include <sys/param.h>
#include <sys/cdefs.h>
#include <sys/queue.h>

#define	MAXMODNAME	32
#define	MAXMODDEPS	10

/* Module classes, provided only for system boot and cosmetic purposes. */
typedef enum modclass {
	MODULE_CLASS_ANY,
	MODULE_CLASS_MISC,
	MODULE_CLASS_VFS,
	MODULE_CLASS_DRIVER,
	MODULE_CLASS_EXEC,
	MODULE_CLASS_SECMODEL,
	MODULE_CLASS_BUFQ,
	MODULE_CLASS_MAX
} modclass_t;

/* Module sources: where did it come from? */
typedef enum modsrc {
	MODULE_SOURCE_KERNEL,
	MODULE_SOURCE_BOOT,
	MODULE_SOURCE_FILESYS
} modsrc_t;

/* Commands passed to module control routine. */
typedef enum modcmd {
	MODULE_CMD_INIT,		/* mandatory */
	MODULE_CMD_FINI,		/* mandatory */
	MODULE_CMD_STAT,		/* optional */
	MODULE_CMD_AUTOUNLOAD,		/* optional */
} modcmd_t;

#ifdef _KERNEL

#include <prop/proplib.h>

/* Module header structure. */
typedef struct modinfo {
	u_int		mi_version;
	modclass_t	mi_class;
	int		(*mi_modcmd)(modcmd_t, void *);
	const char	*mi_name;
	const char	*mi_required;
} const modinfo_t;

/* Per module information, maintained by kern_module.c */
typedef struct module {
	u_int			mod_refcnt;
	int			mod_flags;
#define	MODFLG_MUST_FORCE	0x01
#define	MODFLG_AUTO_LOADED	0x02
	const modinfo_t		*mod_info;
	struct kobj		*mod_kobj;
	TAILQ_ENTRY(module)	mod_chain;
	struct module		**mod_required;
	u_int			mod_nrequired;
	u_int			mod_arequired;
	modsrc_t		mod_source;
	time_t			mod_autotime;
	void			*mod_ctf;
	u_int			mod_fbtentries;	/* DTrace FBT entry count */
} module_t;

/*
 * Per-module linkage.  Loadable modules have a `link_set_modules' section
 * containing only one entry, pointing to the module's modinfo_t record.
 * For the kernel, `link_set_modules' can contain multiple entries and
 * records all modules built into the kernel at link time.
 */
#define	_MODULE_REGISTER(name)	__link_set_add_rodata(modules, name##_modinfo);

#define	MODULE(class, name, required)				\
static int name##_modcmd(modcmd_t, void *);			\
static const modinfo_t name##_modinfo = {			\
	.mi_version = __NetBSD_Version__,			\
	.mi_class = (class),					\
	.mi_modcmd = name##_modcmd,				\
	.mi_name = __STRING(name),				\
	.mi_required = (required)				\
};								\
_MODULE_REGISTER(name)

TAILQ_HEAD(modlist, module);

extern u_int		module_count;
extern u_int		module_builtinlist;
extern struct modlist	module_list;
extern struct modlist	module_builtins;
extern u_int		module_gen;
extern bool		module_autoload_on;

void	module_init(void);
void	module_init_class(modclass_t);
int	module_prime(const char *, void *, size_t);

bool	module_compatible(int, int);
int	module_load(const char *, int, prop_dictionary_t, modclass_t);
int	module_autoload(const char *, modclass_t);
int	module_unload(const char *);
int	module_hold(const char *);
void	module_rele(const char *);
int	module_find_section(const char *, void **, size_t *);
void	module_thread_kick(void);
const char *module_name(struct module *);
modsrc_t module_source(struct module *);

#define	MODULE_BASE_SIZE	64
extern char	module_base[MODULE_BASE_SIZE];
extern const char *module_machine;

#endif	/* _KERNEL */

typedef struct modctl_load {
	const char *ml_filename;

#define	MODCTL_NO_PROP		0x2
#define	MODCTL_LOAD_FORCE	0x1
	int ml_flags;

	const char *ml_props;
	size_t ml_propslen;
} modctl_load_t;

enum modctl {
	MODCTL_LOAD,		/* modctl_load_t *ml */
	MODCTL_UNLOAD,		/* char *name */
	MODCTL_OSTAT,		/* struct iovec *buffer */
	MODCTL_EXISTS,		/* enum: 0: load, 1: autoload */
	MODCTL_STAT		/* struct iovec *buffer */
};

/*
 * This structure is used with the newer version of MODCTL_STAT, which
 * exports strings of arbitrary length for the list of required modules.
 * It has the same layout for 32- and 64-bit builds (64 bytes).
 */
typedef struct modstat {
	char		ms_name[MAXMODNAME];
	uint64_t	ms_addr;
	modsrc_t	ms_source;
	modclass_t	ms_class;
	u_int		ms_size;
	u_int		ms_refcnt;
	u_int		ms_flags;
	u_int		ms_reqoffset;	/* offset to module's required list
					   from beginning of iovec buffer! */
} modstat_t;

#endif	/* !_SYS_MODULE_H_ */
