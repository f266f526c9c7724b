/*	kmodbuild: sys/miscfs/genfs/layer.h -- layered file systems (NetBSD miscfs/genfs/layer.h subset) */

#ifndef _MISCFS_GENFS_LAYER_H_
#define	_MISCFS_GENFS_LAYER_H_

#include <sys/types.h>
#include <sys/mount.h>
#include <sys/vnode.h>

struct export_args30;

struct layer_args {
	char	*target;		/* Target of loopback  */
	struct	export_args30 *_pad1;	/* compat with old userland tools */
};

#ifdef _KERNEL

struct vnode;

/* Per-mount state shared by every layered file system (null, umap, ...). */
struct layer_mount {
	struct mount		*layerm_vfs;
	struct vnode		*layerm_rootvp;	/* Ref to root layer_node */
	u_int			layerm_flags;	/* mount point layer flags */
	u_int			layerm_size;	/* size of fs's struct node */
	enum vtype		layerm_tag;	/* vtag of our vnodes */
	int			(**layerm_vnodeop_p)(void *);
};

#define	LAYERFS_MFLAGS		0x00000fff	/* reserved layer mount flags */
#define	LAYERFS_MBYPASSDEBUG	0x00000001

/* Per-vnode state: every layer vnode stacks on one lower vnode. */
struct layer_node {
	struct vnode		*layer_lowervp;	/* VREFed once */
	struct vnode		*layer_vnode;	/* Back pointer */
	unsigned int		layer_flags;	/* locking, etc. */
};

#define	MOUNTTOLAYERMOUNT(mp)	((struct layer_mount *)((mp)->mnt_data))
#define	VTOLAYER(vp)		((struct layer_node *)(vp)->v_data)
#define	LAYERTOV(xp)		((xp)->layer_vnode)
#define	LAYERVPTOLOWERVP(vp)	(VTOLAYER(vp)->layer_lowervp)

#endif /* _KERNEL */

#endif /* _MISCFS_GENFS_LAYER_H_ */
