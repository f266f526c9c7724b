"""kmodbuild.kapi.lwp - ``sys/sys/lwp.h``: ``struct lwp`` and ``lwp0``."""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, kdata
from kmodbuild.kapi._struct import Struct

HEADER = "sys/sys/lwp.h"

#: struct lwp
LWP = Struct("lwp", (("l_proc", "ptr"), ("l_lid", "i32"), ("l_stat", "i32"), ("l_cred", "ptr"),
                     ("l_private", "ptr"), ("l_name", "ptr")))


@kdata("extern struct lwp lwp0")
def _lwp0(k: Kernel, addr: int, size: int) -> None:
    lay = k.layout(LWP)
    k.mem.set(addr, lay, "l_proc", k.sym("proc0"))
    k.mem.set(addr, lay, "l_lid", 1)
