/*	kmodbuild: sys/miscfs/genfs/layer_extern.h -- layerfs entry points (NetBSD miscfs/genfs/layer_extern.h subset) */

/*
 * These functions are not part of the kernel: the "layerfs" module
 * exports them, and modules that use them (null) say so in MODULE()'s
 * required list (spec section 1.5).
 */

#ifndef _MISCFS_GENFS_LAYER_EXTERN_H_
#define	_MISCFS_GENFS_LAYER_EXTERN_H_

#include <sys/types.h>
#include <sys/mount.h>

struct vnode;
struct kauth_cred;
struct quotactl_args;

__BEGIN_DECLS
/* VFS routines */
int	layerfs_start(struct mount *, int);
int	layerfs_root(struct mount *, int, struct vnode **);
int	layerfs_quotactl(struct mount *, struct quotactl_args *);
int	layerfs_statvfs(struct mount *, struct statvfs *);
int	layerfs_sync(struct mount *, int, struct kauth_cred *);
int	layerfs_renamelock_enter(struct mount *);
void	layerfs_renamelock_exit(struct mount *);
__END_DECLS

#endif /* _MISCFS_GENFS_LAYER_EXTERN_H_ */
