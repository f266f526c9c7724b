/*	kmodbuild stub kernel: vfs_bio.c -- buffer I/O completion */

#include <sys/param.h>
#include <sys/buf.h>
#include <sys/kmem.h>
#include <sys/systm.h>

#define	BO_DONE		0x00000200	/* I/O completed */

void
biodone(buf_t *bp)
{

	bp->b_oflags |= BO_DONE;
	if (bp->b_iodone != NULL)
		(*bp->b_iodone)(bp);
}

int
biowait(buf_t *bp)
{

	while ((bp->b_oflags & BO_DONE) == 0)
		continue;
	return bp->b_error;
}

buf_t *
getiobuf(struct vnode *vp, bool waitok)
{
	buf_t *bp;

	bp = kmem_zalloc(sizeof(*bp), waitok ? KM_SLEEP : KM_NOSLEEP);
	if (bp != NULL)
		bp->b_vp = vp;
	return bp;
}

void
putiobuf(buf_t *bp)
{

	kmem_free(bp, sizeof(*bp));
}
