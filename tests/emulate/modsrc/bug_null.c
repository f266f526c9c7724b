/* tests/emulate/modsrc/bug_null.c - INIT dereferences a NULL pointer. */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_null, NULL);

static int *volatile bug_null_ptr;	/* never set: NULL */

static int
bug_null_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT)
		return *bug_null_ptr;
	return 0;
}
