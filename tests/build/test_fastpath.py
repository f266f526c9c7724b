"""The no-op fast path never hides a real change (kmodbuild.fastpath)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import copy_tree, scons

UP_TO_DATE = "scons: everything is up to date"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    t = copy_tree(tmp_path_factory.mktemp("fast"))
    scons(t, "ARCH=amd64")
    return t


def rebuild(tree: Path, *extra: str) -> str:
    return scons(tree, "ARCH=amd64", "VERBOSE=1", *extra).stdout


def test_noop_takes_the_fast_path(tree: Path) -> None:
    out = rebuild(tree)                  # argv differs from the first build: full walk
    assert "zig" not in out
    assert UP_TO_DATE in rebuild(tree)


def test_scons_in_the_tree_and_kmodbuild_build_share_the_stamp(tmp_path: Path) -> None:
    """``kmodbuild build`` runs ``scons -C TREE``: the same build as ``scons`` run in the
    tree, so either one after the other is a no-op (it was a walk of the whole graph)."""
    import subprocess
    import sys

    from tests.conftest import REPO
    tree = copy_tree(tmp_path / "t")
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}

    def in_tree(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "SCons", "ARCH=amd64", *args], cwd=tree,
                              env=env, capture_output=True, text=True, check=True).stdout

    scons(tree, "ARCH=amd64")                            # -C TREE, as kmodbuild build runs it
    sconsign = tree / ".sconsign.dblite"
    before = sconsign.stat().st_mtime_ns
    assert UP_TO_DATE in in_tree()
    assert UP_TO_DATE in scons(tree, "ARCH=amd64").stdout
    assert sconsign.stat().st_mtime_ns == before         # no graph walked
    assert UP_TO_DATE not in in_tree("-C", ".")          # relative: a stamp of its own


@pytest.mark.parametrize("extra", [(), ("-n",)], ids=["fast path", "full graph"])
def test_no_default_tools_are_initialised(tree: Path, extra: tuple[str, ...]) -> None:
    """The default environment is made without tools: a global call such as ``Dir()``
    or ``Decider()`` before ``DefaultEnvironment(tools=[])`` made it with every tool
    SCons can detect (compilers, TeX...: ~30 ms of every no-op build)."""
    rebuild(tree)
    res = scons(tree, "ARCH=amd64", *extra, env={"PYTHONPROFILEIMPORTTIME": "1"})
    loaded = {line.rsplit("|", 1)[-1].strip() for line in res.stderr.splitlines()
              if line.startswith("import time:")}
    assert "SCons.Tool" in loaded             # the import log was read
    tools = {m for m in loaded if m.startswith("SCons.Tool.")}
    assert tools <= {"SCons.Tool.DCommon", "SCons.Tool.linkCommon"}, sorted(tools)


def _changes(tree: Path):
    hello = tree / "sys/modules/hello/hello.c"
    yield "source edited", lambda: hello.write_text(hello.read_text() + "\n/* edit */\n"), \
        "hello.o"
    hdr = tree / "sys/sys/module.h"
    yield "header changed", lambda: hdr.write_text(hdr.read_text() + "\n#define KMOD_T 1\n"), \
        "null.o"
    sc = tree / "sys/modules/ffs/SConscript"
    yield "SConscript edited", lambda: sc.write_text(sc.read_text() + "# edited\n"), None
    yield "installed file removed", lambda: os.unlink(
        tree / "stand/amd64/10.0/modules/null/null.kmod"), "install stand/amd64/10.0/modules/null"
    yield "build output removed", lambda: os.unlink(
        tree / "build/amd64-x86_64/10.0/modules/ffs/ffs.o"), "ffs.o"

    def new_module() -> None:
        shutil.copytree(tree / "sys/modules/hello", tree / "sys/modules/hello2")
        c = tree / "sys/modules/hello2/hello.c"
        c.write_text(c.read_text().replace("MODULE(MODULE_CLASS_MISC, hello,",
                                           "MODULE(MODULE_CLASS_MISC, hello2,")
                     .replace("hello_modcmd", "hello2_modcmd"))
        (tree / "sys/modules/hello2/SConscript").write_text(
            "Import('env')\nenv.KernelModule('hello2', ['hello.c'])\n")
    yield "module added", new_module, "hello2.kmod"


@pytest.mark.parametrize("case", range(6))
def test_every_real_change_rebuilds(tree: Path, case: int) -> None:
    rebuild(tree)
    assert UP_TO_DATE in rebuild(tree)
    name, change, expect = list(_changes(tree))[case]
    change()
    out = rebuild(tree)
    assert UP_TO_DATE not in out, name
    if expect:
        assert expect in out, f"{name}: {out}"


def test_other_arguments_and_environment_are_part_of_the_key(tree: Path) -> None:
    rebuild(tree)
    assert UP_TO_DATE in rebuild(tree)
    assert UP_TO_DATE not in rebuild(tree, "VERSION=10.99.10")
    os.environ["KMOD_TEST_VAR"] = "1"
    try:
        assert UP_TO_DATE not in rebuild(tree)
    finally:
        del os.environ["KMOD_TEST_VAR"]


def test_a_changed_compiler_rebuilds_everything(tree: Path, tmp_path: Path) -> None:
    """The compiler enters the signatures as the answer of ``zig version`` and its size
    (not its 185 MB hashed at every clean build): a zig that answers differently at the
    same path recompiles every object."""
    from kmodbuild.toolchain import zig_path
    zig = tmp_path / "zig"

    def install(version: str) -> None:
        zig.write_text(f'#!/bin/sh\n[ "$1" = version ] && {{ echo {version}; exit 0; }}\n'
                       f'exec "{zig_path()}" "$@"\n')
        zig.chmod(0o755)
    install("0.17.1-a")
    env = {"KMOD_ZIG": str(zig)}
    scons(tree, "ARCH=amd64", "VERBOSE=1", env=env)
    assert UP_TO_DATE in scons(tree, "ARCH=amd64", "VERBOSE=1", env=env).stdout
    install("0.17.1-b")
    out = scons(tree, "ARCH=amd64", "VERBOSE=1", env=env).stdout
    compiles = [ln for ln in out.splitlines() if "zig clang" in ln and " -c " in ln]
    assert any("null.o" in ln for ln in compiles) and any("hello.o" in ln for ln in compiles)
    assert UP_TO_DATE in scons(tree, "ARCH=amd64", "VERBOSE=1", env=env).stdout
    rebuild(tree)                        # back to the real zig for the other tests


def test_touched_header_recompiles_nothing(tree: Path) -> None:
    """A header touched with its contents unchanged: the stamp's digest says so, and the
    build stops at once, as SCons's content signatures would have found nothing to do;
    without the fast path SCons walks the graph and recompiles nothing either."""
    rebuild(tree)
    os.utime(tree / "sys/sys/systm.h")
    out = rebuild(tree)
    assert UP_TO_DATE in out and "zig" not in out
    os.utime(tree / "sys/sys/systm.h")
    walk = scons(tree, "ARCH=amd64", "VERBOSE=1", env={"KMOD_FASTPATH": "0"}).stdout
    assert UP_TO_DATE not in walk
    assert "zig clang" not in walk and "ld.lld" not in walk
    rebuild(tree)
    hdr = tree / "sys/sys/systm.h"
    original = hdr.read_text()
    try:
        hdr.write_text(original.replace("#define", "#define ", 1))    # a real change
        assert "zig clang" in rebuild(tree)
    finally:
        hdr.write_text(original)
    rebuild(tree)
    assert UP_TO_DATE in rebuild(tree)


def test_one_source_edit_rebuilds_only_that_module(tree: Path) -> None:
    rebuild(tree)
    hello = tree / "sys/modules/hello/hello.c"
    hello.write_text(hello.read_text().replace("Goodbye", "Farewell"))
    out = rebuild(tree)
    compiles = [ln for ln in out.splitlines() if "zig clang" in ln and " -c " in ln]
    assert compiles and all("hello" in ln for ln in compiles), compiles
    assert b"Farewell" in (tree / "stand/amd64/10.0/modules/hello/hello.kmod").read_bytes()
    assert UP_TO_DATE in rebuild(tree)


def test_partial_build_still_rechecks_users_of_a_changed_export(tree: Path) -> None:
    """layerfs loses an export that null uses: null's check must fail even though only
    layerfs.c changed (the partial build re-runs every check through the index)."""
    rebuild(tree)
    layer = tree / "sys/modules/layerfs/layerfs.c"
    original = layer.read_text()
    layer.write_text(original.replace("layerfs_root(struct mount", "layerfs_root2(struct mount"))
    try:
        res = scons(tree, "ARCH=amd64", "VERBOSE=1", check=False)
        assert res.returncode != 0
        assert "null.kmod: needs unknown symbol layerfs_root" in res.stderr, res.stderr
    finally:
        layer.write_text(original)
    rebuild(tree)
    assert UP_TO_DATE in rebuild(tree)


def test_edits_in_quick_succession_are_all_built(tree: Path) -> None:
    """Each edit lands right after the previous build, often in the same second as the
    relink it recorded: SCons's whole-second timestamps would carry the old signature
    forward (kmodbuild.scons_tool._precise_getmtime)."""
    rebuild(tree)
    hello = tree / "sys/modules/hello/hello.c"
    original = hello.read_text()
    try:
        for i in range(3):
            hello.write_text(original + f'\nstatic const char hello_mark[] __attribute__((used)) '
                                        f'= "quick-edit-{i}";\n')
            rebuild(tree)
            installed = (tree / "stand/amd64/10.0/modules/hello/hello.kmod").read_bytes()
            assert f"quick-edit-{i}".encode() in installed, i
    finally:
        hello.write_text(original)
    rebuild(tree)
    assert UP_TO_DATE in rebuild(tree)


def test_partial_build_declares_the_same_graph_as_a_full_one(tree: Path) -> None:
    """A partial build takes unchanged modules' check and install nodes from the stamp
    without reading their SConscripts; a full walk afterwards finds nothing to redo."""
    import json
    rebuild(tree)
    hello = tree / "sys/modules/hello/hello.c"
    original = hello.read_text()
    try:
        hello.write_text(original + "\n/* partial */\n")
        rebuild(tree)
        extra = json.loads((tree / "build/.fastpath.json").read_text())["extra"]
        assert sorted(extra["modules"]) == sorted(
            f"amd64|{p.parent.name}" for p in (tree / "sys/modules").glob("*/SConscript"))
        assert extra["modules"]["amd64|null"] == [["null", True]]
        walk = scons(tree, "ARCH=amd64", "VERBOSE=1", env={"KMOD_FASTPATH": "0"}).stdout
        assert not [ln for ln in walk.splitlines()
                    if ln.startswith(("check ", "install ", "record ")) or "zig" in ln], walk
    finally:
        hello.write_text(original)
    rebuild(tree)


def test_stamp_watches_the_kmodbuild_files_the_build_may_run(tree: Path) -> None:
    """Those the steps' signatures digest (scons_tool._build_code_files): the checker and
    the simulator too, whether or not this build imported them; not the Linux checker
    or the commands' front ends."""
    import json
    rebuild(tree)
    files = json.loads((tree / "build/.fastpath.json").read_text())["files"]
    names = {Path(f).relative_to(Path(f).parents[1]).as_posix() for f in files
             if "/kmodbuild/" in f}
    assert {"kmodbuild/scons_tool.py", "kmodbuild/fastpath.py", "kmodbuild/target.py",
            "kmodbuild/toolchain.py"} <= names, names
    assert {"kmodbuild/buildcheck.py", "kmodbuild/simulator.py"} <= names, names
    assert not any(n.startswith("kmodbuild/linux/") or n == "linux/check.py" for n in names)
    assert "kmodbuild/cli.py" not in names


def test_packaging_the_tree_keeps_the_next_noop_on_the_fast_path(tree: Path) -> None:
    """``kmodbuild package`` writes build/sets (its default output), which a plain build
    does not make: the next ``scons`` walked the whole graph (4 s for 500 modules)."""
    import subprocess
    import sys
    rebuild(tree)
    assert UP_TO_DATE in rebuild(tree)
    subprocess.run([sys.executable, "-m", "kmodbuild", "package"], cwd=tree, check=True,
                   capture_output=True)
    assert (tree / "build/sets").is_dir()
    assert UP_TO_DATE in rebuild(tree)


def test_a_build_of_the_sets_watches_them(tree: Path) -> None:
    rebuild(tree, "sets")
    assert UP_TO_DATE in rebuild(tree, "sets")
    for f in (tree / "build/sets").glob("modules-amd64-*.tar.xz"):
        f.unlink()
    out = rebuild(tree, "sets")
    assert UP_TO_DATE not in out and "making sets" in out
    assert list((tree / "build/sets").glob("modules-amd64-*.tar.xz"))


def test_no_stamp_while_an_install_temporary_is_there(tree: Path) -> None:
    """A killed install's temporary younger than a minute stays (it may be another tree's
    live write); a stamp recorded with it kept every later no-op from looking again, and
    verify failed on it for good.  No stamp while one is there: the next build walks
    the graph, and its METALOG step removes the temporary once it is stale."""
    rebuild(tree)
    temp = tree / "stand/amd64/10.0/modules/hello/.hello.kmod.k1ll3d_x.tmp"
    temp.write_bytes(b"half a modu")
    try:
        rebuild(tree)
        assert not (tree / "build/.fastpath.json").exists()
        old = os.path.getmtime(temp) - 300
        os.utime(temp, (old, old))
        assert UP_TO_DATE not in rebuild(tree)
        assert not temp.exists()
        assert (tree / "build/.fastpath.json").exists()
        assert UP_TO_DATE in rebuild(tree)
    finally:
        temp.unlink(missing_ok=True)


def test_an_editors_files_beside_the_sources_are_not_inputs(tree: Path) -> None:
    """A file open in an editor (emacs's lock link, vim's swap file, a backup) made every
    build a walk of the whole graph; the no-op stays a no-op and an edit a quick build."""
    def build() -> str:
        return scons(tree, "ARCH=amd64").stdout
    build()
    assert UP_TO_DATE in build()
    moddir = tree / "sys/modules/null"
    extra = [moddir / ".#null.c", moddir / ".null.c.swp", moddir / "null.c~",
             moddir / "#null.c#"]
    extra[0].symlink_to("me@host.4242:1700000000")
    for f in extra[1:]:
        f.write_text("editor state\n")
    src = moddir / "null.c"
    original = src.read_text()
    try:
        assert UP_TO_DATE in build()
        extra[1].write_text("editor state, later\n")
        src.write_text(original + "/* edited */\n")
        assert "[1/1] amd64 null.kmod" in build()           # the quick build
        assert UP_TO_DATE in build()
    finally:
        src.write_text(original)
        for f in extra:
            f.unlink()
    build()
    assert UP_TO_DATE in build()
