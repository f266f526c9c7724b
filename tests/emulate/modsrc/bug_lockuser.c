/* tests/emulate/modsrc/bug_lockuser.c - takes the mutex bug_lock left held: in the
 * kernel this modload would sleep for ever (holding a mutex of its own). */
#include <sys/param.h>
#include <sys/errno.h>
#include <sys/intr.h>
#include <sys/module.h>
#include <sys/mutex.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_lockuser, "bug_lock");

extern kmutex_t bug_lock_mtx;
static kmutex_t bug_lockuser_own;

static int
bug_lockuser_modcmd(modcmd_t cmd, void *arg)
{

	switch (cmd) {
	case MODULE_CMD_INIT:
		mutex_init(&bug_lockuser_own, MUTEX_DEFAULT, IPL_NONE);
		mutex_enter(&bug_lockuser_own);
		mutex_enter(&bug_lock_mtx);
		mutex_exit(&bug_lock_mtx);
		mutex_exit(&bug_lockuser_own);
		return 0;
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
