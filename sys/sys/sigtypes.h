/*	kmodbuild: sys/sys/sigtypes.h -- signal set type (NetBSD sys/sigtypes.h) */

#ifndef _SYS_SIGTYPES_H_
#define	_SYS_SIGTYPES_H_

#include <sys/types.h>

typedef struct {
	uint32_t	__bits[4];
} sigset_t;

#endif /* !_SYS_SIGTYPES_H_ */
