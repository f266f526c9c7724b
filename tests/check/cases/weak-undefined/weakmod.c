#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

extern void optional_hook(void) __attribute__((__weak__));

MODULE(MODULE_CLASS_MISC, weakmod, NULL);

static int
weakmod_modcmd(modcmd_t cmd, void *arg)
{
	switch (cmd) {
	case MODULE_CMD_INIT:
		if (optional_hook != NULL)
			optional_hook();
		return 0;
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
