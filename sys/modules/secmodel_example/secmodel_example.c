/*	kmodbuild example: secmodel_example -- a pluggable security model */

/*
 * After NetBSD's sys/secmodel/example: register the model with
 * secmodel_register(9) and listen on the kauth(9) system scope.  The
 * listener only has an opinion on setting the clock (non-root: deny);
 * everything else, module requests included, is deferred to other models.
 */

#include <sys/cdefs.h>
__KERNEL_RCSID(0, "$kmodbuild: secmodel_example.c $");

#include <sys/param.h>
#include <sys/errno.h>
#include <sys/kauth.h>
#include <sys/module.h>
#include <sys/systm.h>

#include <secmodel/secmodel.h>

MODULE(MODULE_CLASS_SECMODEL, secmodel_example, NULL);

#define	SECMODEL_EXAMPLE_ID	"org.netbsd.secmodel.example"
#define	SECMODEL_EXAMPLE_NAME	"Example security model"

static secmodel_t example_sm;
static kauth_listener_t l_system;
static u_int example_denied;

static int
secmodel_example_system_cb(kauth_cred_t cred, kauth_action_t action,
    void *cookie, void *arg0, void *arg1, void *arg2, void *arg3)
{

	if (action == KAUTH_SYSTEM_TIME && kauth_cred_geteuid(cred) != 0) {
		example_denied++;
		return KAUTH_RESULT_DENY;
	}
	return KAUTH_RESULT_DEFER;
}

static int
secmodel_example_eval(const char *what, void *arg, void *ret)
{

	if (strcmp(what, "denied-count") == 0) {
		*(u_int *)ret = example_denied;
		return 0;
	}
	return ENOENT;
}

static int
secmodel_example_modcmd(modcmd_t cmd, void *arg)
{
	int error;

	switch (cmd) {
	case MODULE_CMD_INIT:
		error = secmodel_register(&example_sm, SECMODEL_EXAMPLE_ID,
		    SECMODEL_EXAMPLE_NAME, NULL, secmodel_example_eval, NULL);
		if (error != 0)
			return error;
		l_system = kauth_listen_scope(KAUTH_SCOPE_SYSTEM,
		    secmodel_example_system_cb, NULL);
		if (l_system == NULL) {
			(void)secmodel_deregister(example_sm);
			return ENOMEM;
		}
		printf("secmodel_example: `%s' registered\n",
		    SECMODEL_EXAMPLE_NAME);
		return 0;
	case MODULE_CMD_FINI:
		kauth_unlisten_scope(l_system);
		error = secmodel_deregister(example_sm);
		if (error == 0)
			printf("secmodel_example: deregistered (%u denials)\n",
			    example_denied);
		return error;
	case MODULE_CMD_AUTOUNLOAD:
		/* A security model in force is never auto-unloaded. */
		return EBUSY;
	default:
		return ENOTTY;
	}
}
