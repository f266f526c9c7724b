"""``kmodbuild build``: scons in a tree, with scons's options passed through in order."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _build(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "kmodbuild", "build", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600,
                          check=False)


def test_a_directory_that_is_not_a_tree_is_one_line(tmp_path: Path) -> None:
    res = _build("-C", str(tmp_path / "missing"), cwd=tmp_path)
    assert (res.returncode, res.stdout) == (2, "")
    assert res.stderr == f"kmodbuild build: -C {tmp_path / 'missing'}: no such directory\n"
    res = _build("-C", str(tmp_path), "-j2", cwd=tmp_path)
    assert (res.returncode, res.stdout) == (2, "")
    assert res.stderr == (f"kmodbuild build: {tmp_path / 'SConstruct'}: no such file: "
                          "not a module tree (pass -C TREE)\n")


def test_scons_options_before_and_after_variables_reach_scons(tmp_path: Path) -> None:
    # a tree whose SConstruct prints what scons was given: -n and -Q are scons options
    # kmodbuild build does not know, -C is its own
    (tmp_path / "SConstruct").write_text(
        "print('options', GetOption('no_exec'), GetOption('num_jobs'), ARGUMENTS)\n")
    res = _build("-C", str(tmp_path), "-n", "-Q", "-j", "3", "ARCH=i386", "-k", cwd=REPO)
    assert res.returncode == 0, res.stderr
    assert "options True 3 {'ARCH': 'i386'}" in res.stdout
    assert "Reading SConscript" not in res.stdout          # -Q got there too
    res = _build("--", "-h", cwd=tmp_path)                   # scons's help, not kmodbuild's
    assert res.returncode == 0 and "usage: scons" in res.stdout, res.stderr


def test_a_signal_to_kmodbuild_build_stops_the_build(tmp_path: Path) -> None:
    """``timeout 60 kmodbuild build`` sends SIGTERM to kmodbuild: its scons child went on
    building and installing in the background.  scons now replaces kmodbuild (one
    process), so the signal stops the build itself."""
    import signal
    import time

    from tests.conftest import copy_tree, start_until
    tree = copy_tree(tmp_path / "t")
    mark, wrapper = tmp_path / "compiling", tmp_path / "slowcc"
    wrapper.write_text(f'#!/bin/sh\ntouch "{mark}"\nsleep 1\nexec "$@"\n')
    wrapper.chmod(0o755)
    proc = start_until([sys.executable, "-m", "kmodbuild", "build", "-C", str(tree),
                        "ARCH=amd64", f"CCWRAPPER={wrapper}", "-j2"], mark)
    try:
        os.kill(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=120)
        assert proc.returncode != 0
        time.sleep(2)                       # a child left behind would compile on
        left = [p for p in os.listdir("/proc") if p.isdigit()
                and str(tree).encode() in _cmdline(p)]
        assert not left, left
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def _cmdline(pid: str) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""
