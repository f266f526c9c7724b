"""kmodbuild.kapi.libkern - ``sys/lib/libkern/libkern.h``: the kernel's C library.

The compiler also calls these on its own (``memcpy``/``memset`` for structure
copies), so every module that copies a struct needs them.  ``kern_assert``
(what ``KASSERT`` calls in a DIAGNOSTIC kernel) panics.
"""
from __future__ import annotations

from collections.abc import Iterator

from kmodbuild.kapi._kernel import Kernel, RegisterPair, kfunc
from kmodbuild.kapi._printf import ArgSource, _signed
from kmodbuild.kapi.systm import format_args

HEADER = "sys/lib/libkern/libkern.h"

#: memchr and memcmp read a page at a time and stop where the answer is known (C's
#: memchr must not read past the byte it finds: a search bounded by a size far past the
#: buffer faulted on memory it never had to read)
_PAGE = 4096


def _pages(addr: int, n: int) -> Iterator[tuple[int, int]]:
    """``(offset, size)`` pieces of ``[addr, addr + n)``, none crossing a page."""
    off = 0
    while off < n:
        size = min(n - off, _PAGE - (addr + off) % _PAGE)
        yield off, size
        off += size


def _cmp(a: bytes, b: bytes) -> int:
    for x, y in zip(a, b):
        if x != y:
            return x - y
    return len(a) - len(b) if len(a) != len(b) else 0


def _bytes(k: Kernel, addr: int, limit: int | None = None) -> bytes:
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
    off = 0
    while off < n:                  # pieces crossing neither a's pages nor b's
        size = min(n - off, _PAGE - (a + off) % _PAGE, _PAGE - (b + off) % _PAGE)
        r = _cmp(k.mem.read(a + off, size), k.mem.read(b + off, size))
        if r:
            return r
        off += size
    return 0


@kfunc("void *memchr(const void *, int, size_t)")
def memchr(k: Kernel, s: int, c: int, n: int) -> int:
    byte = bytes([c & 0xFF])
    for off, size in _pages(s, n):
        i = k.mem.read(s + off, size).find(byte)
        if i >= 0:
            return s + off + i
    return 0


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


# ---- compiler support (kern/subr_compiler.c): division the CPU lacks
def _nonzero(k: Kernel, d: int) -> None:
    if d == 0:
        k.panic("integer divide by zero")


def _sdivmod(k: Kernel, a: int, b: int, bits: int) -> tuple[int, int]:
    """C's signed division of ``bits``-wide values: the quotient truncates toward zero,
    the remainder has the dividend's sign."""
    a, b = _signed(a, bits), _signed(b, bits)
    _nonzero(k, b)
    q = abs(a) // abs(b)
    q = -q if (a < 0) != (b < 0) else q
    return q, a - q * b


@kfunc("uint64_t __udivmoddi4(uint64_t, uint64_t, uint64_t *)")
def udivmoddi4(k: Kernel, a: int, b: int, rem: int) -> int:
    _nonzero(k, b)
    if rem:
        k.mem.put(rem, 8, a % b)
    return a // b


@kfunc("int64_t __divmoddi4(int64_t, int64_t, int64_t *)")
def divmoddi4(k: Kernel, a: int, b: int, rem: int) -> int:
    q, r = _sdivmod(k, a, b, 64)
    if rem:
        k.mem.put(rem, 8, r)
    return q


@kfunc("uint64_t __udivdi3(uint64_t, uint64_t)")
def udivdi3(k: Kernel, a: int, b: int) -> int:
    _nonzero(k, b)
    return a // b


@kfunc("uint64_t __umoddi3(uint64_t, uint64_t)")
def umoddi3(k: Kernel, a: int, b: int) -> int:
    _nonzero(k, b)
    return a % b


@kfunc("int64_t __divdi3(int64_t, int64_t)")
def divdi3(k: Kernel, a: int, b: int) -> int:
    return _sdivmod(k, a, b, 64)[0]


@kfunc("int64_t __moddi3(int64_t, int64_t)")
def moddi3(k: Kernel, a: int, b: int) -> int:
    return _sdivmod(k, a, b, 64)[1]


@kfunc("unsigned int __aeabi_uidiv(unsigned int, unsigned int)")
def aeabi_uidiv(k: Kernel, n: int, d: int) -> int:
    _nonzero(k, d)
    return n // d


@kfunc("int __aeabi_idiv(int, int)")
def aeabi_idiv(k: Kernel, a: int, b: int) -> int:
    return _sdivmod(k, a, b, 32)[0]


@kfunc("uint64_t __aeabi_uidivmod(unsigned int, unsigned int)")
def aeabi_uidivmod(k: Kernel, n: int, d: int) -> int:
    """{quotient, remainder} in {r0, r1}: a 64-bit return value."""
    _nonzero(k, d)
    return (n % d) << 32 | n // d


@kfunc("uint64_t __aeabi_idivmod(int, int)")
def aeabi_idivmod(k: Kernel, a: int, b: int) -> int:
    q, r = _sdivmod(k, a, b, 32)
    return (r & 0xFFFFFFFF) << 32 | (q & 0xFFFFFFFF)


@kfunc("uint64_t __aeabi_uldivmod(uint64_t, uint64_t)")
def aeabi_uldivmod(k: Kernel, n: int, d: int) -> RegisterPair:
    """{quotient, remainder} in {r0:r1, r2:r3} (the ARM EABI's; C cannot say it)."""
    _nonzero(k, d)
    return RegisterPair(n // d, n % d)


@kfunc("int64_t __aeabi_ldivmod(int64_t, int64_t)")
def aeabi_ldivmod(k: Kernel, a: int, b: int) -> RegisterPair:
    """{quotient, remainder} in {r0:r1, r2:r3}, truncating toward zero."""
    q, r = _sdivmod(k, a, b, 64)
    return RegisterPair(q, r)


# ARM EABI's copies (clang calls them for a big struct assignment or initialisation):
# memcpy's and memmove's arguments, memset's with the size before the byte, memclr's
# without the byte; the 4/8 forms only promise aligned pointers.
def _aeabi_copy(k: Kernel, dst: int, src: int, n: int) -> None:
    memcpy(k, dst, src, n)


def _aeabi_set(k: Kernel, dst: int, n: int, c: int) -> None:
    memset(k, dst, c, n)


def _aeabi_clear(k: Kernel, dst: int, n: int) -> None:
    memset(k, dst, 0, n)


for _suffix in ("", "4", "8"):
    for _name, _decl, _impl in (
            ("memcpy", "void *, const void *, size_t", _aeabi_copy),
            ("memmove", "void *, const void *, size_t", _aeabi_copy),
            ("memset", "void *, size_t, int", _aeabi_set),
            ("memclr", "void *, size_t", _aeabi_clear)):
        kfunc(f"void __aeabi_{_name}{_suffix}({_decl})")(_impl)
del _suffix, _name, _decl, _impl
