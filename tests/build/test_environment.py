"""A hostile environment (found by an audit of one): what the build cannot write is said
in one line with a non-zero exit status, never a traceback, and the next build is right.

As root, permissions do not bite; a directory where a file must go makes the same
``OSError`` a read-only tree or a full disk makes.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from kmodbuild import fastpath
from tests.conftest import REPO, copy_tree, scons


def _one_error(res: subprocess.CompletedProcess[str]) -> str:
    text = res.stdout + res.stderr
    assert "Traceback" not in text and "Exception ignored" not in text, text
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("scons: ***")]
    assert len(lines) == 1, res.stderr
    return lines[0]


def test_a_lock_that_cannot_be_taken_is_one_line(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "t")
    (tree / "build/.lock").mkdir(parents=True)
    res = scons(tree, "ARCH=amd64", check=False)
    assert res.returncode == 2
    line = _one_error(res)
    assert "build/.lock: cannot take the build lock: Is a directory" in line, line


def test_compile_commands_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "t")
    (tree / "compile_commands.json").mkdir()
    res = scons(tree, "ARCH=amd64", check=False)
    assert res.returncode == 2
    assert "compile_commands.json: cannot write: Is a directory" in _one_error(res)
    assert not list(tree.glob(".kmodbuild-*"))          # no temporary left beside it


FULL_DISK = """
import errno, sys
import SCons.dblite
def sync(self):
    raise OSError(errno.ENOSPC, "No space left on device", self._tmp_name)
SCons.dblite._Dblite.sync = sync
sys.argv = ["scons", *sys.argv[1:]]
import SCons.Script
SCons.Script.main()
"""


def test_a_signature_database_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    """A full disk when SCons writes its database at the end: SCons's traceback, then
    dblite's own at exit.  Now one line, exit status 2, no fast-path stamp (the next
    build is not taken for a no-op), and the next build is complete."""
    tree = copy_tree(tmp_path / "t")
    driver = tmp_path / "driver.py"
    driver.write_text(FULL_DISK)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, str(driver), "-C", str(tree), "ARCH=amd64"],
                         capture_output=True, text=True, env=env, timeout=900)
    assert res.returncode == 2, res.stdout[-2000:] + res.stderr[-2000:]
    line = _one_error(res)
    assert line.startswith("scons: *** cannot write the signature database ") and \
        line.endswith(": No space left on device"), line
    assert not (tree / "build/.fastpath.json").exists()
    again = scons(tree, "ARCH=amd64")
    assert "simulate: amd64 10.0:" in again.stdout, again.stdout
    assert (tree / "stand/amd64/10.0/METALOG").exists()
    assert "everything is up to date" in scons(tree, "ARCH=amd64").stdout


def test_the_stamp_is_written_through_a_temporary_of_its_own(tmp_path: Path) -> None:
    """Two no-op runs at once refreshed the stamp through one fixed temporary name: one
    renamed the other's file away (a traceback).  Each writer has its own now, and a
    stamp that cannot be written is left unwritten."""
    stamp = tmp_path / ".fastpath.json"
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(200):
                fastpath._write_json(stamp, {"writer": n, "i": i, "pad": "x" * 20000})
        except BaseException as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)
    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert stamp.read_text().startswith('{"writer": ')
    assert os.listdir(tmp_path) == [".fastpath.json"]
    fastpath._write_json(tmp_path / "no-such-dir" / ".fastpath.json", {})    # no exception
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / ".fastpath.json").mkdir()       # cannot be replaced
    fastpath._write_json(tmp_path / "dir" / ".fastpath.json", {})
    assert os.listdir(tmp_path / "dir") == [".fastpath.json"]


def test_an_explicit_j1_is_one_job() -> None:
    """``-j1`` was taken for SCons's default and became every core in a quick build (an
    edit of a few modules built without SCons's graph): a user who needs one job at a
    time (a memory-starved machine, a debugging session) could not have it.  Given or
    not is told by SCons's parsed options, not by the value."""
    from types import SimpleNamespace
    assert fastpath.build_jobs(lambda name: 1, SimpleNamespace(num_jobs=1)) == 1
    assert fastpath.build_jobs(lambda name: 1, SimpleNamespace()) == (os.cpu_count() or 1)
    assert fastpath.build_jobs(lambda name: 3, SimpleNamespace(num_jobs=3)) == 3
    sconstruct = (REPO / "SConstruct").read_text()
    assert "JOBS = fastpath.build_jobs(GetOption, SCons.Script.Main.OptionsParser.values)" \
        in sconstruct and sconstruct.count("JOBS") == 3       # the quick build, SCons
