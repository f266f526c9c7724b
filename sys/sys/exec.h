/*	kmodbuild: sys/sys/exec.h -- executable formats (NetBSD sys/exec.h subset) */

#ifndef _SYS_EXEC_H_
#define	_SYS_EXEC_H_

#include <sys/types.h>
#include <sys/param.h>

struct lwp;
struct proc;
struct vnode;
struct exec_package;
struct ps_strings;
struct coredump_iostate;

/*
 * the following structures allow execve() to put together processes
 * in a more extensible and cleaner way.
 */
typedef int (*exec_makecmds_fcn)(struct lwp *, struct exec_package *);

struct execsw {
	u_int	es_hdrsz;		/* size of header for this format */
	exec_makecmds_fcn es_makecmds;	/* function to setup vmcmds */
	union {				/* probe function */
		int (*elf_probe_func)(struct lwp *,
			struct exec_package *, void *, char *, vaddr_t *);
		int (*ecoff_probe_func)(struct lwp *, struct exec_package *);
		int (*mach_probe_func)(const char **);
	} u;
	struct  emul *es_emul;		/* os emulation */
	int	es_prio;		/* entry priority */
	int	es_arglen;		/* Extra argument size in words */
					/* Copy arguments on the new stack */
	int	(*es_copyargs)(struct lwp *, struct exec_package *,
			struct ps_strings *, char **, void *);
					/* Set registers before execution */
	void	(*es_setregs)(struct lwp *, struct exec_package *, vaddr_t);
					/* Dump core */
	int	(*es_coredump)(struct lwp *, struct coredump_iostate *);
	int	(*es_setup_stack)(struct lwp *, struct exec_package *);
};

#define	EXECSW_PRIO_ANY		0x000	/* default, no preference */
#define	EXECSW_PRIO_FIRST	0x001	/* this should be among first */
#define	EXECSW_PRIO_LAST	0x002	/* this should be among last */

/* exec vmspace-creation command set; see below */
struct exec_vmcmd_set {
	u_int	evs_used;
	u_int	evs_cnt;
	struct exec_vmcmd *evs_cmds;
};

struct exec_package {
	const char *ep_kname;		/* kernel-side copy of file's name */
	char	*ep_resolvedname;	/* fully resolved path from namei */
	int	ep_xfd;			/* fd of the executable */
	void	*ep_hdr;		/* file's exec header */
	u_int	ep_hdrlen;		/* length of ep_hdr */
	u_int	ep_hdrvalid;		/* bytes of ep_hdr that are valid */
	struct	exec_vmcmd_set ep_vmcmds;  /* vmcmds used to build vmspace */
	struct	vnode *ep_vp;		/* executable's vnode */
	vaddr_t	ep_taddr;		/* process's text address */
	vsize_t	ep_tsize;		/* size of process's text */
	vaddr_t	ep_daddr;		/* process's data(+bss) address */
	vsize_t	ep_dsize;		/* size of process's data(+bss) */
	vaddr_t	ep_maxsaddr;		/* proc's max stack addr ("top") */
	vaddr_t	ep_minsaddr;		/* proc's min stack addr ("bottom") */
	vsize_t	ep_ssize;		/* size of process's stack */
	vaddr_t	ep_entry;		/* process's entry point */
	vaddr_t	ep_entryoffset;		/* offset to entry point */
	vaddr_t	ep_vm_minaddr;		/* bottom of process address space */
	vaddr_t	ep_vm_maxaddr;		/* top of process address space */
	u_int	ep_flags;		/* flags; see below. */
	int	ep_fd;			/* a file descriptor we're holding */
	void	*ep_emul_arg;		/* emulation argument */
	const struct	execsw *ep_esch;/* execsw entry */
	struct vnode *ep_emul_root;	/* base of emulation filesystem */
	struct vnode *ep_interp;	/* vnode of (elf) interpeter */
	uint32_t ep_pax_flags;		/* pax flags */
	void	(*ep_emul_arg_free)(void *);
					/* free ep_emul_arg */
	uint32_t ep_osversion;		/* OS version */
	char	ep_machine_arch[12];	/* from MARCH note */
};
#define	EXEC_INDIR	0x0001		/* script handling already done */
#define	EXEC_HASFD	0x0002		/* holding a shell script */
#define	EXEC_HASARGL	0x0004		/* has fake args vector */
#define	EXEC_SKIPARG	0x0008		/* don't copy user-supplied argv[0] */
#define	EXEC_DESTR	0x0010		/* destructive ops performed */
#define	EXEC_32		0x0020		/* 32-bit binary emulation */
#define	EXEC_FORCEAUX	0x0040		/* always use ELF AUX vector */
#define	EXEC_TOPDOWN_VM	0x0080		/* may use top-down VM layout */
#define	EXEC_FROM32	0x0100		/* exec'ed from 32-bit binary */

#ifdef _KERNEL
__BEGIN_DECLS
int	exec_add(struct execsw *, int);
int	exec_remove(struct execsw *, int);
int	copyargs(struct lwp *, struct exec_package *,
	    struct ps_strings *, char **, void *);
void	setregs(struct lwp *, struct exec_package *, vaddr_t);
int	exec_setup_stack(struct lwp *, struct exec_package *);
int	coredump_netbsd(struct lwp *, struct coredump_iostate *);
__END_DECLS
#endif /* _KERNEL */

#endif /* !_SYS_EXEC_H_ */
