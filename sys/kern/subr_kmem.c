/*	kmodbuild stub kernel: subr_kmem.c -- kmem(9) on a static arena */

/*
 * A bump allocator: enough for the stub kernel, which never runs for
 * long.  Freeing the most recent allocation gives its space back.
 */

#include <sys/param.h>
#include <sys/kmem.h>
#include <sys/systm.h>

#define	KMEM_ARENA_SIZE	(256 * 1024)
#define	KMEM_ALIGN	16

static char kmem_arena[KMEM_ARENA_SIZE] __aligned(KMEM_ALIGN);
static size_t kmem_used;

static size_t kmem_inuse;	/* bytes allocated and not freed */

static size_t
kmem_roundup(size_t size)
{

	return (size + KMEM_ALIGN - 1) & ~(size_t)(KMEM_ALIGN - 1);
}

void *
kmem_intr_alloc(size_t size, km_flag_t kmflags)
{
	size_t rsize = kmem_roundup(size);
	void *p;

	if (size == 0 || rsize > KMEM_ARENA_SIZE - kmem_used) {
		if ((kmflags & KM_SLEEP) != 0)
			panic("kmem_alloc: arena exhausted (%zu bytes)", size);
		return NULL;
	}
	p = &kmem_arena[kmem_used];
	kmem_used += rsize;
	kmem_inuse += size;
	return p;
}

void *
kmem_intr_zalloc(size_t size, km_flag_t kmflags)
{
	void *p = kmem_intr_alloc(size, kmflags);

	if (p != NULL)
		memset(p, 0, size);
	return p;
}

void
kmem_intr_free(void *p, size_t size)
{
	size_t rsize = kmem_roundup(size);

	KASSERT(p != NULL);
	if ((char *)p + rsize == &kmem_arena[kmem_used])
		kmem_used -= rsize;
	kmem_inuse -= size;
}

void *
kmem_alloc(size_t size, km_flag_t kmflags)
{

	return kmem_intr_alloc(size, kmflags);
}

void *
kmem_zalloc(size_t size, km_flag_t kmflags)
{

	return kmem_intr_zalloc(size, kmflags);
}

void
kmem_free(void *p, size_t size)
{

	kmem_intr_free(p, size);
}

char *
kmem_strdup(const char *str, km_flag_t kmflags)
{
	size_t len = strlen(str) + 1;
	char *p = kmem_alloc(len, kmflags);

	if (p != NULL)
		memcpy(p, str, len);
	return p;
}

void
kmem_strfree(char *str)
{

	kmem_free(str, strlen(str) + 1);
}
