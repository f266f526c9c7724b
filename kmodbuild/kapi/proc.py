"""kmodbuild.kapi.proc - ``sys/sys/proc.h``: ``struct emul``, ``struct proc``, ``proc0`` and
the native emulation ``emul_netbsd`` (whose ``e_sysent`` is the kernel's ``sysent``)."""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, kdata
from kmodbuild.kapi._struct import Struct

HEADER = "sys/sys/proc.h"

#: struct emul
EMUL = Struct("emul", (
    ("e_name", "ptr"), ("e_path", "ptr"), ("e_flags", "i32"), ("e_errno", "ptr"),
    ("e_nosys", "i32"), ("e_nsysent", "i32"), ("e_sysent", "ptr"), ("e_nomodbits", "ptr"),
    ("e_syscallnames", "ptr"), ("e_sc_autoload", "ptr"), ("e_sendsig", "ptr"),
    ("e_trapsignal", "ptr"), ("e_sigcode", "ptr"), ("e_esigcode", "ptr"),
    ("e_sigobject", "ptr"), ("e_setregs", "ptr"), ("e_proc_exec", "ptr"),
    ("e_proc_fork", "ptr"), ("e_proc_exit", "ptr"), ("e_lwp_fork", "ptr"),
    ("e_lwp_exit", "ptr"), ("e_syscall_intern", "ptr"), ("e_sysctlovly", "ptr"),
    ("e_vm_default_addr", "ptr"), ("e_usertrap", "ptr"), ("e_ucsize", "uword"),
    ("e_startlwp", "ptr")))
#: struct proc (the members the stub kernel has)
PROC = Struct("proc", (("p_pid", "i32"), ("p_flag", "i32"), ("p_emul", "ptr"),
                       ("p_emuldata", "ptr"), ("p_cred", "ptr"), ("p_comm", "char[17]")))

SYS_NSYSENT = 512


def emul_name(k: Kernel, em: int) -> str:
    """``em->e_name`` (``netbsd`` for NULL, the native emulation)."""
    if em == 0:
        return "netbsd"
    name = k.mem.get(em, k.layout(EMUL), "e_name")
    return k.mem.cstring(name, 64) if name else "?"


def _kernel_string(k: Kernel, text: str) -> int:
    data = text.encode() + b"\0"
    addr = k.alloc(len(data))
    k.mem.write(addr, data)
    return addr


@kdata("extern struct emul emul_netbsd")
def _emul_netbsd(k: Kernel, addr: int, size: int) -> None:
    lay = k.layout(EMUL)
    k.mem.set(addr, lay, "e_name", _kernel_string(k, "netbsd"))
    k.mem.set(addr, lay, "e_nsysent", SYS_NSYSENT)
    for member, symbol in (("e_sysent", "sysent"), ("e_nomodbits", "sysent_nomodbits"),
                           ("e_sendsig", "sendsig"), ("e_trapsignal", "trapsignal"),
                           ("e_setregs", "setregs")):
        k.mem.set(addr, lay, member, k.sym(symbol))


@kdata("extern struct proc proc0")
def _proc0(k: Kernel, addr: int, size: int) -> None:
    lay = k.layout(PROC)
    k.mem.set(addr, lay, "p_emul", k.sym("emul_netbsd"))
    k.mem.write(addr + lay.offset("p_comm"), b"swapper\0")
