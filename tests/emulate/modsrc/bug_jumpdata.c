/* tests/emulate/modsrc/bug_jumpdata.c - INIT calls into its own data, which is not
 * executable. */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_jumpdata, NULL);

static unsigned int bug_jumpdata_words[4] = { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff };

static int
bug_jumpdata_modcmd(modcmd_t cmd, void *arg)
{
	int (*volatile fn)(void) = (int (*)(void))(void *)bug_jumpdata_words;

	if (cmd == MODULE_CMD_INIT)
		return fn() + 1;	/* not a tail call */
	return 0;
}
