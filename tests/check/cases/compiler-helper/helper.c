#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, helper, NULL);

/* a large struct assignment: clang calls memcpy itself */
struct helper_big { char b[512]; };
struct helper_big helper_src, helper_dst;

static int
helper_modcmd(modcmd_t cmd, void *arg)
{
	switch (cmd) {
	case MODULE_CMD_INIT:
		helper_dst = helper_src;
		return 0;
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
