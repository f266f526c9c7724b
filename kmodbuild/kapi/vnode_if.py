"""kmodbuild.kapi.vnode_if - ``sys/sys/vnode_if.h``: the vnode lock operations."""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, kfunc
from kmodbuild.kapi.vnode import LK_EXCLUSIVE, LK_NOWAIT, VNODE

HEADER = "sys/sys/vnode_if.h"

EBUSY = 16


@kfunc("int VOP_LOCK(struct vnode *, int)")
def VOP_LOCK(k: Kernel, vp: int, flags: int) -> int:
    lay = k.layout(VNODE)
    state = k.mem.get(vp, lay, "v_lockstate")
    if state != 0 and flags & LK_NOWAIT:
        return EBUSY
    k.mem.set(vp, lay, "v_lockstate", state + 1)
    return 0


@kfunc("int VOP_UNLOCK(struct vnode *)")
def VOP_UNLOCK(k: Kernel, vp: int) -> int:
    lay = k.layout(VNODE)
    state = k.mem.get(vp, lay, "v_lockstate")
    if state <= 0:
        k.panic("kernel diagnostic assertion \"vp->v_lockstate > 0\" failed: VOP_UNLOCK")
    k.mem.set(vp, lay, "v_lockstate", state - 1)
    return 0


@kfunc("int VOP_ISLOCKED(struct vnode *)")
def VOP_ISLOCKED(k: Kernel, vp: int) -> int:
    return LK_EXCLUSIVE if k.mem.get(vp, k.layout(VNODE), "v_lockstate") != 0 else 0
