"""kmodbuild.kapi.secmodel - ``sys/secmodel/secmodel.h``: the security model registry.

``secmodel_register`` allocates a kernel ``struct secmodel_descr`` (EEXIST for
an id already registered) and hands it back; ``secmodel_deregister`` frees it
(EFAULT for one the kernel does not know); ``secmodel_eval`` and
``secmodel_setinfo`` call the model's functions (kern_secmodel.c).
"""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, Registration, kfunc
from kmodbuild.kapi._struct import Struct, entry_names, list_entry

HEADER = "sys/secmodel/secmodel.h"

EINVAL, ENOENT, EEXIST, EFAULT = 22, 2, 17, 14

#: struct secmodel_descr
SECMODEL_DESCR = Struct("secmodel_descr", (*list_entry("sm_list"), ("sm_id", "ptr"),
                                           ("sm_name", "ptr"), ("sm_behavior", "ptr"),
                                           ("sm_eval", "ptr"), ("sm_setinfo", "ptr")),
                        c_members=entry_names("sm_list", "sm_list"))


def _lookup(k: Kernel, ident: str) -> int:
    return next((r.key for r in k.registry.of_kind("secmodel") if r.name == ident), 0)


@kfunc("void secmodel_init(void)")
def secmodel_init(k: Kernel) -> None:
    return None


@kfunc("int secmodel_register(secmodel_t *, const char *, const char *, prop_dictionary_t, "
       "secmodel_eval_t, secmodel_setinfo_t)")
def secmodel_register(k: Kernel, smp: int, ident: int, name: int, behavior: int, evalf: int,
                      setinfo: int) -> int:
    text = k.mem.cstring(ident, 256)
    if _lookup(k, text):
        k.mem.put_ptr(smp, 0)
        return EEXIST
    lay = k.layout(SECMODEL_DESCR)
    sm = k.alloc(lay.size)
    for member, value in (("sm_id", ident), ("sm_name", name), ("sm_behavior", behavior),
                          ("sm_eval", evalf), ("sm_setinfo", setinfo)):
        k.mem.set(sm, lay, member, value)
    k.registry.add(Registration("secmodel", sm, text, k.current,
                                tuple(a for a in (ident, name, evalf, setinfo) if a),
                                detail=k.mem.cstring(name, 256) if name else ""))
    k.mem.put_ptr(smp, sm)
    return 0


@kfunc("int secmodel_deregister(secmodel_t)")
def secmodel_deregister(k: Kernel, sm: int) -> int:
    if k.registry.remove("secmodel", sm) is None:
        return EFAULT
    k.free(sm, k.layout(SECMODEL_DESCR).size)
    return 0


@kfunc("int secmodel_nsecmodels(void)")
def secmodel_nsecmodels(k: Kernel) -> int:
    return len(k.registry.of_kind("secmodel"))


@kfunc("int secmodel_eval(const char *, const char *, void *, void *)")
def secmodel_eval(k: Kernel, ident: int, what: int, arg: int, retp: int) -> int:
    sm = _lookup(k, k.mem.cstring(ident, 256))
    if not sm:
        return EINVAL
    fn = k.mem.get(sm, k.layout(SECMODEL_DESCR), "sm_eval")
    return k.call(fn, what, arg, retp, ret="i32") if fn else ENOENT


@kfunc("int secmodel_setinfo(const char *, void *, int *)")
def secmodel_setinfo(k: Kernel, ident: int, v: int, err: int) -> int:
    sm = _lookup(k, k.mem.cstring(ident, 256))
    fn = k.mem.get(sm, k.layout(SECMODEL_DESCR), "sm_setinfo") if sm else 0
    if not fn:
        return EINVAL
    k.mem.put(err, 4, k.call(fn, v, ret="i32"))
    return 0
