/* tests/emulate/modsrc/bug_kdata.c - INIT calls the kernel's data (vfs_list, the list
 * head, followed on mips64eb by hundreds of zero words: no-ops to the CPU). */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_kdata, NULL);

extern char vfs_list[];

static int
bug_kdata_modcmd(modcmd_t cmd, void *arg)
{
	int (*volatile fn)(void) = (int (*)(void))(void *)vfs_list;

	if (cmd == MODULE_CMD_INIT)
		return fn() + 1;	/* not a tail call */
	return 0;
}
