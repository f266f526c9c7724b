#!/usr/bin/env python3
"""bench/bench_sim.py - load and unload a generated 500-module tree in the simulator.

Generates N modules (default 500) for amd64/10.0 where module i requires up
to two earlier modules and calls their exported functions, compiles them with
the project toolchain (zig) into bench/out/simtree (reused when present), then
measures, best of --repeat runs:

* read:   reading and parsing every .kmod (kmodbuild.elf.read_module) only;
* load:   modload of every module in dependency order (kobj_load + relocation
          + affix + the kern_module.c checks), into a fresh simulated kernel;
* unload: modunload of everything, newest first.

Usage: python bench/bench_sim.py [--modules 500] [--repeat 3] [--jobs 2]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kmodbuild.elf import read_module  # noqa: E402
from kmodbuild.manifest import ManifestSymbol, make_manifest, write_if_changed  # noqa: E402
from kmodbuild.simulator import KernelConfig, SimKernel, symbols_from_manifest  # noqa: E402
from kmodbuild.simvalidate import dependency_order  # noqa: E402
from kmodbuild.target import NetBSDVersion, get_target  # noqa: E402
from kmodbuild.toolchain import make_toolchain  # noqa: E402

HEADER = (REPO / "tests" / "sim" / "modsrc" / "kmod.h").read_text()


def requires_of(i: int) -> list[int]:
    """Module i requires i-1 (every third) and i//2 (every fifth): a deep, wide graph."""
    deps = set()
    if i % 3 == 1 and i > 0:
        deps.add(i - 1)
    if i % 5 == 2 and i > 1:
        deps.add(i // 2)
    return sorted(deps)


def source(i: int) -> str:
    deps = requires_of(i)
    req = '"' + ",".join(f"m{d:04d}" for d in deps) + '"' if deps else "NULL"
    ext = "".join(f"extern int m{d:04d}_fn(int);\n" for d in deps)
    body = " + ".join([f"m{d:04d}_fn(x)" for d in deps] + ["x * hz"])
    return (f'#include "kmod.h"\nMODULE(MODULE_CLASS_MISC, m{i:04d}, {req});\n{ext}'
            f"static int m{i:04d}_count;\n"
            f"int m{i:04d}_fn(int x) {{ m{i:04d}_count++; printf(\"m{i:04d} %d\\n\", x); "
            f"return {body}; }}\nPLAIN_MODCMD(m{i:04d})\n")


def generate(out: Path, n: int, jobs: int) -> Path:
    target, version = get_target("amd64"), NetBSDVersion.parse("10.0")
    stand = out / "stand"
    mdir = stand / "amd64" / "10.0" / "modules"
    src_dir = out / "src"
    src_dir.mkdir(parents=True, exist_ok=True)
    (src_dir / "kmod.h").write_text(HEADER)
    tc = make_toolchain(target)

    def build(i: int) -> None:
        name = f"m{i:04d}"
        kmod = mdir / name / f"{name}.kmod"
        if kmod.exists():
            return
        kmod.parent.mkdir(parents=True, exist_ok=True)
        (src_dir / f"{name}.c").write_text(source(i))
        obj = src_dir / f"{name}.o"
        cpp = [f"-D__NetBSD_Version__={version.number}"]
        subprocess.run(tc.compile_argv(f"{name}.c", str(obj), cpp), cwd=src_dir, check=True)
        subprocess.run(tc.link_argv(str(kmod), [str(obj)]), check=True)

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(build, range(n)))
    man = make_manifest(target, version, [ManifestSymbol("printf", "func", 64),
                                          ManifestSymbol("hz", "object", 4)])
    write_if_changed(out / "netbsd.syms", man.render())
    return stand


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modules", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "simtree")
    args = ap.parse_args()
    t0 = time.perf_counter()
    stand = generate(args.out, args.modules, args.jobs)
    gen = time.perf_counter() - t0
    target, version = get_target("amd64"), NetBSDVersion.parse("10.0")
    mdir = stand / "amd64" / "10.0" / "modules"
    names = [f"m{i:04d}" for i in range(args.modules)]
    order = dependency_order({n: tuple(f"m{d:04d}" for d in requires_of(i))
                              for i, n in enumerate(names)})
    from kmodbuild.manifest import load_manifest
    syms = symbols_from_manifest(load_manifest(args.out / "netbsd.syms"))
    best = {"read": 1e9, "load": 1e9, "unload": 1e9}
    for _ in range(args.repeat):
        t = time.perf_counter()
        for n in names:
            read_module(str(mdir / n / f"{n}.kmod"), target)
        best["read"] = min(best["read"], time.perf_counter() - t)
        kernel = SimKernel(KernelConfig(target, version, symbols=syms), stand)
        t = time.perf_counter()
        for n in order:
            if kernel.lookup(n) is None:
                err = kernel.modctl_load(n)
                assert err == 0, (n, err, kernel.take_console())
        best["load"] = min(best["load"], time.perf_counter() - t)
        assert len(kernel.loaded) == args.modules
        t = time.perf_counter()
        for m in list(kernel.loaded):
            assert kernel.modctl_unload(m.name) == 0
        best["unload"] = min(best["unload"], time.perf_counter() - t)
    n = args.modules
    nrel = sum(len(rs.relocations) for nm in names
               for rs in read_module(str(mdir / nm / f"{nm}.kmod"), target).relocation_sections)
    print(f"tree: {n} modules, {sum(len(requires_of(i)) for i in range(n))} dependencies, "
          f"{nrel} relocations (generated/compiled in {gen:.1f} s)")
    print(f"{'phase':<8} {'total s':>8} {'ms/module':>10}")
    for k in ("read", "load", "unload"):
        print(f"{k:<8} {best[k]:>8.3f} {best[k] * 1000 / n:>10.3f}")
    print(f"{'load+unload':<8} {best['load'] + best['unload']:>5.3f} "
          f"{(best['load'] + best['unload']) * 1000 / n:>10.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
