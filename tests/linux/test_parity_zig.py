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
    "kernel/misc/nocrc.ko": KoSpec(exports={"n1": None, "n2": None}, crc_style="none"),
    "kernel/misc/user2.ko": KoSpec(imports=["n1", "n2"], versions=[("n1", 5)]),
    "kernel/misc/packed_xz.ko": KoSpec(exports={"x1": 0x11}, imports=["b1"],
                                       versions=[("b1", 0xB1)]),
    "kernel/misc/unlisted.ko": KoSpec(imports=["x1", "z1"], versions=[("x1", 0x11),
                                                                      ("z1", 0x5)]),
    "kernel/misc/packed_zst.ko": KoSpec(exports={"z1": 0x5}, imports=["c1"],
                                        versions=[("c1", 0xC1)]),
    # __versions names are C strings: "printk_x" (the rest is junk after the NUL)
    # and an empty one.
    "kernel/misc/nulname.ko": KoSpec(imports=["printk_x"],
                                     versions=[("printk_x\\0junk", 0x100), ("", 0x5),
                                               ("module_layout", 0x300)]),
}
#: modules.order: all but "unlisted", not in path order.
ORDER = ["kernel/misc/nocrc.ko", "kernel/core/core.ko", "kernel/lib/lib_a.ko",
         "kernel/lib/lib_b.ko", "kernel/drivers/user1.ko", "kernel/misc/user2.ko",
         "kernel/misc/packed_xz.ko", "kernel/misc/packed_zst.ko", "kernel/misc/nulname.ko"]
#: A cycle (cyc1 <-> cyc2), a module using it, and one only the cycle uses.
CYCLE: dict[str, KoSpec] = {
    "kernel/drivers/cyc1.ko": KoSpec(exports={"y1": 1}, imports=["y2", "s1"],
                                     versions=[("y2", 2), ("s1", 3)]),
    "kernel/drivers/cyc2.ko": KoSpec(exports={"y2": 2}, imports=["y1"], versions=[("y1", 1)]),
    "kernel/drivers/on_cycle.ko": KoSpec(imports=["y1"], versions=[("y1", 1)]),
    "kernel/drivers/stuck.ko": KoSpec(exports={"s1": 3}),
}


def build_tree(ko_builder: KoBuilder, base: Path, modules: dict[str, KoSpec]) -> Path:
    moddir = base / "lib" / "modules" / VERSION
    for rel, spec in modules.items():
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


@pytest.fixture
def tree(ko_builder: KoBuilder, tmp_path: Path) -> Path:
    return build_tree(ko_builder, tmp_path / "root", MODULES)


def test_parity_with_depmod_on_built_tree(depmod: str, tree: Path) -> None:
    res, ref = assert_parity(depmod, tree, VERSION, tree / "Module.symvers", jobs=1)
    # The tree exercises what it claims to (so the parity above is not vacuous).
    assert ("kernel/lib/lib_b.ko", "unknown_x") in ref.unknown
    assert ("kernel/lib/lib_b.ko", "versions_only") in ref.unknown
    assert ("kernel/lib/lib_b.ko", "weak_missing") not in ref.unknown
    assert {("kernel/lib/lib_b.ko", "a1"), ("kernel/lib/lib_b.ko", "kmalloc_x"),
            ("kernel/misc/user2.ko", "n1"), ("kernel/drivers/user1.ko", "module_layout")} \
        <= ref.disagree
    assert "kernel/drivers/user1.ko: kernel/lib/lib_b.ko kernel/lib/lib_a.ko " \
        "kernel/core/core.ko" in ref.dep_lines
    assert res.has_errors


def test_parity_without_symvers(depmod: str, tree: Path) -> None:
    # depmod without -E checks nothing (and says "-e needs -E or -F"): only dependencies.
    res, ref = assert_parity(depmod, tree, VERSION, None, jobs=1)
    assert not ref.unknown and not ref.disagree and not res.has_errors
    assert res.notes


def test_cycles_are_errors_as_for_depmod(depmod: str, ko_builder: KoBuilder,
                                         tmp_path: Path) -> None:
    import subprocess as sp
    base = build_tree(ko_builder, tmp_path / "root", {**MODULES, **CYCLE})
    ref = sp.run([depmod, "-b", str(base), "-n", VERSION], capture_output=True, text=True)
    # depmod (kmod 30) refuses the tree; which member it starts the chain at varies.
    assert ref.returncode != 0 and "Found 2 modules in dependency cycles!" in ref.stderr
    assert ("cyc1 -> cyc2 -> cyc1" in ref.stderr) or ("cyc2 -> cyc1 -> cyc2" in ref.stderr)
    from kmodbuild.linux.check import check_linux
    res = check_linux([str(base / "lib" / "modules" / VERSION)], jobs=1)
    cycle = [d for d in res.diagnostics if d.rule == "linux/dependency-cycle"]
    assert [d.message for d in cycle] == [
        "dependency cycle: cyc1 -> cyc2 -> cyc1",
        "left out of modules.dep: used by modules in a dependency cycle"]
    assert cycle[0].path.endswith("cyc1.ko") and cycle[1].path.endswith("stuck.ko")
    assert "kernel/drivers/on_cycle.ko:" in res.dep_lines      # its cycle dependency left out
    assert not any(line.startswith(("kernel/drivers/cyc", "kernel/drivers/stuck"))
                   for line in res.dep_lines)


@pytest.mark.parametrize("target", ["powerpc-linux-gnu", "s390x-linux-gnu", "i386-linux-gnu"])
def test_damaged_foreign_modules_against_depmod(depmod: str, ko_builder: KoBuilder,
                                                tmp_path: Path, target: str) -> None:
    """Differential fuzzing, seeded, on the tree above built for another ELF class or
    byte order (the general decoder's ground): random bytes of a few modules changed,
    depmod and kmodbuild must agree.  Rounds where depmod itself aborts (an assertion
    in libkmod on some damaged headers) are left out, and so are those where it refuses
    the tree for a dependency cycle (a module now needing its own export), where
    kmodbuild must report the cycle instead.  (Longer runs of it, 900 rounds,
    found names running past their section; these 40 guard the rest.)"""
    import random
    rnd = random.Random(1)
    built = {rel: ko_builder(tmp_path / "src" / rel, spec, target).read_bytes()
             for rel, spec in MODULES.items()}
    symvers = tmp_path / "Module.symvers"
    symvers.write_text(SYMVERS)
    compared = 0
    for round_ in range(40):
        base = tmp_path / f"r{round_}"
        moddir = base / "lib" / "modules" / VERSION
        victims = set(rnd.sample(sorted(built), rnd.randint(1, 3)))
        for rel, data in built.items():
            mutable = bytearray(data)
            if rel in victims:
                for _ in range(rnd.randint(1, 5)):
                    at = rnd.randrange(len(mutable) * 6 // 10 if rnd.random() < 0.5 else 0,
                                       len(mutable))
                    mutable[at] = rnd.choice([0, 0x2E, 0x5F, rnd.randrange(256),
                                              mutable[at] ^ 1, mutable[at] ^ 0x80])
            (moddir / rel).parent.mkdir(parents=True, exist_ok=True)
            (moddir / rel).write_bytes(bytes(mutable))
        (moddir / "modules.order").write_text("".join(f"{rel}\n" for rel in built))
        try:
            assert_parity(depmod, base, VERSION, symvers, jobs=1)
        except AssertionError as e:
            if "depmod failed (-6)" in str(e):
                continue
            if "Cycle detected" in str(e):      # depmod refuses the tree; we report the cycle
                from kmodbuild.linux.check import check_linux
                res = check_linux([str(moddir)], str(symvers), jobs=1)
                assert any(d.rule == "linux/dependency-cycle" for d in res.diagnostics), e
                continue
            raise AssertionError(f"{target} round {round_}: {e}") from None
        compared += 1
        shutil.rmtree(base)
    assert compared >= 30
