/*	kmodbuild example: hello -- the smallest useful module */

/*
 * Modelled on NetBSD's sys/modules/examples/hello: a MISC module that
 * greets on load and unload.  modload(8) can pass a property list; a
 * string property "who" changes whom we greet (modload -s who=you hello);
 * it is copied because the dictionary is released after INIT.
 */

#include <sys/cdefs.h>
__KERNEL_RCSID(0, "$kmodbuild: hello.c $");

#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, hello, NULL);

static char hello_who[MAXMODNAME] = "world";
static unsigned int hello_stats;

static int
hello_init(prop_dictionary_t props)
{
	const char *who;

	if (props != NULL && prop_dictionary_get_string(props, "who", &who))
		strlcpy(hello_who, who, sizeof(hello_who));
	printf("Hello, %s! (kernel %u, hz %d)\n", hello_who,
	    (unsigned int)__NetBSD_Version__, hz);
	return 0;
}

static int
hello_modcmd(modcmd_t cmd, void *arg)
{

	switch (cmd) {
	case MODULE_CMD_INIT:
		return hello_init(arg);
	case MODULE_CMD_FINI:
		printf("Goodbye, %s!\n", hello_who);
		return 0;
	case MODULE_CMD_STAT:
		hello_stats++;
		printf("hello: status requested %u time(s)\n", hello_stats);
		return 0;
	case MODULE_CMD_AUTOUNLOAD:
		/* Nothing holds on to us: agree to be auto-unloaded. */
		return 0;
	default:
		return ENOTTY;
	}
}
