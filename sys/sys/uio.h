/*	kmodbuild: sys/sys/uio.h -- scatter/gather I/O (NetBSD sys/uio.h) */

#ifndef _SYS_UIO_H_
#define	_SYS_UIO_H_

#include <sys/types.h>

struct iovec {
	void	*iov_base;	/* Base address. */
	size_t	 iov_len;	/* Length. */
};

enum uio_rw { UIO_READ, UIO_WRITE };

/* Segment flag values. */
enum uio_seg {
	UIO_USERSPACE,		/* from user data space */
	UIO_SYSSPACE		/* from system space */
};

struct vmspace;

struct uio {
	struct	iovec *uio_iov;	/* pointer to array of iovecs */
	int	uio_iovcnt;	/* number of iovecs in array */
	off_t	uio_offset;	/* offset into file this uio corresponds to */
	size_t	uio_resid;	/* residual i/o count */
	enum	uio_rw uio_rw;	/* see above */
	struct	vmspace *uio_vmspace;
};

#define	UIO_MAXIOV	1024		/* max 1K of iov's */

#ifdef _KERNEL
__BEGIN_DECLS
int	uiomove(void *, size_t, struct uio *);
int	uiomove_frombuf(void *, size_t, struct uio *);
__END_DECLS
#endif

#endif /* !_SYS_UIO_H_ */
