"""kmodbuild.kapi.mutex - ``sys/sys/mutex.h``: mutexes, with kern_mutex.c's sanity panics
(locking against myself, releasing a mutex not held, destroying a held one).

Each modcmd runs in the thread of the modload(8) or modunload(8) that asked for
it, so a mutex a modcmd takes and still holds when it returns is held by a
thread that has gone back to user space: the kernel says nothing then (only a
LOCKDEBUG kernel's return to user mode does), and the next mutex_enter of it,
from any other thread, sleeps for ever.  :func:`left_held` finds those as the
modcmd returns (the emulator warns); a later mutex_enter of one stops that
modcmd naming where it was left held, a later mutex_exit is "not owner" (the
releasing thread is not the one that took it), mutex_owned is false.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kmodbuild.kapi._kernel import Kernel, kfunc
from kmodbuild.kapi._struct import Layout, Struct

HEADER = "sys/sys/mutex.h"

MUTEX_OWNED = 1

#: struct kmutex
KMUTEX = Struct("kmutex", (("mtx_owner", "uword"), ("mtx_ipl", "i32"), ("mtx_type", "i32")))


@dataclass
class Holder:
    """Who took a held mutex: the module whose code ran (``""``: none) and from where;
    ``left`` says, once that modcmd returned holding it, where it was left held."""

    module: str
    caller: str
    left: str = ""


def holders(k: Kernel) -> dict[int, Holder]:
    """Held mutexes by address (those taken through the hooks)."""
    held: dict[int, Holder] = k.state("mutex.holders", dict)
    return held


def left_held(k: Kernel, module: str, command: str,
              where: Callable[[int], str] = hex) -> list[tuple[int, Holder]]:
    """The mutexes ``module``'s code took and holds as its modcmd(``command``) returns,
    each marked as left held from now on (``where``: a mutex's address as a developer
    reads it, for the warning and a later mutex_enter's panic)."""
    found = []
    for mtx, h in holders(k).items():
        if h.module == module and not h.left:
            h.left = (f"{module}'s modcmd({command}) returned holding it (mutex_enter of "
                      f"{where(mtx)} called from {h.caller or '?'})")
            found.append((mtx, h))
    return found


def release(k: Kernel, module: str) -> None:
    """A modcmd of ``module`` panicked: the mutexes its code took are let go, so the
    simulation goes on without every later user of them failing too."""
    lay = k.layout(KMUTEX)
    held = holders(k)
    for mtx in [a for a, h in held.items() if h.module == module and not h.left]:
        del held[mtx]
        k.mem.set(mtx, lay, "mtx_owner", 0)


@kfunc("void mutex_init(kmutex_t *, kmutex_type_t, int)")
def mutex_init(k: Kernel, mtx: int, mtype: int, ipl: int) -> None:
    lay = k.layout(KMUTEX)
    k.mem.set(mtx, lay, "mtx_owner", 0)
    k.mem.set(mtx, lay, "mtx_ipl", ipl)
    k.mem.set(mtx, lay, "mtx_type", mtype)
    holders(k).pop(mtx, None)         # memory of an unloaded module's mutex, used again


@kfunc("void mutex_destroy(kmutex_t *)")
def mutex_destroy(k: Kernel, mtx: int) -> None:
    if k.mem.get(mtx, k.layout(KMUTEX), "mtx_owner") != 0:
        k.panic(f"mutex_destroy: mutex {mtx:#x} is held")
    holders(k).pop(mtx, None)


def _take(k: Kernel, mtx: int, lay: Layout) -> None:
    k.mem.set(mtx, lay, "mtx_owner", MUTEX_OWNED)
    holders(k)[mtx] = Holder(k.current, k.caller)


@kfunc("void mutex_enter(kmutex_t *)")
def mutex_enter(k: Kernel, mtx: int) -> None:
    lay = k.layout(KMUTEX)
    if k.mem.get(mtx, lay, "mtx_owner") != 0:
        h = holders(k).get(mtx)
        if h is not None and h.left:
            k.panic(f"mutex_enter: mutex {mtx:#x} is held by another thread for good: "
                    f"{h.left}; this thread would sleep for ever")
        k.panic("mutex_enter: locking against myself")
    _take(k, mtx, lay)


@kfunc("void mutex_exit(kmutex_t *)")
def mutex_exit(k: Kernel, mtx: int) -> None:
    lay = k.layout(KMUTEX)
    if k.mem.get(mtx, lay, "mtx_owner") == 0:
        k.panic("mutex_exit: not owned")
    h = holders(k).get(mtx)
    if h is not None and h.left:
        k.panic(f"mutex_exit: not owner: mutex {mtx:#x} is held by another thread: {h.left}")
    holders(k).pop(mtx, None)
    k.mem.set(mtx, lay, "mtx_owner", 0)


@kfunc("int mutex_tryenter(kmutex_t *)")
def mutex_tryenter(k: Kernel, mtx: int) -> int:
    lay = k.layout(KMUTEX)
    if k.mem.get(mtx, lay, "mtx_owner") != 0:
        return 0
    _take(k, mtx, lay)
    return 1


@kfunc("int mutex_owned(const kmutex_t *)")
def mutex_owned(k: Kernel, mtx: int) -> int:
    if k.mem.get(mtx, k.layout(KMUTEX), "mtx_owner") == 0:
        return 0
    h = holders(k).get(mtx)
    return int(h is None or not h.left)       # held by this thread, not by one long gone
