"""kmodbuild.kapi.select - ``sys/sys/select.h``: select/poll support (sys_select.c)."""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, kfunc
from kmodbuild.kapi._struct import Struct

HEADER = "sys/sys/select.h"

POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM = 0x1, 0x4, 0x40, 0x4

#: struct selinfo
SELINFO = Struct("selinfo", (("sel_cluster", "ptr"), ("sel_lwp", "ptr"), ("sel_fdinfo", "uword"),
                             ("sel_collision", "u32")))


@kfunc("int seltrue(dev_t, int, struct lwp *)")
def seltrue(k: Kernel, dev: int, events: int, l: int) -> int:
    return events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)


@kfunc("void selinit(struct selinfo *)")
def selinit(k: Kernel, sip: int) -> None:
    k.mem.write(sip, bytes(k.layout(SELINFO).size))


@kfunc("void seldestroy(struct selinfo *)")
def seldestroy(k: Kernel, sip: int) -> None:
    k.mem.set(sip, k.layout(SELINFO), "sel_lwp", 0)


@kfunc("void selrecord(struct lwp *, struct selinfo *)")
def selrecord(k: Kernel, selector: int, sip: int) -> None:
    lay = k.layout(SELINFO)
    current = k.mem.get(sip, lay, "sel_lwp")
    if current == 0:
        k.mem.set(sip, lay, "sel_lwp", selector)
    elif current != selector:
        k.mem.set(sip, lay, "sel_collision", 1)


@kfunc("void selnotify(struct selinfo *, int, long)")
def selnotify(k: Kernel, sip: int, events: int, hint: int) -> None:
    lay = k.layout(SELINFO)
    k.mem.set(sip, lay, "sel_lwp", 0)
    k.mem.set(sip, lay, "sel_collision", 0)
