/*	kmodbuild: sys/compat/demo/demo_exec.h -- the "demo" emulation */

/*
 * Like compat/linux/common/linux_exec.h: the emulation record lives in
 * the compat_demo module, and exec_demo (which requires "compat_demo")
 * points its execsw entries at it.
 */

#ifndef _COMPAT_DEMO_DEMO_EXEC_H_
#define	_COMPAT_DEMO_DEMO_EXEC_H_

#include <sys/types.h>

/* First bytes of a demo executable: magic, version, entry offset. */
#define	DEMO_EXEC_MAGIC		0x444d4f31	/* "DMO1" */

struct demo_exec_header {
	uint32_t	dh_magic;
	uint32_t	dh_version;
	uint32_t	dh_entry;
	uint32_t	dh_textsize;
};

#ifdef _KERNEL
extern struct emul emul_demo;
#endif

#endif /* !_COMPAT_DEMO_DEMO_EXEC_H_ */
