"""The signature database is written only where something changed (scons_tool._store_only_changes).

SCons stores every node it visits and rewrites each directory that holds one:
after a one-source edit, every module's directory.  The build skips a store
that would leave the entry as it is; these tests prove both halves: untouched
directories are not rewritten, and what is recorded still matches the files.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, copy_tree, scons

# Runs SCons like ``python -m SCons`` (same argv, so the same fast-path stamp) and lists
# the directories whose .sconsign entries it rewrote.
DRIVER = """
import sys
import SCons.SConsign
log = open(sys.argv.pop(1), "w")
write = SCons.SConsign.DB.write
def logged(self, sync=1):
    if self.dirty:
        log.write(self.dir.get_internal_path() + "\\n")
        log.flush()
    return write(self, sync)
SCons.SConsign.DB.write = logged
sys.argv = ["scons", *sys.argv[1:]]
import SCons.Script
SCons.Script.main()
"""


#: partial builds through SCons's graph (kmodbuild.quickbuild would leave the database alone)
GRAPH = {"KMOD_QUICKBUILD": "0"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    t = copy_tree(tmp_path_factory.mktemp("sconsign"))
    scons(t, "ARCH=amd64", env=GRAPH)
    scons(t, "ARCH=amd64", env=GRAPH)     # the same command line as rewritten() below
    return t


def rewritten(tree: Path, tmp: Path, extra: dict[str, str] | None = None) -> set[str]:
    """Build like ``scons ARCH=amd64``; the directories whose entries were rewritten."""
    log = tmp / "written.txt"
    driver = tmp / "driver.py"
    driver.write_text(DRIVER)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               **GRAPH, **(extra or {}))
    res = subprocess.run([sys.executable, str(driver), str(log), "-C", str(tree), "ARCH=amd64"],
                         capture_output=True, text=True, env=env, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return set(log.read_text().split())


def entries(tree: Path, directory: str) -> dict:
    import SCons.dblite
    import SCons.Node.FS  # noqa: F401  (the classes the entries unpickle into)
    db = SCons.dblite.open(str(tree / ".sconsign"), "r")
    return pickle.loads(db[directory])


def test_an_edit_rewrites_only_the_directories_it_changed(tree: Path, tmp_path: Path) -> None:
    hello = tree / "sys/modules/hello/hello.c"
    original = hello.read_text()
    try:
        hello.write_text(original.replace("Goodbye", "So long"))
        dirs = rewritten(tree, tmp_path)
    finally:
        hello.write_text(original)
    assert "build/amd64-x86_64/10.0/modules/hello" in dirs        # rebuilt there
    assert "stand/amd64/10.0/modules/hello" in dirs                # reinstalled
    others = {d for d in dirs if d.rsplit("/", 1)[-1] in
              {p.name for p in (tree / "sys/modules").iterdir()} - {"hello"}}
    assert not others, sorted(dirs)           # SCons alone rewrote every module's directory
    assert len(dirs) <= 6, sorted(dirs)


def test_a_touched_header_records_its_new_timestamp(tree: Path, tmp_path: Path) -> None:
    """Nothing is rebuilt, but the header's and its users' entries take the new
    timestamp, so the next build need not read the header again (when SCons walks the
    graph: the fast path alone finds a touched header unchanged)."""
    header = tree / "sys/sys/systm.h"
    os.utime(header)
    dirs = rewritten(tree, tmp_path, {"KMOD_FASTPATH": "0"})
    assert "sys/sys" in dirs
    stamp = header.stat().st_mtime
    assert entries(tree, "sys/sys")["systm.h"].ninfo.timestamp == stamp
    obj = entries(tree, "build/amd64-x86_64/10.0/modules/hello")["hello.o"].binfo
    sigs = dict(zip(obj.bimplicit, obj.bimplicitsigs))
    assert sigs["sys/sys/systm.h"].timestamp == stamp


def test_every_entry_matches_the_file_it_describes(tree: Path, tmp_path: Path) -> None:
    """After an edit, each recorded file's size and timestamp are those on disk."""
    import SCons.dblite
    import SCons.Node.FS  # noqa: F401
    null = tree / "sys/modules/null/null.c"
    original = null.read_text()
    try:
        null.write_text(original + "\nint null_extra_marker(void) { return 7; }\n")
        rewritten(tree, tmp_path)
    finally:
        null.write_text(original)
    db = SCons.dblite.open(str(tree / ".sconsign"), "r")
    checked = 0
    for directory in db.keys():
        for name, entry in pickle.loads(db[directory]).items():
            path = tree / directory / name
            if not path.is_file() or not hasattr(entry.ninfo, "timestamp"):
                continue
            st = path.stat()
            assert (entry.ninfo.size, entry.ninfo.timestamp) == (st.st_size, st.st_mtime), path
            checked += 1
    assert checked > 50


def test_action_signature_survives_the_cleanup_after_a_target_is_built() -> None:
    """scons_tool._keep_action_signatures: SCons clears a step's memo when one of its
    targets is built; the signature contents stay, everything else goes."""
    import SCons.Environment
    import SCons.Executor

    import kmodbuild.scons_tool as tool
    tool._keep_action_signatures()
    env = SCons.Environment.Environment(tools=[])
    calls = []

    def action(target, source, env):
        return 0

    act = SCons.Action.Action(action, varlist=["X"])
    real = act.get_contents

    def counted(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    act.get_contents = counted  # type: ignore[method-assign]
    ex = SCons.Executor.Executor(act, env, [], [env.File("t")], [env.File("s")])
    first = ex.get_contents()
    ex._memo["other"] = 1
    ex.cleanup()
    assert ex.get_contents() == first and len(calls) == 1
    assert "other" not in ex._memo


def test_a_rewrite_with_the_same_timestamp_but_another_size_is_seen(tmp_path: Path) -> None:
    """SCons's ``content-timestamp`` decider trusts an unchanged modification time and
    carries the old content signature forward: a source rewritten with another size
    but the same time (a tool that restores times, a rewrite within the clock's
    resolution) kept its stale object on a graph walk.  The size is compared too."""
    t = copy_tree(tmp_path)
    env = {"KMOD_FASTPATH": "0", "KMOD_QUICKBUILD": "0"}
    scons(t, "ARCH=amd64", env=env)
    src = t / "sys/modules/null/null.c"
    obj = next((t / "build").rglob("null/null.o"))
    before = obj.read_bytes()
    st = src.stat()
    src.write_text(src.read_text() + "int null_size_probe = 1;\n")
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    out = scons(t, "ARCH=amd64", "VERBOSE=1", env=env).stdout
    assert any(ln.endswith("null.o") for ln in out.splitlines()), out
    assert obj.read_bytes() != before
