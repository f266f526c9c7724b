/*	kmodbuild stub kernel: kern_auth.c -- kauth(9) scopes and listeners */

/*
 * Listeners registered with kauth_listen_scope() are asked in order; any
 * DENY wins, else any ALLOW, else (all DEFER) the request is refused
 * unless no security model is loaded (spec 3.8).
 */

#include <sys/param.h>
#include <sys/errno.h>
#include <sys/kauth.h>
#include <sys/systm.h>

#define	KAUTH_MAXLISTENERS	32

struct kauth_cred {
	u_int	cr_refcnt;
	uid_t	cr_uid;
	uid_t	cr_euid;
	gid_t	cr_gid;
	gid_t	cr_egid;
};

struct kauth_scope {
	const char	*ks_id;
};

struct kauth_listener {
	kauth_scope_t		kl_scope;
	kauth_scope_callback_t	kl_func;
	void			*kl_cookie;
};

static struct kauth_scope kauth_scopes[] = {
	{ KAUTH_SCOPE_GENERIC }, { KAUTH_SCOPE_SYSTEM }, { KAUTH_SCOPE_PROCESS },
	{ KAUTH_SCOPE_NETWORK }, { KAUTH_SCOPE_MACHDEP }, { KAUTH_SCOPE_DEVICE },
	{ KAUTH_SCOPE_CRED }, { KAUTH_SCOPE_VNODE },
};
static struct kauth_listener kauth_listeners[KAUTH_MAXLISTENERS];

static struct kauth_cred cred0 = { .cr_refcnt = 1 };	/* root, for proc0 */

static kauth_scope_t
kauth_scope_lookup(const char *id)
{
	u_int i;

	for (i = 0; i < __arraycount(kauth_scopes); i++)
		if (strcmp(kauth_scopes[i].ks_id, id) == 0)
			return &kauth_scopes[i];
	return NULL;
}

kauth_listener_t
kauth_listen_scope(const char *id, kauth_scope_callback_t func, void *cookie)
{
	kauth_scope_t scope = kauth_scope_lookup(id);
	u_int i;

	if (scope == NULL)
		return NULL;
	for (i = 0; i < KAUTH_MAXLISTENERS; i++) {
		if (kauth_listeners[i].kl_func == NULL) {
			kauth_listeners[i].kl_scope = scope;
			kauth_listeners[i].kl_func = func;
			kauth_listeners[i].kl_cookie = cookie;
			return &kauth_listeners[i];
		}
	}
	return NULL;
}

void
kauth_unlisten_scope(kauth_listener_t kl)
{

	if (kl != NULL)
		memset(kl, 0, sizeof(*kl));
}

int
kauth_authorize_action(kauth_scope_t scope, kauth_cred_t cred,
    kauth_action_t action, void *arg0, void *arg1, void *arg2, void *arg3)
{
	int allow = 0, deny = 0;
	u_int i;

	if (cred == NOCRED || cred == FSCRED)
		return 0;
	for (i = 0; i < KAUTH_MAXLISTENERS; i++) {
		struct kauth_listener *kl = &kauth_listeners[i];

		if (kl->kl_func == NULL || kl->kl_scope != scope)
			continue;
		switch ((*kl->kl_func)(cred, action, kl->kl_cookie,
		    arg0, arg1, arg2, arg3)) {
		case KAUTH_RESULT_ALLOW:
			allow++;
			break;
		case KAUTH_RESULT_DENY:
			deny++;
			break;
		default:
			break;
		}
	}
	if (deny > 0)
		return EPERM;
	if (allow > 0 || secmodel_nsecmodels() == 0)
		return 0;
	return EPERM;
}

int
kauth_authorize_generic(kauth_cred_t cred, kauth_action_t action, void *arg0)
{

	return kauth_authorize_action(kauth_scope_lookup(KAUTH_SCOPE_GENERIC),
	    cred, action, arg0, NULL, NULL, NULL);
}

int
kauth_authorize_system(kauth_cred_t cred, kauth_action_t action,
    enum kauth_system_req req, void *arg1, void *arg2, void *arg3)
{

	return kauth_authorize_action(kauth_scope_lookup(KAUTH_SCOPE_SYSTEM),
	    cred, action, (void *)(uintptr_t)req, arg1, arg2, arg3);
}

uid_t
kauth_cred_getuid(kauth_cred_t cred)
{

	return cred->cr_uid;
}

uid_t
kauth_cred_geteuid(kauth_cred_t cred)
{

	return cred->cr_euid;
}

gid_t
kauth_cred_getgid(kauth_cred_t cred)
{

	return cred->cr_gid;
}

gid_t
kauth_cred_getegid(kauth_cred_t cred)
{

	return cred->cr_egid;
}

kauth_cred_t
kauth_cred_get(void)
{

	return &cred0;
}
