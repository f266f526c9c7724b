"""Module.symvers parsing: depmod_load_symvers' rules (kmod tools/depmod.c)."""
from __future__ import annotations

from pathlib import Path

import pytest

from kmodbuild.errors import ManifestError
from kmodbuild.linux.symvers import FAKE_SYMBOLS, FAKE_TOC, parse_crc, parse_symvers, read_symvers


def test_only_vmlinux_rows_count() -> None:
    text = ("0x00000001\tkfoo\tvmlinux\tEXPORT_SYMBOL\t\n"
            "0x00000002\tmfoo\tdrivers/x/mod\tEXPORT_SYMBOL_GPL\t\n"
            "0x00000003\tkbar\tvmlinux\tEXPORT_SYMBOL_GPL\tMY_NS\n")
    s = parse_symvers(text)
    assert s.vmlinux == {"kfoo": 1, "kbar": 3}
    assert s.owners["mfoo"] == "drivers/x/mod"


def test_later_row_wins_and_old_four_column_format() -> None:
    s = parse_symvers("0x1\tfoo\tvmlinux\tEXPORT_SYMBOL\n0x2\tfoo\tvmlinux\tEXPORT_SYMBOL\n")
    assert s.vmlinux == {"foo": 2}


def test_strtok_semantics() -> None:
    # Spaces separate fields too, runs collapse, leading blanks are skipped; a
    # third field followed by the newline is "vmlinux\n" for strtok: not vmlinux.
    text = "  0x10  a   vmlinux EXPORT_SYMBOL\n0x11\tb\tvmlinux\n0x12\tc\tvmlinux"
    assert parse_symvers(text).vmlinux == {"a": 0x10, "c": 0x12}


def test_a_line_ends_at_a_nul_for_depmod() -> None:
    # C strings: after the NUL nothing of the line is seen, its newline neither -- so
    # "vmlinux\0..." is the third field followed by the end of the string, a vmlinux row.
    text = ("0x1\ta\tvmlinux\0\tEXPORT_SYMBOL\n0x2\tb\0\tvmlinux\tE\n"
            "\0x3\tc\tvmlinux\tE\n0x4\td\tvmlinux\tE\n0xZ\0Z\te\tvmlinux\tE\n")
    s = parse_symvers(text)
    assert s.vmlinux == {"a": 1, "d": 4}
    assert s.invalid == []


def test_invalid_crc_is_reported_with_its_line() -> None:
    s = parse_symvers("0x1\tok\tvmlinux\tE\n0xZZ\tbad\tvmlinux\tE\n0x\thalf\tvmlinux\tE\n")
    assert s.vmlinux == {"ok": 1}
    assert s.invalid == [(2, "0xZZ"), (3, "0x")]


@pytest.mark.parametrize("text,value", [("0x1f", 0x1F), ("1F", 0x1F), ("+0x2", 2),
                                        ("-1", (1 << 64) - 1), ("0x" + "f" * 20, (1 << 64) - 1),
                                        ("0x", None), ("0x_1", None), ("g", None), ("", None),
                                        ("\r0x10", 0x10), ("\v\f 7", 7), ("\r", None),
                                        ("0x10\r", None)])
def test_parse_crc_is_strtoull(text: str, value: int | None) -> None:
    assert parse_crc(text) == value


def test_kernel_symbols_add_depmods_fake_symbols() -> None:
    table = parse_symvers("0x5\tTOC.\tvmlinux\tE\n").kernel_symbols()
    assert all(table[name] == 0 for name in FAKE_SYMBOLS)
    assert table[FAKE_TOC] == 5         # only added when absent


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read Module.symvers"):
        read_symvers(tmp_path / "nope")


def test_tab_only_files_take_the_fast_path_with_the_same_rules() -> None:
    from kmodbuild.linux.symvers import _fast_rows
    text = "0x11\tb\tvmlinux\n0x13\td\tvmlinux\tE\t\n0x12\tc\tvmlinux"
    assert _fast_rows(text) is not None
    assert parse_symvers(text).vmlinux == {"d": 0x13, "c": 0x12}
    assert _fast_rows("\t0x1\ta\tvmlinux\tE\n") is None        # empty first field: general path
    assert parse_symvers("\t0x1\ta\tvmlinux\tE\n").vmlinux == {"a": 1}


def test_the_three_row_finders_agree_on_random_files() -> None:
    # Module.symvers is cut at "<TAB>vmlinux<TAB>" (_split_rows), read line by line
    # (_fast_rows without it) or by the regular expression depmod's strtok rules
    # were written as (_VMLINUX_ROW): where a faster one answers, it answers the same.
    import random

    from kmodbuild.linux import symvers
    rng = random.Random(5)
    pieces = ["0x1", "0x2", "a", "b", "vmlinux", "mod/x", "E", "", "\r", "vmlinuxx"]
    split_answered = 0
    for _ in range(3000):
        lines = ["\t".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
                 for _ in range(rng.randint(0, 5))]
        text = "\n".join(lines) + rng.choice(["", "\n"])
        rows = symvers._VMLINUX_ROW.findall(text)
        want = ([r[0] for r in rows], [r[1] for r in rows])
        got = symvers._split_rows(text)
        if got is not None:
            split_answered += 1
            assert got == want, text
        original = symvers._split_rows
        try:
            symvers._split_rows = lambda _text: None        # type: ignore[assignment]
            by_line = symvers._fast_rows(text)
        finally:
            symvers._split_rows = original
        if by_line is not None:
            assert by_line == want, text
    assert split_answered > 100
