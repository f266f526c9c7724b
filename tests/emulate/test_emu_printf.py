"""The kernel printf formatter (kmodbuild.kapi._printf), without a CPU."""
from __future__ import annotations

import pytest

from kmodbuild.kapi._printf import kformat


class Args:
    """Arguments as a varargs cursor would hand them out, recording the kinds asked for."""

    def __init__(self, *values: int) -> None:
        self.values = list(values)
        self.kinds: list[str] = []

    def next(self, kind: str) -> int:
        self.kinds.append(kind)
        return self.values.pop(0)


STRINGS = {0x100: "emu", 0x200: "\x10\x01ONE\x02TWO\x08EIGHT"}


@pytest.mark.parametrize("fmt, values, bits, expected", [
    ("%d %i %u", (-5 & 0xFFFFFFFF, 7, 0xFFFFFFFF), 64, "-5 7 4294967295"),
    ("%x %X %#x %#o %o", (255, 255, 255, 8, 0), 64, "ff FF 0xff 010 0"),
    ("[%5d][%-5d][%05d][%+d][% d]", (42, 42, 42, 42, 42), 64, "[   42][42   ][00042][+42][ 42]"),
    ("[%.3d][%.0d][%8.3s][%-4c]", (7, 0, 0x100, ord("z")), 64, "[007][][     emu][z   ]"),
    ("%*d|%-*d|%.*s", (4, 1, 3, 2, 2, 0x100), 64, "   1|2  |em"),
    ("%ld %lu %lld %llu", ((-1) & (2**64 - 1), 2**64 - 1, (-2) & (2**64 - 1), 3), 64,
     "-1 18446744073709551615 -2 3"),
    ("%ld %lu", (0xFFFFFFFF, 0xFFFFFFFF), 32, "-1 4294967295"),
    ("%zu %zd %jd %td %qd", (4096, 5, 6, 7, 8), 64, "4096 5 6 7 8"),
    # kprintf reads hh as h: a short (C99 would say 255)
    ("%hd %hhu %hx %hhd", (0x1FFFF, 0x1FF, 0x12345, 300), 64, "-1 511 2345 300"),
    ("%p %s %%", (0x1234, 0), 64, "0x1234 (null) %"),
    # what NetBSD's kprintf does that C's printf does not (subr_prf.c; found comparing
    # with it): no %b (snprintb(3) replaced it): an unknown conversion prints itself,
    # padded, and takes no argument; a NUL after '%' ends the output; zero padding
    # applies to every conversion; %D %O %U are the long forms
    ("%b|%d", (7,), 64, "b|7"),
    ("[%y] [%5y] [%5%] [%-3y]", (), 64, "[y] [    y] [    %] [y  ]"),
    ("abc%", (), 64, "abc"),
    ("abc%l", (), 64, "abc"),
    ("[%05s][%03c]", (0x100, ord("A")), 64, "[00emu][00A]"),
    ("%D %U %O", (2**64 - 1, 2**64 - 1, 8), 64, "-1 18446744073709551615 10"),
    ("%D", (0xFFFFFFFF,), 32, "-1"),
    ("[%#.3o][%#o][%#.0o][%#x]", (8, 8, 0, 0), 64, "[010][010][0][0]"),
    ("[%08.3d][%-08d][%+05d]", (5, 5, 5), 64, "[     005][5       ][+0005]"),
    ("[%.*d][%.*s]", ((-1) & 0xFFFFFFFF, 5, (-1) & 0xFFFFFFFF, 0x100), 64, "[5][emu]"),
    # a Latin-1 superscript is no digit (str.isdigit says it is: a traceback)
    ("[%1\xb2d][%.\xb9d]", (), 64, "[\xb2d][\xb9d]"),
])
def test_kformat(fmt: str, values: tuple[int, ...], bits: int, expected: str) -> None:
    assert kformat(fmt, Args(*values), lambda a, limit=None: STRINGS[a][:limit], bits) \
        == expected


def test_kformat_n_stores_the_count_so_far() -> None:
    stored: list[tuple[int, int, int]] = []
    out = kformat("ab%ncd%hn%lln!", Args(0x500, 0x600, 0x700), lambda a, limit=None: "", 64,
                  lambda at, size, value: stored.append((at, size, value)))
    assert out == "abcd!"
    assert stored == [(0x500, 4, 2), (0x600, 2, 4), (0x700, 8, 4)]


def test_kformat_reads_a_string_no_further_than_its_precision() -> None:
    asked: list[object] = []

    def read(addr: int, limit: int | None = None) -> str:
        asked.append(limit)
        return "x" * (limit if limit is not None else 5000)
    assert kformat("%.3s|%s", Args(0x100, 0x100), read, 64) == "xxx|" + "x" * 5000
    assert asked == [3, None]


def test_kformat_asks_for_the_right_widths() -> None:
    args = Args(1, 2, 3, 4, 5, 6)
    kformat("%d %ld %lld %zu %p %s", args, lambda a, limit=None: "x", 64)
    assert args.kinds == ["i32", "word", "i64", "uword", "ptr", "ptr"]
