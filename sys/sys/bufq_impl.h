/*	kmodbuild: sys/sys/bufq_impl.h -- buffer queue strategies (NetBSD sys/bufq_impl.h) */

#if !defined(_KERNEL)
#error not supposed to be exposed to userland.
#endif

#ifndef _SYS_BUFQ_IMPL_H_
#define	_SYS_BUFQ_IMPL_H_

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/null.h>
#include <sys/buf.h>
#include <sys/bufq.h>

struct bufq_strat;

/*
 * Device driver buffer queue.
 */
struct bufq_state {
	void (*bq_put)(struct bufq_state *, struct buf *);
	struct buf *(*bq_get)(struct bufq_state *, int);
	struct buf *(*bq_cancel)(struct bufq_state *, struct buf *);
	void (*bq_fini)(struct bufq_state *);
	void *bq_private;
	int bq_flags;			/* Flags from bufq_alloc() */
	struct bufq_strat *bq_strat;
};

static __inline void *bufq_private(const struct bufq_state *) __unused;
static __inline int buf_inorder(const struct buf *, const struct buf *, int)
    __unused;

static __inline void *
bufq_private(const struct bufq_state *bufq)
{

	return bufq->bq_private;
}

/*
 * Check if two buf's are in ascending order.
 */
static __inline int
buf_inorder(const struct buf *bp, const struct buf *bq, int sortby)
{

	if (bp == NULL || bq == NULL)
		return (bq == NULL);

	if (sortby == BUFQ_SORT_CYLINDER) {
		if (bp->b_cylinder != bq->b_cylinder)
			return bp->b_cylinder < bq->b_cylinder;
		else
			return bp->b_rawblkno < bq->b_rawblkno;
	} else
		return bp->b_rawblkno < bq->b_rawblkno;
}

struct bufq_strat {
	const char *bs_name;
	void (*bs_initfn)(struct bufq_state *);
	int bs_prio;
	int bs_refcnt;
	SLIST_ENTRY(bufq_strat) bs_next;
};

#define	BUFQ_DEFINE(name, prio, initfn)			\
static struct bufq_strat bufq_strat_##name = {		\
	.bs_name = #name,				\
	.bs_prio = prio,				\
	.bs_initfn = initfn,				\
	.bs_refcnt = 0					\
};

__BEGIN_DECLS
int	bufq_register(struct bufq_strat *);
int	bufq_unregister(struct bufq_strat *);
__END_DECLS

#endif /* !_SYS_BUFQ_IMPL_H_ */
