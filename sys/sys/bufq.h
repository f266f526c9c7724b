/*	kmodbuild: sys/sys/bufq.h -- device buffer queues (NetBSD sys/bufq.h) */

#ifndef _SYS_BUFQ_H_
#define	_SYS_BUFQ_H_

#if !defined(_KERNEL)
#error not supposed to be exposed to userland.
#endif

#include <sys/types.h>

struct buf;
struct bufq_state;

/*
 * Special strategies for bufq_alloc.
 */
#define	BUFQ_STRAT_ANY		NULL	/* let bufq_alloc select one. */
#define	BUFQ_DISK_DEFAULT_STRAT	"disksort" /* default for disks */

/*
 * Flags for bufq_alloc.
 */
#define	BUFQ_SORT_RAWBLOCK	0x0001	/* Sort by b_rawblkno */
#define	BUFQ_SORT_CYLINDER	0x0002	/* Sort by b_cylinder, b_rawblkno */

#define	BUFQ_SORT_MASK		0x000f

#define	BUFQ_EXACT		0x0010	/* Don't fall back to other strategy */

__BEGIN_DECLS
int	bufq_alloc(struct bufq_state **, const char *, int);
void	bufq_drain(struct bufq_state *);
void	bufq_free(struct bufq_state *);
/* Put buffer in queue */
void	bufq_put(struct bufq_state *, struct buf *);
/* Get and remove buffer from queue */
struct buf *bufq_get(struct bufq_state *);
/* Get buffer from queue */
struct buf *bufq_peek(struct bufq_state *);
/* Remove specified buffer from queue */
struct buf *bufq_cancel(struct bufq_state *, struct buf *);
const char *bufq_getstrategyname(struct bufq_state *);
void	bufq_move(struct bufq_state *, struct bufq_state *);
__END_DECLS

#endif /* !_SYS_BUFQ_H_ */
