"""kmodbuild.kapi.libkern - ``sys/lib/libkern/libkern.h``: the kernel's C library.

The compiler also calls these on its own (``memcpy``/``memset`` for structure
copies), so every module that copies a struct needs them.  ``kern_assert``
(what ``KASSERT`` calls in a DIAGNOSTIC kernel) panics.
"""
from __future__ import annotations

from kmodbuild.kapi._kernel import Kernel, kfunc
from kmodbuild.kapi._printf import ArgSource
from kmodbuild.kapi.systm import format_args

HEADER = "sys/lib/libkern/libkern.h"

_STRMAX = 1 << 20


def _cmp(a: bytes, b: bytes) -> int:
    for x, y in zip(a, b):
        if x != y:
            return x - y
    return len(a) - len(b) if len(a) != len(b) else 0


def _bytes(k: Kernel, addr: int, limit: int = _STRMAX) -> bytes:
    return k.mem.cstring(addr, limit).encode("latin-1")


@kfunc("void kern_assert(const char *, ...)")
def kern_assert(k: Kernel, fmt: int, ap: ArgSource) -> None:
    k.panic(format_args(k, fmt, ap))


@kfunc("void *memcpy(void *, const void *, size_t)")
def memcpy(k: Kernel, dst: int, src: int, n: int) -> int:
    if n:
        k.mem.write(dst, k.mem.read(src, n))
    return dst


@kfunc("void *memmove(void *, const void *, size_t)")
def memmove(k: Kernel, dst: int, src: int, n: int) -> int:
    return memcpy(k, dst, src, n)


@kfunc("void *memset(void *, int, size_t)")
def memset(k: Kernel, dst: int, c: int, n: int) -> int:
    if n:
        k.mem.fill(dst, c, n)
    return dst


@kfunc("int memcmp(const void *, const void *, size_t)")
def memcmp(k: Kernel, a: int, b: int, n: int) -> int:
    return _cmp(k.mem.read(a, n), k.mem.read(b, n)) if n else 0


@kfunc("void *memchr(const void *, int, size_t)")
def memchr(k: Kernel, s: int, c: int, n: int) -> int:
    i = k.mem.read(s, n).find(bytes([c & 0xFF])) if n else -1
    return s + i if i >= 0 else 0


@kfunc("char *strcpy(char *, const char *)")
def strcpy(k: Kernel, dst: int, src: int) -> int:
    k.mem.write(dst, _bytes(k, src) + b"\0")
    return dst


@kfunc("char *strncpy(char *, const char *, size_t)")
def strncpy(k: Kernel, dst: int, src: int, n: int) -> int:
    data = _bytes(k, src, n)
    if n:
        k.mem.write(dst, data)
        k.mem.fill(dst + len(data), 0, n - len(data))
    return dst


@kfunc("char *strcat(char *, const char *)")
def strcat(k: Kernel, dst: int, src: int) -> int:
    k.mem.write(dst + len(_bytes(k, dst)), _bytes(k, src) + b"\0")
    return dst


@kfunc("int strcmp(const char *, const char *)")
def strcmp(k: Kernel, a: int, b: int) -> int:
    return _cmp(_bytes(k, a) + b"\0", _bytes(k, b) + b"\0")


@kfunc("int strncmp(const char *, const char *, size_t)")
def strncmp(k: Kernel, a: int, b: int, n: int) -> int:
    return _cmp((_bytes(k, a, n) + b"\0")[:n], (_bytes(k, b, n) + b"\0")[:n]) if n else 0


@kfunc("int strcasecmp(const char *, const char *)")
def strcasecmp(k: Kernel, a: int, b: int) -> int:
    return _cmp(_bytes(k, a).lower() + b"\0", _bytes(k, b).lower() + b"\0")


@kfunc("size_t strlen(const char *)")
def strlen(k: Kernel, s: int) -> int:
    return len(_bytes(k, s))


@kfunc("size_t strnlen(const char *, size_t)")
def strnlen(k: Kernel, s: int, n: int) -> int:
    return len(_bytes(k, s, n))


@kfunc("size_t strlcpy(char *, const char *, size_t)")
def strlcpy(k: Kernel, dst: int, src: int, size: int) -> int:
    data = _bytes(k, src)
    if size:
        k.mem.write(dst, data[:size - 1] + b"\0")
    return len(data)


@kfunc("size_t strlcat(char *, const char *, size_t)")
def strlcat(k: Kernel, dst: int, src: int, size: int) -> int:
    have = len(_bytes(k, dst, size))
    data = _bytes(k, src)
    if have < size:
        k.mem.write(dst + have, data[:size - have - 1] + b"\0")
    return have + len(data)


@kfunc("char *strchr(const char *, int)")
def strchr(k: Kernel, s: int, c: int) -> int:
    data = _bytes(k, s) + b"\0"
    i = data.find(bytes([c & 0xFF]))
    return s + i if i >= 0 else 0


@kfunc("char *strrchr(const char *, int)")
def strrchr(k: Kernel, s: int, c: int) -> int:
    data = _bytes(k, s) + b"\0"
    i = data.rfind(bytes([c & 0xFF]))
    return s + i if i >= 0 else 0


@kfunc("int ffs(int)")
def ffs(k: Kernel, value: int) -> int:
    value &= 0xFFFFFFFF
    return (value & -value).bit_length() if value else 0
