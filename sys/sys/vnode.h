/*	kmodbuild: sys/sys/vnode.h -- vnodes (NetBSD sys/vnode.h subset) */

#ifndef _SYS_VNODE_H_
#define	_SYS_VNODE_H_

#include <sys/types.h>
#include <sys/mutex.h>
#include <sys/queue.h>

struct mount;
struct vnodeop_desc;

/* Vnode types.  VNON means no type. */
enum vtype { VNON, VREG, VDIR, VBLK, VCHR, VLNK, VSOCK, VFIFO, VBAD };

/*
 * The vnode is the focus of all file activity in UNIX.  Only the members
 * the stub kernel and the example file systems touch are present.
 */
struct vnode {
	kmutex_t	*v_interlock;		/* vnode interlock */
	int		v_iflag;		/* VI_* flags */
	int		v_vflag;		/* VV_* flags */
	u_int		v_usecount;		/* reference count of users */
	u_int		v_writecount;		/* ref count of writers */
	struct mount	*v_mount;		/* ptr to vfs we are in */
	int		(**v_op)(void *);	/* vnode operations vector */
	enum vtype	v_type;			/* vnode type */
	int		v_lockstate;		/* lock owner count (stub) */
	void		*v_data;		/* private data for fs */
};

#define	VV_ROOT		0x00000001	/* root of its file system */

/* Flags for vn_lock() and VOP_LOCK() (sys/lock.h). */
#define	LK_SHARED	0x00000001	/* shared lock */
#define	LK_EXCLUSIVE	0x00000002	/* exclusive lock */
#define	LK_NOWAIT	0x00000010	/* do not sleep to await lock */
#define	LK_RETRY	0x00020000	/* vn_lock: retry until locked */

#ifdef _KERNEL
__BEGIN_DECLS
void	vref(struct vnode *);
void	vrele(struct vnode *);
void	vput(struct vnode *);
int	vn_lock(struct vnode *, int);
__END_DECLS
#include <sys/vnode_if.h>
#endif

#endif /* !_SYS_VNODE_H_ */
