/* tests/sim/modsrc/kmod.h - a self-contained MODULE() for the simulator's test modules.
 * Same layout as sys/sys/module.h (spec section 1.2/1.3), so these modules are what
 * the build makes, minus the kernel headers. */
typedef enum { MODULE_CMD_INIT, MODULE_CMD_FINI, MODULE_CMD_STAT,
	MODULE_CMD_AUTOUNLOAD } modcmd_t;
typedef enum { MODULE_CLASS_ANY, MODULE_CLASS_MISC, MODULE_CLASS_VFS,
	MODULE_CLASS_DRIVER, MODULE_CLASS_EXEC, MODULE_CLASS_SECMODEL,
	MODULE_CLASS_BUFQ } modclass_t;
typedef struct modinfo {
	unsigned int mi_version;
	modclass_t mi_class;
	int (*mi_modcmd)(modcmd_t, void *);
	const char *mi_name;
	const char *mi_required;
} const modinfo_t;

#ifndef MODVERSION
#define MODVERSION __NetBSD_Version__
#endif

#define MODULE(class, name, required)					\
static int name##_modcmd(modcmd_t, void *);				\
static const modinfo_t name##_modinfo = {				\
	.mi_version = MODVERSION, .mi_class = (class),			\
	.mi_modcmd = name##_modcmd, .mi_name = #name,			\
	.mi_required = (required) };					\
static void const * const __link_set_modules_sym_##name##_modinfo	\
    __attribute__((__section__("link_set_modules"), __used__)) = &name##_modinfo

/* A modcmd that accepts INIT/FINI/AUTOUNLOAD and answers ENOTTY otherwise. */
#define PLAIN_MODCMD(name)						\
static int name##_modcmd(modcmd_t cmd, void *arg)			\
{									\
	(void)arg;							\
	switch (cmd) {							\
	case MODULE_CMD_INIT: case MODULE_CMD_FINI:			\
	case MODULE_CMD_AUTOUNLOAD: return 0;				\
	default: return 25; /* ENOTTY */				\
	}								\
}

#define NULL ((void *)0)
extern int printf(const char *, ...);
extern int hz;
