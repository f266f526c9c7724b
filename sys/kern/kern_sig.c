/*	kmodbuild stub kernel: kern_sig.c -- signal delivery hooks */

#include <sys/param.h>
#include <sys/lwp.h>
#include <sys/proc.h>
#include <sys/signalvar.h>
#include <sys/systm.h>

void
sendsig(const ksiginfo_t *ksi, const sigset_t *mask)
{

	printf("sendsig: signal %d\n", ksi->ksi_signo);
}

void
trapsignal(struct lwp *l, ksiginfo_t *ksi)
{

	psignal(l->l_proc, ksi->ksi_signo);
}

void
psignal(struct proc *p, int signo)
{

	if (signo <= 0 || signo >= NSIG)
		panic("psignal: signal number %d", signo);
	printf("psignal: pid %d signal %d\n", (int)p->p_pid, signo);
}
