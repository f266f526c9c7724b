/* tests/emulate/modsrc/bug_hookkwtext.c - INIT has memset write over the kernel's
 * printf: the kernel's text is read-only to the kernel's own functions too. */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_hookkwtext, NULL);

static volatile size_t bug_hookkwtext_len = 4;

static int
bug_hookkwtext_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT) {
		memset((void *)(uintptr_t)&printf, 0xcc, bug_hookkwtext_len);
		printf("bug_hookkwtext: survived\n");
	}
	return 0;
}
