"""kmodbuild.kapi.kmem - ``sys/sys/kmem.h``: the kernel memory allocator, tracked.

Every block remembers the module whose modcmd allocated it and the calling
address, so memory allocated by INIT and still held when FINI returns is
reported as a leak (:mod:`kmodbuild.emulate.strategy`).  ``kmem_free`` with a
wrong address or size, or twice, panics as a DIAGNOSTIC kernel's
``kmem_free`` does (KMEM_SIZE/KMEM_REDZONE checks).
"""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, kfunc

HEADER = "sys/sys/kmem.h"

KM_SLEEP, KM_NOSLEEP = 0x1, 0x2


def _alloc(k: Kernel, size: int, flags: int, zero: bool, what: str) -> int:
    if size == 0:
        k.panic(f"{what}: size == 0")
    if not flags & (KM_SLEEP | KM_NOSLEEP):     # subr_kmem.c's KASSERT
        k.panic(f"{what}: flags {flags:#x} are neither KM_SLEEP nor KM_NOSLEEP")
    addr = k.heap.alloc(size, k.current or "netbsd", k.caller, zero)
    if addr == 0 and not flags & KM_NOSLEEP:
        k.panic(f"{what}: out of memory allocating {size} bytes (KM_SLEEP)")
    return addr


def _free(k: Kernel, addr: int, size: int, what: str) -> None:
    problem = k.heap.free(addr, size)
    if problem:
        k.panic(f"{what}: {problem}")


@kfunc("void *kmem_alloc(size_t, km_flag_t)")
def kmem_alloc(k: Kernel, size: int, flags: int) -> int:
    return _alloc(k, size, flags, False, "kmem_alloc")


@kfunc("void *kmem_zalloc(size_t, km_flag_t)")
def kmem_zalloc(k: Kernel, size: int, flags: int) -> int:
    return _alloc(k, size, flags, True, "kmem_zalloc")


@kfunc("void kmem_free(void *, size_t)")
def kmem_free(k: Kernel, addr: int, size: int) -> None:
    _free(k, addr, size, "kmem_free")


@kfunc("void *kmem_intr_alloc(size_t, km_flag_t)")
def kmem_intr_alloc(k: Kernel, size: int, flags: int) -> int:
    return _alloc(k, size, flags, False, "kmem_intr_alloc")


@kfunc("void *kmem_intr_zalloc(size_t, km_flag_t)")
def kmem_intr_zalloc(k: Kernel, size: int, flags: int) -> int:
    return _alloc(k, size, flags, True, "kmem_intr_zalloc")


@kfunc("void kmem_intr_free(void *, size_t)")
def kmem_intr_free(k: Kernel, addr: int, size: int) -> None:
    _free(k, addr, size, "kmem_intr_free")


@kfunc("char *kmem_strdup(const char *, km_flag_t)")
def kmem_strdup(k: Kernel, s: int, flags: int) -> int:
    data = k.mem.cstring(s).encode("latin-1") + b"\0"
    addr = _alloc(k, len(data), flags, False, "kmem_strdup")
    if addr:
        k.mem.write(addr, data)
    return addr


@kfunc("void kmem_strfree(char *)")
def kmem_strfree(k: Kernel, s: int) -> None:
    if s:                                       # kmem_strfree(NULL) does nothing
        _free(k, s, len(k.mem.cstring(s)) + 1, "kmem_strfree")
