/*	kmodbuild: sys/sys/types.h -- basic kernel types (NetBSD sys/types.h) */

/*
 * No libc: every fixed-width type comes from the compiler's predefined
 * macros (__INT32_TYPE__ and friends), so one header serves all targets.
 */

#ifndef _SYS_TYPES_H_
#define	_SYS_TYPES_H_

#include <sys/cdefs.h>
#include <sys/null.h>

/* Fixed-width integers (NetBSD sys/stdint.h, machine/int_types.h). */
typedef	__INT8_TYPE__		int8_t;
typedef	__UINT8_TYPE__		uint8_t;
typedef	__INT16_TYPE__		int16_t;
typedef	__UINT16_TYPE__		uint16_t;
typedef	__INT32_TYPE__		int32_t;
typedef	__UINT32_TYPE__		uint32_t;
typedef	__INT64_TYPE__		int64_t;
typedef	__UINT64_TYPE__		uint64_t;
typedef	__INTPTR_TYPE__		intptr_t;
typedef	__UINTPTR_TYPE__	uintptr_t;
typedef	__INTMAX_TYPE__		intmax_t;
typedef	__UINTMAX_TYPE__	uintmax_t;

typedef	uint8_t			u_int8_t;
typedef	uint16_t		u_int16_t;
typedef	uint32_t		u_int32_t;
typedef	uint64_t		u_int64_t;

typedef	unsigned char		u_char;
typedef	unsigned short		u_short;
typedef	unsigned int		u_int;
typedef	unsigned long		u_long;
typedef	unsigned char		unchar;
typedef	unsigned short		ushort;
typedef	unsigned int		uint;
typedef	unsigned long		ulong;

typedef	uint64_t		u_quad_t;
typedef	int64_t			quad_t;
typedef	quad_t *		qaddr_t;

/* Sizes (NetBSD machine/ansi.h). */
typedef	__SIZE_TYPE__		size_t;
typedef	__PTRDIFF_TYPE__	ptrdiff_t;
typedef	__PTRDIFF_TYPE__	ssize_t;

/* Machine-dependent register and address types (machine/types.h). */
#ifdef __LP64__
typedef	long			register_t;
typedef	unsigned long		vaddr_t;
typedef	unsigned long		paddr_t;
typedef	unsigned long		vsize_t;
typedef	unsigned long		psize_t;
#else
typedef	int			register_t;
typedef	unsigned long		vaddr_t;
typedef	unsigned long		paddr_t;
typedef	unsigned long		vsize_t;
typedef	unsigned long		psize_t;
#endif
typedef	register_t		register32_t;

/* POSIX and NetBSD kernel types (sys/types.h). */
typedef	int64_t			blkcnt_t;
typedef	int32_t			blksize_t;
typedef	uint64_t		fsblkcnt_t;
typedef	uint64_t		fsfilcnt_t;
typedef	char *			caddr_t;
typedef	int64_t			daddr_t;
typedef	uint64_t		dev_t;
typedef	uint32_t		fixpt_t;
typedef	uint32_t		gid_t;
typedef	uint32_t		id_t;
typedef	uint64_t		ino_t;
typedef	long			key_t;
typedef	uint32_t		mode_t;
typedef	uint32_t		nlink_t;
typedef	int64_t			off_t;
typedef	int32_t			pid_t;
typedef	int32_t			lwpid_t;
typedef	uint64_t		rlim_t;
typedef	int32_t			segsz_t;
typedef	int32_t			swblk_t;
typedef	uint32_t		uid_t;
typedef	int64_t			time_t;
typedef	int			clockid_t;
typedef	int			timer_t;
typedef	int			suseconds_t;
typedef	unsigned int		useconds_t;
typedef	int			cpuid_t;
typedef	int			boolean_t;
typedef	int			psetid_t;

/* Device numbers (sys/types.h). */
typedef	int32_t			devmajor_t;
typedef	int32_t			devminor_t;
#define	NODEVMAJOR		(-1)

#define	major(x)	((devmajor_t)(((uint32_t)(x) & 0x000fff00) >> 8))
#define	minor(x)	((devminor_t)((((uint32_t)(x) & 0xfff00000) >> 12) | \
				   (((uint32_t)(x) & 0x000000ff) >> 0)))
#define	makedev(x, y)	((dev_t)((((dev_t)(x) << 8) & 0x000fff00U) | \
				 (((dev_t)(y) << 12) & 0xfff00000U) | \
				 (((dev_t)(y) << 0) & 0x000000ffU)))
#define	NODEV		((dev_t)-1)

#if !defined(__cplusplus) && (!defined(__STDC_VERSION__) || __STDC_VERSION__ < 202311L)
typedef	_Bool			bool;
#define	true	1
#define	false	0
#endif

/* Opaque kernel objects used in prototypes throughout sys/. */
typedef	struct lwp		lwp_t;
typedef	struct proc		proc_t;
typedef	struct device *		device_t;
typedef	struct kauth_cred *	kauth_cred_t;
typedef	struct vnode		vnode_t;
typedef	int			specificdata_key_t;

#define	SET(t, f)	((t) |= (f))
#define	ISSET(t, f)	((t) & (f))
#define	CLR(t, f)	((t) &= ~(f))

#endif /* !_SYS_TYPES_H_ */
