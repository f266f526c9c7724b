/*	kmodbuild: sys/sys/kmem.h -- kernel memory allocator (NetBSD sys/kmem.h) */

#ifndef _SYS_KMEM_H_
#define	_SYS_KMEM_H_

#include <sys/types.h>

typedef unsigned int km_flag_t;

__BEGIN_DECLS
void	*kmem_alloc(size_t, km_flag_t);
void	*kmem_zalloc(size_t, km_flag_t);
void	kmem_free(void *, size_t);

void	*kmem_intr_alloc(size_t, km_flag_t);
void	*kmem_intr_zalloc(size_t, km_flag_t);
void	kmem_intr_free(void *, size_t);

char	*kmem_strdup(const char *, km_flag_t);
void	kmem_strfree(char *);
__END_DECLS

/* Flags for kmem_alloc(9). */
#define	KM_SLEEP	0x00000001	/* can sleep */
#define	KM_NOSLEEP	0x00000002	/* don't sleep */

#endif /* !_SYS_KMEM_H_ */
