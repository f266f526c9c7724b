/*	kmodbuild stub kernel: kern_exec.c -- native emulation and exec switch */

/*
 * exec_add(9)/exec_remove(9) keep a small table of execsw entries,
 * sorted by es_prio as NetBSD's exec_init() does.  emul_netbsd, the
 * native emulation record, is defined here like in NetBSD.
 */

#include <sys/param.h>
#include <sys/errno.h>
#include <sys/exec.h>
#include <sys/proc.h>
#include <sys/signalvar.h>
#include <sys/syscall.h>
#include <sys/systm.h>

#define	EXECSW_MAX	32

#ifdef __LP64__
#define	USRSTACK	0x00007f7fffffe000UL	/* top of the user stack */
#else
#define	USRSTACK	0xbfbfe000UL
#endif
#define	USRSTACK_SIZE	(2UL * 1024 * 1024)

struct emul emul_netbsd = {
	.e_name =		"netbsd",
	.e_path =		NULL,
	.e_nosys =		SYS_syscall,
	.e_nsysent =		SYS_NSYSENT,
	.e_sysent =		sysent,
	.e_nomodbits =		sysent_nomodbits,
	.e_sendsig =		sendsig,
	.e_trapsignal =		trapsignal,
	.e_setregs =		setregs,
};

static const struct execsw *execsw[EXECSW_MAX];
static u_int nexecs;
static u_int execsw_busy[EXECSW_MAX];	/* images using each entry */

int
exec_add(struct execsw *esp, int count)
{
	u_int i, j;
	int k;

	if (count <= 0 || nexecs + (u_int)count > EXECSW_MAX)
		return ENOMEM;
	for (k = 0; k < count; k++)
		for (i = 0; i < nexecs; i++)
			if (execsw[i] == &esp[k])
				return EEXIST;
	for (k = 0; k < count; k++) {
		/* Keep EXECSW_PRIO_FIRST entries first, _LAST ones last. */
		for (i = 0; i < nexecs; i++)
			if (execsw[i]->es_prio > esp[k].es_prio)
				break;
		for (j = nexecs; j > i; j--) {
			execsw[j] = execsw[j - 1];
			execsw_busy[j] = execsw_busy[j - 1];
		}
		execsw[i] = &esp[k];
		execsw_busy[i] = 0;
		nexecs++;
	}
	return 0;
}

int
exec_remove(struct execsw *esp, int count)
{
	u_int i, j;
	int k;

	for (k = 0; k < count; k++)
		for (i = 0; i < nexecs; i++)
			if (execsw[i] == &esp[k] && execsw_busy[i] != 0)
				return EBUSY;
	for (k = 0; k < count; k++) {
		for (i = 0; i < nexecs; i++) {
			if (execsw[i] != &esp[k])
				continue;
			for (j = i; j + 1 < nexecs; j++) {
				execsw[j] = execsw[j + 1];
				execsw_busy[j] = execsw_busy[j + 1];
			}
			nexecs--;
			break;
		}
	}
	return 0;
}

int
copyargs(struct lwp *l, struct exec_package *pack, struct ps_strings *arginfo,
    char **stackp, void *argp)
{

	*stackp = (char *)argp;
	return 0;
}

void
setregs(struct lwp *l, struct exec_package *pack, vaddr_t stack)
{

	l->l_private = NULL;
}

int
exec_setup_stack(struct lwp *l, struct exec_package *epp)
{

	epp->ep_ssize = USRSTACK_SIZE;
	epp->ep_minsaddr = USRSTACK;
	epp->ep_maxsaddr = epp->ep_minsaddr - epp->ep_ssize;
	return 0;
}

int
coredump_netbsd(struct lwp *l, struct coredump_iostate *iocookie)
{

	return ENOSYS;
}
