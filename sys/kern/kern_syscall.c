/*	kmodbuild stub kernel: kern_syscall.c -- system call table */

/*
 * syscall_establish(9) installs a module's system calls in an emulation's
 * sysent table, syscall_disestablish(9) puts sys_nosys back (or
 * sys_nomodule where an autoloadable module exists).  Both fail as a
 * whole: EBUSY if a slot is taken by someone else.
 */

#include <sys/param.h>
#include <sys/errno.h>
#include <sys/proc.h>
#include <sys/syscall.h>
#include <sys/syscallargs.h>
#include <sys/syscallvar.h>
#include <sys/systm.h>

struct sysent sysent[SYS_NSYSENT];
const uint32_t sysent_nomodbits[(SYS_NSYSENT + 31) / 32];

int
sys_nosys(struct lwp *l, const void *v, register_t *retval)
{

	return ENOSYS;
}

int
sys_nomodule(struct lwp *l, const void *v, register_t *retval)
{

	return ENOSYS;
}

int
sys_exit(struct lwp *l, const struct sys_exit_args *uap, register_t *retval)
{

	printf("exit: pid %d status %d\n", (int)l->l_proc->p_pid,
	    SCARG(uap, rval));
	return 0;
}

void
syscall_init(void)
{
	int i;

	for (i = 0; i < SYS_NSYSENT; i++) {
		sysent[i].sy_call = sys_nosys;
		sysent[i].sy_flags = SYCALL_NOSYS;
	}
	sysent[SYS_exit].sy_call = (sy_call_t *)(void *)sys_exit;
	sysent[SYS_exit].sy_flags = 0;
	sysent[SYS_exit].sy_narg = 1;
	sysent[SYS_exit].sy_argsize = sizeof(register_t);
}

static bool
syscall_free(const struct sysent *sy)
{

	return sy->sy_call == sys_nosys || sy->sy_call == sys_nomodule;
}

int
syscall_establish(const struct emul *em, const struct syscall_package *sp)
{
	struct sysent *sy;
	int i;

	if (em == NULL)
		em = &emul_netbsd;
	sy = em->e_sysent;
	for (i = 0; sp[i].sp_call != NULL; i++) {
		if (sp[i].sp_code >= em->e_nsysent)
			return EINVAL;
		if (!syscall_free(&sy[sp[i].sp_code]))
			return EBUSY;
	}
	for (i = 0; sp[i].sp_call != NULL; i++) {
		sy[sp[i].sp_code].sy_call = sp[i].sp_call;
		sy[sp[i].sp_code].sy_flags = sp[i].sp_flags;
	}
	return 0;
}

int
syscall_disestablish(const struct emul *em, const struct syscall_package *sp)
{
	struct sysent *sy;
	int i;

	if (em == NULL)
		em = &emul_netbsd;
	sy = em->e_sysent;
	for (i = 0; sp[i].sp_call != NULL; i++) {
		if (sp[i].sp_code >= em->e_nsysent ||
		    sy[sp[i].sp_code].sy_call != sp[i].sp_call)
			return EINVAL;
	}
	for (i = 0; sp[i].sp_call != NULL; i++) {
		sy[sp[i].sp_code].sy_call = sys_nosys;
		sy[sp[i].sp_code].sy_flags = SYCALL_NOSYS;
	}
	return 0;
}
