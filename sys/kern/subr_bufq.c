/*	kmodbuild stub kernel: subr_bufq.c -- buffer queue strategies */

/*
 * bufq_register(9) adds a strategy (usually from a BUFQ module);
 * bufq_alloc() picks one by name or, with BUFQ_STRAT_ANY, the one with
 * the highest priority.  A strategy in use cannot be unregistered (EBUSY).
 */

#include <sys/param.h>
#include <sys/buf.h>
#include <sys/bufq.h>
#include <sys/bufq_impl.h>
#include <sys/errno.h>
#include <sys/kmem.h>
#include <sys/module.h>
#include <sys/systm.h>

static SLIST_HEAD(, bufq_strat) bufq_strat_list =
    SLIST_HEAD_INITIALIZER(bufq_strat_list);

int
bufq_register(struct bufq_strat *bs)
{

	SLIST_INSERT_HEAD(&bufq_strat_list, bs, bs_next);
	bs->bs_refcnt = 0;
	return 0;
}

int
bufq_unregister(struct bufq_strat *bs)
{

	if (bs->bs_refcnt != 0)
		return EBUSY;
	SLIST_REMOVE(&bufq_strat_list, bs, bufq_strat, bs_next);
	return 0;
}

static struct bufq_strat *
bufq_find(const char *strategy)
{
	struct bufq_strat *bs, *best = NULL;

	SLIST_FOREACH(bs, &bufq_strat_list, bs_next) {
		if (strategy == BUFQ_STRAT_ANY) {
			if (best == NULL || bs->bs_prio > best->bs_prio)
				best = bs;
		} else if (strcmp(strategy, bs->bs_name) == 0)
			return bs;
	}
	return best;
}

int
bufq_alloc(struct bufq_state **bufqp, const char *strategy, int flags)
{
	char modname[MAXMODNAME];
	struct bufq_strat *bsp;
	struct bufq_state *bufq;

	bsp = bufq_find(strategy);
	if (bsp == NULL && strategy != BUFQ_STRAT_ANY) {
		/* "bufq_" + strategy, class BUFQ (spec 3.7). */
		snprintf(modname, sizeof(modname), "bufq_%s", strategy);
		if (module_autoload(modname, MODULE_CLASS_BUFQ) == 0)
			bsp = bufq_find(strategy);
	}
	if (bsp == NULL && (flags & BUFQ_EXACT) == 0)
		bsp = bufq_find(BUFQ_STRAT_ANY);
	if (bsp == NULL)
		return ENOENT;

	bufq = kmem_zalloc(sizeof(*bufq), KM_SLEEP);
	bufq->bq_flags = flags;
	bufq->bq_strat = bsp;
	bsp->bs_refcnt++;
	(*bsp->bs_initfn)(bufq);
	*bufqp = bufq;
	return 0;
}

void
bufq_put(struct bufq_state *bufq, struct buf *bp)
{

	(*bufq->bq_put)(bufq, bp);
}

struct buf *
bufq_get(struct bufq_state *bufq)
{

	return (*bufq->bq_get)(bufq, 1);
}

struct buf *
bufq_peek(struct bufq_state *bufq)
{

	return (*bufq->bq_get)(bufq, 0);
}

struct buf *
bufq_cancel(struct bufq_state *bufq, struct buf *bp)
{

	return (*bufq->bq_cancel)(bufq, bp);
}

void
bufq_drain(struct bufq_state *bufq)
{
	struct buf *bp;

	while ((bp = bufq_get(bufq)) != NULL) {
		bp->b_error = EIO;
		bp->b_resid = bp->b_bcount;
		biodone(bp);
	}
}

void
bufq_free(struct bufq_state *bufq)
{

	KASSERT(bufq_peek(bufq) == NULL);
	if (bufq->bq_fini != NULL)
		(*bufq->bq_fini)(bufq);
	bufq->bq_strat->bs_refcnt--;
	kmem_free(bufq, sizeof(*bufq));
}

const char *
bufq_getstrategyname(struct bufq_state *bufq)
{

	return bufq->bq_strat->bs_name;
}

void
bufq_move(struct bufq_state *dst, struct bufq_state *src)
{
	struct buf *bp;

	while ((bp = bufq_get(src)) != NULL)
		bufq_put(dst, bp);
}
