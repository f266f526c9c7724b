/*	kmodbuild stub kernel: subr_prop.c -- property list stubs */

/*
 * The stub kernel parses no plists: dictionaries are always empty and
 * every lookup reports the key as absent, which modules must handle anyway.
 */

#include <sys/param.h>
#include <sys/systm.h>

#include <prop/proplib.h>

prop_dictionary_t
prop_dictionary_create(void)
{

	return NULL;
}

void
prop_object_release(prop_object_t obj)
{
}

unsigned int
prop_dictionary_count(prop_dictionary_t dict)
{

	return 0;
}

bool
prop_dictionary_get_bool(prop_dictionary_t dict, const char *key, bool *valp)
{

	return false;
}

bool
prop_dictionary_get_int32(prop_dictionary_t dict, const char *key,
    int32_t *valp)
{

	return false;
}

bool
prop_dictionary_get_uint32(prop_dictionary_t dict, const char *key,
    uint32_t *valp)
{

	return false;
}

bool
prop_dictionary_get_string(prop_dictionary_t dict, const char *key,
    const char **valp)
{

	return false;
}
