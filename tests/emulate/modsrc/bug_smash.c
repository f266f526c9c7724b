/* tests/emulate/modsrc/bug_smash.c - INIT overruns a stack buffer through snprintf (told
 * the buffer is as large as memory): the return address is overwritten. */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_smash, NULL);

static int __attribute__((noinline))
bug_smash_fill(void)
{
	char b[8];

	snprintf(b, (size_t)-1, "%s%s%s%s", "0123456789", "abcdefghij", "klmnopqrst",
	    "uvwxyz0123");
	return b[0];
}

static int
bug_smash_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT)
		return bug_smash_fill() == '0' ? 0 : 1;
	return 0;
}
