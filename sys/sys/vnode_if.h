/*	kmodbuild: sys/sys/vnode_if.h -- vnode operations (NetBSD sys/vnode_if.h subset) */

#ifndef _SYS_VNODE_IF_H_
#define	_SYS_VNODE_IF_H_

struct vnode;

__BEGIN_DECLS
int	VOP_LOCK(struct vnode *, int);
int	VOP_UNLOCK(struct vnode *);
int	VOP_ISLOCKED(struct vnode *);
__END_DECLS

#endif /* !_SYS_VNODE_IF_H_ */
