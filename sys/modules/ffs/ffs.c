/*	kmodbuild example: ffs -- the Berkeley Fast File System (skeleton) */

/*
 * Registration side of NetBSD's ufs/ffs/ffs_vfsops.c.  The boot
 * scenarios use it as the root file system: when it is neither built in
 * nor preloaded by the boot loader, vfs_mountroot() finds no file system
 * and the kernel reports "cannot mount root, error = 79" (EFTYPE, spec 5).
 */

#include <sys/cdefs.h>
__KERNEL_RCSID(0, "$kmodbuild: ffs.c $");

#include <sys/param.h>
#include <sys/errno.h>
#include <sys/kmem.h>
#include <sys/module.h>
#include <sys/mount.h>
#include <sys/systm.h>
#include <sys/vnode.h>

MODULE(MODULE_CLASS_VFS, ffs, NULL);

VFS_PROTOS(ffs);

struct ufsmount {
	struct mount	*um_mountp;	/* filesystem vfs structure */
	dev_t		um_dev;		/* device mounted */
	u_long		um_nindir;	/* indirect ptrs per block */
};

static u_int ffs_nmounts;

int
ffs_mount(struct mount *mp, const char *path, void *data, size_t *data_len)
{
	struct ufsmount *ump;

	if (mp->mnt_flag & (MNT_GETARGS | MNT_UPDATE))
		return mp->mnt_data != NULL ? 0 : EINVAL;
	ump = kmem_zalloc(sizeof(*ump), KM_SLEEP);
	ump->um_mountp = mp;
	ump->um_nindir = 2048;
	mp->mnt_data = ump;
	mp->mnt_flag |= MNT_LOCAL;
	mp->mnt_stat.f_bsize = 16384;
	mp->mnt_stat.f_namemax = 255;
	vfs_getnewfsid(mp);
	ffs_nmounts++;
	return 0;
}

int
ffs_unmount(struct mount *mp, int mntflags)
{

	kmem_free(mp->mnt_data, sizeof(struct ufsmount));
	mp->mnt_data = NULL;
	ffs_nmounts--;
	return 0;
}

int
ffs_statvfs(struct mount *mp, struct statvfs *sbp)
{

	copy_statvfs_info(sbp, mp);
	sbp->f_bsize = mp->mnt_stat.f_bsize;
	sbp->f_namemax = mp->mnt_stat.f_namemax;
	return 0;
}

int
ffs_mountroot(void)
{

	printf("ffs: mounting root file system\n");
	return 0;
}

static struct vfsops ffs_vfsops = {
	.vfs_name = MOUNT_FFS,
	.vfs_min_mount_data = 0,
	.vfs_mount = ffs_mount,
	.vfs_unmount = ffs_unmount,
	.vfs_statvfs = ffs_statvfs,
	.vfs_extattrctl = vfs_stdextattrctl,
	.vfs_mountroot = ffs_mountroot,
};

static int
ffs_modcmd(modcmd_t cmd, void *arg)
{
	int error;

	switch (cmd) {
	case MODULE_CMD_INIT:
		error = vfs_attach(&ffs_vfsops);
		if (error == 0)
			printf("ffs: Berkeley Fast File System registered\n");
		return error;
	case MODULE_CMD_FINI:
		if (ffs_nmounts > 0)
			return EBUSY;
		error = vfs_detach(&ffs_vfsops);
		if (error == 0)
			printf("ffs: unregistered\n");
		return error;
	case MODULE_CMD_AUTOUNLOAD:
		return ffs_nmounts > 0 ? EBUSY : 0;
	default:
		return ENOTTY;
	}
}
