"""Scenario files under tests/sim/scenarios: one per kernel rule, run on real compiled modules.

Each ``*.scn`` states commands, their exact output (``>`` lines) and the
loaded set (``expect loaded``).  A first line ``#! version=10.99.10`` selects
another test tree.  ``KMODBUILD_UPDATE_GOLDEN=1 pytest tests/sim`` rewrites the
``>`` lines from the actual output (review the diff like code).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from kmodbuild.scenario import Session, parse_scenario, run_scenario

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.scn"))


def _options(text: str) -> dict[str, str]:
    first = text.splitlines()[0] if text else ""
    if not first.startswith("#!"):
        return {}
    return dict(w.split("=", 1) for w in first[2:].split() if "=" in w)


def _rewrite(path: Path, text: str, session: Session) -> None:
    """Regenerate the ``>`` lines of ``path`` from what the commands print."""
    out: list[str] = []
    for line in text.splitlines():
        if line.startswith(">"):
            continue
        out.append(line)
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and not stripped.startswith("expect "):
            res = session.execute(stripped)
            out.extend(f"> {o}" if o else ">" for o in res.output)
    path.write_text("\n".join(out) + "\n")


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path: Path, sim_trees) -> None:
    text = path.read_text()
    opts = _options(text)
    tree = sim_trees(opts.get("version", "10.0"), opts.get("target", "amd64"))
    if os.environ.get("KMODBUILD_UPDATE_GOLDEN"):
        _rewrite(path, text, tree.session())
        text = path.read_text()
    scenario = parse_scenario(text, str(path))
    assert scenario.is_test, f"{path} states no expectation"
    result = run_scenario(scenario, tree.session())
    assert result.ok, "\n".join(result.problems)



@pytest.mark.parametrize("line", ["tick \u00b2", "uid \u00b2", "expect error \u00b2"])
def test_a_number_that_is_not_ascii_is_one_line_not_a_traceback(built_tree, tmp_path, line,
                                                                capsys) -> None:
    """`tick ²`: str.isdigit() took it and int() refused it, with a traceback."""
    from kmodbuild import cli
    script = tmp_path / "t.scn"
    script.write_text(line + "\n")
    code = cli.main(["sim", "--root", str(built_tree.root / "stand"), "--version",
                     built_tree.version, "--no-emulate", "--script", str(script)])
    err = capsys.readouterr().err
    assert code in (1, 2) and "Traceback" not in err and "internal error" not in err
    assert f"{script}:1" in err
