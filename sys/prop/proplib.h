/*	kmodbuild: sys/prop/proplib.h -- property lists (NetBSD common/include/prop) */

/*
 * Only the opaque types and the few accessors the example modules use.
 * The stub kernel has no plist parser: every lookup reports "not found".
 */

#ifndef _PROPLIB_PROPLIB_H_
#define	_PROPLIB_PROPLIB_H_

#include <sys/types.h>

typedef struct _prop_object_generic *prop_object_t;
typedef struct _prop_array	*prop_array_t;
typedef struct _prop_bool	*prop_bool_t;
typedef struct _prop_data	*prop_data_t;
typedef struct _prop_dictionary	*prop_dictionary_t;
typedef struct _prop_number	*prop_number_t;
typedef struct _prop_string	*prop_string_t;

__BEGIN_DECLS
prop_dictionary_t prop_dictionary_create(void);
void	prop_object_release(prop_object_t);
unsigned int prop_dictionary_count(prop_dictionary_t);
bool	prop_dictionary_get_bool(prop_dictionary_t, const char *, bool *);
bool	prop_dictionary_get_int32(prop_dictionary_t, const char *, int32_t *);
bool	prop_dictionary_get_uint32(prop_dictionary_t, const char *, uint32_t *);
bool	prop_dictionary_get_string(prop_dictionary_t, const char *, const char **);
__END_DECLS

#endif /* !_PROPLIB_PROPLIB_H_ */
