"""kmodbuild.kapi.vnode - ``sys/sys/vnode.h``: vnode references and locking (vfs_subr.c)."""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, kfunc
from kmodbuild.kapi._struct import Struct

HEADER = "sys/sys/vnode.h"

LK_SHARED, LK_EXCLUSIVE, LK_NOWAIT = 0x1, 0x2, 0x10

#: struct vnode (the members the stub kernel has)
VNODE = Struct("vnode", (("v_interlock", "ptr"), ("v_iflag", "i32"), ("v_vflag", "i32"),
                         ("v_usecount", "u32"), ("v_writecount", "u32"), ("v_mount", "ptr"),
                         ("v_op", "ptr"), ("v_type", "i32"), ("v_lockstate", "i32"),
                         ("v_data", "ptr")))


def _usecount(k: Kernel, vp: int, delta: int, what: str) -> None:
    lay = k.layout(VNODE)
    count = k.mem.get(vp, lay, "v_usecount")
    if count == 0:
        k.panic(f"kernel diagnostic assertion \"vp->v_usecount > 0\" failed: {what}")
    k.mem.set(vp, lay, "v_usecount", count + delta)


@kfunc("void vref(struct vnode *)")
def vref(k: Kernel, vp: int) -> None:
    _usecount(k, vp, 1, "vref")


@kfunc("void vrele(struct vnode *)")
def vrele(k: Kernel, vp: int) -> None:
    _usecount(k, vp, -1, "vrele")


@kfunc("void vput(struct vnode *)")
def vput(k: Kernel, vp: int) -> None:
    from kmodbuild.kapi.vnode_if import VOP_UNLOCK
    VOP_UNLOCK(k, vp)
    vrele(k, vp)


@kfunc("int vn_lock(struct vnode *, int)")
def vn_lock(k: Kernel, vp: int, flags: int) -> int:
    from kmodbuild.kapi.vnode_if import VOP_LOCK
    return VOP_LOCK(k, vp, flags & (LK_SHARED | LK_EXCLUSIVE | LK_NOWAIT))
