"""Incremental builds that came out different from a clean build (an audit's findings):
each test makes the change, builds incrementally and checks the installed module holds
what a clean build of the same sources holds."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import copy_tree, scons

ARGS = ("ARCH=amd64",)
STATIC_MSG = 'static const char {var}[] __attribute__((used)) = "{text}";\n'


def _installed(tree: Path, name: str) -> bytes:
    return (tree / "stand" / "amd64" / "10.0" / "modules" / name / f"{name}.kmod").read_bytes()


def _second_module(mods: Path, extra: str = "") -> None:
    """hello2: hello's source under another name, plus ``extra`` lines."""
    (mods / "hello2").mkdir()
    (mods / "hello2" / "hello2.c").write_text(
        (mods / "hello" / "hello.c").read_text().replace("hello", "hello2") + extra)


def test_an_edit_undone_after_a_quick_build_is_built_again(tmp_path: Path) -> None:
    """The quick build compiled the edit; SCons's database still held the source as
    before it.  Undone, and built through SCons (another command line), SCons took the
    quick build's object as up to date and installed the edit."""
    tree = copy_tree(tmp_path / "t")
    hello = tree / "sys" / "modules" / "hello" / "hello.c"
    original = hello.read_text()
    assert "Goodbye, %s!" in original
    scons(tree, *ARGS)
    hello.write_text(original.replace("Goodbye, %s!", "Bye, %s!"))
    out = scons(tree, *ARGS).stdout
    assert "[1/1] amd64 hello.kmod" in out                      # the quick build
    assert b"Goodbye, %s!" not in _installed(tree, "hello")
    hello.write_text(original)
    scons(tree, *ARGS, "-j2")                                  # SCons's graph
    assert b"Goodbye, %s!" in _installed(tree, "hello")
    assert not (tree / "build" / ".quick-dirty.json").exists()
    assert "everything is up to date" in scons(tree, *ARGS, "-j2").stdout


def test_an_edit_undone_after_a_quick_build_of_another_version_is_built_again(
        tmp_path: Path) -> None:
    """The quick builds' list named a module by target and directory only: a quick build
    for VERSION=10.99.10, then SCons's build of 10.0 compiling that module, took it off
    the list -- and after the edit was undone, the 10.99.10 build kept the edit."""
    tree = copy_tree(tmp_path / "t")
    hello = tree / "sys" / "modules" / "hello" / "hello.c"
    original = hello.read_text()
    other = ("ARCH=amd64", "VERSION=10.99.10")
    scons(tree, *ARGS)
    scons(tree, *other)
    hello.write_text(original.replace("Goodbye, %s!", "Goodbye STALE, %s!"))
    assert "[1/1] amd64 hello.kmod" in scons(tree, *other).stdout       # quick build
    scons(tree, *ARGS)                                                   # SCons's graph
    hello.write_text(original)
    scons(tree, *other)
    installed = tree / "stand/amd64/10.99.10/modules/hello/hello.kmod"
    assert b"Goodbye STALE" not in installed.read_bytes()
    assert b"Goodbye, %s!" in installed.read_bytes()


def test_the_list_forgets_a_module_that_is_gone(tmp_path: Path) -> None:
    """A module quick-built, then removed: its entry stayed on the list for good, and
    every graph walk of the target re-ran every check, install and the simulation."""
    import json
    import shutil
    tree = copy_tree(tmp_path / "t")
    mods = tree / "sys" / "modules"
    _second_module(mods)
    (mods / "hello2" / "SConscript").write_text(
        "Import('env')\nenv.KernelModule('hello2', ['hello2.c'])\n")
    scons(tree, *ARGS)
    with (mods / "hello2" / "hello2.c").open("a") as f:
        f.write("/* edited */\n")
    assert "[1/1] amd64 hello2.kmod" in scons(tree, *ARGS).stdout       # quick build
    dirty = tree / "build" / ".quick-dirty.json"
    assert json.loads(dirty.read_text()) == {"modules": ["amd64|10.0|hello2"]}
    shutil.rmtree(mods / "hello2")
    shutil.rmtree(tree / "stand/amd64/10.0/modules/hello2")
    scons(tree, *ARGS)
    assert not dirty.exists()


def test_a_source_another_module_compiles_rebuilds_both(tmp_path: Path) -> None:
    """hello2's SConscript compiles ../hello/util.c: an edit of it rebuilt hello only."""
    tree = copy_tree(tmp_path / "t")
    mods = tree / "sys" / "modules"
    util = mods / "hello" / "util.c"
    util.write_text(STATIC_MSG.format(var="util_msg", text="util-one"))
    (mods / "hello" / "SConscript").write_text(
        "Import('env')\nenv.KernelModule('hello', ['hello.c', 'util.c'])\n")
    _second_module(mods)
    (mods / "hello2" / "SConscript").write_text(
        "Import('env')\nenv.KernelModule('hello2', ['hello2.c', '../hello/util.c'])\n")
    scons(tree, *ARGS)
    util.write_text(STATIC_MSG.format(var="util_msg", text="util-two"))
    scons(tree, *ARGS)
    for name in ("hello", "hello2"):
        assert b"util-two" in _installed(tree, name), name
    scons(tree, *ARGS, env={"KMOD_QUICKBUILD": "0"})          # SCons's partial build too
    util.write_text(STATIC_MSG.format(var="util_msg", text="util-six"))
    scons(tree, *ARGS, env={"KMOD_QUICKBUILD": "0"})
    assert b"util-six" in _installed(tree, "hello2")


def test_a_c_file_another_module_includes_rebuilds_it(tmp_path: Path) -> None:
    """hello2.c #includes ../hello/shared_impl.c (compiled by nobody else): its edit
    was taken as one of hello's files, and hello2 kept the old code."""
    tree = copy_tree(tmp_path / "t")
    mods = tree / "sys" / "modules"
    shared = mods / "hello" / "shared_impl.c"
    shared.write_text(STATIC_MSG.format(var="shared_msg", text="shared-one"))
    _second_module(mods, '#include "../hello/shared_impl.c"\n')
    (mods / "hello2" / "SConscript").write_text(
        "Import('env')\nenv.KernelModule('hello2', ['hello2.c'])\n")
    scons(tree, *ARGS)
    assert b"shared-one" in _installed(tree, "hello2")
    shared.write_text(STATIC_MSG.format(var="shared_msg", text="shared-two"))
    scons(tree, *ARGS)
    assert b"shared-two" in _installed(tree, "hello2")


def test_a_metalog_altered_by_hand_is_written_again(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "t")
    scons(tree, *ARGS)
    metalog = tree / "stand" / "amd64" / "10.0" / "METALOG"
    good = metalog.read_text()
    metalog.chmod(0o644)
    metalog.write_text(good.replace("mode=0444", "mode=0555"))
    scons(tree, *ARGS)
    assert metalog.read_text() == good


def test_a_copy_of_a_built_tree_builds_itself(tmp_path: Path) -> None:
    """``cp -a`` of a built tree copied the fast path's stamp, whose paths are the
    original's: an edit in the copy was "up to date" (the stamp watched the original's
    files), and an edit in the original, built in the copy, was compiled and installed
    into the original by the copy's quick build."""
    import shutil
    tree = copy_tree(tmp_path / "t")
    scons(tree, *ARGS)
    scons(tree, *ARGS)                       # a stamp with the quick build's records
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy, symlinks=True)
    before = _installed(tree, "hello")
    hello = copy / "sys" / "modules" / "hello" / "hello.c"
    hello.write_text(hello.read_text().replace("Goodbye, %s!", "Ciao, %s!"))
    out = scons(copy, *ARGS).stdout
    assert "everything is up to date" not in out, out
    assert b"Ciao, %s!" in _installed(copy, "hello")
    assert _installed(tree, "hello") == before
    # the other way round: the original edited, the copy built -- nothing of the copy's
    # changed, so nothing is built, and the original is left alone
    orig = tree / "sys" / "modules" / "hello" / "hello.c"
    orig.write_text(orig.read_text().replace("Goodbye, %s!", "Adieu, %s!"))
    scons(copy, *ARGS)
    assert _installed(tree, "hello") == before
    assert b"Adieu" not in (tree / "build" / "amd64-x86_64" / "10.0" / "modules" / "hello"
                            / "hello.o").read_bytes()


def test_edits_behind_a_symlink_in_the_tree_are_built(tmp_path: Path) -> None:
    """The fast path's walk of the sources looked at symbolic links themselves, not what
    they point at (SCons and the compiler follow them): an edit of a header or of a
    module directory linked into the tree from elsewhere was "up to date"."""
    tree = copy_tree(tmp_path / "t")
    ext = tmp_path / "ext"
    ext.mkdir()
    mods = tree / "sys" / "modules"
    (mods / "hello").rename(ext / "hello")
    (mods / "hello").symlink_to(ext / "hello")
    param = tree / "sys" / "sys" / "param.h"
    param.rename(ext / "param.h")
    param.symlink_to(ext / "param.h")
    (ext / "loop").symlink_to(ext)                     # a cycle: walked once
    scons(tree, *ARGS)
    assert "everything is up to date" in scons(tree, *ARGS).stdout
    hello = ext / "hello" / "hello.c"
    hello.write_text(hello.read_text().replace("Goodbye, %s!", "Tschuess, %s!"))
    assert "everything is up to date" not in scons(tree, *ARGS).stdout
    assert b"Tschuess, %s!" in _installed(tree, "hello")
    header = (ext / "param.h").read_text()
    guard = header.rindex("#endif")                    # inside the include guard
    (ext / "param.h").write_text(header[:guard] + "static const int hello_param_seen "
                                 "__attribute__((used)) = 0x5eed;\n" + header[guard:])
    out = scons(tree, *ARGS).stdout
    assert "everything is up to date" not in out
    assert (0x5eed).to_bytes(4, "little") in _installed(tree, "hello")


_WAIT_ON_HELLO = """#!/bin/sh
# the compile of hello.c says it started, then waits for GO
case "$*" in *hello.c*) touch "{mark}"; while [ ! -e "{go}" ]; do sleep 0.05; done;; esac
exec {run} "$@"
"""


def _waiting_wrapper(tmp_path: Path, run: str = "") -> Path:
    """A script waiting on hello.c's compile (``run``: the program it runs, empty for a
    CCWRAPPER, zig's path for a KMOD_ZIG)."""
    wrapper = tmp_path / "wait-on-hello.sh"
    wrapper.write_text(_WAIT_ON_HELLO.format(mark=tmp_path / "compiling", go=tmp_path / "go",
                                             run=run))
    wrapper.chmod(0o755)
    return wrapper


def _build_while_saving(tree: Path, tmp_path: Path, args: tuple[str, ...], saved: str,
                        env: dict[str, str] | None = None) -> str:
    """Build ``args`` (a :func:`_waiting_wrapper` in them or ``env``); while hello.c
    compiles, save ``saved`` as hello.c, then let the compile read it.  Returns the
    build's output."""
    import os
    import sys

    from tests.conftest import REPO, start_until
    mark, go = tmp_path / "compiling", tmp_path / "go"
    for p in (mark, go):
        p.unlink(missing_ok=True)
    # the environment tests.conftest.scons gives (the fast path's stamp digests PYTHONPATH)
    env = {"PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           **(env or {})}
    proc = start_until([sys.executable, "-m", "SCons", "-C", str(tree), *args], mark, env=env)
    (tree / "sys" / "modules" / "hello" / "hello.c").write_text(saved)
    go.touch()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, (out, err)
    return out


@pytest.mark.parametrize("then", ["fast path", "graph"])
def test_a_save_during_the_build_undone_is_built_again(tmp_path: Path, then: str) -> None:
    """hello.c saved while the build compiled it (the compile read the new text), then put
    back as the build found it: SCons's database and the fast path's stamp both held
    the text the build began with, so the put-back file looked untouched ("up to date",
    even KMOD_FASTPATH=0) and the save stayed installed.  Make rebuilds: it is newer."""
    tree = copy_tree(tmp_path / "t")
    args = (*ARGS, f"CCWRAPPER={_waiting_wrapper(tmp_path)}")
    hello = tree / "sys" / "modules" / "hello" / "hello.c"
    original = hello.read_text()
    _build_while_saving(tree, tmp_path, args, original.replace("Goodbye, %s!", "Howdy, %s!"))
    assert b"Howdy, %s!" in _installed(tree, "hello")           # the compile read the save
    hello.write_text(original)
    env = {"KMOD_FASTPATH": "0"} if then == "graph" else None
    out = scons(tree, *args, env=env).stdout
    assert "everything is up to date" not in out, out
    assert b"Goodbye, %s!" in _installed(tree, "hello")


def test_a_save_during_a_quick_build_undone_is_built_again(tmp_path: Path) -> None:
    """The same during a quick build (no SCons graph; it takes no CCWRAPPER, so the
    wait is in a KMOD_ZIG): the stamp's digest of the text it began with let the file
    put back pass for a touch -- "up to date" with the save installed."""
    from kmodbuild.toolchain import zig_path
    tree = copy_tree(tmp_path / "t")
    env = {"KMOD_ZIG": str(_waiting_wrapper(tmp_path, zig_path()))}
    hello = tree / "sys" / "modules" / "hello" / "hello.c"
    original = hello.read_text()
    (tmp_path / "go").touch()
    scons(tree, *ARGS, env=env)
    bye = original.replace("Goodbye, %s!", "Bye, %s!")
    hello.write_text(bye)
    sconsign = (tree / ".sconsign.dblite").stat().st_mtime_ns
    out = _build_while_saving(tree, tmp_path, ARGS,
                              original.replace("Goodbye, %s!", "Hiya, %s!"), env)
    assert "[1/1] amd64 hello.kmod" in out, out
    assert (tree / ".sconsign.dblite").stat().st_mtime_ns == sconsign  # not SCons: quick
    assert b"Hiya, %s!" in _installed(tree, "hello")
    hello.write_text(bye)                               # as the quick build found it
    out = scons(tree, *ARGS, env=env).stdout
    assert "everything is up to date" not in out, out
    assert b"Bye, %s!" in _installed(tree, "hello")


def test_a_file_saved_during_the_build_lists_only_the_modules_it_is_in(tmp_path: Path) -> None:
    """A README saved while the build ran listed every module for SCons's next walk (a
    full rebuild of the tree); a header, only the modules whose compiles include it."""
    import json
    tree = copy_tree(tmp_path / "t")
    args = (*ARGS, f"CCWRAPPER={_waiting_wrapper(tmp_path)}")
    readme = tree / "sys" / "modules" / "README"
    readme.write_text("the modules\n")
    header = tree / "sys" / "sys" / "vnode.h"
    users = sorted(p.parent.name for p in (tree / "sys" / "modules").glob("*/*.c")
                   if "sys/vnode.h" in p.read_text())
    assert users and len(users) < 10, users

    def saving(path: Path) -> None:
        """A clean build, saving ``path`` while hello.c compiles."""
        import shutil
        for d in ("build", "stand"):
            shutil.rmtree(tree / d, ignore_errors=True)
        (tree / ".sconsign.dblite").unlink(missing_ok=True)
        mark, go = tmp_path / "compiling", tmp_path / "go"
        for p in (mark, go):
            p.unlink(missing_ok=True)
        import os
        import sys

        from tests.conftest import REPO, start_until
        env = {"PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        proc = start_until([sys.executable, "-m", "SCons", "-C", str(tree), *args], mark,
                           env=env)
        path.write_text(path.read_text() + "\n")
        go.touch()
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (out, err)

    def listed() -> list[str]:
        dirty = tree / "build" / ".quick-dirty.json"
        keys = json.loads(dirty.read_text())["modules"] if dirty.exists() else []
        return sorted(k.rsplit("|", 1)[1] for k in keys)

    saving(readme)
    assert listed() == []
    saving(header)
    assert listed() == users


def test_a_link_to_the_top_of_the_tree_does_not_make_outputs_inputs(tmp_path: Path) -> None:
    """The stamp's walk followed a link in sys/ to the tree's top: build/ and stand/
    became inputs every build changes (never a no-op again), and every file twice."""
    from kmodbuild import fastpath
    tree = copy_tree(tmp_path / "t")
    (tree / "sys" / "up").symlink_to("..")                   # sys/up -> the tree's top
    (tree / "sys" / "again").symlink_to("sys")               # a directory walked already
    scons(tree, *ARGS)
    assert "everything is up to date" in scons(tree, *ARGS).stdout
    entries = fastpath.scan([str(tree / "sys")], (), [str(tree / "sys")])
    paths = [e[0] for e in entries]
    assert not any("/build/" in p or "/stand/" in p for p in paths), paths[:5]
    assert not any("/again/" in p for p in paths)
    assert len(paths) == len(set(paths))
