/* tests/emulate/modsrc/bug_finull.c - INIT is fine, FINI dereferences NULL. */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_finull, NULL);

static int *volatile bug_finull_ptr;

static int
bug_finull_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_FINI)
		*bug_finull_ptr = 1;
	return 0;
}
