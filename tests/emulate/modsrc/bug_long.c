/* tests/emulate/modsrc/bug_long.c - INIT runs 500 instructions without a branch, more
 * than unicorn 2.1.4's MIPS64 can translate as one block (docs/emulate.md, Limits). */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_long, NULL);

static int
bug_long_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT)
		__asm volatile(".rept 500\n\tnop\n\t.endr");
	return 0;
}
