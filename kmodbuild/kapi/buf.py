"""kmodbuild.kapi.buf - ``sys/sys/buf.h``: I/O buffer headers (vfs_bio.c of the stub kernel)."""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, kfunc
from kmodbuild.kapi._struct import Struct, entry_names, list_entry

HEADER = "sys/sys/buf.h"

BO_DONE = 0x00000200

#: struct buf
BUF = Struct("buf", (*list_entry("b_actq"), ("b_iodone", "ptr"), ("b_error", "i32"),
                     ("b_resid", "i32"), ("b_cflags", "i32"), ("b_oflags", "i32"),
                     ("b_flags", "i32"), ("b_prio", "i32"), ("b_bufsize", "i32"),
                     ("b_bcount", "i32"), ("b_dev", "u64"), ("b_data", "ptr"),
                     ("b_blkno", "i64"), ("b_rawblkno", "i64"), ("b_proc", "ptr"),
                     ("b_private", "ptr"), ("b_dcookie", "i64"), ("b_vp", "ptr")),
             c_members=entry_names("b_actq", "b_u.u_actq", "tqe"))


@kfunc("void biodone(buf_t *)")
def biodone(k: Kernel, bp: int) -> None:
    lay = k.layout(BUF)
    k.mem.set(bp, lay, "b_oflags", k.mem.get(bp, lay, "b_oflags") | BO_DONE)
    iodone = k.mem.get(bp, lay, "b_iodone")
    if iodone:
        k.call(iodone, bp)


@kfunc("int biowait(buf_t *)")
def biowait(k: Kernel, bp: int) -> int:
    lay = k.layout(BUF)
    if not k.mem.get(bp, lay, "b_oflags") & BO_DONE:
        k.panic(f"biowait: buffer {bp:#x} never completes (no I/O runs in the simulator)")
    return k.mem.get(bp, lay, "b_error")


@kfunc("buf_t *getiobuf(struct vnode *, bool)")
def getiobuf(k: Kernel, vp: int, waitok: int) -> int:
    lay = k.layout(BUF)
    bp = k.heap.alloc(lay.size, k.current or "netbsd", k.caller, True)
    if bp:
        k.mem.set(bp, lay, "b_vp", vp)
    elif waitok:
        k.panic("getiobuf: out of memory")
    return bp


@kfunc("void putiobuf(buf_t *)")
def putiobuf(k: Kernel, bp: int) -> None:
    problem = k.heap.free(bp, k.layout(BUF).size)
    if problem:
        k.panic(f"putiobuf: {problem}")
