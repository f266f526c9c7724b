/*	kmodbuild: sys/lib/libkern/libkern.h -- kernel C library (NetBSD libkern) */

#ifndef _LIB_LIBKERN_LIBKERN_H_
#define	_LIB_LIBKERN_LIBKERN_H_

#include <sys/types.h>
#include <sys/null.h>

static __inline int imax(int a, int b) { return (a > b ? a : b); }
static __inline int imin(int a, int b) { return (a < b ? a : b); }
static __inline u_int max(u_int a, u_int b) { return (a > b ? a : b); }
static __inline u_int min(u_int a, u_int b) { return (a < b ? a : b); }
static __inline long lmax(long a, long b) { return (a > b ? a : b); }
static __inline long lmin(long a, long b) { return (a < b ? a : b); }
static __inline u_long ulmax(u_long a, u_long b) { return (a > b ? a : b); }
static __inline u_long ulmin(u_long a, u_long b) { return (a < b ? a : b); }

/* Assertions: DIAGNOSTIC kernels check them, others compile them away. */
#define	CTASSERT(x)		__CTASSERT(x)

#ifdef DIAGNOSTIC
#define	KASSERTMSG(e, msg, ...)						\
	(__predict_true((e)) ? (void)0 :				\
	    kern_assert("kernel %sassertion \"%s\" failed: file \"%s\", line %d " msg, \
		"diagnostic ", #e, __FILE__, __LINE__, ## __VA_ARGS__))
#define	KASSERT(e)	KASSERTMSG(e, "")
#else
#define	KASSERTMSG(e, msg, ...)	((void)0)
#define	KASSERT(e)		((void)0)
#endif
#define	KDASSERT(e)		((void)0)
#define	KDASSERTMSG(e, msg, ...)	((void)0)

__BEGIN_DECLS
void	kern_assert(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2))) __dead;

void	*memcpy(void *, const void *, size_t);
void	*memmove(void *, const void *, size_t);
void	*memset(void *, int, size_t);
int	memcmp(const void *, const void *, size_t);
void	*memchr(const void *, int, size_t);
char	*strcpy(char *, const char *);
char	*strncpy(char *, const char *, size_t);
char	*strcat(char *, const char *);
int	strcmp(const char *, const char *);
int	strncmp(const char *, const char *, size_t);
int	strcasecmp(const char *, const char *);
size_t	strlen(const char *);
size_t	strnlen(const char *, size_t);
size_t	strlcpy(char *, const char *, size_t);
size_t	strlcat(char *, const char *, size_t);
char	*strchr(const char *, int);
char	*strrchr(const char *, int);
int	ffs(int);

/*
 * Compiler support (kern/subr_compiler.c): what code generators call for
 * operations the CPU lacks -- 64-bit division on 32-bit machines, and the
 * ARM EABI's integer division.
 */
#ifndef __LP64__
uint64_t __udivmoddi4(uint64_t, uint64_t, uint64_t *);
int64_t	__divmoddi4(int64_t, int64_t, int64_t *);
uint64_t __udivdi3(uint64_t, uint64_t);
uint64_t __umoddi3(uint64_t, uint64_t);
int64_t	__divdi3(int64_t, int64_t);
int64_t	__moddi3(int64_t, int64_t);
#endif
#ifdef __arm__
unsigned int __aeabi_uidiv(unsigned int, unsigned int);
int	__aeabi_idiv(int, int);
uint64_t __aeabi_uidivmod(unsigned int, unsigned int);
uint64_t __aeabi_idivmod(int, int);
uint64_t __aeabi_uldivmod(uint64_t, uint64_t);	/* remainder in r2:r3 */
int64_t	__aeabi_ldivmod(int64_t, int64_t);	/* remainder in r2:r3 */
/* the copies clang calls for a big struct assignment or initialisation */
void	__aeabi_memcpy(void *, const void *, size_t);
void	__aeabi_memcpy4(void *, const void *, size_t);
void	__aeabi_memcpy8(void *, const void *, size_t);
void	__aeabi_memmove(void *, const void *, size_t);
void	__aeabi_memmove4(void *, const void *, size_t);
void	__aeabi_memmove8(void *, const void *, size_t);
void	__aeabi_memset(void *, size_t, int);
void	__aeabi_memset4(void *, size_t, int);
void	__aeabi_memset8(void *, size_t, int);
void	__aeabi_memclr(void *, size_t);
void	__aeabi_memclr4(void *, size_t);
void	__aeabi_memclr8(void *, size_t);
#endif
__END_DECLS

#endif /* !_LIB_LIBKERN_LIBKERN_H_ */
