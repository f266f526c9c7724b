/*	kmodbuild stub kernel: kern_module.c -- module bookkeeping */

/*
 * The stub kernel has no in-kernel linker: it only keeps the lists of
 * kern_module.c so that built-in modules (those linked into the kernel,
 * found in its own link_set_modules) can be initialised and unloaded
 * following spec 3.5-3.6.  Loading from a file system is not available,
 * as in a real kernel before root is mounted (EOPNOTSUPP, spec 3.1).
 */

#include <sys/param.h>
#include <sys/errno.h>
#include <sys/kmem.h>
#include <sys/module.h>
#include <sys/systm.h>

struct modlist	module_list = TAILQ_HEAD_INITIALIZER(module_list);
struct modlist	module_builtins = TAILQ_HEAD_INITIALIZER(module_builtins);
u_int		module_count;
u_int		module_builtinlist;
u_int		module_gen = 1;
bool		module_autoload_on = true;	/* MODULAR_DEFAULT_AUTOLOAD */
char		module_base[MODULE_BASE_SIZE];
const char	*module_machine = machine;

/*
 * The kernel's link_set_modules always has an entry, so that the set
 * exists even when no module is built in (spec 1.2); module_init()
 * skips it.
 */
static modinfo_t module_dummy;
__link_set_add_rodata(modules, module_dummy);
__link_set_decl(modules, modinfo_t);

static module_t *
module_lookup(const struct modlist *list, const char *name)
{
	module_t *mod;

	TAILQ_FOREACH(mod, list, mod_chain) {
		if (strcmp(mod->mod_info->mi_name, name) == 0)
			return mod;
	}
	return NULL;
}

void
module_init(void)
{
	modinfo_t * const *mip;
	module_t *mod;

	snprintf(module_base, sizeof(module_base), "/stand/%s/%s/modules",
	    module_machine, osrelease);
	__link_set_foreach(mip, modules) {
		if (*mip == &module_dummy)
			continue;
		if (module_lookup(&module_builtins, (*mip)->mi_name) != NULL) {
			printf("builtin %s failed: %d\n", (*mip)->mi_name, EEXIST);
			continue;
		}
		mod = kmem_zalloc(sizeof(*mod), KM_SLEEP);
		mod->mod_info = *mip;
		mod->mod_source = MODULE_SOURCE_KERNEL;
		TAILQ_INSERT_TAIL(&module_builtins, mod, mod_chain);
		module_builtinlist++;
	}
}

static int
module_do_builtin(module_t *mod)
{
	int error;

	error = (*mod->mod_info->mi_modcmd)(MODULE_CMD_INIT, NULL);
	if (error != 0) {
		printf("built-in module %s failed its MODULE_CMD_INIT, "
		    "error %d\n", mod->mod_info->mi_name, error);
		return error;
	}
	TAILQ_REMOVE(&module_builtins, mod, mod_chain);
	TAILQ_INSERT_HEAD(&module_list, mod, mod_chain);
	module_builtinlist--;
	module_count++;
	module_gen++;
	return 0;
}

void
module_init_class(modclass_t modclass)
{
	module_t *mod, *next;

	for (mod = TAILQ_FIRST(&module_builtins); mod != NULL; mod = next) {
		next = TAILQ_NEXT(mod, mod_chain);
		if ((modclass == MODULE_CLASS_ANY ||
		    mod->mod_info->mi_class == modclass) &&
		    (mod->mod_flags & MODFLG_MUST_FORCE) == 0)
			(void)module_do_builtin(mod);
	}
}

int
module_prime(const char *name, void *base, size_t size)
{

	if (module_lookup(&module_builtins, name) != NULL ||
	    module_lookup(&module_list, name) != NULL)
		return EEXIST;
	return EOPNOTSUPP;	/* no in-kernel linker in the stub kernel */
}

bool
module_compatible(int v1, int v2)
{

	if (__NetBSD_Version__ / 1000000 % 100 == 99)	/* -current */
		return v1 == v2;
	return v1 - v2 < 10000 && v2 - v1 < 10000;
}

int
module_load(const char *filename, int flags, prop_dictionary_t props,
    modclass_t modclass)
{
	module_t *mod;

	if (module_lookup(&module_list, filename) != NULL)
		return EEXIST;
	mod = module_lookup(&module_builtins, filename);
	if (mod != NULL) {
		if ((mod->mod_flags & MODFLG_MUST_FORCE) != 0 &&
		    (flags & MODCTL_LOAD_FORCE) == 0)
			return EPERM;
		mod->mod_flags &= ~MODFLG_MUST_FORCE;
		return module_do_builtin(mod);
	}
	return EOPNOTSUPP;
}

int
module_autoload(const char *filename, modclass_t modclass)
{

	if (!module_autoload_on)
		return EPERM;
	if (strchr(filename, '/') != NULL || strchr(filename, '@') != NULL ||
	    strchr(filename, '.') != NULL)
		return EPERM;
	return module_load(filename, 0, NULL, modclass);
}

int
module_unload(const char *name)
{
	module_t *mod;
	int error;

	mod = module_lookup(&module_list, name);
	if (mod == NULL) {
		printf("WARNING: module error: module `%s' not found\n", name);
		return ENOENT;
	}
	if (mod->mod_refcnt != 0)
		return EBUSY;
	if (mod->mod_source == MODULE_SOURCE_KERNEL &&
	    mod->mod_info->mi_class == MODULE_CLASS_SECMODEL)
		return EPERM;
	error = (*mod->mod_info->mi_modcmd)(MODULE_CMD_FINI, NULL);
	if (error != 0)
		return error;
	TAILQ_REMOVE(&module_list, mod, mod_chain);
	module_count--;
	module_gen++;
	mod->mod_flags |= MODFLG_MUST_FORCE;
	TAILQ_INSERT_TAIL(&module_builtins, mod, mod_chain);
	module_builtinlist++;
	return 0;
}

int
module_hold(const char *name)
{
	module_t *mod = module_lookup(&module_list, name);

	if (mod == NULL)
		return ENOENT;
	mod->mod_refcnt++;
	return 0;
}

void
module_rele(const char *name)
{
	module_t *mod = module_lookup(&module_list, name);

	if (mod == NULL || mod->mod_refcnt == 0)
		panic("module_rele: %s not held", name);
	mod->mod_refcnt--;
}

int
module_find_section(const char *name, void **addr, size_t *size)
{

	return ENOENT;	/* built-in modules have no sections of their own */
}

void
module_thread_kick(void)
{
}

const char *
module_name(struct module *mod)
{

	return mod->mod_info->mi_name;
}

modsrc_t
module_source(struct module *mod)
{

	return mod->mod_source;
}
