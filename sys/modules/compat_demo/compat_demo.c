/*	kmodbuild example: compat_demo -- an operating system emulation */

/*
 * Like NetBSD's compat_linux module, this MISC module owns an emulation
 * record, "struct emul emul_demo", and exports it as a global symbol.
 * Executable-format modules (exec_demo) point their execsw entries at it
 * and therefore name "compat_demo" in their required list.
 */

#include <sys/cdefs.h>
__KERNEL_RCSID(0, "$kmodbuild: compat_demo.c $");

#include <sys/param.h>
#include <sys/errno.h>
#include <sys/exec.h>
#include <sys/module.h>
#include <sys/proc.h>
#include <sys/signalvar.h>
#include <sys/syscall.h>
#include <sys/syscallargs.h>
#include <sys/systm.h>

#include <compat/demo/demo_exec.h>

MODULE(MODULE_CLASS_MISC, compat_demo, NULL);

#define	DEMO_SYS_NSYSENT	8

static struct sysent demo_sysent[DEMO_SYS_NSYSENT];

static const char * const demo_syscallnames[DEMO_SYS_NSYSENT] = {
	"syscall", "exit", "fork", "read", "write", "open", "close", "#7",
};

static u_int demo_nprocs;	/* processes running under emul_demo */

static void
demo_e_proc_exec(struct proc *p, struct exec_package *epp)
{

	demo_nprocs++;
	p->p_emuldata = NULL;
}

static void
demo_e_proc_exit(struct proc *p)
{

	demo_nprocs--;
}

struct emul emul_demo = {
	.e_name = "demo",
	.e_path = "/emul/demo",
	.e_nosys = SYS_syscall,
	.e_nsysent = DEMO_SYS_NSYSENT,
	.e_sysent = demo_sysent,
	.e_syscallnames = demo_syscallnames,
	.e_sendsig = sendsig,
	.e_trapsignal = trapsignal,
	.e_setregs = setregs,
	.e_proc_exec = demo_e_proc_exec,
	.e_proc_exit = demo_e_proc_exit,
};

static int
compat_demo_modcmd(modcmd_t cmd, void *arg)
{
	int i;

	switch (cmd) {
	case MODULE_CMD_INIT:
		for (i = 0; i < DEMO_SYS_NSYSENT; i++) {
			demo_sysent[i].sy_call = sys_nosys;
			demo_sysent[i].sy_flags = SYCALL_NOSYS;
		}
		printf("compat_demo: emulation `%s' ready (%d syscalls)\n",
		    emul_demo.e_name, emul_demo.e_nsysent);
		return 0;
	case MODULE_CMD_FINI:
		if (demo_nprocs > 0)
			return EBUSY;
		printf("compat_demo: emulation `%s' gone\n", emul_demo.e_name);
		return 0;
	case MODULE_CMD_AUTOUNLOAD:
		return demo_nprocs > 0 ? EBUSY : 0;
	default:
		return ENOTTY;
	}
}
