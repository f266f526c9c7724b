"""kmodbuild.kapi._printf - the kernel's printf formatting (subr_prf.c ``kprintf``).

:func:`kformat` expands a format string read from guest memory, fetching each
argument with the width its conversion implies from an :class:`ArgSource` (the
emulator's varargs or ``va_list`` cursor).  Supported: flags ``-0+ #``, width
and precision (also ``*``), length ``hh h l ll q j z t``, conversions ``d i u
o x X c s p b %`` (``%b`` is the kernel's bit-field format: ``"\\20\\1FIRST\\2SECOND"``).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class ArgSource(Protocol):
    """Where variable arguments come from: ``next(kind)`` returns the next one as an int
    (kinds of :mod:`kmodbuild.kapi._proto`: ``i32``, ``u32``, ``i64``, ``u64``, ``word``,
    ``uword``, ``ptr``)."""

    def next(self, kind: str) -> int: ...


#: length modifier -> (signed kind, unsigned kind)
_LENGTH = {"": ("i32", "u32"), "hh": ("i32", "u32"), "h": ("i32", "u32"), "l": ("word", "uword"),
           "ll": ("i64", "u64"), "q": ("i64", "u64"), "j": ("i64", "u64"),
           "z": ("word", "uword"), "t": ("word", "uword")}
_TRUNC = {"hh": 8, "h": 16}


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


#: The widest field (width, or a number's precision) formatted: ``%*d`` with INT_MAX
#: would have the console print 2 GB (and the emulator build the string first).
MAX_FIELD = 1 << 16


class FieldTooWide(ValueError):
    """A field wider than :data:`MAX_FIELD`."""


def _field(n: int) -> int:
    if n > MAX_FIELD:
        raise FieldTooWide(f"a field {n} characters wide (at most {MAX_FIELD})")
    return n


def _pad(body: str, width: int, left: bool, zero: bool, sign: str = "", prefix: str = "") -> str:
    width = _field(width)
    head = sign + prefix
    if left:
        return (head + body).ljust(width)
    if zero:
        return head + body.rjust(max(0, width - len(head)), "0")
    return (head + body).rjust(width)


def _bitfield(value: int, spec: str) -> str:
    """``%b``: the value in the base of ``spec[0]`` (8 or 16), then ``<NAME,...>``."""
    if not spec:
        return format(value, "x")
    base = ord(spec[0])
    text = format(value, "o" if base == 8 else "x" if base == 16 else "d")
    names, i = [], 1
    while i < len(spec):
        bit = ord(spec[i])
        j = i + 1
        while j < len(spec) and ord(spec[j]) > 32:
            j += 1
        if bit <= 32 and value & (1 << (bit - 1)):
            names.append(spec[i + 1:j])
        i = j
    return text + (f"<{','.join(names)}>" if names else "")


def kformat(fmt: str, args: ArgSource, read_string: Callable[[int], str], word_bits: int) -> str:
    """Expand ``fmt`` as the kernel's printf does.

    ``read_string(address)`` reads a C string from guest memory (``%s``, ``%b``);
    ``word_bits`` is the width of ``long`` (32 or 64).
    """
    out: list[str] = []
    i, n = 0, len(fmt)
    while i < n:
        ch = fmt[i]
        if ch != "%":
            j = fmt.find("%", i)
            j = n if j < 0 else j
            out.append(fmt[i:j])
            i = j
            continue
        i += 1
        left = zero = plus = space = alt = False
        while i < n and fmt[i] in "-0+ #":
            left |= fmt[i] == "-"
            zero |= fmt[i] == "0"
            plus |= fmt[i] == "+"
            space |= fmt[i] == " "
            alt |= fmt[i] == "#"
            i += 1
        width, prec = 0, -1
        if i < n and fmt[i] == "*":
            width = _signed(args.next("i32"), 32)
            if width < 0:
                left, width = True, -width
            i += 1
        while i < n and fmt[i].isdigit():
            width = width * 10 + int(fmt[i])
            i += 1
        if i < n and fmt[i] == ".":
            i += 1
            prec = 0
            if i < n and fmt[i] == "*":
                prec = _signed(args.next("i32"), 32)
                i += 1
            while i < n and fmt[i].isdigit():
                prec = prec * 10 + int(fmt[i])
                i += 1
        length = ""
        while i < n and fmt[i] in "hlqjzt":
            length += fmt[i]
            i += 1
        if i >= n:
            out.append("%" + length)
            break
        conv = fmt[i]
        i += 1
        kinds = _LENGTH.get(length, ("i32", "u32"))
        bits = {"i32": 32, "u32": 32, "i64": 64, "u64": 64}.get(kinds[0], word_bits)
        bits = _TRUNC.get(length, bits)
        if conv == "%":
            out.append("%")
        elif conv == "c":
            out.append(_pad(chr(args.next("i32") & 0xFF), width, left, False))
        elif conv == "s":
            addr = args.next("ptr")
            text = "(null)" if addr == 0 else read_string(addr)
            if prec >= 0:
                text = text[:prec]
            out.append(_pad(text, width, left, False))
        elif conv == "p":
            out.append(_pad(format(args.next("ptr"), "x"), width, left, zero, "", "0x"))
        elif conv in "di":
            value = _signed(args.next(kinds[0]), bits)
            sign = "-" if value < 0 else "+" if plus else " " if space else ""
            body = str(abs(value))
            if prec >= 0:
                body = body.rjust(_field(prec), "0") if prec or value else ""
            out.append(_pad(body, width, left, zero and prec < 0, sign))
        elif conv in "uoxX":
            value = args.next(kinds[1]) & ((1 << bits) - 1)
            body = str(value) if conv == "u" else format(value, conv)
            if prec >= 0:
                body = body.rjust(_field(prec), "0") if prec or value else ""
            prefix = ""
            if alt and value:
                prefix = {"o": "0", "x": "0x", "X": "0X"}.get(conv, "")
            out.append(_pad(body, width, left, zero and prec < 0, "", prefix))
        elif conv == "b":
            value = args.next("i32") & 0xFFFFFFFF
            spec = args.next("ptr")
            out.append(_pad(_bitfield(value, read_string(spec) if spec else ""), width, left,
                            False))
        else:                         # kprintf prints an unknown conversion as is
            out.append("%" + length + conv)
    return "".join(out)
