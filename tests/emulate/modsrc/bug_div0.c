/* tests/emulate/modsrc/bug_div0.c - INIT divides by zero. */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_div0, NULL);

static volatile int bug_div0_num = 7, bug_div0_den;

static int
bug_div0_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT)
		return bug_div0_num / bug_div0_den;
	return 0;
}
