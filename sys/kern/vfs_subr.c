/*	kmodbuild stub kernel: vfs_subr.c -- VFS glue and vnode references */

#include <sys/param.h>
#include <sys/errno.h>
#include <sys/mount.h>
#include <sys/systm.h>
#include <sys/uio.h>
#include <sys/vnode.h>

static int32_t vfs_fsid_next = 1;

/* Operation-vector wrappers (NetBSD vfs_subr.c: VFS_MOUNT() and friends). */
int
VFS_MOUNT(struct mount *mp, const char *a, void *b, size_t *c)
{

	return (*mp->mnt_op->vfs_mount)(mp, a, b, c);
}

int
VFS_START(struct mount *mp, int a)
{

	if (mp->mnt_op->vfs_start == NULL)
		return 0;
	return (*mp->mnt_op->vfs_start)(mp, a);
}

int
VFS_UNMOUNT(struct mount *mp, int a)
{

	return (*mp->mnt_op->vfs_unmount)(mp, a);
}

int
VFS_ROOT(struct mount *mp, int lktype, struct vnode **a)
{

	if (mp->mnt_op->vfs_root == NULL)
		return EOPNOTSUPP;
	return (*mp->mnt_op->vfs_root)(mp, lktype, a);
}

int
VFS_QUOTACTL(struct mount *mp, struct quotactl_args *args)
{

	if (mp->mnt_op->vfs_quotactl == NULL)
		return EOPNOTSUPP;
	return (*mp->mnt_op->vfs_quotactl)(mp, args);
}

int
VFS_STATVFS(struct mount *mp, struct statvfs *a)
{

	if (mp->mnt_op->vfs_statvfs == NULL)
		return EOPNOTSUPP;
	return (*mp->mnt_op->vfs_statvfs)(mp, a);
}

int
VFS_SYNC(struct mount *mp, int a, struct kauth_cred *b)
{

	if (mp->mnt_op->vfs_sync == NULL)
		return 0;
	return (*mp->mnt_op->vfs_sync)(mp, a, b);
}

int
VFS_FHTOVP(struct mount *mp, struct fid *a, int b, struct vnode **c)
{

	if (mp->mnt_op->vfs_fhtovp == NULL)
		return EOPNOTSUPP;
	return (*mp->mnt_op->vfs_fhtovp)(mp, a, b, c);
}

int
VFS_VPTOFH(struct vnode *vp, struct fid *a, size_t *b)
{

	if (vp->v_mount->mnt_op->vfs_vptofh == NULL)
		return EOPNOTSUPP;
	return (*vp->v_mount->mnt_op->vfs_vptofh)(vp, a, b);
}

int
VFS_SNAPSHOT(struct mount *mp, struct vnode *a, struct timespec *b)
{

	if (mp->mnt_op->vfs_snapshot == NULL)
		return EOPNOTSUPP;
	return (*mp->mnt_op->vfs_snapshot)(mp, a, b);
}

int
VFS_EXTATTRCTL(struct mount *mp, int a, struct vnode *b, int c, const char *d)
{

	if (mp->mnt_op->vfs_extattrctl == NULL)
		return EOPNOTSUPP;
	return (*mp->mnt_op->vfs_extattrctl)(mp, a, b, c, d);
}

int
VFS_SUSPENDCTL(struct mount *mp, int a)
{

	if (mp->mnt_op->vfs_suspendctl == NULL)
		return EOPNOTSUPP;
	return (*mp->mnt_op->vfs_suspendctl)(mp, a);
}

int
vfs_stdextattrctl(struct mount *mp, int cmt, struct vnode *vp,
    int attrnamespace, const char *attrname)
{

	return EOPNOTSUPP;
}

void
vfs_getnewfsid(struct mount *mp)
{
	int32_t id = vfs_fsid_next++;

	mp->mnt_stat.f_fsidx.__fsid_val[0] = id;
	mp->mnt_stat.f_fsidx.__fsid_val[1] = 0;
	mp->mnt_stat.f_fsid = (unsigned long)id;
}

int
vfs_busy(struct mount *mp)
{

	mp->mnt_refcnt++;
	return 0;
}

void
vfs_unbusy(struct mount *mp)
{

	KASSERT(mp->mnt_refcnt > 0);
	mp->mnt_refcnt--;
}

int
set_statvfs_info(const char *onp, int ukon, const char *fromp, int ukfrom,
    const char *vfsname, struct mount *mp, struct lwp *l)
{
	struct statvfs *sfs = &mp->mnt_stat;

	strlcpy(sfs->f_fstypename, vfsname, sizeof(sfs->f_fstypename));
	if (onp != NULL)
		strlcpy(sfs->f_mntonname, onp, sizeof(sfs->f_mntonname));
	if (fromp != NULL)
		strlcpy(sfs->f_mntfromname, fromp, sizeof(sfs->f_mntfromname));
	return 0;
}

void
copy_statvfs_info(struct statvfs *sbp, const struct mount *mp)
{
	const struct statvfs *mbp = &mp->mnt_stat;

	if (sbp == mbp)
		return;
	sbp->f_fsidx = mbp->f_fsidx;
	sbp->f_fsid = mbp->f_fsid;
	sbp->f_owner = mbp->f_owner;
	sbp->f_flag = (unsigned long)mp->mnt_flag;
	memcpy(sbp->f_fstypename, mbp->f_fstypename, sizeof(sbp->f_fstypename));
	memcpy(sbp->f_mntonname, mbp->f_mntonname, sizeof(sbp->f_mntonname));
	memcpy(sbp->f_mntfromname, mbp->f_mntfromname,
	    sizeof(sbp->f_mntfromname));
}

/* Vnode references and locks. */
void
vref(struct vnode *vp)
{

	KASSERT(vp->v_usecount > 0);
	vp->v_usecount++;
}

void
vrele(struct vnode *vp)
{

	KASSERT(vp->v_usecount > 0);
	vp->v_usecount--;
}

void
vput(struct vnode *vp)
{

	(void)VOP_UNLOCK(vp);
	vrele(vp);
}

int
vn_lock(struct vnode *vp, int flags)
{

	return VOP_LOCK(vp, flags & (LK_SHARED | LK_EXCLUSIVE | LK_NOWAIT));
}

int
VOP_LOCK(struct vnode *vp, int flags)
{

	if (vp->v_lockstate != 0 && (flags & LK_NOWAIT) != 0)
		return EBUSY;
	vp->v_lockstate++;
	return 0;
}

int
VOP_UNLOCK(struct vnode *vp)
{

	KASSERT(vp->v_lockstate > 0);
	vp->v_lockstate--;
	return 0;
}

int
VOP_ISLOCKED(struct vnode *vp)
{

	return vp->v_lockstate != 0 ? LK_EXCLUSIVE : 0;
}
