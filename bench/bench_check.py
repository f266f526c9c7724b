"""bench/bench_check.py - time ``kmodbuild check`` on N generated modules against readelf.

Generates (or reuses) N synthetic amd64 modules with bench/gen_tree.py, writes
a kernel symbol manifest of at least 10,000 symbols (the generator's kernel
pool, which every module's references come from), then times, in the same
run and on the same files:

* ``check (in-process)``: what ``kmodbuild check --manifest M TREE`` does after
  start-up (collect files, parse the manifest, read and check every module);
* ``check (CLI)``: the same as a fresh ``python -m kmodbuild check`` process;
* ``check --cache, warm``: both again with ``--cache FILE`` after a first run
  filled it (nothing changed: the stored report is reused after a ``stat`` of
  every module and the manifest);
* ``readelf -sW (batched)``: GNU readelf dumping the symbol tables of all files,
  as few processes as the command line allows (``xargs``-style), output discarded;
* ``readelf -sW (per file)``: one readelf process per file (``find -exec \\;``-style).

It prints milliseconds per module and the ratios check/readelf (target <= 1.0).
Each figure is the best of ``--repeat`` runs (the machine is shared; the best
run is the least disturbed one).

Usage: ``python bench/bench_check.py [-n 1000] [--repeat 5] [--json FILE]``
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

import gen_tree  # noqa: E402

from kmodbuild import cmd_check  # noqa: E402
from kmodbuild.manifest import ManifestSymbol, make_manifest, write_if_changed  # noqa: E402
from kmodbuild.target import NetBSDVersion, get_target  # noqa: E402

#: Kernel functions the generated C calls besides the pool.
EXTRA_KERNEL = ("printf", "memcpy", "memset")


def make_bench_manifest(tree: Path, out: Path, minimum: int = 10000) -> int:
    """Write the manifest for ``tree`` to ``out``; return its symbol count."""
    syms = []
    with open(tree / "kernel-symbols.tsv") as f:
        for line in f:
            name, kind, size = line.rstrip("\n").split("\t")
            syms.append(ManifestSymbol(name, kind, int(size)))
    syms += [ManifestSymbol(n, "func", 64) for n in EXTRA_KERNEL]
    i = 0
    while len(syms) < minimum:
        syms.append(ManifestSymbol(f"pad_symbol_{i:05d}", "func", 32))
        i += 1
    m = make_manifest(get_target("amd64"), NetBSDVersion.parse("10.0"), syms)
    write_if_changed(out, m.render())
    return len(m)


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run_check_inprocess(tree: Path, manifest: Path, cache: Path | None = None) -> int:
    args = argparse.Namespace(paths=[str(tree / "modules")], arch=None, version=None,
                              manifest=str(manifest), format="text")
    request = cmd_check.make_request(args, lazy=cache is not None)
    diags, count = cmd_check.check(request, str(cache) if cache else None)
    if any(d.is_error for d in diags):
        raise SystemExit("the generated tree should check clean:\n"
                         + "\n".join(d.render() for d in diags[:10]))
    return count


def run_check_cli(tree: Path, manifest: Path, cache: Path | None = None) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYTHONPYCACHEPREFIX=str(HERE / "out" / "pycache"))
    # Byte-code caching as on a normal installation (some CI shells disable it).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    extra = ["--cache", str(cache)] if cache else []
    res = subprocess.run([sys.executable, "-m", "kmodbuild", "check", *extra, "--manifest",
                          str(manifest), str(tree / "modules")], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if res.returncode != 0:
        raise SystemExit(f"kmodbuild check failed: {res.stderr.decode()[-2000:]}")


def run_readelf_batched(readelf: str, files: list[str]) -> None:
    chunk = 2000        # well below ARG_MAX for these path lengths
    for i in range(0, len(files), chunk):
        subprocess.run([readelf, "-sW", *files[i:i + chunk]], stdout=subprocess.DEVNULL,
                       check=True)


def run_readelf_per_file(readelf: str, files: list[str]) -> None:
    for f in files:
        subprocess.run([readelf, "-sW", f], stdout=subprocess.DEVNULL, check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--count", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=str(HERE / "out"))
    ap.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = ap.parse_args()
    readelf = shutil.which("readelf")
    if readelf is None:
        print("bench_check: GNU readelf not found (apt-get install binutils)", file=sys.stderr)
        return 2
    out = Path(args.out)
    tree = out / ("tree" if args.count == 1000 else f"tree-{args.count}")
    t0 = time.perf_counter()
    kmods = gen_tree.generate(tree, args.count)
    gen_s = time.perf_counter() - t0
    manifest = out / "netbsd.syms"
    nsyms = make_bench_manifest(tree, manifest)
    files = [str(k) for k in kmods]
    for f in files[:50]:            # warm the page cache for everyone alike
        Path(f).read_bytes()
    n = run_check_inprocess(tree, manifest)
    cache = out / "check.cache"
    cache.unlink(missing_ok=True)
    t0 = time.perf_counter()
    run_check_inprocess(tree, manifest, cache)      # cold run that fills the cache
    cold_fill = time.perf_counter() - t0
    results = {
        "check (in-process)": best_of(args.repeat, lambda: run_check_inprocess(tree, manifest)),
        "check (CLI)": best_of(args.repeat, lambda: run_check_cli(tree, manifest)),
        "check --cache, warm (in-process)": best_of(
            args.repeat, lambda: run_check_inprocess(tree, manifest, cache)),
        "check --cache, warm (CLI)": best_of(
            args.repeat, lambda: run_check_cli(tree, manifest, cache)),
        "readelf -sW (batched)": best_of(args.repeat,
                                         lambda: run_readelf_batched(readelf, files)),
        "readelf -sW (per file)": best_of(max(1, args.repeat // 2),
                                          lambda: run_readelf_per_file(readelf, files)),
    }
    print(f"{n} modules (generated/reused in {gen_s:.1f} s), manifest of {nsyms} symbols, "
          f"best of {args.repeat}; filling the --cache took {cold_fill * 1000:.0f} ms")
    for name, secs in results.items():
        print(f"  {name:<34} {secs * 1000:9.1f} ms total  {secs * 1000 / n:7.3f} ms/module")
    ratios = {}
    for check_name in [k for k in results if k.startswith("check")]:
        for re_name in ("readelf -sW (batched)", "readelf -sW (per file)"):
            ratio = results[check_name] / results[re_name]
            ratios[f"{check_name} / {re_name}"] = ratio
            print(f"  ratio {check_name} / {re_name}: {ratio:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "modules": n, "manifest_symbols": nsyms, "repeat": args.repeat,
            "ms_per_module": {k: v * 1000 / n for k, v in results.items()},
            "ratios": ratios}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
