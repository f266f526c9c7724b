"""kmodbuild.kapi.signalvar - ``sys/sys/signalvar.h``: posting signals (kern_sig.c)."""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, kfunc
from kmodbuild.kapi._struct import Struct
from kmodbuild.kapi.lwp import LWP
from kmodbuild.kapi.proc import PROC

HEADER = "sys/sys/signalvar.h"

NSIG = 64

#: ksiginfo_t
KSIGINFO = Struct("ksiginfo", (("ksi_flags", "uword"), ("ksi_signo", "i32"), ("ksi_code", "i32"),
                               ("ksi_errno", "i32"), ("ksi_pid", "i32"), ("ksi_uid", "u32")),
                  c_members=(("ksi_pid", "ksi_info._pid"), ("ksi_uid", "ksi_info._uid")))


@kfunc("void sendsig(const ksiginfo_t *, const sigset_t *)")
def sendsig(k: Kernel, ksi: int, mask: int) -> None:
    k.output(f"sendsig: signal {k.mem.get(ksi, k.layout(KSIGINFO), 'ksi_signo')}\n")


@kfunc("void trapsignal(struct lwp *, ksiginfo_t *)")
def trapsignal(k: Kernel, l: int, ksi: int) -> None:
    psignal(k, k.mem.get(l, k.layout(LWP), "l_proc"),
            k.mem.get(ksi, k.layout(KSIGINFO), "ksi_signo"))


@kfunc("void psignal(struct proc *, int)")
def psignal(k: Kernel, p: int, signo: int) -> None:
    if signo <= 0 or signo >= NSIG:
        k.panic(f"psignal: signal number {signo}")
    k.output(f"psignal: pid {k.mem.get(p, k.layout(PROC), 'p_pid')} signal {signo}\n")
