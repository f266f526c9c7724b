/* tests/emulate/modsrc/bug_panic.c - INIT gives up with panic(9). */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_panic, NULL);

static int
bug_panic_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT)
		panic("bug_panic: %s %d", "cannot go on", 42);
	return 0;
}
