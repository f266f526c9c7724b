/* tests/emulate/modsrc/bug_hooknull.c - INIT hands printf a string pointer into the
 * NULL page: the kernel's printf faults reading it (on mips64eb the emulator maps
 * that page execute-only, and a hook read its stub bytes as the string). */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_hooknull, NULL);

static const char *volatile bug_hooknull_name = (const char *)16;

static int
bug_hooknull_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT)
		printf("bug_hooknull: %s\n", bug_hooknull_name);
	return 0;
}
