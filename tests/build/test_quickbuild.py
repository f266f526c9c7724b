"""A partial build without SCons's graph (kmodbuild.quickbuild) makes what SCons makes."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import copy_tree, scons

ARGS = ("ARCH=amd64", "-j2")
OFF = {"KMOD_QUICKBUILD": "0"}
UP_TO_DATE = "scons: everything is up to date"


def _files(tree: Path) -> dict[str, bytes]:
    """Every file a build makes, but SCons's database and the stamp."""
    out = {}
    for top in ("build", "stand"):
        for p in sorted((tree / top).rglob("*")):
            rel = p.relative_to(tree).as_posix()
            if p.is_file() and not p.name.startswith((".sconsign", ".fastpath", ".lock",
                                                       ".exports-cache", ".quick-dirty")) \
                    and not p.name.endswith(".memo"):   # paths and file states: the tree's
                out[rel] = p.read_bytes()
    return out


def _lines(out: str) -> list[str]:
    """The build's output but SCons's notes on the directory and on up-to-date targets."""
    return [ln for ln in out.splitlines()
            if not ln.startswith(("scons: `", "scons: Entering directory"))]


def _edit(tree: Path, old: str, new: str, name: str = "hello") -> None:
    src = tree / f"sys/modules/{name}/{name}.c"
    text = src.read_text()
    assert old in text
    src.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two built copies of the example tree: the first builds partial builds without
    the graph, the second (KMOD_QUICKBUILD=0) with it."""
    quick = copy_tree(tmp_path_factory.mktemp("quick"))
    graph = copy_tree(tmp_path_factory.mktemp("graph"))
    scons(quick, *ARGS)
    scons(graph, *ARGS, env=OFF)
    return quick, graph


def test_the_same_files_and_output_as_scons(twins: tuple[Path, Path]) -> None:
    quick, graph = twins
    sconsign = quick / ".sconsign.dblite"
    before = sconsign.stat().st_mtime_ns
    for tree in twins:
        _edit(tree, "Goodbye", "Farewell")
    out_q = scons(quick, *ARGS)
    out_g = scons(graph, *ARGS, env=OFF)
    assert sconsign.stat().st_mtime_ns == before          # SCons's graph was not walked
    assert (graph / ".sconsign.dblite").stat().st_mtime_ns != before
    assert _lines(out_q.stdout) == _lines(out_g.stdout), out_q.stdout
    assert "[1/1] amd64 hello.kmod" in out_q.stdout
    assert _files(quick) == _files(graph)
    assert b"Farewell" in (quick / "stand/amd64/10.0/modules/hello/hello.kmod").read_bytes()
    assert UP_TO_DATE in scons(quick, *ARGS).stdout


def test_a_changed_export_rechecks_every_module(twins: tuple[Path, Path]) -> None:
    """layerfs exports one more function: the index changes, every module is checked
    again (and nothing else changes), as in SCons's build."""
    for tree in twins:
        _edit(tree, "\nint\nlayerfs_root(", "\nint layerfs_extra(void);\nint\n"
              "layerfs_extra(void)\n{\n\treturn 0;\n}\n\nint\nlayerfs_root(", "layerfs")
    quick, graph = twins
    scons(quick, *ARGS)
    scons(graph, *ARGS, env=OFF)
    assert b"layerfs_extra" in (quick / "build/amd64-x86_64/10.0/modules/exports.json") \
        .read_bytes()
    assert _files(quick) == _files(graph)


def test_streamed_simulation(twins: tuple[Path, Path]) -> None:
    """With the simulation in a stream process of its own (as for big trees)."""
    quick, graph = twins
    env = {"KMOD_SIMSTREAM": "1"}
    scons(quick, *ARGS, env=env)
    scons(graph, *ARGS, env={**OFF, **env})
    for tree in twins:
        _edit(tree, "Farewell", "So long")
    out = scons(quick, *ARGS, env=env)
    scons(graph, *ARGS, env={**OFF, **env})
    assert "simulate: amd64 10.0: 10 modules, 10 loaded, 10 unloaded, 0 failures" in out.stdout
    assert _files(quick) == _files(graph)


def test_a_compile_error_is_reported_by_scons_once(twins: tuple[Path, Path]) -> None:
    quick, _ = twins
    scons(quick, *ARGS)
    _edit(quick, "So long", 'So long" +')
    try:
        res = scons(quick, *ARGS, check=False)
        assert res.returncode != 0
        assert res.stderr.count("errors generated") == 1, res.stderr    # once, by SCons
        assert "scons: *** [build/amd64-x86_64/10.0/modules/hello/hello.o]" in res.stderr
        # SCons's banner once, though the quick build printed it before handing over
        for banner in ("scons: done reading SConscript files.", "scons: Building targets"):
            assert res.stdout.count(banner) == 1, res.stdout
    finally:
        _edit(quick, 'So long" +', "So long")
    scons(quick, *ARGS)
    assert UP_TO_DATE in scons(quick, *ARGS).stdout


def test_a_failed_check_fails_the_build_as_in_scons(twins: tuple[Path, Path]) -> None:
    """layerfs loses an export null uses: the quick build hands over to SCons, which
    fails the check and leaves null uninstalled."""
    quick, _ = twins
    scons(quick, *ARGS)
    _edit(quick, "layerfs_root(struct mount", "layerfs_root2(struct mount", "layerfs")
    try:
        res = scons(quick, *ARGS, check=False)
        assert res.returncode != 0
        assert "null.kmod: needs unknown symbol layerfs_root" in res.stderr, res.stderr
        assert not (quick / "stand/amd64/10.0/modules/null/null.kmod").exists()
    finally:
        _edit(quick, "layerfs_root2(struct mount", "layerfs_root(struct mount", "layerfs")
    scons(quick, *ARGS)
    assert (quick / "stand/amd64/10.0/modules/null/null.kmod").is_file()


def test_a_failed_simulation_fails_the_build_as_in_scons(twins: tuple[Path, Path]) -> None:
    """hello's unload now fails: the quick build hands over to SCons, whose simulate
    step reports it and fails the build."""
    quick, _ = twins
    scons(quick, *ARGS)
    fini = "case MODULE_CMD_FINI:\n"
    _edit(quick, fini, fini + "\t\treturn EBUSY;\n")
    try:
        res = scons(quick, *ARGS, check=False)
        assert res.returncode != 0
        assert "hello: unload failed" in res.stderr and "simulate:" in res.stderr, res.stderr
    finally:
        _edit(quick, fini + "\t\treturn EBUSY;\n", fini)
    scons(quick, *ARGS)
    assert UP_TO_DATE in scons(quick, *ARGS).stdout


# runs SCons like ``python -m SCons``, with the quick build failing after it removed the stamp
FAILING = """
import sys
import kmodbuild.quickbuild as q
def fail(*args, **kwargs):
    raise RuntimeError("injected")
q._build = fail
sys.argv = ["scons", *sys.argv[1:]]
import SCons.Script
SCons.Script.main()
"""


def test_scons_taking_over_keeps_the_records(twins: tuple[Path, Path], tmp_path: Path) -> None:
    """A quick build that gives up after removing the stamp: SCons builds with what the
    stamp said, and records every module again (not just the rebuilt ones), so the next
    partial build is a quick one with the same result as SCons's."""
    import json
    import subprocess
    import sys

    from tests.conftest import REPO
    quick, graph = twins
    scons(quick, *ARGS)
    scons(graph, *ARGS, env=OFF)
    driver = tmp_path / "failing.py"
    driver.write_text(FAILING)
    for tree in twins:
        _edit(tree, "MODULE_CMD_STAT:\n", "MODULE_CMD_STAT: /* 1 */\n")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, str(driver), "-C", str(quick), *ARGS],
                         capture_output=True, text=True, env=env, timeout=900, check=False)
    assert res.returncode == 0, res.stderr
    stamp = json.loads((quick / "build/.fastpath.json").read_text())
    dirs = stamp["extra"]["quick"]["dirs"]["amd64"]
    assert all(dirs[d] and dirs[d][0]["name"] == d for d in dirs), dirs
    for tree in twins:
        _edit(tree, "MODULE_CMD_STAT: /* 1 */\n", "MODULE_CMD_STAT: /* 2 */\n")
    before = (quick / ".sconsign.dblite").stat().st_mtime_ns
    scons(quick, *ARGS)
    scons(graph, *ARGS, env=OFF)
    assert (quick / ".sconsign.dblite").stat().st_mtime_ns == before      # quick again
    assert _files(quick) == _files(graph)


def test_scons_walks_after_it_redo_only_what_was_built_quickly(
        twins: tuple[Path, Path]) -> None:
    """SCons's database does not know the quick build's work: the next walk of the
    graph compiles those modules once more, and their files come out the same."""
    quick, _ = twins
    scons(quick, *ARGS)
    _edit(quick, "So long", "Adieu")
    scons(quick, *ARGS)
    made = _files(quick)
    walk = scons(quick, *ARGS, "VERBOSE=1", env={"KMOD_FASTPATH": "0"}).stdout
    compiles = [ln for ln in walk.splitlines() if "zig clang" in ln and " -c " in ln]
    assert compiles and all("/hello/" in ln for ln in compiles), compiles
    assert _files(quick) == made


def test_not_recorded_when_scons_would_do_more(tmp_path: Path) -> None:
    """No records (so partial builds walk the graph) for command-line targets, verbose
    output, a shared cache, or an SConscript declaring more than KernelModule."""
    import json
    tree = copy_tree(tmp_path / "t")
    extra = tree / "sys/modules/hello/SConscript"
    extra.write_text(extra.read_text() + "env.Command('hello.txt', 'hello.c', 'cp $SOURCE $TARGET')\n")
    scons(tree, *ARGS)
    quick = json.loads((tree / "build/.fastpath.json").read_text())["extra"]["quick"]
    assert quick["dirs"]["amd64"]["hello"] is None
    assert quick["dirs"]["amd64"]["null"][0]["name"] == "null"
    _edit(tree, "Goodbye", "Farewell")
    sconsign = (tree / ".sconsign.dblite").stat().st_mtime_ns
    scons(tree, *ARGS)
    assert (tree / ".sconsign.dblite").stat().st_mtime_ns != sconsign     # SCons built it
    for args in (("VERBOSE=1",), ("install",), (f"KMOD_CACHEDIR={tmp_path / 'cache'}",)):
        scons(tree, *ARGS, *args)
        assert "quick" not in json.loads((tree / "build/.fastpath.json").read_text())["extra"]


def test_every_target_at_once(tmp_path: Path) -> None:
    """ARCH=all: each target's module rebuilt, checked, installed and simulated, the same
    files as SCons's partial build."""
    quick = copy_tree(tmp_path / "quick")
    graph = copy_tree(tmp_path / "graph")
    scons(quick, "ARCH=all", "-j2")
    scons(graph, "ARCH=all", "-j2", env=OFF)
    for tree in (quick, graph):
        _edit(tree, "Goodbye", "Farewell")
    before = (quick / ".sconsign.dblite").stat().st_mtime_ns
    out = scons(quick, "ARCH=all", "-j2")
    scons(graph, "ARCH=all", "-j2", env=OFF)
    assert (quick / ".sconsign.dblite").stat().st_mtime_ns == before
    assert out.stdout.count("hello.kmod") == 8 and out.stdout.count("simulate: ") == 8
    assert _files(quick) == _files(graph)


def test_compiler_warnings_are_shown_once_as_scons_shows_them(tmp_path: Path) -> None:
    """Two modules edited, one with a warning: the quick build (its compiles -j at a time,
    their output held until all succeed) shows the compiler's words once, as SCons does."""
    quick, graph = copy_tree(tmp_path / "quick"), copy_tree(tmp_path / "graph")
    scons(quick, *ARGS)
    scons(graph, *ARGS, env=OFF)
    sconsign = quick / ".sconsign.dblite"
    before = sconsign.stat().st_mtime_ns
    for tree in (quick, graph):
        _edit(tree, "Goodbye", "Farewell")
        null = tree / "sys/modules/null/null.c"
        null.write_text(null.read_text() + "\nchar null_narrow = 300;\n")
    out_q = scons(quick, *ARGS)
    out_g = scons(graph, *ARGS, env=OFF)
    assert sconsign.stat().st_mtime_ns == before          # the quick path was taken
    warning = "implicit conversion from 'int' to 'char' changes value from 300 to 44"
    assert out_q.stderr.count(warning) == 1, out_q.stderr
    assert [ln for ln in out_q.stderr.splitlines() if "null.c" in ln] == \
        [ln for ln in out_g.stderr.splitlines() if "null.c" in ln]
    assert _files(quick) == _files(graph)
