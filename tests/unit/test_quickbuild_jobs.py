"""How a quick build runs its compiles and links, ``jobs`` at a time (kmodbuild.quickbuild).

The commands here are small shell scripts standing in for the compiler and the
linker; the builds of tests/build/test_quickbuild.py run the real ones."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from kmodbuild import quickbuild


def _plan(commands: dict[str, str], cwd: Path) -> quickbuild._Plan:
    plan = quickbuild._Plan()
    for obj, script in commands.items():
        plan.compiles[obj] = (["sh", "-c", script], dict(os.environ), str(cwd))
    return plan


def test_a_slot_is_refilled_while_an_earlier_compile_still_runs(tmp_path: Path) -> None:
    """a.o takes long; b.o ends at once, so c.o starts (and ends) while a.o still runs:
    waiting for the compiles in the order they started left that core idle."""
    plan = _plan({
        "a.o": "i=0; while [ ! -e c.done ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done;"
               " [ -e c.done ] && echo 'a: c was done first'",
        "b.o": "true",
        "c.o": "touch c.done",
    }, tmp_path)
    lines: list[str] = []
    quickbuild._Compiles(plan, jobs=2).finish(lines.append)
    assert lines == ["a: c was done first"]


def test_compiler_output_is_shown_in_the_objects_order_once_all_succeed(tmp_path: Path) -> None:
    plan = _plan({"z.o": "echo z warning >&2", "m.o": "sleep 0.2; echo m warning",
                  "a.o": "printf 'a1\\na2\\n'"}, tmp_path)
    lines: list[str] = []
    quickbuild._Compiles(plan, jobs=3).finish(lines.append)
    assert lines == ["a1", "a2", "m warning", "z warning"]


def test_a_failed_compile_shows_nothing_and_hands_over(tmp_path: Path) -> None:
    """SCons compiles again and reports the error (and the warnings) in its words."""
    plan = _plan({"a.o": "echo a warning", "b.o": "echo b error >&2; exit 1",
                  "c.o": "true", "d.o": "touch d.started"}, tmp_path)
    lines: list[str] = []
    compiles = quickbuild._Compiles(plan, jobs=1)
    with pytest.raises(quickbuild._NotQuick, match="compile failed: b.o"):
        compiles.finish(lines.append)
    assert lines == []
    assert not (tmp_path / "d.started").exists()        # nothing started after the failure
    assert compiles.running == {}


@pytest.mark.parametrize("jobs", [1, 2])
def test_links_run_ahead_of_the_splits_and_a_failed_link_hands_over(tmp_path: Path,
                                                                     jobs: int) -> None:
    env, top = dict(os.environ), str(tmp_path)
    work = [({"env": env, "top": top}, {"name": n, "link": ["sh", "-c", script]})
            for n, script in [("one", "touch one.linked"), ("two", "touch two.linked"),
                              ("three", "echo undefined symbol >&2; exit 1"),
                              ("four", "touch four.linked")]]
    links = quickbuild._Links(work, jobs=jobs)
    try:
        links.wait(0)
        assert (tmp_path / "one.linked").exists()
        links.wait(1)
        with pytest.raises(quickbuild._NotQuick, match="link of three"):
            links.wait(2)
    finally:
        links.stop()
    assert links.running == {}
    if jobs == 1:                           # nothing started after the failed link
        assert not (tmp_path / "four.linked").exists()
