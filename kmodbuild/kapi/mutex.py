"""kmodbuild.kapi.mutex - ``sys/sys/mutex.h``: mutexes, with kern_mutex.c's sanity panics
(locking against myself, releasing a mutex not held, destroying a held one)."""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, kfunc
from kmodbuild.kapi._struct import Struct

HEADER = "sys/sys/mutex.h"

MUTEX_OWNED = 1

#: struct kmutex
KMUTEX = Struct("kmutex", (("mtx_owner", "uword"), ("mtx_ipl", "i32"), ("mtx_type", "i32")))


@kfunc("void mutex_init(kmutex_t *, kmutex_type_t, int)")
def mutex_init(k: Kernel, mtx: int, mtype: int, ipl: int) -> None:
    lay = k.layout(KMUTEX)
    k.mem.set(mtx, lay, "mtx_owner", 0)
    k.mem.set(mtx, lay, "mtx_ipl", ipl)
    k.mem.set(mtx, lay, "mtx_type", mtype)


@kfunc("void mutex_destroy(kmutex_t *)")
def mutex_destroy(k: Kernel, mtx: int) -> None:
    if k.mem.get(mtx, k.layout(KMUTEX), "mtx_owner") != 0:
        k.panic(f"mutex_destroy: mutex {mtx:#x} is held")


@kfunc("void mutex_enter(kmutex_t *)")
def mutex_enter(k: Kernel, mtx: int) -> None:
    lay = k.layout(KMUTEX)
    if k.mem.get(mtx, lay, "mtx_owner") != 0:
        k.panic("mutex_enter: locking against myself")
    k.mem.set(mtx, lay, "mtx_owner", MUTEX_OWNED)


@kfunc("void mutex_exit(kmutex_t *)")
def mutex_exit(k: Kernel, mtx: int) -> None:
    lay = k.layout(KMUTEX)
    if k.mem.get(mtx, lay, "mtx_owner") == 0:
        k.panic("mutex_exit: not owned")
    k.mem.set(mtx, lay, "mtx_owner", 0)


@kfunc("int mutex_tryenter(kmutex_t *)")
def mutex_tryenter(k: Kernel, mtx: int) -> int:
    lay = k.layout(KMUTEX)
    if k.mem.get(mtx, lay, "mtx_owner") != 0:
        return 0
    k.mem.set(mtx, lay, "mtx_owner", MUTEX_OWNED)
    return 1


@kfunc("int mutex_owned(const kmutex_t *)")
def mutex_owned(k: Kernel, mtx: int) -> int:
    return int(k.mem.get(mtx, k.layout(KMUTEX), "mtx_owner") != 0)
