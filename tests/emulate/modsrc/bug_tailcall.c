/* tests/emulate/modsrc/bug_tailcall.c - INIT ends in a call the compiler makes a jump,
 * with a bad pointer: the kernel function faults with no caller to return to. */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_tailcall, NULL);

static int
bug_tailcall_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT)
		return (int)strlen((const char *)8);
	return 0;
}
