"""kmodbuild.kapi.syscallvar - ``sys/sys/syscallvar.h``: system calls from modules.

``syscall_establish`` writes each ``struct syscall_package`` entry into the
emulation's ``sysent`` table in emulated memory (NULL means ``emul_netbsd``,
whose table is the kernel's ``sysent``); it fails as a whole with EINVAL (code
out of range) or EBUSY (slot taken).  ``syscall_disestablish`` checks every
entry is still the module's and puts ``sys_nosys`` back, as kern_syscall.c.
"""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, Registration, kforget, kfunc
from kmodbuild.kapi._struct import Struct
from kmodbuild.kapi.proc import EMUL, emul_name
from kmodbuild.kapi.systm import SYCALL_NOSYS, SYSENT, init_sysent

HEADER = "sys/sys/syscallvar.h"

EINVAL, EBUSY = 22, 16
_MAX_PACKAGES = 1024

#: struct syscall_package
SYSCALL_PACKAGE = Struct("syscall_package", (("sp_code", "u16"), ("sp_flags", "u16"),
                                             ("sp_call", "ptr")))


def _packages(k: Kernel, sp: int) -> list[tuple[int, int, int]]:
    lay = k.layout(SYSCALL_PACKAGE)
    out = []
    for i in range(_MAX_PACKAGES):
        entry = sp + i * lay.size
        call = k.mem.get(entry, lay, "sp_call")
        if call == 0:
            break
        out.append((k.mem.get(entry, lay, "sp_code"), k.mem.get(entry, lay, "sp_flags"), call))
    return out


def _table(k: Kernel, em: int) -> tuple[int, int, int]:
    """(emul, sysent address, entry count) of emulation ``em`` (NULL: emul_netbsd)."""
    em = em or k.sym("emul_netbsd")
    if em == 0:
        return 0, k.sym("sysent"), 512
    lay = k.layout(EMUL)
    return em, k.mem.get(em, lay, "e_sysent"), k.mem.get(em, lay, "e_nsysent")


def _is_free(k: Kernel, call: int) -> bool:
    return call in (k.sym("sys_nosys"), k.sym("sys_nomodule"))


def sysent_call(k: Kernel, code: int, em: int = 0) -> int:
    """``sysent[code].sy_call`` of emulation ``em`` (NULL: native)."""
    _, table, count = _table(k, em)
    lay = k.layout(SYSENT)
    return k.mem.get(table + code * lay.size, lay, "sy_call") if 0 <= code < count else 0


@kfunc("void syscall_init(void)")
def syscall_init(k: Kernel) -> None:
    if k.sym("sysent"):
        init_sysent(k, k.sym("sysent"), 512 * k.layout(SYSENT).size)


@kfunc("int syscall_establish(const struct emul *, const struct syscall_package *)")
def syscall_establish(k: Kernel, em: int, sp: int) -> int:
    em, table, count = _table(k, em)
    lay = k.layout(SYSENT)
    packages = _packages(k, sp)
    for code, _, _ in packages:
        if code >= count:
            return EINVAL
        if not _is_free(k, k.mem.get(table + code * lay.size, lay, "sy_call")):
            return EBUSY
    name = emul_name(k, em if em != k.sym("emul_netbsd") else 0)
    for code, flags, call in packages:
        entry = table + code * lay.size
        k.mem.set(entry, lay, "sy_call", call)
        k.mem.set(entry, lay, "sy_flags", flags)
        k.registry.add(Registration("syscall", entry, f"{name} syscall {code}", k.current,
                                    (call,), detail=str(code)))
    return 0


@kfunc("int syscall_disestablish(const struct emul *, const struct syscall_package *)")
def syscall_disestablish(k: Kernel, em: int, sp: int) -> int:
    em, table, count = _table(k, em)
    lay = k.layout(SYSENT)
    packages = _packages(k, sp)
    for code, _, call in packages:
        if code >= count or k.mem.get(table + code * lay.size, lay, "sy_call") != call:
            return EINVAL
    for code, _, _ in packages:
        entry = table + code * lay.size
        k.mem.set(entry, lay, "sy_call", k.sym("sys_nosys"))
        k.mem.set(entry, lay, "sy_flags", SYCALL_NOSYS)
        k.registry.remove("syscall", entry)
    return 0


@kforget("syscall")
def _forget_syscall(k: Kernel, reg: Registration) -> None:
    """Put ``sys_nosys`` back in a slot whose module is gone."""
    lay = k.layout(SYSENT)
    k.mem.set(reg.key, lay, "sy_call", k.sym("sys_nosys"))
    k.mem.set(reg.key, lay, "sy_flags", SYCALL_NOSYS)
