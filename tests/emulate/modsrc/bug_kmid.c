/* tests/emulate/modsrc/bug_kmid.c - INIT jumps into the middle of a kernel function
 * (printf + 8): the emulated kernel runs its functions as hooks at their entry points,
 * so there is no code to run there -- a panic naming the module, not a dead process
 * (on mips64eb the slack of the kernel's text holds `break'). */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_kmid, NULL);

static int
bug_kmid_modcmd(modcmd_t cmd, void *arg)
{
	int (*volatile fn)(const char *, ...) =
	    (int (*)(const char *, ...))((char *)(void *)printf + 8);

	if (cmd == MODULE_CMD_INIT)
		return fn("unreachable\n") + 1;	/* not a tail call */
	return 0;
}
