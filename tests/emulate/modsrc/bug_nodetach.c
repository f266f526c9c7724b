/* tests/emulate/modsrc/bug_nodetach.c - a file system whose FINI forgets vfs_detach. */
#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/mount.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_VFS, bug_nodetach, NULL);

static struct vfsops bugfs_vfsops = {
	.vfs_name = "bugfs",
};

static int
bug_nodetach_modcmd(modcmd_t cmd, void *arg)
{

	switch (cmd) {
	case MODULE_CMD_INIT:
		return vfs_attach(&bugfs_vfsops);
	case MODULE_CMD_FINI:
		return 0;		/* vfs_detach(&bugfs_vfsops) missing */
	default:
		return ENOTTY;
	}
}
