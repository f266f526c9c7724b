/* tests/emulate/modsrc/bug_bigset.c - INIT clears half the address space from a small
 * buffer. */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_bigset, NULL);

static char bug_bigset_buf[64];

static int
bug_bigset_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT)
		memset(bug_bigset_buf, 0, (size_t)-1 / 2);
	return 0;
}
