#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, needy, "layerfss,nosuchmod");

/* from a required module that is not found: not reported on its own (the kernel stops
 * at loading nosuchmod; whether it would provide this cannot be told without it) */
int nosuchmod_thing(void);

static int
needy_modcmd(modcmd_t cmd, void *arg)
{
	switch (cmd) {
	case MODULE_CMD_INIT:
		printf("%s: hz %d %d\n", "needy", hz, nosuchmod_thing());
		return 0;
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
