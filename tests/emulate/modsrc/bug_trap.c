/* tests/emulate/modsrc/bug_trap.c - INIT reaches __builtin_trap() (an invalid instruction). */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_trap, NULL);

static volatile int bug_trap_now = 1;

static int
bug_trap_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT && bug_trap_now)
		__builtin_trap();
	return 0;
}
