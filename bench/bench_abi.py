"""bench/bench_abi.py - time the ABI checks: abi-diff at scale, and DWARF hashing.

Three measurements, each the best of ``--repeat`` runs (the machine is shared):

1. ``abi-diff`` of two generated manifests of ``--symbols`` (50,000) symbols
   each, with 1% removed, 1% added, 1% changed ABI hash and 0.2% objects
   resized: parsing both, the comparison, and the text and JSON renderings,
   in process; the same with 1,000 generated modules of 40 references each
   (which modules each change breaks); and the whole command as a fresh
   ``python -m kmodbuild abi-diff`` process.
2. DWARF hashing of the stub kernel, per target: reading its DWARF with
   pyelftools (:func:`kmodbuild.elf.read_debug_info`), the canonical
   expansion and the hashes of every exported symbol, and the ``netbsd.abi``
   JSON.
3. The example tree, per target and module: the probe (one extra compile of
   each source, then its DWARF), the debug split, and the module check
   (reading ``.kmodbuild.abi`` and comparing with the kernel's description).

Parts 2 and 3 need a built tree: ``--tree DIR`` (a tree built with ``scons
ARCH=all``), else one is built in a temporary directory (copy of this
repository, ``scons ARCH=all -j2``), whose wall time is reported too.

Usage: ``python bench/bench_abi.py [--symbols 50000] [--repeat 3] [--tree DIR] [--json FILE]``
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from kmodbuild import abi, abiprobe, debugsplit, elf  # noqa: E402
from kmodbuild.manifest import (ManifestSymbol, load_manifest, make_manifest,  # noqa: E402
                                write_if_changed)
from kmodbuild.target import TARGETS, NetBSDVersion, get_target  # noqa: E402
from kmodbuild.toolchain import make_toolchain  # noqa: E402


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """(best wall seconds, last result) over ``repeat`` runs."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


# --------------------------------------------------------------------------- 1. abi-diff

def make_manifests(n: int, out: Path, seed: int = 7) -> tuple[Path, Path, list[str]]:
    """Two manifests of ``n`` symbols with 1% removed/added/rehashed, 0.2% resized."""
    rnd = random.Random(seed)
    names = sorted({f"{rnd.choice(['vfs', 'kmem', 'bus', 'pci', 'uvm', 'sys'])}_"
                    f"{rnd.getrandbits(40):010x}" for _ in range(int(n * 1.02))})
    old_names = names[:n]
    rows = {name: ManifestSymbol(name, "object" if i % 7 == 0 else "func",
                                 rnd.randrange(8, 512), f"{rnd.getrandbits(32):08x}")
            for i, name in enumerate(old_names)}
    new_rows = dict(rows)
    for name in rnd.sample(old_names, n // 100):
        del new_rows[name]
    for name in names[n:n + n // 100]:
        new_rows[name] = ManifestSymbol(name, "func", 64, f"{rnd.getrandbits(32):08x}")
    for name in rnd.sample(sorted(new_rows), n // 100):
        new_rows[name] = new_rows[name]._replace(abihash=f"{rnd.getrandbits(32):08x}")
    objects = [k for k, s in new_rows.items() if s.kind == "object"]
    for name in rnd.sample(objects, n // 500):
        new_rows[name] = new_rows[name]._replace(size=new_rows[name].size + 8)
    t, v = get_target("amd64"), NetBSDVersion.parse("10.0")
    old_p, new_p = out / "old.syms", out / "new.syms"
    write_if_changed(old_p, make_manifest(t, v, rows.values()).render())
    write_if_changed(new_p, make_manifest(t, v, new_rows.values()).render())
    return old_p, new_p, old_names


def bench_diff(n: int, repeat: int, work: Path) -> dict[str, float]:
    from kmodbuild import cmd_abi_diff
    old_p, new_p, names = make_manifests(n, work)
    rnd = random.Random(3)
    modules = [abi.ModuleUse(f"m{i}.kmod", frozenset(rnd.sample(names, 40)), 1000000000)
               for i in range(1000)]

    def run(mods: list[abi.ModuleUse] | None) -> tuple[str, str, int]:
        old, new = load_manifest(old_p), load_manifest(new_p)
        d = abi.diff_manifests(old, new, None, None, mods)
        return (cmd_abi_diff.render_text(d, old, new),
                cmd_abi_diff.render_json(d, old, new, None, None), len(d.changes))
    t_plain, (_, _, nchanges) = best(lambda: run(None), repeat)
    t_mods, _ = best(lambda: run(modules), repeat)
    t_load, _ = best(lambda: (load_manifest(old_p), load_manifest(new_p)), repeat)
    env = dict(os.environ, PYTHONPATH=str(REPO))

    def cli() -> None:
        subprocess.run([sys.executable, "-m", "kmodbuild", "abi-diff", str(old_p), str(new_p),
                        "--format", "json"], env=env, stdout=subprocess.DEVNULL, check=False)
    t_cli, _ = best(cli, repeat)
    return {"symbols": n, "changes": nchanges, "parse_both_s": t_load,
            "diff_and_render_s": t_plain, "with_1000_modules_s": t_mods, "cli_s": t_cli}


# --------------------------------------------------------------------------- 2./3. DWARF

def build_tree(root: Path) -> float:
    for part in ("SConstruct", "site_scons", "sys"):
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, root / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, root / part)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "SCons", "-C", str(root), "ARCH=all", "VERSION=10.0",
                    "-j2", "-Q"], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def bench_kernel(tree: Path, repeat: int) -> dict[str, dict[str, float]]:
    out = {}
    for t in TARGETS:
        kdir = tree / "build" / t.key / "10.0" / "kernel"
        manifest = load_manifest(kdir / "netbsd.syms")
        t_read, info = best(lambda: elf.read_debug_info(kdir / "netbsd"), repeat)
        little = t.little_endian
        t_hash, desc = best(lambda: abi.abi_from_debug_info(info, list(manifest.symbols),
                                                            little_endian=little), repeat)
        t_json, _ = best(lambda: desc.render(), repeat)
        out[t.name] = {"dies": len(info.dies) if info else 0, "symbols": len(desc.symbols),
                       "types": len(desc.types), "read_dwarf_s": t_read, "hash_s": t_hash,
                       "json_s": t_json}
    return out


def bench_modules(tree: Path) -> dict[str, dict[str, float]]:
    out = {}
    for t in TARGETS:
        tc = make_toolchain(t)
        prefix = [*tc.cc, *tc.cflags, "-g", "-isystem", "sys", "-isystem", "sys/arch",
                  f"-D__NetBSD_Version__={NetBSDVersion.parse('10.0').number}"]
        kernel = abi.load_abi(tree / "build" / t.key / "10.0" / "kernel" / "netbsd.abi")
        probe_wall = probe_cpu = split = check = 0.0
        n = 0
        for full in sorted((tree / "build" / t.key / "10.0" / "modules").glob("*/*.kmod.full")):
            name = full.name[:-len(".kmod.full")]
            obj, src = full.with_name(f"{name}.o"), tree / "sys" / "modules" / name / f"{name}.c"
            c0, w0 = time.process_time(), time.perf_counter()
            view = abiprobe.probe_object(obj, src, prefix, cwd=str(tree))
            probe_cpu += time.process_time() - c0
            probe_wall += time.perf_counter() - w0
            data = full.read_bytes()
            c0 = time.process_time()
            debugsplit.split_debug(data, str(full), debug_name=f"{name}.kmod.debug",
                                   extra_sections={abiprobe.ABI_SECTION:
                                                   view.render(compact=True).encode()})
            split += time.process_time() - c0
            kmod = full.with_name(f"{name}.kmod")
            mod = elf.read_module(kmod)
            c0 = time.process_time()
            abiprobe.module_abi_diagnostics(mod, kernel, None,
                                            debug=kmod.with_name(f"{name}.kmod.debug"))
            check += time.process_time() - c0
            n += 1
        out[t.name] = {"modules": n, "probe_wall_ms": 1000 * probe_wall / n,
                       "probe_python_cpu_ms": 1000 * probe_cpu / n,
                       "split_cpu_ms": 1000 * split / n, "check_cpu_ms": 1000 * check / n}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--symbols", type=int, default=50000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tree", type=Path, help="a tree built with scons ARCH=all VERSION=10.0")
    ap.add_argument("--json", type=Path, help="write the results here too")
    ap.add_argument("--skip-dwarf", action="store_true", help="only the abi-diff part")
    args = ap.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench_abi.") as tmp:
        results["abi_diff"] = bench_diff(args.symbols, args.repeat, Path(tmp))
        d = results["abi_diff"]
        print(f"abi-diff, {d['symbols']} symbols each, {d['changes']} changes: parse both "
              f"{d['parse_both_s']:.3f} s; parse+diff+text+JSON {d['diff_and_render_s']:.3f} s; "
              f"with 1,000 modules {d['with_1000_modules_s']:.3f} s; CLI {d['cli_s']:.3f} s")
        if not args.skip_dwarf:
            tree = args.tree
            if tree is None:
                tree = Path(tmp) / "tree"
                tree.mkdir()
                results["build_all_s"] = build_tree(tree)
                print(f"scons ARCH=all -j2 (full build, with -g, probes and splits): "
                      f"{results['build_all_s']:.1f} s")
            results["kernel"] = bench_kernel(tree, args.repeat)
            print("stub kernel DWARF hashing (per target):")
            for name, r in results["kernel"].items():
                print(f"  {name:17} {r['dies']:5} DIEs kept, {r['symbols']} symbols, "
                      f"{r['types']} types: read {1000 * r['read_dwarf_s']:.0f} ms, hash "
                      f"{1000 * r['hash_s']:.0f} ms, JSON {1000 * r['json_s']:.0f} ms")
            results["modules"] = bench_modules(tree)
            print("example tree, per module:")
            for name, r in results["modules"].items():
                print(f"  {name:17} probe {r['probe_wall_ms']:.0f} ms wall "
                      f"({r['probe_python_cpu_ms']:.1f} ms Python CPU), split "
                      f"{r['split_cpu_ms']:.2f} ms, check {r['check_cpu_ms']:.2f} ms")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
