#!/usr/bin/env python3
"""Build benchmark: full build and no-op rebuild of the example tree for all targets.

Beside each SCons time it prints the time of running the very same compiler and
linker commands directly (two at a time, like -j2), so SCons's own overhead
shows as a ratio.  Usage: python3 bench/bench_build.py [--jobs 2] [--repeat 3]
"""
from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.conftest import copy_tree  # noqa: E402


def scons(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "SCons", "-C", str(tree), "-Q", *args],
                          capture_output=True, text=True, check=True)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    opts = ap.parse_args()
    args = ("ARCH=all", f"-j{opts.jobs}")
    full, noop, direct = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(opts.repeat):
            tree = copy_tree(Path(tmp) / f"t{i}")
            # the commands a full build runs, in dependency order (compiles, then links)
            dry = scons(tree, *args, "-n", "VERBOSE=1").stdout.splitlines()
            cmds = [shlex.split(c) for c in dry if " clang " in c or " ld.lld " in c]
            compiles = [c for c in cmds if "-c" in c]
            links = [c for c in cmds if "-c" not in c]

            def run_direct() -> None:
                for d in {Path(tree, c[c.index("-o") + 1]).parent for c in cmds}:
                    d.mkdir(parents=True, exist_ok=True)
                with ThreadPoolExecutor(opts.jobs) as pool:
                    for batch in (compiles, links):
                        list(pool.map(lambda c: subprocess.run(c, cwd=tree, check=True), batch))
            direct.append(timed(run_direct))
            shutil.rmtree(tree / "build")
            full.append(timed(lambda: scons(tree, *args)))
            noop.append(timed(lambda: scons(tree, *args)))
            shutil.rmtree(tree)
    f, n, d = (statistics.median(x) for x in (full, noop, direct))
    print(f"example tree, all 8 targets, -j{opts.jobs}, median of {opts.repeat}:")
    print(f"  commands run directly (compiler + linker only): {d:7.2f} s")
    print(f"  scons full build:                               {f:7.2f} s   ratio {f / d:.2f}")
    print(f"  scons no-op rebuild:                            {n:7.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
