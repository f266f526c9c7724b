"""The build imports the simulator and emulator in the background, but only when it
will simulate (scons_tool._prewarm_simulation)."""
from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import pytest

import kmodbuild.scons_tool as tool


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[threading.Thread]:
    """The threads the prewarm starts (started for real)."""
    threads: list[threading.Thread] = []
    real = threading.Thread.start

    def start(self: threading.Thread) -> None:
        threads.append(self)
        real(self)
    monkeypatch.setattr(threading.Thread, "start", start)
    return threads


def options(**set_: bool) -> Callable[[str], bool]:
    """A GetOption answering True for the options named."""
    return lambda name: set_.get(name, False)


@pytest.mark.parametrize("targets,opts", [
    (["install"], {}), (["check"], {}),
    ([], {"clean": True}), ([], {"help": True}), ([], {"no_exec": True}),
])
def test_no_prewarm_without_a_simulation(monkeypatch, started, targets, opts) -> None:
    monkeypatch.setattr(tool.SCons.Script, "COMMAND_LINE_TARGETS", targets)
    monkeypatch.setattr(tool.SCons.Script, "GetOption", options(**opts))
    tool._prewarm_simulation()
    assert not started


@pytest.mark.parametrize("targets", [[], ["simulate"], ["install", "simulate"]])
def test_prewarm_imports_the_simulation(monkeypatch, started, targets) -> None:
    monkeypatch.setattr(tool.SCons.Script, "COMMAND_LINE_TARGETS", targets)
    monkeypatch.setattr(tool.SCons.Script, "GetOption", options())
    tool._prewarm_simulation()
    # not before SCons's build phase puts its own signal handlers in place
    assert not started
    from types import SimpleNamespace

    from SCons.Taskmaster.Job import Jobs
    jobs = SimpleNamespace(job=SimpleNamespace())
    Jobs._setup_sig_handler(jobs)
    Jobs._reset_sig_handler(jobs)
    assert [t.name for t in started] == ["kmodbuild-prewarm"]
    started[0].join(60)
    assert not started[0].is_alive() and started[0].daemon
    assert "kmodbuild.simvalidate" in sys.modules
    from kmodbuild.emulate import available
    if available():
        from kmodbuild import kapi
        assert "kmodbuild.emulate.strategy" in sys.modules and kapi._loaded
