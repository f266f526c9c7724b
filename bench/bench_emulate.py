#!/usr/bin/env python3
"""bench/bench_emulate.py - load and run INIT of every example module under CPU emulation.

Builds the example tree for every target (``scons ARCH=all VERSION=10.0`` in a
copy under bench/out/emutree, reused when present), then for each target
boots a fresh simulated kernel with the emulated modcmd strategy and times
``modload NAME`` of each example module in dependency order: reading the
file, kobj_load/affix, and INIT run on the emulated CPU against the Python
kernel API.  The first modcmd of a kernel also builds its emulated machine
(unicorn CPU, kernel image, stubs); that cost is shown apart ("boot").
Best of --repeat runs.  Target: under 50 ms per module.

Usage: python bench/bench_emulate.py [--repeat 5] [--targets amd64,i386]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kmodbuild.emulate.strategy import EmulatedModcmd  # noqa: E402
from kmodbuild.manifest import load_manifest  # noqa: E402
from kmodbuild.simulator import KernelConfig, SimKernel, symbols_from_manifest  # noqa: E402
from kmodbuild.target import TARGETS, NetBSDVersion, get_target  # noqa: E402

#: dependency order (layerfs before null, compat_demo before exec_demo)
MODULES = ("hello", "layerfs", "null", "ffs", "bitbucket", "compat_demo", "exec_demo",
           "sysdemo", "secmodel_example", "bufq_demo")
TARGET_MS = 50.0


def build_tree(out: Path) -> Path:
    """The example tree built for every target (built once)."""
    tree = out / "emutree"
    if not (tree / "build").is_dir():
        tree.mkdir(parents=True, exist_ok=True)
        for part in ("SConstruct", "site_scons", "sys"):
            src = REPO / part
            if src.is_dir():
                shutil.copytree(src, tree / part, dirs_exist_ok=True)
            else:
                shutil.copy2(src, tree / part)
        subprocess.run([sys.executable, "-m", "SCons", "-C", str(tree), "ARCH=all",
                        "VERSION=10.0", "-j2", "-Q"], check=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL)
    return tree


def run_once(tree: Path, name: str) -> tuple[float, dict[str, float], bool]:
    """(machine boot ms, module -> load+INIT ms, every load succeeded)."""
    target, version = get_target(name), NetBSDVersion.parse("10.0")
    stand = tree / "stand" if target.primary else tree / f"destdir.{target.name}" / "stand"
    manifest = tree / "build" / target.key / "10.0" / "kernel" / "netbsd.syms"
    symbols = symbols_from_manifest(load_manifest(manifest))
    strategy = EmulatedModcmd()
    kernel = SimKernel(KernelConfig(target, version, symbols=symbols), stand, modcmd=strategy)
    t0 = time.perf_counter()
    strategy.get_machine()
    boot = (time.perf_counter() - t0) * 1000
    times: dict[str, float] = {}
    ok = True
    for mod in MODULES:
        t0 = time.perf_counter()
        error = kernel.modctl_load(mod)
        times[mod] = (time.perf_counter() - t0) * 1000
        ok &= error == 0 and not strategy.reports
    return boot, times, ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--targets", default=",".join(t.name for t in TARGETS))
    ap.add_argument("--out", default=str(REPO / "bench" / "out"))
    args = ap.parse_args()
    tree = build_tree(Path(args.out))
    names = [n for n in args.targets.split(",") if n]
    short = {"secmodel_example": "secmodel", "compat_demo": "compat", "exec_demo": "exec",
             "bufq_demo": "bufq", "bitbucket": "bitbkt"}
    cols = [short.get(m, m) for m in MODULES]
    print(f"load + INIT per module, emulated (ms, best of {args.repeat}); "
          f"boot = building the emulated machine, once per kernel")
    print(f"{'target':18} {'boot':>6} " + " ".join(f"{c:>8}" for c in cols)
          + f" {'mean':>6} {'max':>6}")
    worst = 0.0
    failed = False
    for name in names:
        best_boot = float("inf")
        best: dict[str, float] = {}
        for _ in range(args.repeat):
            boot, times, ok = run_once(tree, name)
            failed |= not ok
            best_boot = min(best_boot, boot)
            for mod, ms in times.items():
                best[mod] = min(best.get(mod, float("inf")), ms)
        mean = sum(best.values()) / len(best)
        worst = max(worst, max(best.values()))
        print(f"{name:18} {best_boot:6.1f} " + " ".join(f"{best[m]:8.2f}" for m in MODULES)
              + f" {mean:6.2f} {max(best.values()):6.2f}")
    verdict = "ok" if worst < TARGET_MS else "OVER TARGET"
    print(f"slowest module: {worst:.2f} ms (target < {TARGET_MS:.0f} ms): {verdict}"
          + ("; SOME LOADS FAILED" if failed else ""))
    return 0 if worst < TARGET_MS and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
