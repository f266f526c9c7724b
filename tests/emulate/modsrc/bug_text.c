/* tests/emulate/modsrc/bug_text.c - INIT patches its own code. */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, bug_text, NULL);

void	bug_text_victim(void);
void (*volatile bug_text_fn)(void) = bug_text_victim;

void
bug_text_victim(void)
{
}

static int
bug_text_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT)
		*(volatile uint32_t *)(uintptr_t)bug_text_fn = 0;
	return 0;
}
