/* tests/emulate/modsrc/bug_unhooked.c - calls a kernel function no header declares.
 * cnputc() is global in the stub kernel (kern/subr_prf.c) but is not part of the
 * interface, so the emulated kernel has no hook for it. */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_unhooked, NULL);

void	cnputc(int);

static int
bug_unhooked_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT)
		cnputc('!');
	return 0;
}
