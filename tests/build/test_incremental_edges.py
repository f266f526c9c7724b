"""Incremental builds that came out different from a clean build (an audit's findings):
each test makes the change, builds incrementally and checks the installed module holds
what a clean build of the same sources holds."""
from __future__ import annotations

from pathlib import Path

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
