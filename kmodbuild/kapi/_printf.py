"""kmodbuild.kapi._printf - the kernel's printf formatting (subr_prf.c ``kprintf``).

:func:`kformat` expands a format string read from guest memory, fetching each
argument with the width its conversion implies from an :class:`ArgSource` (the
emulator's varargs or ``va_list`` cursor), as NetBSD's ``kprintf`` (4.4BSD's
``vfprintf`` without floating point) does: flags ``-0+ #``, width and precision
(also ``*``), length ``h`` (``hh`` is ``h``: a short), ``l``, ``ll``, ``q``,
``j``, ``z``, ``t``; conversions ``c d i o p s u x X`` and ``D O U`` (the ``l``
forms), ``n`` (stores the count so far) and ``%``.  Any other character after
``%`` prints as itself (as ``%c`` with that argument: width and padding apply,
no argument is taken), so ``%b`` -- which NetBSD's kernel printf dropped for
snprintb(3) -- prints ``b``; a NUL right after ``%`` ends the output.  Zero
padding applies to every conversion (``%05s``), except to a number with a
precision.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class ArgSource(Protocol):
    """Where variable arguments come from: ``next(kind)`` returns the next one as an int
    (kinds of :mod:`kmodbuild.kapi._proto`: ``i32``, ``u32``, ``i64``, ``u64``, ``word``,
    ``uword``, ``ptr``)."""

    def next(self, kind: str) -> int: ...


#: length modifier -> (signed kind, unsigned kind); ``h`` is read as an int, then cut
_LENGTH = {"": ("i32", "u32"), "h": ("i32", "u32"), "l": ("word", "uword"),
           "ll": ("i64", "u64"), "j": ("i64", "u64"), "z": ("word", "uword"),
           "t": ("word", "uword")}


#: what a width or precision is made of (str.isdigit would take "²" too)
_DIGITS = frozenset("0123456789")


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


def kformat(fmt: str, args: ArgSource, read_string: Callable[..., str], word_bits: int,
            store: Callable[[int, int, int], None] | None = None) -> str:
    """Expand ``fmt`` as the kernel's printf does (see the module docstring).

    ``read_string(address[, limit])`` reads a C string from guest memory (``%s``; with
    a precision, at most that many bytes); ``word_bits`` is the width of ``long`` (32
    or 64); ``store(address, size, value)`` writes an integer (``%n``; without it
    ``%n`` takes its argument and stores nothing).
    """
    out: list[str] = []
    done = 0                        # characters so far (%n)
    i, n = 0, len(fmt)
    while i < n:
        if fmt[i] != "%":
            j = fmt.find("%", i)
            j = n if j < 0 else j
            out.append(fmt[i:j])
            done += j - i
            i = j
            continue
        i += 1
        left = zero = plus = space = alt = False
        width, prec, length = 0, -1, ""
        while i < n:                # kprintf's rflag loop: flags, width, precision, length
            c = fmt[i]
            if c == " ":
                space = True
            elif c == "#":
                alt = True
            elif c == "-":
                left = True
            elif c == "+":
                plus = True
            elif c == "0":
                zero = True
            elif c == "*":
                width = _signed(args.next("i32"), 32)
                if width < 0:
                    left, width = True, -width
            elif c == ".":
                prec = 0
                if i + 1 < n and fmt[i + 1] == "*":
                    i += 1
                    prec = _signed(args.next("i32"), 32)
                    prec = -1 if prec < 0 else prec
                else:
                    while i + 1 < n and fmt[i + 1] in _DIGITS:
                        i += 1
                        prec = prec * 10 + int(fmt[i])
            elif c in "123456789":
                width = 0
                while i < n and fmt[i] in _DIGITS:
                    width = width * 10 + int(fmt[i])
                    i += 1
                continue
            elif c == "h":
                length = "h"
            elif c == "l":
                length = "ll" if length == "l" else "l"
            elif c in "qj":
                length = "ll" if c == "q" else "j"
            elif c in "zt":
                length = c
            else:
                break
            i += 1
        if i >= n:                  # a NUL after '%' ends the output
            break
        conv = fmt[i]
        i += 1
        if conv in "DOU":
            length, conv = "l", conv.lower()
        kinds = _LENGTH[length]
        bits = 16 if length == "h" else \
            {"i32": 32, "i64": 64}.get(kinds[0], word_bits)
        sign = prefix = ""
        numeric = False
        if conv == "n":
            address = args.next("ptr")
            size = 2 if length == "h" else 4 if length == "" else \
                8 if length in ("ll", "j") else word_bits // 8
            if store is not None and address:
                store(address, size, done)
            continue
        if conv == "c":
            body = chr(args.next("i32") & 0xFF)
        elif conv == "s":
            addr = args.next("ptr")
            if addr == 0:
                body = "(null)"
            else:
                body = read_string(addr, prec) if prec >= 0 else read_string(addr)
            if prec >= 0:
                body = body[:prec]
        elif conv in "di":
            value = _signed(args.next(kinds[0]), bits)
            sign = "-" if value < 0 else "+" if plus else " " if space else ""
            body, numeric = str(abs(value)), True
        elif conv in "ouxXp":
            if conv == "p":
                value, base, prefix = args.next("ptr"), "x", "0x"
            else:
                value = args.next(kinds[1]) & ((1 << bits) - 1)
                base = "d" if conv == "u" else conv
                if alt and value and conv in "xX":
                    prefix = "0" + conv
            body, numeric = format(value, base), True
        else:                       # "%?" prints ?, as %c with argument '?'
            body = conv
        if numeric:
            if prec >= 0:
                zero = False        # a precision turns zero padding off
                body = "" if prec == 0 and body == "0" else body.rjust(_field(prec), "0")
            if alt and conv == "o" and not body.startswith("0"):
                body = "0" + body
        head = sign + prefix
        pad = _field(width) - len(head) - len(body)
        if left:
            text = head + body + " " * pad
        elif zero:
            text = head + "0" * pad + body
        else:
            text = " " * pad + head + body
        out.append(text)
        done += len(text)
    return "".join(out)
