#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, packed, NULL);

struct __attribute__((__packed__)) tagged {
	char tag;
	int *where;
};
struct tagged packed_hz = { 'h', &hz };

static int
packed_modcmd(modcmd_t cmd, void *arg)
{
	switch (cmd) {
	case MODULE_CMD_INIT:
		printf("%c %d\n", packed_hz.tag, *packed_hz.where);
		return 0;
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
