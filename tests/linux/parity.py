"""Compare kmodbuild's Linux check with a depmod run (shared by the parity tests)."""
from __future__ import annotations

import os
from pathlib import Path

from kmodbuild.linux.check import RULE_UNKNOWN, RULE_VERSION, LinuxCheckResult, check_linux
from tests.linux.debian_tree import DepmodRun, run_depmod


def ours(moddir: Path, symvers: Path | None, **kw: object) -> tuple[LinuxCheckResult, set[
        tuple[str, str]], set[tuple[str, str]]]:
    """check_linux on ``moddir``; unknown and disagreement sets as (relpath, symbol)."""
    res = check_linux([str(moddir)], str(symvers) if symvers else None,
                      **kw)  # type: ignore[arg-type]

    def rel(path: str) -> str:
        return os.path.relpath(path, moddir)

    unknown = {(rel(d.path), d.symbol or "") for d in res.diagnostics if d.rule == RULE_UNKNOWN}
    disagree = {(rel(d.path), d.symbol or "") for d in res.diagnostics if d.rule == RULE_VERSION}
    return res, unknown, disagree


def assert_parity(depmod: str, basedir: Path, version: str, symvers: Path | None,
                  any_line_order: bool = False,
                  **kw: object) -> tuple[LinuxCheckResult, DepmodRun]:
    """Run both; every module's dependency line, the unknown-symbol set and the
    disagreement set must be equal.  With ``any_line_order`` the lines may come in
    another order (depmod puts the modules modules.order does not list in its hash
    table's order); each line, dependencies in order, must still be equal."""
    moddir = basedir / "lib" / "modules" / version
    ref = run_depmod(depmod, basedir, version, symvers)
    res, unknown, disagree = ours(moddir, symvers, **kw)
    if any_line_order and sorted(res.dep_lines) != sorted(ref.dep_lines):
        a, b = set(res.dep_lines), set(ref.dep_lines)
        raise AssertionError(f"modules.dep lines differ: ours only {sorted(a - b)[:3]}, "
                             f"depmod only {sorted(b - a)[:3]}")
    if not any_line_order and res.dep_lines != ref.dep_lines:
        diff = [(a, b) for a, b in zip(res.dep_lines, ref.dep_lines) if a != b][:5]
        raise AssertionError(f"modules.dep differs ({len(res.dep_lines)} vs "
                             f"{len(ref.dep_lines)} lines), first differences "
                             f"(ours, depmod): {diff}")
    assert unknown == ref.unknown, (sorted(unknown - ref.unknown)[:10],
                                    sorted(ref.unknown - unknown)[:10])
    assert disagree == ref.disagree, (sorted(disagree - ref.disagree)[:10],
                                      sorted(ref.disagree - disagree)[:10])
    return res, ref
