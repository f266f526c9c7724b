/*	kmodbuild: sys/sys/lwp.h -- light-weight processes (NetBSD sys/lwp.h subset) */

#ifndef _SYS_LWP_H_
#define	_SYS_LWP_H_

#include <sys/types.h>

struct proc;
struct kauth_cred;

struct lwp {
	struct proc	*l_proc;	/* p: parent process */
	lwpid_t		l_lid;		/* (: LWP identifier; local to proc */
	int		l_stat;		/* l: overall LWP status */
	struct kauth_cred *l_cred;	/* !: cached credentials */
	void		*l_private;	/* !: svr4-style lwp-private data */
	char		*l_name;	/* (: name, optional */
};

#ifdef _KERNEL
extern struct lwp lwp0;			/* LWP for proc0 */
/* The running LWP: a per-CPU value in NetBSD; the stub kernel has only lwp0. */
#define	curlwp		(&lwp0)
#endif

#endif /* !_SYS_LWP_H_ */
