/*	kmodbuild example: null -- loopback file system on top of layerfs */

/*
 * Modelled on NetBSD's miscfs/nullfs/null_vfsops.c: nullfs only adds
 * mount/unmount and borrows every other VFS operation from the layerfs
 * module, hence MODULE(..., "layerfs").  Its undefined layerfs_*
 * symbols resolve against that module, not the kernel (spec 2.3).
 */

#include <sys/cdefs.h>
__KERNEL_RCSID(0, "$kmodbuild: null.c $");

#include <sys/param.h>
#include <sys/errno.h>
#include <sys/kmem.h>
#include <sys/module.h>
#include <sys/mount.h>
#include <sys/systm.h>
#include <sys/uio.h>
#include <sys/vnode.h>

#include <miscfs/genfs/layer_extern.h>
#include <miscfs/nullfs/null.h>

MODULE(MODULE_CLASS_VFS, null, "layerfs");

VFS_PROTOS(nullfs);

static u_int nullfs_nmounts;	/* mounted instances; FINI refuses if > 0 */

int
nullfs_mount(struct mount *mp, const char *path, void *data, size_t *data_len)
{
	struct null_args *args = data;
	struct null_mount *nmp;

	if (args == NULL || *data_len < sizeof(*args))
		return EINVAL;
	if (mp->mnt_flag & MNT_GETARGS) {
		nmp = MOUNTTONULLMOUNT(mp);
		if (nmp == NULL)
			return EIO;
		args->la.target = NULL;
		*data_len = sizeof(*args);
		return 0;
	}
	if (mp->mnt_flag & MNT_UPDATE)
		return EOPNOTSUPP;	/* update is not supported */

	nmp = kmem_zalloc(sizeof(*nmp), KM_SLEEP);
	nmp->nullm_size = sizeof(struct layer_node);
	nmp->nullm_tag = VNON;
	nmp->lm.layerm_vfs = mp;
	mp->mnt_data = nmp;
	vfs_getnewfsid(mp);
	nullfs_nmounts++;
	return set_statvfs_info(path, UIO_USERSPACE, args->la.target,
	    UIO_USERSPACE, mp->mnt_op->vfs_name, mp, NULL);
}

int
nullfs_unmount(struct mount *mp, int mntflags)
{
	struct null_mount *nmp = MOUNTTONULLMOUNT(mp);

	if (nmp->nullm_rootvp != NULL && (mntflags & MNT_FORCE) == 0 &&
	    nmp->nullm_rootvp->v_usecount > 1)
		return EBUSY;
	kmem_free(nmp, sizeof(*nmp));
	mp->mnt_data = NULL;
	nullfs_nmounts--;
	return 0;
}

static struct vfsops nullfs_vfsops = {
	.vfs_name = MOUNT_NULL,
	.vfs_min_mount_data = sizeof(struct null_args),
	.vfs_mount = nullfs_mount,
	.vfs_start = layerfs_start,
	.vfs_unmount = nullfs_unmount,
	.vfs_root = layerfs_root,
	.vfs_quotactl = layerfs_quotactl,
	.vfs_statvfs = layerfs_statvfs,
	.vfs_sync = layerfs_sync,
	.vfs_extattrctl = vfs_stdextattrctl,
	.vfs_renamelock_enter = layerfs_renamelock_enter,
	.vfs_renamelock_exit = layerfs_renamelock_exit,
};

static int
null_modcmd(modcmd_t cmd, void *arg)
{
	int error;

	switch (cmd) {
	case MODULE_CMD_INIT:
		error = vfs_attach(&nullfs_vfsops);
		if (error == 0)
			printf("nullfs: loopback file system registered\n");
		return error;
	case MODULE_CMD_FINI:
		if (nullfs_nmounts > 0)
			return EBUSY;
		error = vfs_detach(&nullfs_vfsops);
		if (error == 0)
			printf("nullfs: unregistered\n");
		return error;
	case MODULE_CMD_AUTOUNLOAD:
		return nullfs_nmounts > 0 ? EBUSY : 0;
	default:
		return ENOTTY;
	}
}
