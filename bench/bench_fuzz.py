#!/usr/bin/env python3
"""bench/bench_fuzz.py - the long fuzz run: mutated real modules and kernels, 10,000+ cases.

Builds the example tree for every target once (bench/out/fuzztree, reused),
then feeds seeded mutants of its .kmod files and kernels (see
tests/fuzz/fuzzlib.py for the mutations) to ``kmodbuild check``, ``kmodbuild
sim`` (modload of the file, boot-loading it, and ``--validate`` of a stand
tree holding it) and ``kmodbuild manifest``, in-process, each command under a
time limit and an address-space limit.  Prints cases tried, failures,
tracebacks, hangs and the slowest case; exits 1 when anything failed.

Usage:
  python bench/bench_fuzz.py                         10,000 cases, seed 1, 2 jobs
  python bench/bench_fuzz.py --cases 50000 --seed 7 --jobs 4
  python bench/bench_fuzz.py --case amd64/null/link-set#123456   one case, every output
"""
from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fuzz import fuzzlib  # noqa: E402
from tests.fuzz.fuzzlib import (KERNEL, MUTATIONS, Case, Workspace, build_tree,  # noqa: E402
                                generate_cases, run_case)

OUT = REPO / "bench" / "out"
_WS: Workspace | None = None
_OPTS: dict[str, object] = {}


def _init(tree: str, work: str, timeout: float, validate: bool) -> None:
    global _WS
    w = Path(work) / f"w{multiprocessing.current_process().pid}"
    shutil.rmtree(w, ignore_errors=True)
    w.mkdir(parents=True)
    _WS = Workspace(Path(tree), w)
    _OPTS.update(timeout=timeout, validate=validate)


def _run_chunk(idents: list[str]) -> list[tuple[str, list[str], bool, dict[str, float]]]:
    assert _WS is not None
    out = []
    for ident in idents:
        r = run_case(_WS, Case.parse(ident), float(_OPTS["timeout"]),  # type: ignore[arg-type]
                     bool(_OPTS["validate"]))
        out.append((ident, r.problems, r.refused, r.seconds))
    return out


def _kind(problem: str) -> str:
    if ": hang:" in problem:
        return "hang"
    if ": traceback:" in problem or "exception escaped" in problem:
        return "traceback"
    return "other"


def reproduce(ident: str, tree: Path, work: Path, timeout: float) -> int:
    """Run one case and print every command's output."""
    case = Case.parse(ident)
    w = work / "one"
    shutil.rmtree(w, ignore_errors=True)
    w.mkdir(parents=True)
    ws = Workspace(tree, w, [case.target])
    orig = fuzzlib.run_cli

    def show(argv: list[str], t: float, stdin: str = "") -> fuzzlib.Run:
        r = orig(argv, t, stdin)
        print(f"$ kmodbuild {' '.join(argv)}\n[exit {r.rc}, {r.seconds:.3f} s"
              f"{', TIMED OUT' if r.timed_out else ''}]")
        print(r.out.rstrip() or "(no output)")
        if r.err.strip():
            print("stderr:\n" + r.err.rstrip())
        return r

    fuzzlib.run_cli = show  # type: ignore[assignment]
    try:
        res = run_case(ws, case, timeout)
    finally:
        fuzzlib.run_cli = orig  # type: ignore[assignment]
    print("\n".join(res.problems) or f"{ident}: ok")
    return 1 if res.problems else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per command")
    ap.add_argument("--tree", type=Path, default=OUT / "fuzztree",
                    help="a tree built with scons ARCH=all VERSION=10.0 (made when missing)")
    ap.add_argument("--no-validate", action="store_true", help="skip sim --validate (faster)")
    ap.add_argument("--case", help="reproduce one case TARGET/MODULE/MUTATION#SEED verbosely")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    tree = build_tree(args.tree)
    work = OUT / "fuzzwork"
    if args.case:
        return reproduce(args.case, tree, work, args.timeout)

    cases = generate_cases(args.cases, args.seed)
    chunks = [[c.ident for c in cases[i:i + 50]] for i in range(0, len(cases), 50)]
    start = time.perf_counter()
    results: list[tuple[str, list[str], bool, dict[str, float]]] = []
    initargs = (str(tree), str(work), args.timeout, not args.no_validate)
    if args.jobs > 1:
        # concurrent.futures, not multiprocessing.Pool: a worker that dies (a crash in native
        # code, such as unicorn's) breaks the pool with an error instead of a silent hang
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(args.jobs, mp_context=ctx, initializer=_init,
                                 initargs=initargs) as pool:
            pending = {pool.submit(_run_chunk, chunk): chunk for chunk in chunks}
            try:
                for fut in as_completed(pending):
                    results.extend(fut.result())
                    print(f"\r  {len(results)}/{len(cases)} cases", end="", file=sys.stderr)
            except BrokenProcessPool:
                done = {ident for ident, _, _, _ in results}
                left = [i for chunk in chunks for i in chunk if i not in done]
                print(f"\nbench_fuzz: a worker process died (a crash in native code?) with "
                      f"{len(left)} cases unfinished; find the case with --jobs 1 or "
                      f"--case, e.g. --case {left[0]}", file=sys.stderr)
                return 1
    else:
        _init(*initargs)
        for chunk in chunks:
            results.extend(_run_chunk(chunk))
            print(f"\r  {len(results)}/{len(cases)} cases", end="", file=sys.stderr)
    print(file=sys.stderr)
    wall = time.perf_counter() - start

    problems = [p for _, ps, _, _ in results for p in ps]
    kinds = collections.Counter(_kind(p) for p in problems)
    failed = [ident for ident, ps, _, _ in results if ps]
    refused = sum(r for _, _, r, _ in results)
    per_cmd: dict[str, list[float]] = collections.defaultdict(list)
    slowest = (0.0, "", "")
    for ident, _, _, secs in results:
        for cmd, s in secs.items():
            per_cmd[cmd].append(s)
            if s > slowest[0]:
                slowest = (s, ident, cmd)
    by_mut: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for ident, _, r, _ in results:
        c = Case.parse(ident)
        key = "kernel:" + c.mutation if c.module == KERNEL else c.mutation
        by_mut[key][0] += 1
        by_mut[key][1] += r
    kernels = sum(1 for c in cases if c.module == KERNEL)

    print(f"bench_fuzz: seed {args.seed}, {args.jobs} jobs, {len(MUTATIONS)} mutations, "
          f"8 targets, limit {args.timeout:g} s per command, {wall:.1f} s")
    print(f"  cases tried:  {len(results)} ({len(results) - kernels} modules: check, sim "
          f"modload+boot{'' if args.no_validate else ', sim --validate'}, manifest; "
          f"{kernels} kernels: manifest)")
    print(f"  refused:      {refused} (the rest loaded or were reported clean)")
    print(f"  failures:     {len(failed)}")
    print(f"  tracebacks:   {kinds['traceback']}")
    print(f"  hangs:        {kinds['hang']}")
    print(f"  other:        {kinds['other']} (output not one line naming the file, bad exit)")
    print(f"  slowest case: {slowest[0]:.3f} s  {slowest[1]} ({slowest[2]})")
    print("  mean per command: " + ", ".join(
        f"{cmd} {1000 * sum(v) / len(v):.1f} ms" for cmd, v in sorted(per_cmd.items())))
    print("  refused per mutation: " + ", ".join(
        f"{k} {r}/{n}" for k, (n, r) in sorted(by_mut.items())))
    for p in problems[:40]:
        print("  " + p)
    if args.json:
        args.json.write_text(json.dumps({
            "seed": args.seed, "cases": len(results), "refused": refused,
            "failures": len(failed), "tracebacks": kinds["traceback"], "hangs": kinds["hang"],
            "other": kinds["other"], "slowest": {"seconds": slowest[0], "case": slowest[1],
                                                 "command": slowest[2]},
            "seconds": wall, "problems": problems}, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
