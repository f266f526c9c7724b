#!/usr/bin/env python3
"""DWARF reading benchmark: kmodbuild's walker against pyelftools, on real objects.

Compiles the example tree's module sources (``sys/modules/*/*.c``), the stub
kernel's sources (``sys/kern/*.c``, linked into one image) and one ABI probe
per module for a target with the default toolchain (the build's flags:
``-O2 -g -gdwarf-4``), then times :func:`kmodbuild.elf.read_debug_info` on
them, alternating between the walker (:mod:`kmodbuild.dwarfwalk`) and
pyelftools (the fallback path, forced), and prints per-kind medians and the
ratio.  The records are compared too: a difference is an error.

Usage: python3 bench/bench_dwarf.py [--arch amd64] [--repeat 5]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import kmodbuild.elf as kelf  # noqa: E402
from kmodbuild import abiprobe, dwarfwalk  # noqa: E402
from kmodbuild.target import get_target  # noqa: E402
from kmodbuild.toolchain import make_toolchain  # noqa: E402


def build_inputs(arch: str, out: Path) -> dict[str, list[Path]]:
    """Compile the inputs: ``{"module": [...], "probe": [...], "kernel": [...]}``."""
    tc = make_toolchain(get_target(arch))
    cc = [*tc.cc, *tc.cflags, "-g", "-gdwarf-4", "-gno-column-info", "-isystem",
          str(REPO / "sys"), "-D__NetBSD_Version__=1000000000"]
    kinds: dict[str, list[Path]] = {"module": [], "probe": [], "kernel": []}
    for src in sorted(REPO.glob("sys/modules/*/*.c")):
        obj = out / f"{src.parent.name}_{src.stem}.o"
        subprocess.run([*cc, "-D_MODULE", "-c", str(src), "-o", str(obj)], check=True,
                       capture_output=True)
        kinds["module"].append(obj)
        text, _ = abiprobe.probe_source(src, abiprobe.undefined_symbols(obj))
        probe_c = out / f"{obj.stem}.probe.c"
        probe_c.write_text(text)
        probe_o = probe_c.with_suffix(".o")
        flags = abiprobe.CLANG_PROBE_FLAGS if tc.kind in ("zig", "clang") else ()
        done = subprocess.run([*cc, "-D_MODULE", *abiprobe.PROBE_FLAGS, *flags, "-c",
                               str(probe_c), "-o", str(probe_o)], capture_output=True)
        if done.returncode == 0:
            kinds["probe"].append(probe_o)
    kobjs = []
    for src in sorted(REPO.glob("sys/kern/*.c")):
        obj = out / f"kern_{src.stem}.o"
        subprocess.run([*cc, "-c", str(src), "-o", str(obj)], check=True, capture_output=True)
        kobjs.append(obj)
    kernel = out / "netbsd"
    subprocess.run([*tc.ld, "-r", "-o", str(kernel), *map(str, kobjs)], check=True,
                   capture_output=True)
    kinds["kernel"].append(kernel)
    return kinds


def time_read(paths: list[Path], walker: bool) -> tuple[float, list[object]]:
    real = kelf.walk_units

    def forced(*args: object, **kwargs: object) -> object:
        raise dwarfwalk.Unsupported("bench: pyelftools path")

    if not walker:
        kelf.walk_units = forced
    try:
        t0 = time.perf_counter()
        got = [kelf.read_debug_info(p) for p in paths]
        return time.perf_counter() - t0, got
    finally:
        kelf.walk_units = real


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="amd64")
    ap.add_argument("--repeat", type=int, default=5)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        kinds = build_inputs(opts.arch, Path(tmp))
        print(f"{'kind':<8} {'files':>5} {'walker':>11} {'pyelftools':>11} {'speed-up':>9}")
        for kind, paths in kinds.items():
            fast_t, slow_t = [], []
            for _ in range(opts.repeat):
                t, fast = time_read(paths, True)
                fast_t.append(t)
                t, slow = time_read(paths, False)
                slow_t.append(t)
                if fast != slow:
                    print(f"{kind}: the walker and pyelftools disagree", file=sys.stderr)
                    return 1
            f, s = statistics.median(fast_t) / len(paths), statistics.median(slow_t) / len(paths)
            print(f"{kind:<8} {len(paths):>5} {f * 1000:>8.2f} ms {s * 1000:>8.2f} ms "
                  f"{s / f:>8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
