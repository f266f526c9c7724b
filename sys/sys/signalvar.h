/*	kmodbuild: sys/sys/signalvar.h -- kernel signal state (NetBSD sys/signalvar.h subset) */

#ifndef _SYS_SIGNALVAR_H_
#define	_SYS_SIGNALVAR_H_

#include <sys/types.h>
#include <sys/signal.h>

struct lwp;
struct proc;

/* Kernel signal information (sys/siginfo.h). */
typedef struct ksiginfo {
	u_long			ksi_flags;	/* 4 or 8 bytes (LP64) */
	struct {
		int		_signo;
		int		_code;
		int		_errno;
		pid_t		_pid;
		uid_t		_uid;
	} ksi_info;
} ksiginfo_t;

#define	ksi_signo	ksi_info._signo
#define	ksi_code	ksi_info._code
#define	ksi_errno	ksi_info._errno

#ifdef _KERNEL
__BEGIN_DECLS
void	sendsig(const ksiginfo_t *, const sigset_t *);
void	trapsignal(struct lwp *, ksiginfo_t *);
void	psignal(struct proc *, int);
__END_DECLS
#endif

#endif /* !_SYS_SIGNALVAR_H_ */
