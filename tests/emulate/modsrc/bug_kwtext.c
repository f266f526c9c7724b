/* tests/emulate/modsrc/bug_kwtext.c - INIT writes over the kernel's printf. */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_kwtext, NULL);

static int
bug_kwtext_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT) {
		*(volatile unsigned char *)(void *)&printf = 0xcc;
		printf("bug_kwtext: survived\n");
	}
	return 0;
}
