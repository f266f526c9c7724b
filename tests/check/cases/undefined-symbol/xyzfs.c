#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

int vfs_attachh(void *);
void frobnicate_all(void);

MODULE(MODULE_CLASS_VFS, xyzfs, NULL);

static int
xyzfs_modcmd(modcmd_t cmd, void *arg)
{
	switch (cmd) {
	case MODULE_CMD_INIT:
		frobnicate_all();
		return vfs_attachh(NULL);
		return 0;
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
