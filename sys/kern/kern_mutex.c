/*	kmodbuild stub kernel: kern_mutex.c -- mutex(9) for one CPU */

#include <sys/param.h>
#include <sys/mutex.h>
#include <sys/systm.h>

#define	MUTEX_OWNED	((uintptr_t)1)

void
mutex_init(kmutex_t *mtx, kmutex_type_t type, int ipl)
{

	mtx->mtx_owner = 0;
	mtx->mtx_ipl = ipl;
	mtx->mtx_type = type;
}

void
mutex_destroy(kmutex_t *mtx)
{

	KASSERT(mtx->mtx_owner == 0);
	mtx->mtx_owner = 0;
}

void
mutex_enter(kmutex_t *mtx)
{

	if (mtx->mtx_owner != 0)
		panic("mutex_enter: locking against myself");
	mtx->mtx_owner = MUTEX_OWNED;
}

void
mutex_exit(kmutex_t *mtx)
{

	if (mtx->mtx_owner == 0)
		panic("mutex_exit: not owned");
	mtx->mtx_owner = 0;
}

int
mutex_tryenter(kmutex_t *mtx)
{

	if (mtx->mtx_owner != 0)
		return 0;
	mtx->mtx_owner = MUTEX_OWNED;
	return 1;
}

int
mutex_owned(const kmutex_t *mtx)
{

	return mtx->mtx_owner != 0;
}
