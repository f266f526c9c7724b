"""kmodbuild.kapi.bufq_impl - ``sys/sys/bufq_impl.h``: registering buffer-queue strategies.

``bufq_register`` links a module's ``struct bufq_strat`` (BUFQ_DEFINE) into the
strategy list; ``bufq_unregister`` refuses with EBUSY while a queue uses it
(subr_bufq.c of the stub kernel).
"""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, Registration, kfunc
from kmodbuild.kapi._struct import Struct

HEADER = "sys/sys/bufq_impl.h"

EBUSY, ENOENT = 16, 2

#: struct bufq_state
BUFQ_STATE = Struct("bufq_state", (("bq_put", "ptr"), ("bq_get", "ptr"), ("bq_cancel", "ptr"),
                                   ("bq_fini", "ptr"), ("bq_private", "ptr"),
                                   ("bq_flags", "i32"), ("bq_strat", "ptr")))
#: struct bufq_strat
BUFQ_STRAT = Struct("bufq_strat", (("bs_name", "ptr"), ("bs_initfn", "ptr"), ("bs_prio", "i32"),
                                   ("bs_refcnt", "i32"), ("bs_next", "ptr")))


def strategy_names(k: Kernel) -> list[str]:
    """Registered strategies, newest first."""
    return [r.name for r in k.registry.of_kind("bufq")]


@kfunc("int bufq_register(struct bufq_strat *)")
def bufq_register(k: Kernel, bs: int) -> int:
    lay = k.layout(BUFQ_STRAT)
    name = k.mem.cstring(k.mem.get(bs, lay, "bs_name"), 64)
    head = k.registry.of_kind("bufq")
    k.mem.set(bs, lay, "bs_next", head[0].key if head else 0)   # SLIST_INSERT_HEAD
    k.mem.set(bs, lay, "bs_refcnt", 0)
    k.registry.add(Registration("bufq", bs, name, k.current,
                                tuple(a for a in (k.mem.get(bs, lay, "bs_name"),
                                                  k.mem.get(bs, lay, "bs_initfn")) if a)))
    return 0


@kfunc("int bufq_unregister(struct bufq_strat *)")
def bufq_unregister(k: Kernel, bs: int) -> int:
    lay = k.layout(BUFQ_STRAT)
    if k.mem.get(bs, lay, "bs_refcnt") != 0:
        return EBUSY
    if k.registry.remove("bufq", bs) is None:
        return ENOENT
    items = k.registry.of_kind("bufq")              # SLIST_REMOVE: relink the rest
    for newer, older in zip(items, items[1:] + [None]):
        k.mem.set(newer.key, lay, "bs_next", older.key if older else 0)
    return 0
