#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, ctormod, NULL);

static int ctormod_ready;

/* a C runtime would call this before main; kobj never calls it (it calls printf:
 * clang cannot evaluate it at compile time and drop it, as it would a plain store) */
static void __attribute__((constructor))
ctormod_setup(void)
{
	printf("ctormod: set up\n");
	ctormod_ready = 1;
}

static int
ctormod_modcmd(modcmd_t cmd, void *arg)
{
	switch (cmd) {
	case MODULE_CMD_INIT:
		return ctormod_ready ? 0 : EINVAL;
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
