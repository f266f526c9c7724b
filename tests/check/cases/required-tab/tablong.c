#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

/* a tab is one byte of mi_required: the kernel measures strlen(), not its escaped text */
MODULE(MODULE_CLASS_MISC, tablong, "\tabcdefghijklmnopqrstuvwxyz1234");

static int
tablong_modcmd(modcmd_t cmd, void *arg)
{
	switch (cmd) {
	case MODULE_CMD_INIT:
		printf("%s: hz %d\n", "tablong", hz);
		return 0;
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
