/* tests/emulate/modsrc/bug_badfree.c - FINI frees with the wrong size. */
#include <sys/param.h>
#include <sys/errno.h>
#include <sys/kmem.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_badfree, NULL);

static void *bug_badfree_buf;

static int
bug_badfree_modcmd(modcmd_t cmd, void *arg)
{

	switch (cmd) {
	case MODULE_CMD_INIT:
		bug_badfree_buf = kmem_alloc(32, KM_SLEEP);
		return 0;
	case MODULE_CMD_FINI:
		kmem_free(bug_badfree_buf, 16);
		return 0;
	default:
		return ENOTTY;
	}
}
