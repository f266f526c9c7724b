#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
void printf(const char *, ...);

int hz = 100;

MODULE(MODULE_CLASS_MISC, redef, NULL);

static int
redef_modcmd(modcmd_t cmd, void *arg)
{
	switch (cmd) {
	case MODULE_CMD_INIT:
		printf("%d\n", hz);
		return 0;
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
