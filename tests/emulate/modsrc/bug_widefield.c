/* tests/emulate/modsrc/bug_widefield.c - INIT prints a field two billion characters wide. */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_widefield, NULL);

static int
bug_widefield_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT)
		printf("%*d|\n", 0x7fffffff, 1);
	return 0;
}
