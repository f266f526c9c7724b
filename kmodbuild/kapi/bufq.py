"""kmodbuild.kapi.bufq - ``sys/sys/bufq.h``: allocating and using buffer queues.

``bufq_alloc`` picks a strategy by name (autoloading ``bufq_<name>``, class
BUFQ, when none is registered, spec §3.7) or the highest priority one, then
calls its init function; the queue operations call the strategy's functions
in the module through emulated calls.
"""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, kfunc
from kmodbuild.kapi.buf import BUF, biodone
from kmodbuild.kapi.bufq_impl import BUFQ_STATE, BUFQ_STRAT

HEADER = "sys/sys/bufq.h"

ENOENT, EIO = 2, 5
BUFQ_EXACT = 0x0010
MODULE_CLASS_BUFQ = 6


def _find(k: Kernel, name: str | None) -> int:
    lay = k.layout(BUFQ_STRAT)
    best, best_prio = 0, None
    for reg in k.registry.of_kind("bufq"):
        if name is not None:
            if reg.name == name:
                return reg.key
            continue
        prio = k.mem.get(reg.key, lay, "bs_prio")
        if best_prio is None or prio > best_prio:
            best, best_prio = reg.key, prio
    return best


def _op(k: Kernel, bufq: int, member: str) -> int:
    return k.mem.get(bufq, k.layout(BUFQ_STATE), member)


@kfunc("int bufq_alloc(struct bufq_state **, const char *, int)")
def bufq_alloc(k: Kernel, bufqp: int, strategy: int, flags: int) -> int:
    name = k.mem.cstring(strategy, 64) if strategy else None
    bs = _find(k, name)
    if not bs and name is not None and k.sim is not None:
        if k.sim.module_autoload(f"bufq_{name}", MODULE_CLASS_BUFQ, comm="kernel") == 0:
            bs = _find(k, name)
    if not bs and not flags & BUFQ_EXACT:
        bs = _find(k, None)
    if not bs:
        return ENOENT
    lay, slay = k.layout(BUFQ_STATE), k.layout(BUFQ_STRAT)
    bufq = k.heap.alloc(lay.size, k.current or "netbsd", k.caller, True)
    k.mem.set(bufq, lay, "bq_flags", flags)
    k.mem.set(bufq, lay, "bq_strat", bs)
    k.mem.set(bs, slay, "bs_refcnt", k.mem.get(bs, slay, "bs_refcnt") + 1)
    k.call(k.mem.get(bs, slay, "bs_initfn"), bufq)
    k.mem.put_ptr(bufqp, bufq)
    return 0


@kfunc("void bufq_drain(struct bufq_state *)")
def bufq_drain(k: Kernel, bufq: int) -> None:
    lay = k.layout(BUF)
    while (bp := k.call(_op(k, bufq, "bq_get"), bufq, 1)) != 0:
        k.mem.set(bp, lay, "b_error", EIO)
        k.mem.set(bp, lay, "b_resid", k.mem.get(bp, lay, "b_bcount"))
        biodone(k, bp)


@kfunc("void bufq_free(struct bufq_state *)")
def bufq_free(k: Kernel, bufq: int) -> None:
    if k.call(_op(k, bufq, "bq_get"), bufq, 0) != 0:
        k.panic("kernel diagnostic assertion \"bufq_peek(bufq) == NULL\" failed: bufq_free")
    fini = _op(k, bufq, "bq_fini")
    if fini:
        k.call(fini, bufq)
    bs = _op(k, bufq, "bq_strat")
    slay = k.layout(BUFQ_STRAT)
    k.mem.set(bs, slay, "bs_refcnt", k.mem.get(bs, slay, "bs_refcnt") - 1)
    problem = k.heap.free(bufq, k.layout(BUFQ_STATE).size)
    if problem:
        k.panic(f"bufq_free: {problem}")


@kfunc("void bufq_put(struct bufq_state *, struct buf *)")
def bufq_put(k: Kernel, bufq: int, bp: int) -> None:
    k.call(_op(k, bufq, "bq_put"), bufq, bp)


@kfunc("struct buf *bufq_get(struct bufq_state *)")
def bufq_get(k: Kernel, bufq: int) -> int:
    return k.call(_op(k, bufq, "bq_get"), bufq, 1)


@kfunc("struct buf *bufq_peek(struct bufq_state *)")
def bufq_peek(k: Kernel, bufq: int) -> int:
    return k.call(_op(k, bufq, "bq_get"), bufq, 0)


@kfunc("struct buf *bufq_cancel(struct bufq_state *, struct buf *)")
def bufq_cancel(k: Kernel, bufq: int, bp: int) -> int:
    return k.call(_op(k, bufq, "bq_cancel"), bufq, bp)


@kfunc("const char *bufq_getstrategyname(struct bufq_state *)")
def bufq_getstrategyname(k: Kernel, bufq: int) -> int:
    return k.mem.get(_op(k, bufq, "bq_strat"), k.layout(BUFQ_STRAT), "bs_name")


@kfunc("void bufq_move(struct bufq_state *, struct bufq_state *)")
def bufq_move(k: Kernel, dst: int, src: int) -> None:
    while (bp := bufq_get(k, src)) != 0:
        bufq_put(k, dst, bp)
