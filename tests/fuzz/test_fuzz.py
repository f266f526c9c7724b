"""Bad input everywhere: mutated real .kmod files and kernels fed to check, sim and manifest.

A few hundred seeded cases (all 8 targets, every mutation of
:data:`tests.fuzz.fuzzlib.MUTATIONS`) run in-process through
``kmodbuild.cli.main``; each must give no traceback, no hang (a time limit
per command), exit 0 or 1, and one line per problem naming the file.  The
long run is ``python bench/bench_fuzz.py`` (10,000 cases and more).

``KMOD_FUZZ_SEED`` and ``KMOD_FUZZ_CASES`` change the seed and the number of
cases; a failing case is reproduced alone with
``python bench/bench_fuzz.py --case TARGET/MODULE/MUTATION#SEED``.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kmodbuild.target import TARGETS
from tests.fuzz.fuzzlib import (KERNEL, MODULES, MUTATIONS, Case, Workspace, generate_cases,
                                layout_of, run_case)

REPO = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("KMOD_FUZZ_SEED", "8"))
COUNT = int(os.environ.get("KMOD_FUZZ_CASES", "320"))
CASES = generate_cases(COUNT, SEED)
#: Per-command time limit: generous for a loaded CI machine; a case takes ~40 ms.
TIMEOUT = 20.0


def test_cases_cover_every_target_and_mutation() -> None:
    assert len(CASES) >= 300
    assert {c.target for c in CASES} == {t.name for t in TARGETS}
    assert {c.mutation for c in CASES if c.module != KERNEL} == set(MUTATIONS)
    assert any(c.module == KERNEL for c in CASES)


def test_cases_are_reproducible(workspace: Workspace) -> None:
    for c in CASES[:40]:
        tf = workspace.targets[c.target]
        a = c.mutate(tf.pristine[c.module], tf.layouts[c.module])
        assert a == c.mutate(tf.pristine[c.module], tf.layouts[c.module])
        assert Case.parse(c.ident) == c


def test_every_mutation_changes_real_files(workspace: Workspace) -> None:
    tf = workspace.targets["amd64"]
    for name in MUTATIONS:
        changed = sum(Case("amd64", m, name, s).mutate(tf.pristine[m], tf.layouts[m])
                      != tf.pristine[m] for m in MODULES for s in range(3))
        assert changed >= len(MODULES) * 2, name


def test_pristine_files_pass(workspace: Workspace) -> None:
    """The oracle itself: unmutated files are clean everywhere (a flip of 0 bytes)."""
    from tests.fuzz.fuzzlib import judge_check, judge_modload, run_cli
    tf = workspace.targets["evbmips-mips64eb"]
    path = tf.path_of("null")
    r = run_cli(["check", "--arch", tf.target.name, "--version", "10.0", "--manifest",
                 str(tf.manifest), str(path)], TIMEOUT)
    assert r.rc == 0 and not judge_check(r, path), (r.out, r.err)
    r = run_cli(["sim", "--root", str(tf.destdir), "--arch", tf.target.name, "--version",
                 "10.0", "--manifest", str(tf.manifest), "--script", str(tf.scripts["null"])],
                TIMEOUT)
    assert r.rc == 0 and "modload: " not in r.out and not judge_modload(r, path), r.out


@pytest.mark.parametrize("target", [t.name for t in TARGETS])
def test_fuzz(workspace: Workspace, target: str) -> None:
    cases = [c for c in CASES if c.target == target]
    results = [run_case(workspace, c, TIMEOUT) for c in cases]
    problems = [p for r in results for p in r.problems]
    assert not problems, f"{len(problems)} problems in {len(cases)} cases:\n" + "\n".join(
        problems[:25])
    # the mutations must bite: most cases are refused by something, none take long
    refused = sum(r.refused for r in results)
    assert refused >= len(cases) // 3, f"only {refused} of {len(cases)} cases refused"
    slowest = max(results, key=lambda r: r.slowest)
    assert slowest.slowest < TIMEOUT, slowest.case.ident


# --------------------------------------------------------------------------- real processes

def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "kmodbuild", *args], capture_output=True,
                          text=True, env=env, timeout=120, cwd=cwd)


@pytest.mark.parametrize("ident", ["amd64/null/truncate#7", "evbmips-mips64eb/ffs/strtab#5",
                                   "i386/hello/outside#3",
                                   # a conditional branch at the modcmd's entry, before any
                                   # compare: unicorn's SPARC64 died with SIGSEGV
                                   "sparc64/hello/reloc-index#2167271014",
                                   # a modcmd that starts on zero bytes: unicorn's MIPS64
                                   # died with SIGSEGV on the long slide of no-ops
                                   "evbmips-mips64eb/exec_demo/section-type#832750439",
                                   "evbmips-mips64eb/null/link-set#1127636148"])
def test_real_subprocess(workspace: Workspace, ident: str) -> None:
    """The same cases through ``python -m kmodbuild`` in a real process."""
    case = Case.parse(ident)
    tf, path, _ = workspace.place(case)
    try:
        t = tf.target.name
        res = _cli("check", "--arch", t, "--version", "10.0", "--manifest", str(tf.manifest),
                   str(path))
        assert res.returncode in (0, 1) and "Traceback" not in res.stderr, res.stderr
        assert all(ln.startswith(f"{path}: ") for ln in res.stdout.splitlines()), res.stdout
        res = _cli("sim", "--root", str(tf.destdir), "--arch", t, "--version", "10.0",
                   "--manifest", str(tf.manifest), "--script", str(tf.scripts[case.module]))
        assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
        fails = [ln for ln in res.stdout.splitlines() if ln.startswith("modload: ")]
        assert len(fails) <= 1 and all(f.startswith(f"modload: {path}: ") for f in fails)
        res = _cli("manifest", str(path), "-o", "-")
        assert res.returncode == 2 and "Traceback" not in res.stderr
        assert len(res.stderr.splitlines()) == 1
        assert res.stderr.startswith(f"kmodbuild manifest: {path}: ")
    finally:
        workspace.restore(case)


def test_real_subprocess_validates_after_a_wild_jump(workspace: Workspace) -> None:
    """A flipped byte sends ffs's INIT through a computed jump to 0x6530, which no memory
    backs: unicorn 2.1.4's MIPS64 reports it, then died with SIGSEGV in the next module's
    run (the whole tree is loaded by ``sim --validate``; ArchSpec.renew_after_error)."""
    case = Case.parse("evbmips-mips64eb/ffs/flip#1510898876")
    tf, path, _ = workspace.place(case)
    try:
        res = _cli("sim", "--root", str(tf.destdir), "--arch", tf.target.name, "--version",
                   "10.0", "--manifest", str(tf.manifest), "--validate")
        assert res.returncode in (0, 1) and "Traceback" not in res.stderr, (res.returncode,
                                                                            res.stderr)
        assert re.search(r"panic: ffs: modcmd\(INIT\): jump to unmapped address 0x[0-9a-f]+",
                         res.stdout), res.stdout
        assert re.search(r": 10 modules, 9 loaded, 9 unloaded, \d+ failures", res.stdout)
    finally:
        workspace.restore(case)


def test_real_subprocess_truncated_kernel(workspace: Workspace) -> None:
    tf = workspace.targets["sparc64"]
    kernel = tf.kernel_work.with_name("netbsd.cut")
    kernel.write_bytes(tf.pristine[KERNEL][:300])
    res = _cli("manifest", str(kernel), "--arch", "sparc64", "--version", "10.0", "-o", "-")
    assert res.returncode == 2, res.stdout
    assert res.stderr.splitlines() == [res.stderr.strip()]
    assert res.stderr.startswith(f"kmodbuild manifest: {kernel}: ")
    assert "Traceback" not in res.stderr


def test_layouts_parse_every_pristine_file(workspace: Workspace) -> None:
    for tf in workspace.targets.values():
        for name, data in tf.pristine.items():
            lay = layout_of(data)
            assert lay.symtab is not None, (tf.target.name, name)
            if name != KERNEL:
                assert lay.lsm is not None and lay.relocs, (tf.target.name, name)


def test_the_link_proof_never_passes_what_the_link_refuses(workspace: Workspace) -> None:
    """kobj.link_is_clean spares the check a scratch link of an ordinary amd64 module; it
    must never say "clean" where the link (kobj.dry_link) finds a problem -- judged on
    every amd64 mutant of the suite's cases -- and must prove the real modules clean (or
    the check would silently link them all again)."""
    from kmodbuild.elf import read_module
    from kmodbuild.errors import ModuleFormatError
    from kmodbuild.kobj import dry_link, link_is_clean
    from kmodbuild.target import get_target
    amd64 = get_target("amd64")
    tf = workspace.targets["amd64"]
    for name in MODULES:
        assert link_is_clean(read_module(str(tf.path_of(name))), amd64), name
    proved = 0
    for case in generate_cases(1200, SEED + 1, ["amd64"]):
        if case.module == KERNEL:
            continue
        _, path, _ = workspace.place(case)
        try:
            mod = read_module(str(path))
        except ModuleFormatError:
            continue
        finally:
            workspace.restore(case)
        if link_is_clean(mod, amd64):
            proved += 1
            mi = mod.modinfo
            got = dry_link(mod, amd64, "m", None if mi is None else (mi.version, mi.module_class))
            assert got is None, (case.ident, got)
    assert proved > 300
