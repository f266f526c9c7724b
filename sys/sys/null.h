/*	kmodbuild: sys/sys/null.h -- NULL (NetBSD sys/null.h) */

#ifndef _SYS_NULL_H_
#define	_SYS_NULL_H_

#ifndef NULL
#define	NULL	((void *)0)
#endif

#endif /* !_SYS_NULL_H_ */
