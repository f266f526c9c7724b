/* tests/emulate/modsrc/bug_recurse.c - INIT recurses until the stack runs out. */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_recurse, NULL);

static int
bug_recurse_down(volatile int n)
{
	volatile char frame[64];

	frame[0] = (char)n;
	return bug_recurse_down(n + 1) + frame[0];
}

static int
bug_recurse_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT)
		return bug_recurse_down(0);
	return 0;
}
