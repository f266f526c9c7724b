/*	kmodbuild example: sysdemo -- a system call provided by a module */

/*
 * Installs sys_sysdemo() in one of the slots syscalls.master keeps for
 * dynamically loaded system calls, using syscall_establish(9) on the
 * native emulation (NULL means emul_netbsd).
 */

#include <sys/cdefs.h>
__KERNEL_RCSID(0, "$kmodbuild: sysdemo.c $");

#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/syscall.h>
#include <sys/syscallargs.h>
#include <sys/syscallvar.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, sysdemo, NULL);

#define	SYS_sysdemo	(SYS_lkmnosys_first + 1)

#define	SYSDEMO_DOUBLE	0	/* return value * 2 */
#define	SYSDEMO_NEGATE	1	/* return -value */

struct sys_sysdemo_args {
	syscallarg(int) op;
	syscallarg(int) value;
};
check_syscall_args(sys_sysdemo)

static u_int sysdemo_active;	/* calls in progress */
static u_int sysdemo_calls;

static int
sys_sysdemo(struct lwp *l, const void *v, register_t *retval)
{
	const struct sys_sysdemo_args *uap = v;
	int error = 0;

	sysdemo_active++;
	sysdemo_calls++;
	switch (SCARG(uap, op)) {
	case SYSDEMO_DOUBLE:
		*retval = (register_t)SCARG(uap, value) * 2;
		break;
	case SYSDEMO_NEGATE:
		*retval = -(register_t)SCARG(uap, value);
		break;
	default:
		error = EINVAL;
		break;
	}
	sysdemo_active--;
	return error;
}

static const struct syscall_package sysdemo_syscalls[] = {
	{ SYS_sysdemo, 0, sys_sysdemo },
	{ 0, 0, NULL },
};

static int
sysdemo_modcmd(modcmd_t cmd, void *arg)
{
	int error;

	switch (cmd) {
	case MODULE_CMD_INIT:
		error = syscall_establish(NULL, sysdemo_syscalls);
		if (error == 0)
			printf("sysdemo: system call %d established\n",
			    SYS_sysdemo);
		return error;
	case MODULE_CMD_FINI:
		error = syscall_disestablish(NULL, sysdemo_syscalls);
		if (error == 0)
			printf("sysdemo: removed after %u call(s)\n",
			    sysdemo_calls);
		return error;
	case MODULE_CMD_AUTOUNLOAD:
		return sysdemo_active > 0 ? EBUSY : 0;
	default:
		return ENOTTY;
	}
}
