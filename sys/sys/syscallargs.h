/*	kmodbuild: sys/sys/syscallargs.h -- system call argument lists (NetBSD sys/syscallargs.h) */

#ifndef _SYS_SYSCALLARGS_H_
#define	_SYS_SYSCALLARGS_H_

#include <sys/types.h>

struct lwp;

/*
 * Each argument occupies one register_t slot; on big-endian machines a
 * narrower value sits at the end of its slot.
 */
#define	syscallarg(x)							\
	union {								\
		register_t pad;						\
		struct { x datum; } le;					\
		struct { /* LINTED zero array dimension */		\
			int8_t pad[  /* CONSTCOND */			\
				(sizeof (register_t) < sizeof (x))	\
				? 0					\
				: sizeof (register_t) - sizeof (x)];	\
			x datum;					\
		} be;							\
	}

#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define	SCARG(p, k)	((p)->k.be.datum)	/* get arg from args pointer */
#else
#define	SCARG(p, k)	((p)->k.le.datum)	/* get arg from args pointer */
#endif

#define	check_syscall_args(call) /*LINTED*/ \
	typedef char call##_check_args[sizeof (struct call##_args) \
	    <= SYS_MAXSYSARGS * sizeof (register_t) ? 1 : -1];

#define	SYS_MAXSYSARGS	8

struct sys_exit_args {
	syscallarg(int) rval;
};

__BEGIN_DECLS
int	sys_nosys(struct lwp *, const void *, register_t *);
int	sys_exit(struct lwp *, const struct sys_exit_args *, register_t *);
__END_DECLS

#endif /* !_SYS_SYSCALLARGS_H_ */
