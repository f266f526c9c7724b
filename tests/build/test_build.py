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
])
def test_bad_options_give_one_line(tmp_path, args, needle) -> None:
    from tests.conftest import copy_tree
    tree = copy_tree(tmp_path / "t")
    res = scons(tree, *args, check=False)
    assert res.returncode != 0
    err = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and needle in err[0], res.stderr
    assert not (tree / "stand").exists()
