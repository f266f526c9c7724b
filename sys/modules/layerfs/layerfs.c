/*	kmodbuild example: layerfs -- library module for layered file systems */

/*
 * Like NetBSD's miscfs/genfs/layer_vfsops.c built as the "layerfs"
 * module: it registers nothing itself, it only exports the VFS routines
 * that stacked file systems (null, umap, overlay) share.  Those modules
 * name "layerfs" in MODULE()'s required list, which makes the kernel
 * load it first and keep it loaded while they are (refcount, spec 3.5).
 */

#include <sys/cdefs.h>
__KERNEL_RCSID(0, "$kmodbuild: layerfs.c $");

#include <sys/param.h>
#include <sys/errno.h>
#include <sys/kmem.h>
#include <sys/module.h>
#include <sys/mount.h>
#include <sys/systm.h>
#include <sys/vnode.h>

#include <miscfs/genfs/layer.h>
#include <miscfs/genfs/layer_extern.h>

MODULE(MODULE_CLASS_MISC, layerfs, NULL);

int
layerfs_start(struct mount *mp, int flags)
{

	return 0;	/* the lower file system is already started */
}

int
layerfs_root(struct mount *mp, int lktype, struct vnode **vpp)
{
	struct vnode *vp;

	vp = MOUNTTOLAYERMOUNT(mp)->layerm_rootvp;
	if (vp == NULL) {
		*vpp = NULL;
		return EINVAL;
	}
	vref(vp);
	vn_lock(vp, lktype | LK_RETRY);
	*vpp = vp;
	return 0;
}

int
layerfs_quotactl(struct mount *mp, struct quotactl_args *args)
{

	return VFS_QUOTACTL(mp->mnt_lower, args);
}

int
layerfs_statvfs(struct mount *mp, struct statvfs *sbp)
{
	struct statvfs *sbuf;
	int error;

	sbuf = kmem_zalloc(sizeof(*sbuf), KM_SLEEP);
	error = vfs_busy(mp);
	if (error == 0) {
		error = VFS_STATVFS(mp->mnt_lower, sbuf);
		vfs_unbusy(mp);
	}
	if (error == 0) {
		/* Copy the lower layer's counters, keep our own names. */
		sbp->f_bsize = sbuf->f_bsize;
		sbp->f_frsize = sbuf->f_frsize;
		sbp->f_iosize = sbuf->f_iosize;
		sbp->f_blocks = sbuf->f_blocks;
		sbp->f_bfree = sbuf->f_bfree;
		sbp->f_bavail = sbuf->f_bavail;
		sbp->f_files = sbuf->f_files;
		sbp->f_ffree = sbuf->f_ffree;
		copy_statvfs_info(sbp, mp);
	}
	kmem_free(sbuf, sizeof(*sbuf));
	return error;
}

int
layerfs_sync(struct mount *mp, int waitfor, struct kauth_cred *cred)
{

	return 0;	/* no data is cached at this layer */
}

int
layerfs_renamelock_enter(struct mount *mp)
{

	return VFS_RENAMELOCK_ENTER(mp->mnt_lower);
}

void
layerfs_renamelock_exit(struct mount *mp)
{

	VFS_RENAMELOCK_EXIT(mp->mnt_lower);
}

static int
layerfs_modcmd(modcmd_t cmd, void *arg)
{

	switch (cmd) {
	case MODULE_CMD_INIT:
		printf("layerfs: layered file system support loaded\n");
		return 0;
	case MODULE_CMD_FINI:
		printf("layerfs: unloaded\n");
		return 0;
	case MODULE_CMD_AUTOUNLOAD:
		/* Users hold a reference on us; the kernel checks it. */
		return 0;
	default:
		return ENOTTY;
	}
}
