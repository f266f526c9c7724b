/* a module with PAD_MIB MiB of read-only data before its code is loaded: its calls
 * to the kernel are far from it. */
#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, big, NULL);

static const char big_pad[PAD_MIB * 1024 * 1024] __attribute__((used)) = { 1 };
static volatile int big_at;

static int
big_modcmd(modcmd_t cmd, void *arg)
{

	switch (cmd) {
	case MODULE_CMD_INIT:
		printf("big: loaded, pad %d\n", big_pad[big_at]);
		return 0;
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
