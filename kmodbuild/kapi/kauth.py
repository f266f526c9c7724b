"""kmodbuild.kapi.kauth - ``sys/sys/kauth.h``: authorization scopes and listeners.

As kern_auth.c of the stub kernel: eight scopes, listeners called in order
for ``kauth_authorize_*`` (any DENY -> EPERM, else any ALLOW -> 0, else EPERM
unless no security model is registered), NOCRED/FSCRED always allowed, and
``kauth_cred_get()`` is root's credential.
"""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, Registration, kfunc
from kmodbuild.kapi._struct import Struct

HEADER = "sys/sys/kauth.h"

EPERM = 1
KAUTH_RESULT_ALLOW, KAUTH_RESULT_DENY = 0, 1
SCOPES = ("org.netbsd.kauth.generic", "org.netbsd.kauth.system", "org.netbsd.kauth.process",
          "org.netbsd.kauth.network", "org.netbsd.kauth.machdep", "org.netbsd.kauth.device",
          "org.netbsd.kauth.cred", "org.netbsd.kauth.vnode")

#: struct kauth_cred (private to kern_auth.c)
KAUTH_CRED = Struct("kauth_cred", (("cr_refcnt", "u32"), ("cr_uid", "u32"), ("cr_euid", "u32"),
                                   ("cr_gid", "u32"), ("cr_egid", "u32")))
#: struct kauth_listener (private to kern_auth.c)
KAUTH_LISTENER = Struct("kauth_listener", (("kl_scope", "ptr"), ("kl_func", "ptr"),
                                           ("kl_cookie", "ptr")))


def _scopes(k: Kernel) -> dict[str, int]:
    def make() -> dict[str, int]:
        out = {}
        for ident in SCOPES:
            data = ident.encode() + b"\0"
            text = k.alloc(len(data))
            k.mem.write(text, data)
            scope = k.alloc(k.target.pointer_size)      # struct kauth_scope { ks_id }
            k.mem.put_ptr(scope, text)
            out[ident] = scope
        return out
    return k.state("kauth.scopes", make)


def _cred0(k: Kernel) -> int:
    def make() -> int:
        lay = k.layout(KAUTH_CRED)
        cred = k.alloc(lay.size)
        k.mem.set(cred, lay, "cr_refcnt", 1)
        return cred
    return k.state("kauth.cred0", make)


def _nocred(k: Kernel, cred: int) -> bool:
    mask = (1 << (8 * k.target.pointer_size)) - 1
    return cred in ((-1) & mask, (-2) & mask)


@kfunc("kauth_listener_t kauth_listen_scope(const char *, kauth_scope_callback_t, void *)")
def kauth_listen_scope(k: Kernel, ident: int, func: int, cookie: int) -> int:
    name = k.mem.cstring(ident, 256)
    scope = _scopes(k).get(name)
    if scope is None:
        return 0
    lay = k.layout(KAUTH_LISTENER)
    kl = k.alloc(lay.size)
    k.mem.set(kl, lay, "kl_scope", scope)
    k.mem.set(kl, lay, "kl_func", func)
    k.mem.set(kl, lay, "kl_cookie", cookie)
    k.registry.add(Registration("kauth", kl, name, k.current,
                                tuple(a for a in (func, cookie) if a)))
    return kl


@kfunc("void kauth_unlisten_scope(kauth_listener_t)")
def kauth_unlisten_scope(k: Kernel, kl: int) -> None:
    if kl and k.registry.remove("kauth", kl) is not None:
        k.free(kl, k.layout(KAUTH_LISTENER).size)


@kfunc("int kauth_authorize_action(kauth_scope_t, kauth_cred_t, kauth_action_t, void *, "
       "void *, void *, void *)")
def kauth_authorize_action(k: Kernel, scope: int, cred: int, action: int, a0: int, a1: int,
                           a2: int, a3: int) -> int:
    if _nocred(k, cred):
        return 0
    lay = k.layout(KAUTH_LISTENER)
    allow = deny = 0
    for reg in reversed(k.registry.of_kind("kauth")):
        if k.mem.get(reg.key, lay, "kl_scope") != scope:
            continue
        result = k.call(k.mem.get(reg.key, lay, "kl_func"), cred, action,
                        k.mem.get(reg.key, lay, "kl_cookie"), a0, a1, a2, a3, ret="i32")
        allow += result == KAUTH_RESULT_ALLOW
        deny += result == KAUTH_RESULT_DENY
    if deny:
        return EPERM
    if allow or not k.registry.of_kind("secmodel"):
        return 0
    return EPERM


@kfunc("int kauth_authorize_generic(kauth_cred_t, kauth_action_t, void *)")
def kauth_authorize_generic(k: Kernel, cred: int, action: int, arg0: int) -> int:
    return kauth_authorize_action(k, _scopes(k)[SCOPES[0]], cred, action, arg0, 0, 0, 0)


@kfunc("int kauth_authorize_system(kauth_cred_t, kauth_action_t, enum kauth_system_req, "
       "void *, void *, void *)")
def kauth_authorize_system(k: Kernel, cred: int, action: int, req: int, a1: int, a2: int,
                           a3: int) -> int:
    return kauth_authorize_action(k, _scopes(k)[SCOPES[1]], cred, action, req, a1, a2, a3)


def _cred_field(k: Kernel, cred: int, member: str) -> int:
    return k.mem.get(cred, k.layout(KAUTH_CRED), member)


@kfunc("uid_t kauth_cred_getuid(kauth_cred_t)")
def kauth_cred_getuid(k: Kernel, cred: int) -> int:
    return _cred_field(k, cred, "cr_uid")


@kfunc("uid_t kauth_cred_geteuid(kauth_cred_t)")
def kauth_cred_geteuid(k: Kernel, cred: int) -> int:
    return _cred_field(k, cred, "cr_euid")


@kfunc("gid_t kauth_cred_getgid(kauth_cred_t)")
def kauth_cred_getgid(k: Kernel, cred: int) -> int:
    return _cred_field(k, cred, "cr_gid")


@kfunc("gid_t kauth_cred_getegid(kauth_cred_t)")
def kauth_cred_getegid(k: Kernel, cred: int) -> int:
    return _cred_field(k, cred, "cr_egid")


@kfunc("kauth_cred_t kauth_cred_get(void)")
def kauth_cred_get(k: Kernel) -> int:
    return _cred0(k)
