/*	kmodbuild: sys/sys/select.h -- select/poll support (NetBSD sys/select.h) */

#ifndef _SYS_SELECT_H_
#define	_SYS_SELECT_H_

#include <sys/types.h>

struct lwp;
struct knote;

/* Used to maintain information about processes that wish to be notified. */
struct selinfo {
	void		*sel_cluster;	/* current cluster association */
	struct lwp	*sel_lwp;	/* first LWP to be notified */
	uintptr_t	sel_fdinfo;	/* selected descriptor by first LWP */
	uint32_t	sel_collision;	/* mask of colliding cpus */
};

#ifdef _KERNEL
__BEGIN_DECLS
int	seltrue(dev_t, int, struct lwp *);
void	selinit(struct selinfo *);
void	seldestroy(struct selinfo *);
void	selrecord(struct lwp *, struct selinfo *);
void	selnotify(struct selinfo *, int, long);
__END_DECLS
#endif

#endif /* !_SYS_SELECT_H_ */
