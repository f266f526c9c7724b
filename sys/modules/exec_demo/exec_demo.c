/*	kmodbuild example: exec_demo -- an executable format for emul_demo */

/*
 * An EXEC-class module in the style of NetBSD's exec_elf32/exec_linux:
 * it adds an execsw entry with exec_add() whose es_emul is &emul_demo.
 * That symbol is defined by the compat_demo module, not by the kernel,
 * so MODULE() requires "compat_demo" (spec 1.5 and 2.3).
 */

#include <sys/cdefs.h>
__KERNEL_RCSID(0, "$kmodbuild: exec_demo.c $");

#include <sys/param.h>
#include <sys/errno.h>
#include <sys/exec.h>
#include <sys/module.h>
#include <sys/proc.h>
#include <sys/systm.h>

#include <compat/demo/demo_exec.h>

MODULE(MODULE_CLASS_EXEC, exec_demo, "compat_demo");

#define	DEMO_TEXT_BASE	0x00400000UL
#define	DEMO_MAX_TEXT	(16UL * 1024 * 1024)

static u_int exec_demo_images;	/* images set up so far */

static int
exec_demo_makecmds(struct lwp *l, struct exec_package *epp)
{
	const struct demo_exec_header *dh = epp->ep_hdr;

	if (epp->ep_hdrvalid < sizeof(*dh) || dh->dh_magic != DEMO_EXEC_MAGIC)
		return ENOEXEC;
	if (dh->dh_version != 1 || dh->dh_textsize > DEMO_MAX_TEXT ||
	    dh->dh_entry >= dh->dh_textsize)
		return EFTYPE;

	epp->ep_taddr = DEMO_TEXT_BASE;
	epp->ep_tsize = dh->dh_textsize;
	epp->ep_daddr = epp->ep_taddr + roundup(epp->ep_tsize, 4096);
	epp->ep_dsize = 0;
	epp->ep_entry = epp->ep_taddr + dh->dh_entry;
	exec_demo_images++;
	return (*epp->ep_esch->es_setup_stack)(l, epp);
}

static struct execsw exec_demo_execsw[] = {
	{
		.es_hdrsz = sizeof(struct demo_exec_header),
		.es_makecmds = exec_demo_makecmds,
		.u = { .elf_probe_func = NULL },
		.es_emul = &emul_demo,
		.es_prio = EXECSW_PRIO_ANY,
		.es_arglen = 0,
		.es_copyargs = copyargs,
		.es_setregs = NULL,
		.es_coredump = coredump_netbsd,
		.es_setup_stack = exec_setup_stack,
	},
};

static int
exec_demo_modcmd(modcmd_t cmd, void *arg)
{
	int error;

	switch (cmd) {
	case MODULE_CMD_INIT:
		error = exec_add(exec_demo_execsw, __arraycount(exec_demo_execsw));
		if (error == 0)
			printf("exec_demo: `%s' executables enabled\n",
			    emul_demo.e_name);
		return error;
	case MODULE_CMD_FINI:
		error = exec_remove(exec_demo_execsw,
		    __arraycount(exec_demo_execsw));
		if (error == 0)
			printf("exec_demo: disabled after %u image(s)\n",
			    exec_demo_images);
		return error;
	case MODULE_CMD_AUTOUNLOAD:
		/* exec_remove() refuses (EBUSY) while an image uses us. */
		return 0;
	default:
		return ENOTTY;
	}
}
