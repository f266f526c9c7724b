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
    ("%hd %hhu %hx", (0x1FFFF, 0x1FF, 0x12345), 64, "-1 255 2345"),
    ("%p %s %%", (0x1234, 0), 64, "0x1234 (null) %"),
    ("%b", (0x81, 0x200), 64, "81<ONE,EIGHT>"),
    ("%y %", (), 64, "%y %"),
])
def test_kformat(fmt: str, values: tuple[int, ...], bits: int, expected: str) -> None:
    assert kformat(fmt, Args(*values), STRINGS.__getitem__, bits) == expected


def test_kformat_asks_for_the_right_widths() -> None:
    args = Args(1, 2, 3, 4, 5, 6)
    kformat("%d %ld %lld %zu %p %s", args, lambda a: "x", 64)
    assert args.kinds == ["i32", "word", "i64", "uword", "ptr", "ptr"]
