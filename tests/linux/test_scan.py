"""kmodbuild.linux.scan: the modules of a tree and their order, as depmod finds them.

The walk does not read the files, so placeholders stand for modules here; parity
with depmod on real trees is tests/linux/test_parity_*.py.
"""
from __future__ import annotations

import os
from pathlib import Path

from kmodbuild.linux.scan import find_modules


def _tree(root: Path, *rels: str) -> Path:
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"placeholder")
    return root


def _order(root: Path) -> list[str]:
    return [m.relpath for m in find_modules([str(root)]).modules]


def test_order_lines_are_taken_as_written(tmp_path: Path) -> None:
    # depmod_modules_sort strips the newline and nothing else, and looks the line up by
    # the module's path without its compression suffix; a later line wins.
    root = _tree(tmp_path, "kernel/a.ko", "kernel/b.ko", "kernel/c.ko.xz", "kernel/d.ko",
                 "kernel/e.ko.xz", "kernel/f.ko")
    (root / "modules.order").write_bytes(
        b"kernel/f.ko\nkernel/a.ko \nkernel/b.ko\r\nkernel/c.ko.xz\n\nkernel/e.ko\n"
        b"kernel/d.ko\nkernel/f.ko\n")
    assert _order(root) == ["kernel/e.ko.xz", "kernel/d.ko", "kernel/f.ko",      # listed
                            "kernel/a.ko", "kernel/b.ko", "kernel/c.ko.xz"]      # the rest


def test_a_corrupted_order_file_orders_nothing(tmp_path: Path) -> None:
    # "corrupted line misses '\n'": the last line without its newline, a line cut by a
    # NUL, or one longer than depmod's PATH_MAX buffer -- then no module is ordered.
    root = _tree(tmp_path, "kernel/a.ko", "kernel/b.ko")
    for text in (b"kernel/b.ko\nkernel/a.ko", b"kernel/b.ko\nkern\0el/a.ko\n",
                 b"kernel/b.ko\n" + b"x" * 4095 + b"\n"):
        (root / "modules.order").write_bytes(text)
        assert _order(root) == ["kernel/a.ko", "kernel/b.ko"], text
    (root / "modules.order").write_bytes(b"kernel/b.ko\n\0ignored\nkernel/a.ko\n")
    assert _order(root) == ["kernel/b.ko", "kernel/a.ko"]     # a line starting with NUL
    for text in (b"", b"\n", b"kernel/b.ko\n" + b"x" * 4094 + b"\n"):    # whole, unordered
        (root / "modules.order").write_bytes(text)
        assert _order(root) == (["kernel/b.ko", "kernel/a.ko"] if text[:1] == b"k"
                                else ["kernel/a.ko", "kernel/b.ko"]), text


def test_repeated_names_are_settled_in_the_order_found(tmp_path: Path) -> None:
    # depmod keeps the first file of a name its walk meets (directory order, depth
    # first), unless a later one is under updates/; not the first by path.
    root = _tree(tmp_path, "kernel/z/m.ko", "kernel/a/m.ko", "kernel/a/n.ko",
                 "updates/n.ko", "kernel/q/n.ko")
    first = next(e.name for e in os.scandir(root / "kernel") if e.name in ("a", "z"))
    res = find_modules([str(root)])
    assert sorted(m.relpath for m in res.modules) == [f"kernel/{first}/m.ko", "updates/n.ko"]
    ignored = {os.path.relpath(i, root) for i, _ in res.duplicates}
    assert ignored == {f"kernel/{'a' if first == 'z' else 'z'}/m.ko", "kernel/a/n.ko",
                       "kernel/q/n.ko"}
