/* tests/emulate/modsrc/bug_exitpage.c - INIT calls 16 bytes past its return address: on
 * the emulator, into the page of its exit trampoline (on mips64eb zero words before, no-ops
 * to the CPU). */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_exitpage, NULL);

static int
bug_exitpage_modcmd(modcmd_t cmd, void *arg)
{
	void (*volatile fn)(void) =
	    (void (*)(void))((char *)__builtin_return_address(0) + 16);

	if (cmd == MODULE_CMD_INIT)
		fn();
	return 0;
}
