/* tests/emulate/modsrc/bug_jump.c - INIT calls a function pointer holding a low address
 * that no memory backs (on MIPS, where the low window is the physical memory's
 * start, such a fetch used to leave unicorn broken for the next run). */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_jump, NULL);

static int (*volatile bug_jump_target)(void) = (int (*)(void))0x6530;

static int
bug_jump_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT)
		return bug_jump_target() + 1;	/* not a tail call */
	return 0;
}
