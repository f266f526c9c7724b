/* tests/emulate/modsrc/bug_leak.c - INIT allocates, FINI forgets to free. */
#include <sys/param.h>
#include <sys/errno.h>
#include <sys/kmem.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_leak, NULL);

static void *bug_leak_buf;

static int
bug_leak_modcmd(modcmd_t cmd, void *arg)
{

	switch (cmd) {
	case MODULE_CMD_INIT:
		bug_leak_buf = kmem_zalloc(64, KM_SLEEP);
		printf("bug_leak: buffer at %p\n", bug_leak_buf);
		return 0;
	case MODULE_CMD_FINI:
		return 0;		/* kmem_free(bug_leak_buf, 64) missing */
	default:
		return ENOTTY;
	}
}
