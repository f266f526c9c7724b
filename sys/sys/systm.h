/*	kmodbuild: sys/sys/systm.h -- kernel services (NetBSD sys/systm.h) */

#ifndef _SYS_SYSTM_H_
#define	_SYS_SYSTM_H_

#include <sys/types.h>
#include <sys/stdarg.h>

struct lwp;
struct proc;
struct tty;
struct uio;
struct clockframe;

extern const char *panicstr;		/* panic message */
extern int doing_shutdown;		/* shutting down */

extern const char copyright[];		/* system copyright */
extern char machine[];			/* machine type */
extern char machine_arch[];		/* machine architecture */
extern const char osrelease[];		/* short system version */
extern const char ostype[];		/* system type */
extern const char version[];		/* system version */

extern int boothowto;			/* reboot flags, from console subsystem */
extern int hz;				/* system clock's frequency */
extern int stathz;			/* statistics clock's frequency */
extern int profhz;			/* profiling clock's frequency */

/* System call table (sys/systm.h). */
typedef int	sy_call_t(struct lwp *, const void *, register_t *);

extern struct sysent {		/* system call table */
	short		sy_narg;	/* number of args */
	short		sy_argsize;	/* total size of arguments */
	int		sy_flags;	/* flags. see below */
	sy_call_t	*sy_call;	/* implementing function */
	uint32_t	sy_entry;	/* DTrace entry ID for systrace. */
	uint32_t	sy_return;	/* DTrace return ID for systrace. */
} sysent[];
extern const uint32_t sysent_nomodbits[];

#define	SYCALL_MPSAFE	0x0000001	/* call is MPSAFE */
#define	SYCALL_ARG_PTR	0x0000002	/* at least one argument is a pointer */
#define	SYCALL_NARGS64_MASK	0x000f000 /* count of 64bit args */
#define	SYCALL_RET_64	0x0010000	/* retval is a 64bit integer value */
#define	SYCALL_NOSYS	0x0800000	/* permanent nosys in sysent[] */

__BEGIN_DECLS
/* Error and no-op stubs (kern/subr_xxx.c). */
int	nullop(void *);
void	voidop(void);
int	enodev(void);
int	enosys(void);
int	enoioctl(void);
int	enxio(void);
int	eopnotsupp(void);

int	seltrue(dev_t, int, struct lwp *);
int	sys_nosys(struct lwp *, const void *, register_t *);
int	sys_nomodule(struct lwp *, const void *, register_t *);

/* Console output (kern/subr_prf.c). */
void	printf(const char *, ...) __printflike(1, 2);
void	printf_nolog(const char *, ...) __printflike(1, 2);
void	vprintf(const char *, va_list) __printflike(1, 0);
int	snprintf(char *, size_t, const char *, ...) __printflike(3, 4);
int	vsnprintf(char *, size_t, const char *, va_list) __printflike(3, 0);
void	uprintf(const char *, ...) __printflike(1, 2);
void	log(int, const char *, ...) __printflike(2, 3);

void	aprint_normal(const char *, ...) __printflike(1, 2);
void	aprint_error(const char *, ...) __printflike(1, 2);
void	aprint_naive(const char *, ...) __printflike(1, 2);
void	aprint_verbose(const char *, ...) __printflike(1, 2);
void	aprint_debug(const char *, ...) __printflike(1, 2);

void	panic(const char *, ...) __dead __printflike(1, 2);
void	vpanic(const char *, va_list) __dead __printflike(1, 0);
void	tablefull(const char *, const char *);

/* User/kernel copies (kern/subr_copy.c). */
int	copystr(const void *, void *, size_t, size_t *);
int	copyinstr(const void *, void *, size_t, size_t *);
int	copyoutstr(const void *, void *, size_t, size_t *);
int	copyin(const void *, void *, size_t);
int	copyout(const void *, void *, size_t);
int	kcopy(const void *, void *, size_t);

void	delay(unsigned int);
#define	DELAY(x)	delay(x)
__END_DECLS

/* log() priorities (sys/syslog.h). */
#define	LOG_EMERG	0
#define	LOG_ALERT	1
#define	LOG_CRIT	2
#define	LOG_ERR		3
#define	LOG_WARNING	4
#define	LOG_NOTICE	5
#define	LOG_INFO	6
#define	LOG_DEBUG	7

#ifdef _KERNEL
#include <lib/libkern/libkern.h>
#endif

#endif /* !_SYS_SYSTM_H_ */
