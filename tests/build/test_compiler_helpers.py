"""A module whose C makes the compiler call the kernel's helpers builds, checks, installs
and runs: 64-bit division on the 32-bit ports (``__udivdi3``... on i386,
``__aeabi_uldivmod``/``__aeabi_ldivmod`` on earmv7hf, the remainder in r2:r3) and a
big struct copy (``__aeabi_memcpy`` on earmv7hf).

Two things failed there: the check refused every earmv7hf module dividing 64-bit
numbers (the stub kernel's naked ``__aeabi_uldivmod`` had a ``(void)`` prototype in
its debug information: "prototype ... differs from the kernel's"), and the
simulation stopped at ``__aeabi_memcpy8``, a kernel function without a hook.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, copy_tree, scons

HERE = Path(__file__).resolve().parent
TARGETS = ("amd64", "i386", "evbarm-earmv7hf")
EXPECTED = f"arith: {123456789012345 // 77} {123456789012345 % 77} " \
           f"-{123456789012345 // 77} -{123456789012345 % 77} kmod"


def test_division_and_struct_copies_build_check_and_run(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "t")
    for d in (tree / "sys" / "modules").iterdir():
        if (d / "SConscript").exists():
            shutil.rmtree(d)
    mod = tree / "sys" / "modules" / "arith"
    mod.mkdir()
    shutil.copy(HERE / "helpers_mod" / "arith.c", mod / "arith.c")
    (mod / "SConscript").write_text("Import('env')\nenv.KernelModule('arith', ['arith.c'])\n")
    res = scons(tree, f"ARCH={','.join(TARGETS)}", "-j2")
    for target in TARGETS:
        assert f"simulate: {target} 10.0: 1 modules, 1 loaded, 1 unloaded, 0 failures" \
            in res.stdout, res.stdout
        root = tree / ("stand" if target != "evbarm-earmv7hf"
                       else "destdir.evbarm-earmv7hf/stand")
        sim = subprocess.run([sys.executable, "-m", "kmodbuild", "sim", "--root", str(root),
                              "--arch", target, "--version", "10.0"], input="modload arith\n",
                             capture_output=True, text=True, cwd=tree,
                             env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
        assert sim.returncode == 0, sim.stderr
        assert EXPECTED in sim.stdout.splitlines(), (target, sim.stdout)
