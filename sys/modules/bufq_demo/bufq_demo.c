/*	kmodbuild example: bufq_demo -- a first-come first-served buffer queue */

/*
 * A BUFQ-class module like NetBSD's bufq_fcfs: the strategy is called
 * "demo", so bufq_alloc(&q, "demo", 0) autoloads "bufq_demo" (spec 3.7).
 * bufq_unregister() refuses with EBUSY while a disk still uses a queue.
 */

#include <sys/cdefs.h>
__KERNEL_RCSID(0, "$kmodbuild: bufq_demo.c $");

#include <sys/param.h>
#include <sys/buf.h>
#include <sys/bufq.h>
#include <sys/bufq_impl.h>
#include <sys/errno.h>
#include <sys/kmem.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_BUFQ, bufq_demo, NULL);

struct bufq_demo {
	TAILQ_HEAD(, buf) bq_head;	/* actual list of buffers */
	u_int bq_count;
};

static void
bufq_demo_put(struct bufq_state *bufq, struct buf *bp)
{
	struct bufq_demo *q = bufq_private(bufq);

	TAILQ_INSERT_TAIL(&q->bq_head, bp, b_actq);
	q->bq_count++;
}

static struct buf *
bufq_demo_get(struct bufq_state *bufq, int remove)
{
	struct bufq_demo *q = bufq_private(bufq);
	struct buf *bp;

	bp = TAILQ_FIRST(&q->bq_head);
	if (bp != NULL && remove) {
		TAILQ_REMOVE(&q->bq_head, bp, b_actq);
		q->bq_count--;
	}
	return bp;
}

static struct buf *
bufq_demo_cancel(struct bufq_state *bufq, struct buf *buf)
{
	struct bufq_demo *q = bufq_private(bufq);
	struct buf *bp;

	TAILQ_FOREACH(bp, &q->bq_head, b_actq) {
		if (bp == buf) {
			TAILQ_REMOVE(&q->bq_head, bp, b_actq);
			q->bq_count--;
			return bp;
		}
	}
	return NULL;
}

static void
bufq_demo_fini(struct bufq_state *bufq)
{

	KASSERT(bufq->bq_private != NULL);
	kmem_free(bufq->bq_private, sizeof(struct bufq_demo));
}

static void
bufq_demo_init(struct bufq_state *bufq)
{
	struct bufq_demo *q;

	bufq->bq_get = bufq_demo_get;
	bufq->bq_put = bufq_demo_put;
	bufq->bq_cancel = bufq_demo_cancel;
	bufq->bq_fini = bufq_demo_fini;
	bufq->bq_private = q = kmem_zalloc(sizeof(*q), KM_SLEEP);
	TAILQ_INIT(&q->bq_head);
}

BUFQ_DEFINE(demo, 10, bufq_demo_init);

static int
bufq_demo_modcmd(modcmd_t cmd, void *opaque)
{
	int error;

	switch (cmd) {
	case MODULE_CMD_INIT:
		error = bufq_register(&bufq_strat_demo);
		if (error == 0)
			printf("bufq_demo: strategy `%s' registered\n",
			    bufq_strat_demo.bs_name);
		return error;
	case MODULE_CMD_FINI:
		error = bufq_unregister(&bufq_strat_demo);
		if (error == 0)
			printf("bufq_demo: strategy `%s' unregistered\n",
			    bufq_strat_demo.bs_name);
		return error;
	case MODULE_CMD_AUTOUNLOAD:
		return bufq_strat_demo.bs_refcnt > 0 ? EBUSY : 0;
	default:
		return ENOTTY;
	}
}
