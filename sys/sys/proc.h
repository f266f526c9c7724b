/*	kmodbuild: sys/sys/proc.h -- processes and emulations (NetBSD sys/proc.h subset) */

#ifndef _SYS_PROC_H_
#define	_SYS_PROC_H_

#include <sys/types.h>
#include <sys/param.h>
#include <sys/lwp.h>
#include <sys/signal.h>
#include <sys/signalvar.h>

struct exec_package;
struct ksiginfo;
struct sysent;
struct sysctlnode;
struct sc_autoload;
struct uvm_object;
struct kauth_cred;

/*
 * One structure allocated per emulation.
 */
struct emul {
	const char	*e_name;	/* Symbolic name */
	const char	*e_path;	/* Extra emulation path (NULL if none)*/
	int		e_flags;	/* Miscellaneous flags, see above */
					/* Syscall handling function */
	const int	*e_errno;	/* Errno array */
	int		e_nosys;	/* Offset of the nosys() syscall */
	int		e_nsysent;	/* Number of system call entries */
	struct sysent	*e_sysent;	/* System call array */
	const uint32_t	*e_nomodbits;	/* sys_nosys() bits */
	const char * const *e_syscallnames; /* System call name array */
	struct sc_autoload *e_sc_autoload; /* List of autoloadable syscalls */
					/* Signal sending function */
	void		(*e_sendsig)(const struct ksiginfo *,
					  const sigset_t *);
	void		(*e_trapsignal)(struct lwp *, struct ksiginfo *);
	char		*e_sigcode;	/* Start of sigcode */
	char		*e_esigcode;	/* End of sigcode */
					/* Set registers before execution */
	struct uvm_object **e_sigobject;/* shared sigcode object */
	void		(*e_setregs)(struct lwp *, struct exec_package *,
				  vaddr_t);

					/* Per-process hooks */
	void		(*e_proc_exec)(struct proc *, struct exec_package *);
	void		(*e_proc_fork)(struct proc *, struct lwp *, int);
	void		(*e_proc_exit)(struct proc *);
	void		(*e_lwp_fork)(struct lwp *, struct lwp *);
	void		(*e_lwp_exit)(struct lwp *);

	void		(*e_syscall_intern)(struct proc *);

					/* Emulation specific sysctl data */
	struct sysctlnode *e_sysctlovly;

	vaddr_t		(*e_vm_default_addr)(struct proc *, vaddr_t, vsize_t,
			     int);

	/* Emulation-specific hook for userspace page faults */
	int		(*e_usertrap)(struct lwp *, vaddr_t, void *);

	size_t		e_ucsize;	/* size of ucontext_t */
	void		(*e_startlwp)(void *);
};

/*
 * Emulation miscellaneous flags
 */
#define	EMUL_HAS_SYS___syscall	0x001	/* Has SYS___syscall */

/*
 * Description of a process (only what the stub kernel uses).
 */
struct proc {
	pid_t		p_pid;		/* :: Process identifier. */
	int		p_flag;		/* p: P_* flags */
	struct emul	*p_emul;	/* :: emulation information */
	void		*p_emuldata;	/* :: per-proc emul data, or NULL */
	struct kauth_cred *p_cred;	/* p: Master copy of credentials */
	char		p_comm[MAXCOMLEN+1];	/* p: basename of last exec file */
};

#ifdef _KERNEL
extern struct proc proc0;		/* Process slot for swapper */
extern struct emul emul_netbsd;		/* Native emulation */
#endif

#endif /* !_SYS_PROC_H_ */
