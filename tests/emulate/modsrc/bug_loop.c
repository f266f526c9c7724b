/* tests/emulate/modsrc/bug_loop.c - INIT never returns. */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_loop, NULL);

static volatile u_int bug_loop_spins;

static int
bug_loop_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT)
		for (;;)
			bug_loop_spins++;
	return 0;
}
