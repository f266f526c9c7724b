/* tests/emulate/modsrc/bug_rodata.c - INIT writes to its own read-only data. */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_rodata, NULL);

static const char bug_rodata_greeting[] = "hello";
static char *volatile bug_rodata_ptr = (char *)(uintptr_t)bug_rodata_greeting;

static int
bug_rodata_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT)
		bug_rodata_ptr[0] = 'H';
	return 0;
}
