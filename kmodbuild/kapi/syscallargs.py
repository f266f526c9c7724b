"""kmodbuild.kapi.syscallargs - ``sys/sys/syscallargs.h``: ``sys_nosys`` and ``sys_exit``."""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, kfunc
from kmodbuild.kapi.lwp import LWP
from kmodbuild.kapi.proc import PROC

HEADER = "sys/sys/syscallargs.h"

ENOSYS = 78


@kfunc("int sys_nosys(struct lwp *, const void *, register_t *)")
def sys_nosys(k: Kernel, l: int, v: int, retval: int) -> int:
    return ENOSYS


@kfunc("int sys_exit(struct lwp *, const struct sys_exit_args *, register_t *)")
def sys_exit(k: Kernel, l: int, uap: int, retval: int) -> int:
    psize = k.target.pointer_size
    status = k.mem.sint(uap + (0 if k.target.little_endian else psize - 4), 4)
    proc = k.mem.get(l, k.layout(LWP), "l_proc") if l else 0
    pid = k.mem.get(proc, k.layout(PROC), "p_pid") if proc else 0
    k.output(f"exit: pid {pid} status {status}\n")
    return 0
