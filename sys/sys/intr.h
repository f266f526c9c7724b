/*	kmodbuild: sys/sys/intr.h -- interrupt priority levels (NetBSD sys/intr.h) */

#ifndef _SYS_INTR_H_
#define	_SYS_INTR_H_

/* Machine-independent IPL names; the stub kernel has a single level. */
#define	IPL_NONE	0
#define	IPL_SOFTCLOCK	1
#define	IPL_SOFTBIO	2
#define	IPL_SOFTNET	3
#define	IPL_SOFTSERIAL	4
#define	IPL_VM		5
#define	IPL_SCHED	6
#define	IPL_HIGH	7

#endif /* !_SYS_INTR_H_ */
