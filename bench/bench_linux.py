#!/usr/bin/env python3
"""Linux check benchmark: kmodbuild against depmod on Debian's ~4,000-module amd64 tree.

In one run, alternating so that a busy machine slows all of them alike:

* ``kmodbuild cold``: ``python -m kmodbuild check --flavor linux`` with an
  empty result cache (every module read, on all cores);
* ``kmodbuild warm``: the same command again, the cache filled by the cold run;
* the same two through ``python -m kmodbuild.linux`` (the same check without
  importing every other kmodbuild command at start-up);
* ``depmod``: ``depmod -b ROOT -n -e -E Module.symvers VERSION`` (kmod).

It prints medians, ratios against depmod and the peak resident memory of each
(the largest process of the run: for kmodbuild cold that is the main process
or one of its readers).  The tree is downloaded once into the test cache
(tests/linux/debian_tree.py).

The package's bytecode is compiled first (as an installed package's is), so
that no run pays for compiling a module even where PYTHONDONTWRITEBYTECODE is
set.  The load average is printed at the start and the end: on a shared
2-CPU machine, another job's load slows the two-process kmodbuild more than
the one-process depmod, and the CPU columns are the steadier comparison.

Every kmodbuild command runs twice over: with the interpreter running this
script (``PYTHONPATH`` pointing at the checkout, as after the README's
``pip install -e .``), and -- the ``venv`` rows -- from a clean virtual
environment that holds a copy of the ``kmodbuild`` package, as ``pip install
kmodbuild`` leaves it.  The difference is start-up: the first interpreter also
runs whatever ``.pth`` hooks its site-packages hold (on the machine these
numbers were first taken on, an editable-install finder and a sandbox's
certificate hook, ~25 ms of a warm check's ~60 ms); ``--no-venv`` leaves the
venv rows out.

With ``--baseline DIR`` (a directory holding another version's ``kmodbuild``
package, e.g. ``git archive HEAD kmodbuild | tar -x -C DIR``) that version
runs too, in the same rounds, so that both see the same load.  Every command
runs from ``/``: ``python -m`` puts the current directory first on the path.

Usage: python3 bench/bench_linux.py [--repeat 7] [--jobs 0] [--baseline DIR] [--no-venv]
                                     [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.benchvenv import make_venv  # noqa: E402
from bench.hoststeal import StealMeter  # noqa: E402
from tests.linux.debian_tree import Unavailable, depmod_path, fetch_debian_kernel  # noqa: E402


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int, int, float]:
    """Run ``argv``; returns (wall seconds, exit status, peak RSS in KiB of its largest
    process, CPU seconds of it and the children it reaped)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            cwd="/")
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stderr is not None:
        proc.stderr.close()
    return wall, proc.returncode, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7, help="rounds (default 7)")
    ap.add_argument("--jobs", type=int, default=0, help="kmodbuild --jobs (0: all CPUs)")
    ap.add_argument("--baseline", metavar="DIR",
                    help="also run the kmodbuild package found in DIR (another version)")
    ap.add_argument("--no-venv", action="store_true",
                    help="leave out the runs from a clean virtual environment")
    ap.add_argument("--json", metavar="FILE", help="also write the raw numbers here")
    opts = ap.parse_args()

    try:
        kernel = fetch_debian_kernel()
        depmod = depmod_path()
    except Unavailable as e:
        raise SystemExit(f"bench_linux: cannot run: {e}") from None
    nmod = sum(1 for _ in kernel.moddir.rglob("*.ko*"))
    import compileall
    versions = {"kmodbuild": REPO}
    if opts.baseline:
        base = Path(opts.baseline).resolve()
        if not (base / "kmodbuild" / "linux").is_dir():
            raise SystemExit(f"bench_linux: {base} holds no kmodbuild/linux package")
        versions = {"baseline": base, **versions}
    for root in versions.values():
        compileall.compile_dir(str(root / "kmodbuild"), quiet=1)
    load_start = os.getloadavg()[0]
    steal = StealMeter()
    common = ["--symvers", str(kernel.symvers), "--jobs", str(opts.jobs)]
    entries = {}
    for label, root in versions.items():
        env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH",
                                                                                    "")}
        entries[f"{label} cli"] = ([sys.executable, "-m", "kmodbuild", "check", "--flavor",
                                    "linux", *common], env)
        entries[f"{label} lean"] = ([sys.executable, "-m", "kmodbuild.linux", *common], env)
    times: dict[str, list[float]] = {}
    peaks: dict[str, list[int]] = {}
    cpus: dict[str, list[float]] = {}

    def record(name: str, result: tuple[float, int, int, float], ok: tuple[int, ...]) -> None:
        wall, status, rss, cpu = result
        if status not in ok:
            raise SystemExit(f"{name}: exit status {status}")
        times.setdefault(name, []).append(wall)
        peaks.setdefault(name, []).append(rss)
        cpus.setdefault(name, []).append(cpu)

    with tempfile.TemporaryDirectory() as tmp:
        if not opts.no_venv:
            python = make_venv(Path(tmp) / "venv", [REPO / "kmodbuild"])
            clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            entries["venv cli"] = ([str(python), "-m", "kmodbuild", "check", "--flavor",
                                    "linux", *common], clean)
            entries["venv lean"] = ([str(python), "-m", "kmodbuild.linux", *common], clean)
        for i in range(opts.repeat):
            for entry, (argv, env) in entries.items():
                cache = Path(tmp) / f"{entry.replace(' ', '-')}.cache"
                cache.unlink(missing_ok=True)
                full = [*argv, "--cache", str(cache), str(kernel.moddir)]
                record(f"{entry} cold", run(full, env), (0,))
                record(f"{entry} warm", run(full, env), (0,))
            record("depmod", run([depmod, "-b", str(kernel.basedir), "-n", "-e", "-E",
                                  str(kernel.symvers), kernel.version]), (0,))
            print(f"round {i + 1}/{opts.repeat}: " + ", ".join(
                f"{k} {v[-1]:.3f}s" for k, v in times.items()), file=sys.stderr)

    ref = statistics.median(times["depmod"])
    ref_cpu = statistics.median(cpus["depmod"])
    load = os.getloadavg()[0]
    print(f"Debian {kernel.version}: {nmod} modules, {os.cpu_count()} CPUs, "
          f"{opts.repeat} rounds, medians; load average {load_start:.1f} at the start, "
          f"{load:.1f} at the end; {steal.describe()}")
    print(f"{'':24} {'wall s':>8} {'vs depmod':>10} {'depmod/x':>9} {'CPU s':>7} "
          f"{'CPU vs depmod':>14} {'peak RSS MiB':>13}")
    for name, values in times.items():
        med = statistics.median(values)
        cpu = statistics.median(cpus[name])
        print(f"{name:24} {med:8.3f} {med / ref:9.2f}x {ref / med:8.1f}x {cpu:7.3f} "
              f"{cpu / ref_cpu:13.2f}x {max(peaks[name]) / 1024:13.1f}")
    if opts.json:
        Path(opts.json).write_text(json.dumps({"version": kernel.version, "modules": nmod,
                                               "load_average": [load_start, load],
                                               "steal_percent": steal.percent(),
                                               "times": times,
                                               "cpu": cpus, "peak_rss_kib": peaks}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
