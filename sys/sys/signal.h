/*	kmodbuild: sys/sys/signal.h -- signals (NetBSD sys/signal.h subset) */

#ifndef _SYS_SIGNAL_H_
#define	_SYS_SIGNAL_H_

#include <sys/sigtypes.h>

#define	_NSIG		64
#define	NSIG		_NSIG

#define	SIGHUP		1	/* hangup */
#define	SIGINT		2	/* interrupt */
#define	SIGQUIT		3	/* quit */
#define	SIGILL		4	/* illegal instruction */
#define	SIGTRAP		5	/* trace trap */
#define	SIGABRT		6	/* abort() */
#define	SIGEMT		7	/* EMT instruction */
#define	SIGFPE		8	/* floating point exception */
#define	SIGKILL		9	/* kill (cannot be caught or ignored) */
#define	SIGBUS		10	/* bus error */
#define	SIGSEGV		11	/* segmentation violation */
#define	SIGSYS		12	/* bad argument to system call */
#define	SIGPIPE		13	/* write on a pipe with no one to read it */
#define	SIGALRM		14	/* alarm clock */
#define	SIGTERM		15	/* software termination signal from kill */

typedef	void (*sig_t)(int);	/* type of signal function */

#endif /* !_SYS_SIGNAL_H_ */
