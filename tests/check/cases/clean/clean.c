#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

int clean_calls;

int
clean_count(void)
{
	return ++clean_calls;
}

MODULE(MODULE_CLASS_MISC, clean, NULL);

static int
clean_modcmd(modcmd_t cmd, void *arg)
{
	switch (cmd) {
	case MODULE_CMD_INIT:
		printf("%s: hz %d\n", "clean", hz);
		return 0;
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
