/*	kmodbuild: sys/sys/mount.h -- mounted file systems (NetBSD sys/mount.h) */

#ifndef _SYS_MOUNT_H_
#define	_SYS_MOUNT_H_

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/statvfs.h>

/* File system types. */
#define	MOUNT_FFS	"ffs"		/* UNIX "Fast" Filesystem */
#define	MOUNT_UFS	MOUNT_FFS	/* for compatibility */
#define	MOUNT_NFS	"nfs"		/* Network Filesystem */
#define	MOUNT_MFS	"mfs"		/* Memory Filesystem */
#define	MOUNT_NULL	"null"		/* Null Filesystem */
#define	MOUNT_TMPFS	"tmpfs"		/* Efficient memory file-system */

/* File identifier (sys/fstypes.h). */
#define	_VFS_MAXFIDSZ	16
struct fid {
	unsigned short	fid_len;		/* length of data in bytes */
	unsigned short	fid_reserved;		/* compat: historic align */
	char		fid_data[_VFS_MAXFIDSZ]; /* data (variable length) */
};

/* Mount flags (sys/fstypes.h). */
#define	MNT_RDONLY	0x00000001	/* read only filesystem */
#define	MNT_SYNCHRONOUS	0x00000002	/* file system written synchronously */
#define	MNT_NOEXEC	0x00000004	/* can't exec from filesystem */
#define	MNT_NOSUID	0x00000008	/* don't honor setuid bits on fs */
#define	MNT_NODEV	0x00000010	/* don't interpret special files */
#define	MNT_LOCAL	0x00001000	/* filesystem is stored locally */
#define	MNT_ROOTFS	0x00004000	/* identifies the root filesystem */
#define	MNT_UPDATE	0x00010000	/* not a real mount, just an update */
#define	MNT_RELOAD	0x00040000	/* reload filesystem data */
#define	MNT_FORCE	0x00080000	/* force unmount or readonly change */
#define	MNT_GETARGS	0x00400000	/* retrieve file system specific args */

/* waitfor flags to vfs_sync() and getfsstat() */
#define	MNT_WAIT	1	/* synchronously wait for I/O to complete */
#define	MNT_NOWAIT	2	/* start all I/O, but do not wait for it */
#define	MNT_LAZY	3	/* push data not written by filesystem syncer */

struct vnode;
struct vattr;
struct kauth_cred;
struct quotactl_args;
struct timespec;
struct vnodeopv_desc;

/*
 * Structure per mounted file system.  Each mounted file system has an
 * array of operations and an instance record.
 */
struct mount {
	TAILQ_ENTRY(mount) mnt_list;		/* mount list */
	struct vfsops	*mnt_op;		/* operations on fs */
	struct vnode	*mnt_vnodecovered;	/* vnode we mounted on */
	struct mount	*mnt_lower;		/* fs mounted on */
	void		*mnt_data;		/* private data */
	int		mnt_refcnt;		/* ref count on this structure */
	int		mnt_flag;		/* flags */
	int		mnt_iflag;		/* internal flags */
	int		mnt_fs_bshift;		/* offset shift for lblkno */
	int		mnt_dev_bshift;		/* shift for device sectors */
	struct statvfs	mnt_stat;		/* cache of filesystem stats */
};

#ifdef _KERNEL

/*
 * Operations supported on mounted file system.
 */
struct vfsops {
	const char *vfs_name;
	size_t	vfs_min_mount_data;
	int	(*vfs_mount)	(struct mount *, const char *, void *,
				    size_t *);
	int	(*vfs_start)	(struct mount *, int);
	int	(*vfs_unmount)	(struct mount *, int);
	int	(*vfs_root)	(struct mount *, int, struct vnode **);
	int	(*vfs_quotactl)	(struct mount *, struct quotactl_args *);
	int	(*vfs_statvfs)	(struct mount *, struct statvfs *);
	int	(*vfs_sync)	(struct mount *, int, struct kauth_cred *);
	int	(*vfs_vget)	(struct mount *, ino_t, int, struct vnode **);
	int	(*vfs_loadvnode) (struct mount *, struct vnode *,
				    const void *, size_t, const void **);
	int	(*vfs_newvnode) (struct mount *, struct vnode *, struct vnode *,
				    struct vattr *, kauth_cred_t, void *,
				    size_t *, const void **);
	int	(*vfs_fhtovp)	(struct mount *, struct fid *, int,
				    struct vnode **);
	int	(*vfs_vptofh)	(struct vnode *, struct fid *, size_t *);
	void	(*vfs_init)	(void);
	void	(*vfs_reinit)	(void);
	void	(*vfs_done)	(void);
	int	(*vfs_mountroot)(void);
	int	(*vfs_snapshot)	(struct mount *, struct vnode *,
				    struct timespec *);
	int	(*vfs_extattrctl) (struct mount *, int,
				    struct vnode *, int, const char *);
	int	(*vfs_suspendctl) (struct mount *, int);
	int	(*vfs_renamelock_enter)(struct mount *);
	void	(*vfs_renamelock_exit)(struct mount *);
	int	(*vfs_fsync)	(struct vnode *, int);
	const struct vnodeopv_desc * const *vfs_opv_descs;
	int	vfs_refcount;
	LIST_ENTRY(vfsops) vfs_list;
};

/* Macros of NetBSD's mount.h that call through the operations vector. */
#define	VFS_VGET(MP, INO, LKTYPE, VPP) \
	(*(MP)->mnt_op->vfs_vget)(MP, INO, LKTYPE, VPP)
#define	VFS_RENAMELOCK_ENTER(MP)  (*(MP)->mnt_op->vfs_renamelock_enter)(MP)
#define	VFS_RENAMELOCK_EXIT(MP)   (*(MP)->mnt_op->vfs_renamelock_exit)(MP)

__BEGIN_DECLS
int	VFS_MOUNT(struct mount *, const char *, void *, size_t *);
int	VFS_START(struct mount *, int);
int	VFS_UNMOUNT(struct mount *, int);
int	VFS_ROOT(struct mount *, int, struct vnode **);
int	VFS_QUOTACTL(struct mount *, struct quotactl_args *);
int	VFS_STATVFS(struct mount *, struct statvfs *);
int	VFS_SYNC(struct mount *, int, struct kauth_cred *);
int	VFS_FHTOVP(struct mount *, struct fid *, int, struct vnode **);
int	VFS_VPTOFH(struct vnode *, struct fid *, size_t *);
int	VFS_SNAPSHOT(struct mount *, struct vnode *, struct timespec *);
int	VFS_EXTATTRCTL(struct mount *, int, struct vnode *, int, const char *);
int	VFS_SUSPENDCTL(struct mount *, int);
__END_DECLS

#define	VFS_MAX_MOUNT_DATA	8192

#define	VFS_PROTOS(fsname)						\
int	fsname##_mount(struct mount *, const char *, void *,		\
		size_t *);						\
int	fsname##_start(struct mount *, int);				\
int	fsname##_unmount(struct mount *, int);				\
int	fsname##_root(struct mount *, int, struct vnode **);		\
int	fsname##_quotactl(struct mount *, struct quotactl_args *);	\
int	fsname##_statvfs(struct mount *, struct statvfs *);		\
int	fsname##_sync(struct mount *, int, struct kauth_cred *);	\
int	fsname##_vget(struct mount *, ino_t, int, struct vnode **);	\
int	fsname##_loadvnode(struct mount *, struct vnode *,		\
		const void *, size_t, const void **);			\
int	fsname##_newvnode(struct mount *, struct vnode *,		\
		struct vnode *, struct vattr *, kauth_cred_t, void *,	\
		size_t *, const void **);				\
int	fsname##_fhtovp(struct mount *, struct fid *, int, struct vnode **);\
int	fsname##_vptofh(struct vnode *, struct fid *, size_t *);	\
void	fsname##_init(void);						\
void	fsname##_reinit(void);						\
void	fsname##_done(void);						\
int	fsname##_mountroot(void);					\
int	fsname##_snapshot(struct mount *, struct vnode *,		\
		struct timespec *);					\
int	fsname##_extattrctl(struct mount *, int, struct vnode *, int,	\
		const char *);						\
int	fsname##_suspendctl(struct mount *, int)

/*
 * exported VFS interface (see vfssubr(9))
 */
__BEGIN_DECLS
int	vfs_attach(struct vfsops *);
int	vfs_detach(struct vfsops *);
void	vfs_reinit(void);
struct vfsops *vfs_getopsbyname(const char *);
void	vfs_delref(struct vfsops *);
void	vfs_getnewfsid(struct mount *);
int	vfs_stdextattrctl(struct mount *, int, struct vnode *,
	    int, const char *);
int	vfs_mountroot(void);
int	vfs_busy(struct mount *);
void	vfs_unbusy(struct mount *);
int	set_statvfs_info(const char *, int, const char *, int,
	    const char *, struct mount *, struct lwp *);
void	copy_statvfs_info(struct statvfs *, const struct mount *);
__END_DECLS

LIST_HEAD(vfs_list_head, vfsops);
extern struct vfs_list_head vfs_list;

#endif /* _KERNEL */

#endif /* !_SYS_MOUNT_H_ */
