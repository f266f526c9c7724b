/*	kmodbuild: sys/secmodel/secmodel.h -- security models (NetBSD secmodel/secmodel.h) */

#ifndef _SECMODEL_SECMODEL_H_
#define	_SECMODEL_SECMODEL_H_

#include <sys/types.h>
#include <sys/queue.h>
#include <prop/proplib.h>

__BEGIN_DECLS
void	secmodel_init(void);
__END_DECLS

/*
 * Functions used for inter-secmodel communication, allowing evaluation
 * or setting information.
 */
typedef int (*secmodel_eval_t)(const char *, void *, void *);
typedef int (*secmodel_setinfo_t)(void *);

/*
 * Secmodel entry.
 */
struct secmodel_descr {
	LIST_ENTRY(secmodel_descr) sm_list;
	const char *sm_id;
	const char *sm_name;
	prop_dictionary_t sm_behavior;
	secmodel_eval_t sm_eval;
	secmodel_setinfo_t sm_setinfo;
};
typedef struct secmodel_descr *secmodel_t;

__BEGIN_DECLS
int	secmodel_register(secmodel_t *, const char *, const char *,
	    prop_dictionary_t, secmodel_eval_t, secmodel_setinfo_t);
int	secmodel_deregister(secmodel_t);
int	secmodel_nsecmodels(void);

int	secmodel_eval(const char *, const char *, void *, void *);
int	secmodel_setinfo(const char *, void *, int *);
__END_DECLS

#endif /* !_SECMODEL_SECMODEL_H_ */
