"""The compact progress lines ("[ 7/10] amd64 null.kmod") come out numbered in order.

SCons prints what an action's string function returns after it returns, in
the worker thread that runs the action: with ``-j`` two links could be
numbered 7 and 8 and printed 8 first.  scons_tool._link_str numbers and prints
under one lock and returns nothing for SCons to print.
"""
from __future__ import annotations

import io
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from kmodbuild import scons_tool
from tests.conftest import REPO, copy_tree, start_until


def _link(name: str) -> list[Any]:
    return [SimpleNamespace(name=f"{name}.kmod.full")]


@pytest.fixture
def progress(monkeypatch, capsys):
    monkeypatch.setitem(scons_tool._PROGRESS, "total", 40)
    monkeypatch.setitem(scons_tool._PROGRESS, "done", 0)
    return capsys


def test_lines_from_concurrent_links_come_out_in_numbering_order(progress):
    env = {"KMOD_OUTPUT": "compact", "KMOD_TARGET_NAME": "amd64"}
    rng = random.Random(1)
    delays = [rng.random() / 500 for _ in range(40)]

    def action(i: int) -> None:
        # what SCons does with the string: print it after the function returned
        line = scons_tool._link_str(_link(f"m{i:02d}"), [], env)
        time.sleep(delays[i])
        if line:
            sys.stdout.write(line + "\n")

    threads = [threading.Thread(target=action, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    numbers = [int(m.group(1)) for m in re.finditer(r"^\[ *(\d+)/40\] amd64 m\d\d\.kmod$",
                                                    progress.readouterr().out, re.MULTILINE)]
    assert numbers == list(range(1, 41))


def test_quiet_counts_without_printing(progress):
    quiet = {"KMOD_OUTPUT": "quiet", "KMOD_TARGET_NAME": "amd64"}
    assert scons_tool._link_str(_link("hello"), [], quiet) == ""
    assert progress.readouterr().out == "" and scons_tool._PROGRESS["done"] == 1


def test_a_printer_of_the_users_own_gets_the_line(progress):
    env = {"KMOD_OUTPUT": "compact", "KMOD_TARGET_NAME": "amd64",
           "PRINT_CMD_LINE_FUNC": lambda *a: None}
    assert scons_tool._link_str(_link("hello"), [], env) == "[ 1/40] amd64 hello.kmod"
    assert progress.readouterr().out == ""


class _SlowStdout(io.StringIO):
    """A terminal slow enough that another thread runs between two writes."""

    def write(self, s: str) -> int:
        time.sleep(0.0005)
        return super().write(s)


def test_lines_of_concurrent_actions_come_out_whole(monkeypatch):
    """Two targets' simulations ending at once (ARCH=all -j2) printed
    ``... 0 failuressimulate: evbarm-earmv7hf ...``: print() writes the line and its
    newline apart.  _say writes whole lines under the output lock."""
    out = _SlowStdout()
    monkeypatch.setattr(sys, "stdout", out)
    lines = [f"simulate: t{i} 10.0: 10 modules, 10 loaded, 10 unloaded, 0 failures"
             for i in range(20)]
    threads = [threading.Thread(target=scons_tool._say, args=([line, f"note {i}"],))
               for i, line in enumerate(lines)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = out.getvalue().splitlines()
    assert sorted(got) == sorted([*lines, *(f"note {i}" for i in range(20))])
    for i in range(20):                 # each action's lines together
        assert got[got.index(lines[i]) + 1] == f"note {i}"


@pytest.mark.parametrize("quiet", [["-s"], ["-Q"], []], ids=["silent", "Q", "default"])
def test_an_interrupted_build_says_so_once_even_when_quiet(tmp_path, quiet):
    """Ctrl-C (SIGINT to the process group, as a terminal or a CI timeout sends it):
    SCons silences its "Build interrupted." under -s and -Q, so a CI log showed nothing
    at all; now it is said once on standard error, exit status 2."""
    root = copy_tree(tmp_path / "t")
    mark = tmp_path / "compiling"
    wrapper = tmp_path / "slowcc"
    wrapper.write_text(f'#!/bin/sh\ntouch "{mark}"\nsleep 60\nexec "$@"\n')
    wrapper.chmod(0o755)
    proc = start_until([sys.executable, "-m", "SCons", "-C", str(root), *quiet,
                        "ARCH=amd64", f"CCWRAPPER={wrapper}"], mark)
    try:
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 2, (out, err)
    assert err.count("scons: Build interrupted.\n") == 1, err
    assert "Traceback" not in err


def test_a_build_interrupted_without_a_failed_command_records_no_stamp(tmp_path):
    """SIGINT or SIGTERM to the scons process alone (``timeout`` sends it so): the
    running commands finish, nothing fails, SCons stops with exit status 2 -- and the
    fast path's stamp was written as for a finished build, so the next ``scons`` said
    "everything is up to date" with nothing installed.  No stamp, no change to the
    quick builds' list, after an interrupted build: the next one builds the rest."""
    root = copy_tree(tmp_path / "t")
    mark, slow = tmp_path / "compiling", tmp_path / "slow"
    wrapper = tmp_path / "slowcc"
    wrapper.write_text(f'#!/bin/sh\nif [ -e "{slow}" ]; then touch "{mark}"; sleep 1; fi\n'
                       'exec "$@"\n')
    wrapper.chmod(0o755)
    slow.touch()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    argv = [sys.executable, "-m", "SCons", "-C", str(root), "ARCH=amd64",
            f"CCWRAPPER={wrapper}"]
    proc = start_until(argv, mark)
    try:
        os.kill(proc.pid, signal.SIGTERM)           # the process, not its group
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 2, (out, err)
    # (how much SCons still builds after the signal varies: the stamp is what matters)
    assert not (root / "build/.fastpath.json").exists(), out
    slow.unlink()
    res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "scons: everything is up to date" not in res.stdout, res.stdout     # no fast path
    assert (root / "stand/amd64/10.0/METALOG").exists(), res.stdout
    assert (root / "stand/amd64/10.0/modules/null/null.kmod").exists()


PREWARM_DRIVER = """
import signal, sys, threading
log = open(sys.argv.pop(1), "w")
start = threading.Thread.start
def logged(self):
    if self.name == "kmodbuild-prewarm":
        handler = signal.getsignal(signal.SIGINT)
        log.write("default\\n" if handler is signal.default_int_handler else "scons\\n")
        log.flush()
    return start(self)
threading.Thread.start = logged
sys.argv = ["scons", *sys.argv[1:]]
import SCons.Script
SCons.Script.main()
"""


def test_the_simulator_warms_up_under_sconss_signal_handlers(tmp_path):
    """The thread importing the simulator started while Python's own SIGINT handler
    was in place: a Ctrl-C then could land inside the main thread's import machinery
    with the global import lock taken, and the build hung for good.  It starts once
    SCons's handlers (which raise nothing) are in place."""
    root = copy_tree(tmp_path / "t")
    log, driver = tmp_path / "log", tmp_path / "driver.py"
    driver.write_text(PREWARM_DRIVER)
    env = dict(os.environ, PYTHONPATH=str(REPO), KMOD_FASTPATH="0")
    res = subprocess.run([sys.executable, str(driver), str(log), "-C", str(root),
                          "ARCH=amd64"], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert log.read_text() == "scons\n"
