/*	kmodbuild: sys/sys/param.h -- system parameters (NetBSD sys/param.h) */

#ifndef _SYS_PARAM_H_
#define	_SYS_PARAM_H_

/*
 * NetBSD's param.h hard-codes __NetBSD_Version__ (MMmmrrpp00, spec section
 * 1.6).  Here the build passes it (-D__NetBSD_Version__=...), so one tree
 * builds modules for any kernel version.
 */
#ifndef __NetBSD_Version__
#error "__NetBSD_Version__ is not defined: build with -D__NetBSD_Version__=MMmmrrpp00"
#endif

#define	__NetBSD_Prereq__(M, m, p)					\
	((((M) * 100000000) + ((m) * 1000000) + ((p) * 100)) <= __NetBSD_Version__)

#define	NetBSD	199905		/* NetBSD version (year & month) */

#include <sys/types.h>
#include <sys/null.h>

#define	MAXCOMLEN	16		/* max command name remembered */
#define	MAXINTERP	PATH_MAX	/* max interpreter file name length */
#define	MAXLOGNAME	16		/* max login name length */
#define	NCARGS		262144		/* max bytes for an exec function */
#define	NGROUPS		16		/* max number groups */
#define	NOGROUP		65535		/* marker for empty group set member */
#define	MAXHOSTNAMELEN	256		/* max hostname size */
#define	PATH_MAX	1024
#define	MAXPATHLEN	PATH_MAX	/* max bytes in pathname */
#define	MAXSYMLINKS	32		/* max symlinks expanded in a pathname */
#define	NBBY		8		/* number of bits in a byte */
#define	DEV_BSHIFT	9		/* log2(DEV_BSIZE) */
#define	DEV_BSIZE	(1 << DEV_BSHIFT)
#define	COHERENCY_UNIT	64
#define	CACHE_LINE_SIZE	64
#define	ALIGNBYTES	(sizeof(long) - 1)
#define	ALIGN(p)	(((uintptr_t)(p) + ALIGNBYTES) & ~ALIGNBYTES)

/* Bit map related macros. */
#define	setbit(a, i)	((a)[(i) / NBBY] |= 1 << ((i) % NBBY))
#define	clrbit(a, i)	((a)[(i) / NBBY] &= ~(1 << ((i) % NBBY)))
#define	isset(a, i)	((a)[(i) / NBBY] & (1 << ((i) % NBBY)))
#define	isclr(a, i)	(((a)[(i) / NBBY] & (1 << ((i) % NBBY))) == 0)

/* Macros for counting and rounding. */
#define	howmany(x, y)	(((x) + ((y) - 1)) / (y))
#define	roundup(x, y)	((((x) + ((y) - 1)) / (y)) * (y))
#define	rounddown(x, y)	(((x) / (y)) * (y))
#define	roundup2(x, m)	(((x) + (m) - 1) & ~((m) - 1))
#define	powerof2(x)	((((x) - 1) & (x)) == 0)

#define	MIN(a, b)	((/*CONSTCOND*/(a) < (b)) ? (a) : (b))
#define	MAX(a, b)	((/*CONSTCOND*/(a) > (b)) ? (a) : (b))

/* Scheduling priorities used by tsleep(9)-style interfaces. */
#define	PZERO		22
#define	PCATCH		0x100

#endif /* !_SYS_PARAM_H_ */
