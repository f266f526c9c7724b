/* tests/emulate/modsrc/bug_lock.c - INIT returns holding its mutex; FINI, another
 * thread, finds it not its own and releases it anyway. */
#include <sys/param.h>
#include <sys/errno.h>
#include <sys/intr.h>
#include <sys/module.h>
#include <sys/mutex.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_lock, NULL);

kmutex_t bug_lock_mtx;

static int
bug_lock_modcmd(modcmd_t cmd, void *arg)
{

	switch (cmd) {
	case MODULE_CMD_INIT:
		mutex_init(&bug_lock_mtx, MUTEX_DEFAULT, IPL_NONE);
		mutex_enter(&bug_lock_mtx);
		return 0;		/* mutex_exit(&bug_lock_mtx) missing */
	case MODULE_CMD_FINI:
		if (mutex_owned(&bug_lock_mtx))
			printf("bug_lock: still mine\n");
		mutex_exit(&bug_lock_mtx);
		mutex_destroy(&bug_lock_mtx);
		return 0;
	default:
		return ENOTTY;
	}
}
