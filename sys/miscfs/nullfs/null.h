/*	kmodbuild: sys/miscfs/nullfs/null.h -- loopback file system (NetBSD miscfs/nullfs/null.h) */

#ifndef _MISCFS_NULLFS_NULL_H_
#define	_MISCFS_NULLFS_NULL_H_

#include <miscfs/genfs/layer.h>

struct null_args {
	struct	layer_args	la;	/* generic layerfs args */
};
#define	nulla_target	la.target

#ifdef _KERNEL
struct null_mount {
	struct	layer_mount	lm;	/* generic layerfs mount stuff */
};
#define	nullm_rootvp		lm.layerm_rootvp
#define	nullm_flags		lm.layerm_flags
#define	nullm_size		lm.layerm_size
#define	nullm_tag		lm.layerm_tag

#define	MOUNTTONULLMOUNT(mp)	((struct null_mount *)((mp)->mnt_data))
#endif

#endif /* _MISCFS_NULLFS_NULL_H_ */
