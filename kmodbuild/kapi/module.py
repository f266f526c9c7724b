"""kmodbuild.kapi.module - ``sys/sys/module.h``: what a module may ask the module subsystem.

Loading, autoloading, unloading and holding go to the simulated kernel
(:class:`kmodbuild.simulator.SimKernel`) with its rules and errno, so a module
whose INIT loads another one runs that one's INIT too (nested emulation).
``module_find_section`` looks in the running module's own image.
"""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, kdata, kfunc

HEADER = "sys/sys/module.h"

ENOENT, EOPNOTSUPP, EEXIST = 2, 45, 17
MODULE_BASE_SIZE = 64


def _sim(k: Kernel):  # type: ignore[no-untyped-def]
    return k.sim


@kfunc("void module_init(void)")
def module_init(k: Kernel) -> None:
    return None


@kfunc("void module_init_class(modclass_t)")
def module_init_class(k: Kernel, modclass: int) -> None:
    return None


@kfunc("int module_prime(const char *, void *, size_t)")
def module_prime(k: Kernel, name: int, base: int, size: int) -> int:
    sim = _sim(k)
    if sim is not None and sim.lookup(k.mem.cstring(name, 64)) is not None:
        return EEXIST
    return EOPNOTSUPP


@kfunc("bool module_compatible(int, int)")
def module_compatible(k: Kernel, v1: int, v2: int) -> int:
    from kmodbuild.target import compatible
    return int(compatible(v1, v2))


@kfunc("int module_load(const char *, int, prop_dictionary_t, modclass_t)")
def module_load(k: Kernel, filename: int, flags: int, props: int, modclass: int) -> int:
    sim = _sim(k)
    if sim is None:
        return EOPNOTSUPP
    return int(sim.modctl_load(k.mem.cstring(filename, 1024), flags))


@kfunc("int module_autoload(const char *, modclass_t)")
def module_autoload(k: Kernel, filename: int, modclass: int) -> int:
    sim = _sim(k)
    if sim is None:
        return EOPNOTSUPP
    return int(sim.module_autoload(k.mem.cstring(filename, 1024), modclass, comm="kernel"))


@kfunc("int module_unload(const char *)")
def module_unload(k: Kernel, name: int) -> int:
    sim = _sim(k)
    if sim is None:
        return EOPNOTSUPP
    return int(sim.modctl_unload(k.mem.cstring(name, 64)))


@kfunc("int module_hold(const char *)")
def module_hold(k: Kernel, name: int) -> int:
    sim = _sim(k)
    mod = sim.lookup(k.mem.cstring(name, 64)) if sim is not None else None
    if mod is None:
        return ENOENT
    mod.refcnt += 1
    return 0


@kfunc("void module_rele(const char *)")
def module_rele(k: Kernel, name: int) -> None:
    sim = _sim(k)
    mod = sim.lookup(k.mem.cstring(name, 64)) if sim is not None else None
    if mod is None or mod.refcnt <= 0:
        k.panic(f"module_rele: `{k.mem.cstring(name, 64)}' not held")
    mod.refcnt -= 1


@kfunc("int module_find_section(const char *, void **, size_t *)")
def module_find_section(k: Kernel, name: int, addrp: int, sizep: int) -> int:
    ko = getattr(k.module, "kobj", None)
    found = ko.find_section(k.mem.cstring(name, 256)) if ko is not None else None
    if found is None:
        return ENOENT
    k.mem.put_ptr(addrp, found[0])
    k.mem.put(sizep, k.target.pointer_size, found[1])
    return 0


@kfunc("void module_thread_kick(void)")
def module_thread_kick(k: Kernel) -> None:
    return None


@kfunc("const char *module_name(struct module *)")
def module_name(k: Kernel, mod: int) -> int:
    return 0            # no module_t lives in emulated memory


@kfunc("modsrc_t module_source(struct module *)")
def module_source(k: Kernel, mod: int) -> int:
    return 0


def _count(k: Kernel, addr: int, size: int) -> None:
    k.mem.put(addr, 4, len(k.sim.loaded) if k.sim is not None else 0)


kdata("extern u_int module_count")(_count)


@kdata("extern u_int module_builtinlist")
def _builtinlist(k: Kernel, addr: int, size: int) -> None:
    k.mem.put(addr, 4, len(k.sim.builtins) if k.sim is not None else 0)


@kdata("extern struct modlist module_list")
def _module_list(k: Kernel, addr: int, size: int) -> None:
    k.mem.put_ptr(addr + k.target.pointer_size, addr)     # TAILQ_HEAD_INITIALIZER


@kdata("extern struct modlist module_builtins")
def _module_builtins(k: Kernel, addr: int, size: int) -> None:
    k.mem.put_ptr(addr + k.target.pointer_size, addr)


@kdata("extern u_int module_gen")
def _module_gen(k: Kernel, addr: int, size: int) -> None:
    k.mem.put(addr, 4, k.sim.module_gen + 1 if k.sim is not None else 1)


@kdata("extern bool module_autoload_on")
def _autoload_on(k: Kernel, addr: int, size: int) -> None:
    k.mem.put(addr, 1, int(k.sim.autoload_on) if k.sim is not None else 1)


@kdata("extern char module_base[MODULE_BASE_SIZE]")
def _module_base(k: Kernel, addr: int, size: int) -> None:
    text = k.sim.module_base if k.sim is not None else f"/stand/{k.target.machine}"
    k.mem.write(addr, (text.encode() + b"\0")[:MODULE_BASE_SIZE])


@kdata("extern const char *module_machine")
def _module_machine(k: Kernel, addr: int, size: int) -> None:
    k.mem.put_ptr(addr, k.sym("machine"))
