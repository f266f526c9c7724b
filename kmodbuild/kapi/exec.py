"""kmodbuild.kapi.exec - ``sys/sys/exec.h``: the exec switch, and emulation registration.

``exec_add``/``exec_remove`` keep the table of ``struct execsw`` entries
sorted by ``es_prio`` (kern_exec.c of the stub kernel: at most 32, EEXIST for
an entry already there, EBUSY while an image uses one).  An entry whose
``es_emul`` points at an emulation (``emul_demo`` of compat_demo) registers
that emulation by the name read from its ``struct emul``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kmodbuild.kapi._kernel import Kernel, Registration, kforget, kfunc
from kmodbuild.kapi._struct import Struct
from kmodbuild.kapi.lwp import LWP
from kmodbuild.kapi.proc import emul_name

HEADER = "sys/sys/exec.h"

ENOMEM, EEXIST, EBUSY, ENOSYS = 12, 17, 16, 78
EXECSW_MAX = 32

#: struct execsw
EXECSW = Struct("execsw", (("es_hdrsz", "u32"), ("es_makecmds", "ptr"), ("u", "ptr"),
                           ("es_emul", "ptr"), ("es_prio", "i32"), ("es_arglen", "i32"),
                           ("es_copyargs", "ptr"), ("es_setregs", "ptr"),
                           ("es_coredump", "ptr"), ("es_setup_stack", "ptr")))
#: struct exec_package
EXEC_PACKAGE = Struct("exec_package", (
    ("ep_kname", "ptr"), ("ep_resolvedname", "ptr"), ("ep_xfd", "i32"), ("ep_hdr", "ptr"),
    ("ep_hdrlen", "u32"), ("ep_hdrvalid", "u32"), ("evs_used", "u32"), ("evs_cnt", "u32"),
    ("evs_cmds", "ptr"), ("ep_vp", "ptr"),
    *((f, "uword") for f in ("ep_taddr", "ep_tsize", "ep_daddr", "ep_dsize", "ep_maxsaddr",
                             "ep_minsaddr", "ep_ssize", "ep_entry", "ep_entryoffset",
                             "ep_vm_minaddr", "ep_vm_maxaddr")),
    ("ep_flags", "u32"), ("ep_fd", "i32"), ("ep_emul_arg", "ptr"), ("ep_esch", "ptr"),
    ("ep_emul_root", "ptr"), ("ep_interp", "ptr"), ("ep_pax_flags", "u32"),
    ("ep_emul_arg_free", "ptr"), ("ep_osversion", "u32"), ("ep_machine_arch", "char[12]")),
    c_members=(("evs_used", "ep_vmcmds.evs_used"), ("evs_cnt", "ep_vmcmds.evs_cnt"),
               ("evs_cmds", "ep_vmcmds.evs_cmds")))


@dataclass
class ExecState:
    """The exec switch: entry addresses in priority order and images using each."""

    execsw: list[int] = field(default_factory=list)
    busy: dict[int, int] = field(default_factory=dict)


def execsw_state(k: Kernel) -> ExecState:
    """This kernel's exec switch."""
    return k.state("exec", ExecState)


def _register_emulation(k: Kernel, em: int) -> None:
    if em == 0 or em == k.sym("emul_netbsd"):
        return
    reg = k.registry.get("emulation", em)
    if reg is None:
        k.registry.add(Registration("emulation", em, emul_name(k, em), k.current, detail="1"))
    else:
        reg.detail = str(int(reg.detail) + 1)


def _release_emulation(k: Kernel, em: int) -> None:
    reg = k.registry.get("emulation", em)
    if reg is not None:
        left = int(reg.detail) - 1
        if left <= 0:
            k.registry.remove("emulation", em)
        else:
            reg.detail = str(left)


@kfunc("int exec_add(struct execsw *, int)")
def exec_add(k: Kernel, esp: int, count: int) -> int:
    st = execsw_state(k)
    lay = k.layout(EXECSW)
    if count <= 0 or len(st.execsw) + count > EXECSW_MAX:
        return ENOMEM
    entries = [esp + i * lay.size for i in range(count)]
    if any(e in st.execsw for e in entries):
        return EEXIST
    for e in entries:
        prio = k.mem.get(e, lay, "es_prio")
        pos = next((i for i, x in enumerate(st.execsw) if k.mem.get(x, lay, "es_prio") > prio),
                   len(st.execsw))
        st.execsw.insert(pos, e)
        st.busy[e] = 0
        em = k.mem.get(e, lay, "es_emul")
        k.registry.add(Registration("execsw", e, emul_name(k, em), k.current,
                                    tuple(a for a in (k.mem.get(e, lay, "es_makecmds"), em)
                                          if a), detail=f"prio {prio}"))
        _register_emulation(k, em)
    return 0


@kfunc("int exec_remove(struct execsw *, int)")
def exec_remove(k: Kernel, esp: int, count: int) -> int:
    st = execsw_state(k)
    lay = k.layout(EXECSW)
    entries = [esp + i * lay.size for i in range(max(count, 0))]
    if any(st.busy.get(e, 0) for e in entries if e in st.execsw):
        return EBUSY
    for e in entries:
        if e in st.execsw:
            st.execsw.remove(e)
            st.busy.pop(e, None)
            k.registry.remove("execsw", e)
            _release_emulation(k, k.mem.get(e, lay, "es_emul"))
    return 0


@kfunc("int copyargs(struct lwp *, struct exec_package *, struct ps_strings *, char **, "
       "void *)")
def copyargs(k: Kernel, l: int, pack: int, arginfo: int, stackp: int, argp: int) -> int:
    k.mem.put_ptr(stackp, argp)
    return 0


@kfunc("void setregs(struct lwp *, struct exec_package *, vaddr_t)")
def setregs(k: Kernel, l: int, pack: int, stack: int) -> None:
    k.mem.set(l, k.layout(LWP), "l_private", 0)


@kfunc("int exec_setup_stack(struct lwp *, struct exec_package *)")
def exec_setup_stack(k: Kernel, l: int, epp: int) -> int:
    lay = k.layout(EXEC_PACKAGE)
    usrstack = 0x00007F7FFFFFE000 if k.target.pointer_size == 8 else 0xBFBFE000
    size = 2 * 1024 * 1024
    k.mem.set(epp, lay, "ep_ssize", size)
    k.mem.set(epp, lay, "ep_minsaddr", usrstack)
    k.mem.set(epp, lay, "ep_maxsaddr", usrstack - size)
    return 0


@kfunc("int coredump_netbsd(struct lwp *, struct coredump_iostate *)")
def coredump_netbsd(k: Kernel, l: int, iocookie: int) -> int:
    return ENOSYS


@kforget("execsw")
def _forget_execsw(k: Kernel, reg: Registration) -> None:
    """Take an exec switch entry out whose module is gone."""
    st = execsw_state(k)
    if reg.key in st.execsw:
        st.execsw.remove(reg.key)
        st.busy.pop(reg.key, None)
