/* tests/emulate/modsrc/loader.c - a modcmd that loads another module while it runs
 * (module_autoload from MODULE_CMD_INIT), so that one module's modcmd runs inside
 * another's. */
#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, loader, NULL);

static int loader_state = 7;

static int
loader_modcmd(modcmd_t cmd, void *arg)
{
	int error;

	switch (cmd) {
	case MODULE_CMD_INIT:
		error = module_autoload("formats", MODULE_CLASS_MISC);
		/* back in this module's code and data after the nested load */
		loader_state += error == 0 ? 1 : 100;
		printf("loader: formats autoloaded, error %d, state %d\n", error, loader_state);
		return 0;
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
