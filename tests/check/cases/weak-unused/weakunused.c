#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

/* An undefined weak symbol no relocation uses: kobj_checksyms() looks at STB_GLOBAL
 * symbols only, and kobj_sym_lookup() is never asked for it. */
__asm__(".weak unused_hook");

/* One used only from a section kobj_load does not load (SHT_NOTE): kobj reads no
 * relocation table for it. */
extern void noted_hook(void) __attribute__((__weak__));
static void (*const noted_ref)(void)
    __attribute__((__section__(".note.hooks"), __used__)) = noted_hook;

MODULE(MODULE_CLASS_MISC, weakunused, NULL);

static int
weakunused_modcmd(modcmd_t cmd, void *arg)
{
	switch (cmd) {
	case MODULE_CMD_INIT:
		printf("%s: hz %d\n", "weakunused", hz);
		return 0;
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
