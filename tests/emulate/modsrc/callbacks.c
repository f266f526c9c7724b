/* tests/emulate/modsrc/callbacks.c - kernel functions calling back into the module. */
#include <sys/param.h>
#include <sys/errno.h>
#include <sys/kauth.h>
#include <sys/module.h>
#include <sys/mount.h>
#include <sys/systm.h>

#include <secmodel/secmodel.h>

MODULE(MODULE_CLASS_VFS, callbacks, NULL);

static int cb_last_action;
static void *cb_seen_arg3;
static secmodel_t cb_sm;
static kauth_listener_t cb_listener;

static void
cb_vfs_init(void)
{

	printf("callbacks: vfs_init\n");
}

static void
cb_vfs_done(void)
{

	printf("callbacks: vfs_done\n");
}

static struct vfsops cb_vfsops = {
	.vfs_name = "cbfs",
	.vfs_init = cb_vfs_init,
	.vfs_done = cb_vfs_done,
};

static int
cb_listener_fn(kauth_cred_t cred, kauth_action_t action, void *cookie, void *arg0,
    void *arg1, void *arg2, void *arg3)
{

	cb_last_action = (int)action;
	cb_seen_arg3 = arg3;
	return action == KAUTH_SYSTEM_TIME ? KAUTH_RESULT_DENY : KAUTH_RESULT_DEFER;
}

static int
cb_eval(const char *what, void *arg, void *ret)
{

	*(int *)ret = (int)strlen(what) + *(int *)arg;
	return 0;
}

static int
callbacks_modcmd(modcmd_t cmd, void *arg)
{
	int error, in = 100, out = 0, time_ok, module_ok, time_action;
	void *time_arg3;

	switch (cmd) {
	case MODULE_CMD_INIT:
		if ((error = vfs_attach(&cb_vfsops)) != 0)
			return error;
		error = secmodel_register(&cb_sm, "org.example.cb", "cb", NULL, cb_eval,
		    NULL);
		if (error == 0)
			error = secmodel_eval("org.example.cb", "four", &in, &out);
		cb_listener = kauth_listen_scope(KAUTH_SCOPE_SYSTEM, cb_listener_fn, NULL);
		time_ok = kauth_authorize_system(kauth_cred_get(), KAUTH_SYSTEM_TIME, 0, NULL,
		    NULL, (void *)0x77);
		time_action = cb_last_action;
		time_arg3 = cb_seen_arg3;
		module_ok = kauth_authorize_system(kauth_cred_get(), KAUTH_SYSTEM_MODULE, 0,
		    NULL, NULL, NULL);
		printf("callbacks: eval %d -> %d, time %d (action %d, arg3 %p), module %d "
		    "(action %d)\n", error, out, time_ok, time_action, time_arg3, module_ok,
		    cb_last_action);
		return 0;
	case MODULE_CMD_FINI:
		kauth_unlisten_scope(cb_listener);
		(void)secmodel_deregister(cb_sm);
		return vfs_detach(&cb_vfsops);
	default:
		return ENOTTY;
	}
}
