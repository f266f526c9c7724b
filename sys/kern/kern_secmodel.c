/*	kmodbuild stub kernel: kern_secmodel.c -- security model registry */

/*
 * NetBSD keeps this in sys/secmodel/secmodel.c; the stub kernel builds
 * only sys/kern, so it lives here.  Registered models are kept on a list
 * and can be queried by id with secmodel_eval(9).
 */

#include <sys/param.h>
#include <sys/errno.h>
#include <sys/kmem.h>
#include <sys/queue.h>
#include <sys/systm.h>

#include <secmodel/secmodel.h>

static LIST_HEAD(, secmodel_descr) secmodels = LIST_HEAD_INITIALIZER(secmodels);
static int nsecmodels;

void
secmodel_init(void)
{

	LIST_INIT(&secmodels);
	nsecmodels = 0;
}

int
secmodel_nsecmodels(void)
{

	return nsecmodels;
}

static secmodel_t
secmodel_lookup(const char *id)
{
	secmodel_t sm;

	LIST_FOREACH(sm, &secmodels, sm_list) {
		if (strcmp(sm->sm_id, id) == 0)
			return sm;
	}
	return NULL;
}

int
secmodel_register(secmodel_t *secmodel, const char *id, const char *name,
    prop_dictionary_t behavior, secmodel_eval_t eval,
    secmodel_setinfo_t setinfo)
{
	secmodel_t sm;

	if (secmodel_lookup(id) != NULL) {
		*secmodel = NULL;
		return EEXIST;
	}
	sm = kmem_alloc(sizeof(*sm), KM_SLEEP);
	sm->sm_id = id;
	sm->sm_name = name;
	sm->sm_behavior = behavior;
	sm->sm_eval = eval;
	sm->sm_setinfo = setinfo;
	LIST_INSERT_HEAD(&secmodels, sm, sm_list);
	nsecmodels++;
	*secmodel = sm;
	return 0;
}

int
secmodel_deregister(secmodel_t sm)
{
	secmodel_t tsm;

	LIST_FOREACH(tsm, &secmodels, sm_list) {
		if (tsm == sm) {
			LIST_REMOVE(sm, sm_list);
			nsecmodels--;
			kmem_free(sm, sizeof(*sm));
			return 0;
		}
	}
	return EFAULT;
}

int
secmodel_eval(const char *id, const char *what, void *arg, void *ret)
{
	secmodel_t sm = secmodel_lookup(id);

	if (sm == NULL)
		return EINVAL;
	if (sm->sm_eval == NULL)
		return ENOENT;
	return (*sm->sm_eval)(what, arg, ret);
}

int
secmodel_setinfo(const char *id, void *v, int *err)
{
	secmodel_t sm = secmodel_lookup(id);

	if (sm == NULL || sm->sm_setinfo == NULL)
		return EINVAL;
	*err = (*sm->sm_setinfo)(v);
	return 0;
}
