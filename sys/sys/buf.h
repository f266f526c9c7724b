/*	kmodbuild: sys/sys/buf.h -- I/O buffers (NetBSD sys/buf.h subset) */

#ifndef _SYS_BUF_H_
#define	_SYS_BUF_H_

#include <sys/types.h>
#include <sys/queue.h>

struct vnode;
struct proc;

/*
 * The buffer header describes an I/O operation in the kernel.
 */
typedef struct buf {
	union {
		TAILQ_ENTRY(buf) u_actq;
	} b_u;					/* c: device driver queue */
#define	b_actq	b_u.u_actq
	void			(*b_iodone)(struct buf *);
	int			b_error;	/* o: errno value. */
	int			b_resid;	/* o: remaining I/O. */
	volatile int		b_cflags;	/* c: BC_* flags */
	volatile int		b_oflags;	/* o: BO_* flags */
	volatile int		b_flags;	/* o: B_* flags */
	int			b_prio;		/* c: priority for queue */
	int			b_bufsize;	/* o: allocated size */
	int			b_bcount;	/* o: valid bytes in buffer */
	dev_t			b_dev;		/* o: associated device */
	void			*b_data;	/* o: I/O buffer */
	daddr_t			b_blkno;	/* o: physical block number */
	daddr_t			b_rawblkno;	/* o: raw physical block number */
	struct proc		*b_proc;	/* o: proc that owns this buf */
	void			*b_private;	/* o: private data for owner */
	off_t			b_dcookie;	/* NFS: Offset cookie if dir block */
	struct vnode		*b_vp;		/* c: file vnode */
} buf_t;

#define	b_cylinder	b_resid		/* Cylinder number for disksort(). */

/* These flags are kept in b_flags (owned by buffer). */
#define	B_AGE		0x00000001	/* Move to age queue when I/O done. */
#define	B_ASYNC		0x00000004	/* Start I/O, do not wait. */
#define	B_COWDONE	0x00000400	/* Copy-on-write already done. */
#define	B_GATHERED	0x00001000	/* LFS: already in a segment. */
#define	B_INVAL		0x00002000	/* Does not contain valid info. */
#define	B_PHYS		0x00040000	/* I/O to user memory. */
#define	B_RAW		0x00080000	/* Set by physio for raw transfers. */
#define	B_READ		0x00100000	/* Read buffer. */
#define	B_DEVPRIVATE	0x02000000	/* Device driver private flag. */
#define	B_WRITE		0x00000000	/* Write buffer (pseudo flag). */

#ifdef _KERNEL
__BEGIN_DECLS
void	biodone(buf_t *);
int	biowait(buf_t *);
buf_t	*getiobuf(struct vnode *, bool);
void	putiobuf(buf_t *);
__END_DECLS
#endif

#endif /* !_SYS_BUF_H_ */
