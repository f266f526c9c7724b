"""End-to-end build tests: the real toolchain builds the example tree for every target."""
from __future__ import annotations

import json
import stat

import pytest
from elftools.elf.elffile import ELFFile

from kmodbuild.target import TARGETS, NetBSDVersion, stand_dir
from tests.conftest import BuiltTree, example_modules, scons

MODULES = example_modules()


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_every_module_is_a_relocatable_object_for_its_target(built_tree: BuiltTree,
                                                              target) -> None:
    assert MODULES, "no example modules found under sys/modules"
    for name in MODULES:
        path = built_tree.kmod(target.key, name)
        with open(path, "rb") as f:
            elf = ELFFile(f)
            assert elf["e_type"] == "ET_REL", name
            assert elf.header["e_machine"] in target.accepted_machines or \
                ELFFile(f).header.e_machine  # pyelftools names it; compare numbers below
            f.seek(0)
            ident = f.read(20)
            assert ident[4] == (2 if target.elfclass == 64 else 1), name
            assert ident[5] == (1 if target.little_endian else 2), name
            e_machine = int.from_bytes(ident[18:20], "little" if target.little_endian else "big")
            assert e_machine == target.e_machine, name
            sets = [s for s in elf.iter_sections() if s.name == "link_set_modules"]
            assert len(sets) == 1, name
            assert sets[0].data_size == target.pointer_size, name


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_installed_paths_and_modes(built_tree: BuiltTree, target) -> None:
    stand = stand_dir(built_tree.root, target, NetBSDVersion.parse("10.0"))
    for name in MODULES:
        inst = stand / name / f"{name}.kmod"
        assert inst.is_file(), inst
        assert stat.S_IMODE(inst.stat().st_mode) == 0o444
        assert inst.read_bytes() == built_tree.kmod(target.key, name).read_bytes()


def test_shared_archdir_targets_do_not_overwrite_each_other(built_tree: BuiltTree) -> None:
    aarch64 = built_tree.root / "stand" / "evbarm" / "10.0" / "modules" / "hello" / "hello.kmod"
    armv7 = (built_tree.root / "destdir.evbarm-earmv7hf" / "stand" / "evbarm" / "10.0"
             / "modules" / "hello" / "hello.kmod")
    assert aarch64.read_bytes()[18] == 183          # EM_AARCH64
    assert armv7.read_bytes()[18] == 40             # EM_ARM


def test_second_run_is_up_to_date(built_tree: BuiltTree) -> None:
    res = scons(built_tree.root, "ARCH=all", "VERSION=10.0", "-j2")
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    assert not any("zig" in ln or ln.startswith("install ") for ln in lines), lines
    # modules are stable: the installed tree did not change
    assert "is up to date" in res.stdout


def test_compile_commands_json_written(built_tree: BuiltTree) -> None:
    db = json.loads((built_tree.root / "compile_commands.json").read_text())
    files = {e["file"] for e in db}
    assert "sys/modules/hello/hello.c" in files
    entry = next(e for e in db if e["file"] == "sys/modules/hello/hello.c")
    assert "-D_MODULE" in entry["arguments"] and "-c" in entry["arguments"]


def test_version_directory_rules(tmp_path) -> None:
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    scons(tree, "ARCH=amd64", "VERSION=10.99.10", "install")
    assert (tree / "stand/amd64/10.99.10/modules/hello/hello.kmod").is_file()
    raw = (tree / "build/amd64-x86_64/10.99.10/modules/hello/hello.kmod").read_bytes()
    assert (1099001000).to_bytes(4, "little") in raw     # __NetBSD_Version__ stamped


@pytest.mark.parametrize("args,needle", [
    (("ARCH=vax",), "unknown target 'vax'"),
    (("VERSION=ten",), "invalid VERSION 'ten'"),
    (("VERSION=10.99",), "needs its patch level"),
    (("TOOLCHAIN=hostgcc", "ARCH=evbarm-aarch64"), "hostgcc builds only amd64 and i386"),
    (("TOOLCHAIN=gcc", "ARCH=evbmips-mips64eb"), "apt-get install gcc-mips64-linux-gnuabi64"),
    (("TOOLCHAIN=nope",), "unknown TOOLCHAIN 'nope'; known: zig, clang, gcc, hostgcc"),
    (("DESTDIR=/dev/null/root",), "DESTDIR=/dev/null/root: /dev/null is not a directory"),
    (("KERNSRCDIR=/dev",), "/dev: not a NetBSD sys/ directory (no sys/module.h); check "
                           "KERNSRCDIR"),
    (("CCWRAPPER=/no/such/ccache",), "CCWRAPPER: /no/such/ccache: no such program"),
    (("CCWRAPPER=nosuchwrapper",), "nosuchwrapper not found on PATH  Stop."),
    (("KMOD_CACHEDIR=/proc/no/cache",), "KMOD_CACHEDIR /proc/no/cache: cannot use it as a "
                                        "cache directory: No such file or directory"),
    (("VERBOSE=maybe",), "VERBOSE=maybe: not a yes/no value"),
    (("CCACHE=",), "CCACHE=: not a yes/no value"),
])
def test_bad_options_give_one_line(tmp_path, args, needle) -> None:
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    res = scons(tree, *args, check=False)
    assert res.returncode != 0
    err = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and needle in err[0], res.stderr
    assert not (tree / "stand").exists()


def test_a_bad_manifest_given_is_one_line_before_anything_is_built(tmp_path) -> None:
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    bad = tmp_path / "bad.syms"
    bad.write_text("# kmodbuild kernel symbol manifest v1\n# MACHINE=amd64\n"
                   "# MACHINE_ARCH=x86_64\n# VERSION=10.0\nno fields here\n")
    for given, needle in ((str(tmp_path / "none.syms"),
                           f"MANIFEST={tmp_path / 'none.syms'}: no such file"),
                          (str(bad), f"{bad}:5: ")):
        res = scons(tree, f"MANIFEST={given}", "-j2", check=False)
        err = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert res.returncode == 2 and len(err) == 1 and needle in err[0], res.stderr
        assert not (tree / "stand").exists()
        assert not list((tree / "build").rglob("*.o"))          # nothing compiled


@pytest.mark.parametrize("header, needle", [
    (None, "is a directory, not a manifest file"),
    ("# MACHINE=sparc64\n# MACHINE_ARCH=sparc64\n# VERSION=10.0\n"
     "# __NetBSD_Version__=1000000000\n",
     "the manifest of a sparc64 sparc64 kernel; ARCH=amd64 builds for amd64 x86_64"),
    ("# MACHINE=amd64\n# MACHINE_ARCH=x86_64\n# VERSION=9.0\n"
     "# __NetBSD_Version__=900000000\n",
     "the manifest of a 9.0 kernel; modules built for VERSION=10.0 do not load into it"),
])
def test_a_manifest_of_another_kernel_is_one_line(tmp_path, header, needle) -> None:
    """MANIFEST= naming a directory was a SCons traceback; one of another target's or
    version's kernel was accepted, and every module "passed" a check against it."""
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    given = tmp_path / "k.syms"
    if header is None:
        given.mkdir()
    else:
        given.write_text("# kmodbuild kernel symbol manifest v1\n" + header
                         + "printf\tfunc\t16\t-\n")
    res = scons(tree, "ARCH=amd64", f"MANIFEST={given}", check=False)
    err = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(err) == 1 and needle in err[0], res.stderr
    assert f"MANIFEST={given}: " in err[0]
    assert not (tree / "stand").exists()


def test_installed_modules_the_tree_no_longer_builds_are_named(tmp_path) -> None:
    import shutil as _sh
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    scons(tree, "ARCH=amd64")
    _sh.rmtree(tree / "sys" / "modules" / "hello")     # removed from the tree, still installed
    line = ("simulate: 1 installed module the tree does not build, simulated too: hello "
            "(kmodbuild verify lists them; delete them to leave them out)")
    assert line in scons(tree, "ARCH=amd64").stdout.splitlines()         # SCons's graph
    src = tree / "sys" / "modules" / "bitbucket" / "bitbucket.c"
    src.write_text(src.read_text() + "int bitbucket_extra;\n")
    out = scons(tree, "ARCH=amd64").stdout.splitlines()                  # the quick build
    assert "[1/1] amd64 bitbucket.kmod" in out and line in out
    _sh.rmtree(tree / "stand" / "amd64" / "10.0" / "modules" / "hello")
    src.write_text(src.read_text() + "int bitbucket_more;\n")
    assert not [ln for ln in scons(tree, "ARCH=amd64").stdout.splitlines()
                if "does not build" in ln]


def test_a_failing_simulation_names_the_modules_the_tree_does_not_build(tmp_path) -> None:
    """The note explains a failure blamed on a stale installed module: it was printed
    only when the simulation succeeded."""
    import shutil as _sh
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    scons(tree, "ARCH=amd64")
    _sh.rmtree(tree / "sys" / "modules" / "hello")     # removed from the tree, still installed
    stale = tree / "stand" / "amd64" / "10.0" / "modules" / "hello" / "hello.kmod"
    stale.chmod(0o644)
    stale.write_bytes(b"not an ELF file")
    res = scons(tree, "ARCH=amd64", check=False)
    assert res.returncode == 2
    err = res.stderr.splitlines()
    assert any(ln.startswith("simulate: amd64 10.0:") and "1 failure" in ln for ln in err), err
    assert ("simulate: 1 installed module the tree does not build, simulated too: hello "
            "(kmodbuild verify lists them; delete them to leave them out)") in err, err


def test_keep_going_builds_and_simulates_every_target(tmp_path) -> None:
    """README: ``scons -k ARCH=...`` builds, installs and simulates every target although
    a module fails the check on one (powerpc: clang's memcpy call ignores -mlongcall)."""
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    mod = tree / "sys" / "modules" / "bigcopy"
    mod.mkdir()
    (mod / "SConscript").write_text("Import('env')\nenv.KernelModule('bigcopy', ['bigcopy.c'])\n")
    (mod / "bigcopy.c").write_text(
        "#include <sys/param.h>\n#include <sys/errno.h>\n#include <sys/module.h>\n"
        "#include <sys/systm.h>\nMODULE(MODULE_CLASS_MISC, bigcopy, NULL);\n"
        "struct bigcopy_big { char b[512]; };\nstruct bigcopy_big bigcopy_src, bigcopy_dst;\n"
        "static int\nbigcopy_modcmd(modcmd_t cmd, void *arg)\n{\n"
        "\tif (cmd == MODULE_CMD_INIT) bigcopy_dst = bigcopy_src;\n"
        "\treturn cmd == MODULE_CMD_INIT || cmd == MODULE_CMD_FINI ? 0 : ENOTTY;\n}\n")
    res = scons(tree, "-k", "ARCH=evbppc-powerpc,amd64", check=False)
    assert res.returncode == 2
    assert "bigcopy.kmod: unsupported relocation type R_PPC_REL24" in res.stderr
    out = res.stdout.splitlines()
    assert "simulate: amd64 10.0: 11 modules, 11 loaded, 11 unloaded, 0 failures" in out, out
    assert "simulate: evbppc-powerpc 10.0: 10 modules, 10 loaded, 10 unloaded, 0 failures" \
        in out, out
    assert (tree / "stand/amd64/10.0/modules/bigcopy/bigcopy.kmod").is_file()
    assert not (tree / "stand/evbppc/10.0/modules/bigcopy").exists()


def test_sets_follow_source_date_epoch(tmp_path) -> None:
    import tarfile
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    sets = tree / "build" / "sets" / "modules-amd64-10.0.tar.xz"
    for epoch in ("", "1700000000", ""):     # a changed value makes the archive again
        scons(tree, "ARCH=amd64", "sets", env={"SOURCE_DATE_EPOCH": epoch})
        with tarfile.open(sets) as tar:
            assert {m.mtime for m in tar.getmembers()} == {int(epoch or 0)}
    res = scons(tree, "ARCH=amd64", "sets", env={"SOURCE_DATE_EPOCH": "soon"}, check=False)
    assert res.returncode == 2 and "SOURCE_DATE_EPOCH='soon': expected whole seconds" \
        in res.stderr


def test_kmod_abiprobe_changes_remake_the_debug_files(tmp_path) -> None:
    from kmodbuild import abiprobe, elfraw
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    debug = tree / "build/amd64-x86_64/10.0/modules/null/null.kmod.debug"

    def view() -> bool:
        elf = elfraw.read_elf(debug.read_bytes(), str(debug))
        return elf.get_section_by_name(abiprobe.ABI_SECTION) is not None

    scons(tree, "ARCH=amd64", env={"KMOD_ABIPROBE": "0"})
    assert not view()                          # KMOD_ABIPROBE=0: no ABI view
    scons(tree, "ARCH=amd64", env={"KMOD_ABIPROBE": ""})
    assert view()                              # the default again: the view is written


def test_the_simulation_runs_again_when_the_emulator_comes_or_goes(tmp_path) -> None:
    import os
    from tests.conftest import REPO, copy_tree
    tree = copy_tree(tmp_path / "t")
    hide = tmp_path / "hide"
    hide.mkdir()                                # an unicorn that cannot be imported
    (hide / "unicorn.py").write_text("raise ImportError('hidden by the test')\n")
    note = "simulate: unicorn is not installed: modcmd is not emulated"
    scons(tree, "ARCH=amd64")
    # amd64 simulated again without the emulator, i386 for the first time: two
    # summaries, and the note the two targets share printed once
    without = scons(tree, "ARCH=amd64,i386", env={"PYTHONPATH": f"{hide}{os.pathsep}{REPO}"})
    lines = without.stdout.splitlines()
    assert sum(ln.startswith("simulate: amd64 10.0: ") for ln in lines) == 1, without.stdout
    assert sum(ln.startswith("simulate: i386 10.0: ") for ln in lines) == 1, without.stdout
    assert sum(ln.startswith(note) for ln in lines) == 1, without.stdout
    again = scons(tree, "ARCH=amd64")            # emulated again, not "up to date"
    assert "simulate: amd64 10.0: 10 modules, 10 loaded" in again.stdout
    assert not any(ln.startswith(note) for ln in again.stdout.splitlines())


def test_files_the_kernel_reads_beside_the_installs_are_simulated_again(tmp_path) -> None:
    import shutil as _sh
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    mods = tree / "stand" / "amd64" / "10.0" / "modules"
    scons(tree, "ARCH=amd64")
    plist = mods / "hello" / "hello.plist"            # placed by hand, not by the build
    plist.write_text("not a property list")
    res = scons(tree, "ARCH=amd64", check=False)
    assert res.returncode == 2, res.stdout           # was: "simulate is up to date"
    assert "hello: load failed: Invalid argument (EINVAL)" in res.stderr
    plist.unlink()
    scons(tree, "ARCH=amd64")
    # a module the tree does not build, installed by hand: its changes count too
    _sh.copytree(mods / "hello", mods / "extra")
    (mods / "extra" / "hello.kmod").rename(mods / "extra" / "extra.kmod")
    assert "simulated too: extra (" in scons(tree, "ARCH=amd64").stdout
    (mods / "extra" / "extra.kmod").write_bytes(b"garbage")
    res = scons(tree, "ARCH=amd64", check=False)
    assert res.returncode == 2 and "extra: load failed" in res.stderr
    _sh.rmtree(mods / "extra")
    assert "0 failures" in scons(tree, "ARCH=amd64").stdout


def test_sets_hold_what_the_metalog_records(tmp_path) -> None:
    """A set is the METALOG's files: a file placed by hand (not recorded) makes
    `scons sets` refuse in one line instead of packing it; once it is gone, the set
    is made again without it."""
    import tarfile

    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    sets = tree / "build" / "sets" / "modules-amd64-10.0.tar.xz"
    plist = tree / "stand" / "amd64" / "10.0" / "modules" / "hello" / "hello.plist"

    def names() -> set[str]:
        scons(tree, "ARCH=amd64", "sets")
        with tarfile.open(sets) as tar:
            return {m.name.rsplit("/", 1)[-1] for m in tar.getmembers()}

    assert "hello.kmod" in names() and "hello.plist" not in names()
    plist.write_text("<plist/>\n")            # placed by hand: not recorded, refused
    res = scons(tree, "ARCH=amd64", "sets", check=False)
    err = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(err) == 1, res.stderr
    assert f"{plist}: unexpected; not packing a tree that does not verify" in err[0]
    assert not sets.exists()
    plist.unlink()
    assert "hello.plist" not in names() and "hello.kmod" in names()


def test_an_unknown_variable_is_a_warning(tmp_path) -> None:
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    res = scons(tree, "ARHC=i386", "VERISON=10.0", "MYFLAG=1", "-n", check=False)
    assert res.returncode == 0, res.stderr
    # typos are named, built as if not given; a variable of the tree's own is left alone
    assert [ln for ln in res.stderr.splitlines() if "warning" in ln] == [
        "scons: warning: unknown variable ARHC (did you mean ARCH?), ignored; "
        "'scons -h' lists the variables",
        "scons: warning: unknown variable VERISON (did you mean VERSION?), ignored; "
        "'scons -h' lists the variables"]


def test_an_unknown_value_of_a_switch_is_a_warning(tmp_path) -> None:
    # KMOD_ABIPROBE=off probes (only 0 turns the probes off): said, not silently taken
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    res = scons(tree, "-n", check=False, env={"KMOD_ABIPROBE": "off", "KMOD_SIMMEMO": "0",
                                              "KMOD_QUICKBUILD": "no"})
    assert res.returncode == 0, res.stderr
    assert [ln for ln in res.stderr.splitlines() if "warning" in ln] == [
        "scons: warning: KMOD_QUICKBUILD=no: not one of 0, 1; taken as unset",
        "scons: warning: KMOD_ABIPROBE=off: not one of 0, 1, always; taken as unset"]


def test_host_gcc_toolchain_builds_x86(tmp_path) -> None:
    import shutil as _sh
    if not (_sh.which("gcc") and _sh.which("ld")):
        pytest.skip("host gcc/ld not installed")
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    scons(tree, "TOOLCHAIN=hostgcc", "ARCH=amd64,i386", "-j2")
    for key, machine in (("amd64-x86_64", 62), ("i386-i386", 3)):
        raw = (tree / f"build/{key}/10.0/modules/null/null.kmod").read_bytes()
        assert raw[16] == 1 and raw[18] == machine          # ET_REL, right e_machine
    assert (tree / "stand/i386/10.0/modules/null/null.kmod").is_file()


def test_netbsdsrcdir_switches_include_paths(tmp_path, built_tree: BuiltTree) -> None:
    """A real-tree layout: sys/ with arch/<MACHINE>/include reached as <machine/...>."""
    import shutil as _sh
    from tests.conftest import REPO, copy_tree
    src = tmp_path / "netbsd-src"
    _sh.copytree(REPO / "sys", src / "sys", ignore=_sh.ignore_patterns("modules", "kern"))
    (src / "common" / "include").mkdir(parents=True)
    for d in ("amd64", "x86"):
        (src / "sys/arch" / d / "include").mkdir(parents=True)
    (src / "sys/arch/amd64/include/kmodtest.h").write_text("#define KMODTEST_MACHINE 42\n")
    tree = copy_tree(tmp_path / "t")
    mod = tree / "sys/modules/hello/hello.c"
    mod.write_text("#include <machine/kmodtest.h>\n"
                   "#if KMODTEST_MACHINE != 42\n#error wrong machine header\n#endif\n"
                   + mod.read_text())
    manifest = built_tree.manifest("amd64-x86_64")
    res = scons(tree, "ARCH=amd64", f"NETBSDSRCDIR={src}", f"MANIFEST={manifest}", "-j2")
    assert (tree / "stand/amd64/10.0/modules/hello/hello.kmod").is_file(), res.stdout
    assert (tree / "build/amd64-x86_64/klinks/machine").resolve() == \
        src / "sys/arch/amd64/include"
    db = json.loads((tree / "compile_commands.json").read_text())
    hello = next(e for e in db if e["file"] == "sys/modules/hello/hello.c")
    assert str(src / "sys") in hello["arguments"]
    # a header of the other tree changed: built again (the fast path watches only this
    # tree, so it stands aside for NETBSDSRCDIR), never "everything is up to date"
    header = src / "sys/arch/amd64/include/kmodtest.h"
    args = ("ARCH=amd64", f"NETBSDSRCDIR={src}", f"MANIFEST={manifest}", "-j2")
    scons(tree, *args)                          # the same command line once more
    header.write_text("#define KMODTEST_MACHINE 43\n")
    res = scons(tree, *args, check=False)
    assert res.returncode == 2 and "wrong machine header" in res.stderr, res.stdout
    header.write_text("#define KMODTEST_MACHINE 42\n")
    # without a manifest there is no stub kernel to check against: one clear line
    bad = scons(tree, "ARCH=amd64", f"NETBSDSRCDIR={src}", check=False)
    assert bad.returncode != 0 and "needs MANIFEST=FILE" in bad.stderr


def test_a_manifest_outside_the_tree_is_watched(tmp_path) -> None:
    import shutil as _sh
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    scons(tree, "ARCH=amd64")
    manifest = tmp_path / "netbsd.syms"             # a kernel's, kept somewhere else
    _sh.copy2(tree / "build/amd64-x86_64/10.0/kernel/netbsd.syms", manifest)
    scons(tree, "ARCH=amd64", f"MANIFEST={manifest}")
    assert "everything is up to date" in scons(tree, "ARCH=amd64",
                                               f"MANIFEST={manifest}").stdout
    manifest.write_text("".join(ln for ln in manifest.read_text().splitlines(True)
                                if not ln.startswith("printf\t")))    # the kernel changed
    res = scons(tree, "ARCH=amd64", f"MANIFEST={manifest}", check=False)
    assert res.returncode == 2 and "needs unknown symbol printf" in res.stderr, res.stdout


def test_a_changed_compiler_is_not_a_noop(tmp_path) -> None:
    import os
    import shutil as _sh
    real = _sh.which("gcc")
    if not (real and _sh.which("ld")):
        pytest.skip("host gcc/ld not installed")
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    wrap = tmp_path / "bin"
    wrap.mkdir()
    gcc = wrap / "gcc"                                   # the compiler TOOLCHAIN=hostgcc finds
    gcc.write_text(f"#!/bin/sh\nexec {real} \"$@\"\n")
    gcc.chmod(0o755)
    env = {"PATH": f"{wrap}{os.pathsep}{os.environ['PATH']}"}
    scons(tree, "ARCH=amd64", "TOOLCHAIN=hostgcc", env=env)
    assert "everything is up to date" in scons(tree, "ARCH=amd64", "TOOLCHAIN=hostgcc",
                                               env=env).stdout
    gcc.write_text(f"#!/bin/sh\n# upgraded\nexec {real} \"$@\"\n")     # another compiler
    out = scons(tree, "ARCH=amd64", "TOOLCHAIN=hostgcc", env=env).stdout
    assert "everything is up to date" not in out, out


def test_a_deleted_compile_database_is_written_again(tmp_path) -> None:
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    db = tree / "compile_commands.json"
    scons(tree, "ARCH=amd64")
    text = db.read_text()
    for _ in range(2):                  # after SCons's build, then after a quick build
        db.unlink()
        scons(tree, "ARCH=amd64")
        assert db.read_text() == text
        src = tree / "sys/modules/hello/hello.c"
        src.write_text(src.read_text() + "int hello_more;\n")
        assert "[1/1] amd64 hello.kmod" in scons(tree, "ARCH=amd64").stdout


def test_two_modules_of_one_name_are_one_line(tmp_path) -> None:
    import shutil as _sh
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    _sh.copytree(tree / "sys/modules/hello", tree / "sys/modules/hello2")
    res = scons(tree, "ARCH=amd64", check=False)
    err = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and err == [
        "scons: *** sys/modules/hello2/SConscript: module name 'hello' is already declared "
        "by sys/modules/hello/SConscript; module names must be unique  Stop."], res.stderr


def test_a_module_without_sources_is_one_line(tmp_path) -> None:
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    (tree / "sys/modules/hello/SConscript").write_text(
        "Import('env')\nenv.KernelModule('hello', [])\n")
    res = scons(tree, "ARCH=amd64", check=False)
    err = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and err == [
        "scons: *** sys/modules/hello/SConscript: KernelModule('hello'): no sources  Stop."], \
        res.stderr


@pytest.mark.parametrize("body,line", [
    ("env.KernelModule('hello', ['hello.c'\n",
     "sys/modules/hello/SConscript:1: SyntaxError: '[' was never closed"),
    ("Import('env')\nenv.KernelModule('hello', ['hello.c'], bogus=1)\n",
     "sys/modules/hello/SConscript:2: KernelModule('hello'): unknown keyword 'bogus' (a "
     "module's own flags: CPPDEFINES, CPPPATH, CFLAGS, CCFLAGS)"),
    ("Import('env')\nenv.KernelModul('hello', ['hello.c'])\n",
     "sys/modules/hello/SConscript:2: AttributeError: Builder or other environment method "
     "'KernelModul' not found."),
])
def test_a_broken_module_sconscript_is_one_line(tmp_path, body: str, line: str) -> None:
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    (tree / "sys/modules/hello/SConscript").write_text(body)
    res = scons(tree, "ARCH=amd64", check=False)
    err = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and err == [f"scons: *** {line}  Stop."], res.stderr


def test_an_install_altered_by_hand_is_installed_again(tmp_path) -> None:
    from kmodbuild.metalog import verify
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    scons(tree, "ARCH=amd64")
    built = tree / "build/amd64-x86_64/10.0/modules/hello/hello.kmod"
    inst = tree / "stand/amd64/10.0/modules/hello/hello.kmod"
    for damage in (b"garbage", None):          # replaced; one byte changed, same size
        inst.chmod(0o644)
        data = built.read_bytes()
        inst.write_bytes(damage if damage is not None else data[:-1] + b"\xff")
        out = scons(tree, "ARCH=amd64").stdout
        assert inst.read_bytes() == built.read_bytes(), out     # not "install is up to date"
        assert verify(tree)[1] == []       # METALOG records the build's file again


def test_help_lists_targets_and_variables(tmp_path) -> None:
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    out = scons(tree, "-h", "ARCH=i386", "VERBOSE=1").stdout
    for word in ("ARCH", "VERSION", "TOOLCHAIN", "DESTDIR", "NETBSDSRCDIR", "evbarm-aarch64",
                 "evbmips-mips64eb"):
        assert word in out
    lines = out.splitlines()
    # what a newcomer needs first: examples and targets, then the variables with this
    # run's values; SCons's own option list only behind -H
    for target in ("install", "install-debug", "check", "simulate", "kernel", "sets"):
        assert any(ln.startswith(f"  {target} ") for ln in lines), target
    assert "  scons ARCH=all -j2        all eight targets" in lines
    assert "comma-separated list, or all [i386]" in out
    assert "[yes]" in out and "--implicit-cache" not in out


def test_clean_removes_build_and_installed_files(tmp_path) -> None:
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    scons(tree, "ARCH=i386")
    assert (tree / "stand/i386/10.0/modules/hello/hello.kmod").is_file()
    scons(tree, "ARCH=i386", "-c")
    assert not (tree / "stand/i386/10.0/modules/hello/hello.kmod").exists()
    assert not (tree / "build/i386-i386/10.0/modules/hello/hello.kmod").exists()
    assert not (tree / "build/i386-i386/10.0/modules/.exports-cache.json").exists()


def test_failed_check_blocks_install_and_reports_every_module(tmp_path) -> None:
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    hello = tree / "sys/modules/hello/hello.c"
    hello.write_text(hello.read_text().replace("printf(", "printff(", 1)
                     .replace("#include <sys/systm.h>",
                              "#include <sys/systm.h>\nint printff(const char *, ...);"))
    ffs = tree / "sys/modules/ffs/ffs.c"
    ffs.write_text(ffs.read_text() + "\nint ffs_bogus(void);\nint ffs_use(void) "
                   "{ return ffs_bogus(); }\n")
    res = scons(tree, "ARCH=amd64", check=False)
    assert res.returncode != 0
    assert "hello.kmod: needs unknown symbol printff (did you mean printf?)" in res.stderr
    assert "ffs.kmod: needs unknown symbol ffs_bogus" in res.stderr
    stand = tree / "stand/amd64/10.0/modules"
    assert not (stand / "hello").exists()            # no empty NAME/ either
    assert not (stand / "ffs").exists()
    assert (stand / "null/null.kmod").is_file()      # the good modules are installed


def test_check_gate_reruns_only_when_a_report_changes(tmp_path) -> None:
    """The gate (check-report.json) comes after every install but only depends on the
    check reports: an edit that leaves every report as it was does not rerun it, an
    error fails every build until it is fixed."""
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    scons(tree, "ARCH=amd64")
    gate = tree / "build/amd64-x86_64/10.0/check-report.json"
    installed = tree / "stand/amd64/10.0/modules/hello/hello.kmod"
    before = (gate.stat().st_mtime_ns, installed.read_bytes())
    hello = tree / "sys/modules/hello/hello.c"
    original = hello.read_text()
    assert "Goodbye" in original
    hello.write_text(original.replace("Goodbye", "So long"))
    scons(tree, "ARCH=amd64")
    assert installed.read_bytes() != before[1]            # rebuilt and reinstalled
    assert gate.stat().st_mtime_ns == before[0]           # its report did not change
    hello.write_text(original.replace("printf(", "printff(", 1)
                     .replace("#include <sys/systm.h>",
                              "#include <sys/systm.h>\nint printff(const char *, ...);"))
    for _ in range(2):                                    # reported again, not remembered
        res = scons(tree, "ARCH=amd64", check=False)
        assert res.returncode != 0
        assert "hello.kmod: needs unknown symbol printff" in res.stderr
        assert not gate.exists() and not installed.exists()
    hello.write_text(original)
    scons(tree, "ARCH=amd64")
    assert gate.is_file() and installed.is_file()


def test_install_sets_and_a_named_module_fail_when_its_check_fails(tmp_path) -> None:
    """``scons install``, ``scons sets`` and ``scons stand/.../hello.kmod`` exited 0 with a
    module whose check failed: left out of stand/ (removed, if it was there) and out
    of the set, said nowhere.  They fail as ``scons`` does, naming the error."""
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    hello = tree / "sys/modules/hello/hello.c"
    hello.write_text(hello.read_text().replace("printf(", "printff(", 1)
                     .replace("#include <sys/systm.h>",
                              "#include <sys/systm.h>\nint printff(const char *, ...);"))
    named = "stand/amd64/10.0/modules/hello/hello.kmod"
    for target in ("install", "sets", named):
        res = scons(tree, "ARCH=amd64", target, check=False)
        assert res.returncode == 2, (target, res.stdout[-1500:])
        assert "hello.kmod: needs unknown symbol printff" in res.stderr, (target, res.stderr)
        assert "Traceback" not in res.stderr
    assert f"{named}: not installed: " in res.stderr
    assert not (tree / named).exists() and not list((tree / "build/sets").glob("*.tar.xz"))
    assert (tree / "stand/amd64/10.0/modules/null/null.kmod").is_file()


def test_manifest_change_rechecks_without_relinking(tmp_path) -> None:
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    scons(tree, "ARCH=amd64")
    kern = tree / "sys/kern/subr_xxx.c"
    kern.write_text(kern.read_text() + "\nint kmodbuild_test_export(void) { return 1; }\n")
    res = scons(tree, "ARCH=amd64", "VERBOSE=1")
    assert "check build/amd64-x86_64/10.0/modules/hello/hello.kmod" in res.stdout
    assert "hello.o" not in res.stdout and "-o build/amd64-x86_64/10.0/modules/hello/hello.kmod" \
        not in res.stdout


def test_module_sconscript_may_clone_the_environment(tmp_path) -> None:
    """A module SConscript that clones env still gets its module checked, installed,
    recorded in METALOG and simulated (SCons copies plain lists on Clone)."""
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    (tree / "sys/modules/hello/SConscript").write_text(
        "Import('env')\nmine = env.Clone(KMOD_CFLAGS=env['KMOD_CFLAGS'] + ' -DHELLO_CLONED')\n"
        "mine.KernelModule('hello', ['hello.c'])\n")
    out = scons(tree, "ARCH=amd64").stdout
    assert (tree / "stand/amd64/10.0/modules/hello/hello.kmod").is_file()
    assert "/modules/hello/hello.kmod " in (tree / "stand/amd64/10.0/METALOG").read_text()
    assert f"{len(MODULES)} modules, {len(MODULES)} loaded" in out, out


def test_install_debug_is_declared_only_when_asked_for(tmp_path) -> None:
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    scons(tree, "ARCH=amd64")
    debug = tree / "usr/libdata/debug/stand/amd64/10.0/modules/hello/hello.kmod.debug"
    assert not debug.exists()
    scons(tree, "ARCH=amd64", "install-debug")
    assert debug.is_file()
    scons(tree, "ARCH=amd64", "-c", "install-debug")
    assert not debug.exists()


def test_a_symlink_on_the_way_to_stand_is_refused_before_anything_is_made(tmp_path) -> None:
    """DESTDIR/stand a symlink: the install refused it, but SCons had already made the
    modules' directories through it, outside DESTDIR."""
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    (tmp_path / "root").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "root" / "stand").symlink_to(tmp_path / "elsewhere")
    res = scons(tree, f"DESTDIR={tmp_path / 'root'}", check=False)
    err = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(err) == 1, res.stderr
    assert "stand: refusing to follow a symlink under DESTDIR" in err[0]
    assert list((tmp_path / "elsewhere").iterdir()) == []


@pytest.mark.parametrize("where", ["tree", "module"])
def test_a_dollar_in_a_path_is_refused_in_one_line(tmp_path, where) -> None:
    """SCons expands ``$name`` in file names: a tree at /x/a$b compiled the kernel of /x/a
    and installed there; a module directory he$lo was a missing SConscript and a stray
    traceback line."""
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / ("a$b" if where == "tree" else "t"))
    if where == "module":
        (tree / "sys/modules/hello").rename(tree / "sys/modules/he$lo")
    res = scons(tree, check=False)
    err = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(err) == 1, res.stderr
    assert "contains '$', which SCons expands" in err[0]
    assert ("a$b" if where == "tree" else "he$lo") in err[0]
    assert not (tree / "stand").exists()
