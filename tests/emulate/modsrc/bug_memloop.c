/* tests/emulate/modsrc/bug_memloop.c - INIT clears a big buffer for good: ten
 * instructions a turn, the work is the kernel's memset. */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_memloop, NULL);

static char bug_memloop_buf[4 << 20];

static int
bug_memloop_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT)
		for (;;)
			memset(bug_memloop_buf, 0, sizeof(bug_memloop_buf));
	return 0;
}
