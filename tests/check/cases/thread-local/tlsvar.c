#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, tlsvar, NULL);

/* a per-thread counter: the kernel has no thread-local storage */
static __thread int tlsvar_count;

static int
tlsvar_modcmd(modcmd_t cmd, void *arg)
{
	switch (cmd) {
	case MODULE_CMD_INIT:
		tlsvar_count++;
		printf("%d\n", tlsvar_count);
		return 0;
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
