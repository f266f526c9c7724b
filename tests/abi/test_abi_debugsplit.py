"""kmodbuild.debugsplit on every target: the stripped module loads, the debug file reads.

The build links ``NAME.kmod.full`` (with ``-g``) and splits it into the
installed ``NAME.kmod`` and ``NAME.kmod.debug``.  These tests re-split the
linked modules of the session build, compare with LLVM's objcopy when it is
installed (a differential test: same sections, symbols and relocations), read
the results back with readelf and kmodbuild's own reader, and load the
installed tree in the simulator.
"""
from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from kmodbuild import abiprobe, debugsplit, elfraw
from kmodbuild.elf import read_debug_info, read_module
from kmodbuild.errors import ModuleFormatError
from kmodbuild.linkcheck import check_modules
from kmodbuild.manifest import load_manifest
from kmodbuild.simvalidate import validate_tree
from kmodbuild.target import TARGETS, NetBSDVersion
from tests.conftest import BuiltTree, example_modules

MODULES = example_modules()


def _readelf(*args: str) -> str:
    res = subprocess.run(["readelf", "-W", *args], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "Warning" not in res.stderr and "Error" not in res.stderr, \
        res.stderr
    return res.stdout


def _facts(data: bytes) -> tuple[list, list, dict]:
    """(sections, symbols, relocations) of an ELF file, by name: comparable across tools."""
    elf = elfraw.read_elf(data, "x")
    secs = [(s.name, s.type, s.flags, s.addralign, elf.section_data(s)) for s in elf.sections
            if s.type not in (elfraw.SHT_SYMTAB, elfraw.SHT_STRTAB, elfraw.SHT_REL,
                              elfraw.SHT_RELA)]
    symtab = elf.get_section_by_type(elfraw.SHT_SYMTAB)
    assert symtab is not None
    syms = elf.read_symbols(symtab)
    named = [(s.name, s.value, s.size, s.info, s.other,
              elf.sections[s.shndx].name if 0 < s.shndx < elfraw.SHN_LORESERVE else s.shndx)
             for s in syms]
    relocs = {}
    for rs in elf.sections:
        if rs.type in (elfraw.SHT_REL, elfraw.SHT_RELA):
            relocs[(rs.name, elf.sections[rs.info].name)] = [
                (r.offset, r.type, r.type2, r.type3, named[r.sym][0] or named[r.sym][5],
                 r.addend) for r in elf.read_relocations(rs)]
    # every local symbol before sh_info, every global after it
    assert all(s.bind == elfraw.STB_LOCAL for s in syms[:symtab.info])
    assert all(s.bind != elfraw.STB_LOCAL for s in syms[symtab.info:])
    return secs, named, relocs


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_split_of_every_module(built_tree: BuiltTree, target, tmp_path: Path) -> None:
    for name in MODULES:
        kmod = built_tree.kmod(target.key, name)
        full = kmod.with_name(kmod.name + ".full").read_bytes()
        stripped, debug = kmod.read_bytes(), kmod.with_name(kmod.name + ".debug").read_bytes()
        assert any(n.startswith(".debug_") for n in debugsplit.debug_sections(full))
        # the build's halves are what the function makes (the ABI section aside)
        again = debugsplit.split_debug(full, str(kmod), debug_name=f"{name}.kmod.debug",
                                       extra_sections={abiprobe.ABI_SECTION: debugsplit_abi(
                                           debug)})
        assert again.stripped == stripped and again.debug == debug
        assert debugsplit.debug_sections(stripped) == []
        out = tmp_path / f"{name}.kmod"
        out.write_bytes(stripped)
        sections = _readelf("-S", str(out))
        assert ".debug" not in sections and ".gnu_debuglink" in sections
        _readelf("-r", "-s", str(out))
        # .gnu_debuglink names the debug file and carries its CRC-32, in the file's byte order
        elf = elfraw.read_elf(stripped, name)
        link = elf.section_data(elf.get_section_by_name(".gnu_debuglink"))
        assert link.startswith(f"{name}.kmod.debug\0".encode())
        assert struct.unpack("<I" if target.little_endian else ">I", link[-4:])[0] == \
            zlib.crc32(debug)
        # the debug file: all section headers, no code, every DWARF section
        dbg = tmp_path / f"{name}.kmod.debug"
        dbg.write_bytes(debug)
        listing = _readelf("-S", str(dbg))
        assert ".debug_info" in listing and ".rela" in listing or ".rel" in listing
        delf = elfraw.read_elf(debug, name)
        felf = elfraw.read_elf(full, name)
        assert [s.name for s in delf.sections][:len(felf.sections)] == \
            [s.name for s in felf.sections]
        assert all(s.type == elfraw.SHT_NOBITS for s in delf.sections if s.flags
                   & elfraw.SHF_ALLOC)
        info = read_debug_info(dbg)
        assert info is not None and len(info.dies) > 50


def debugsplit_abi(debug: bytes) -> bytes:
    elf = elfraw.read_elf(debug, "x")
    return elf.section_data(elf.get_section_by_name(abiprobe.ABI_SECTION))


@pytest.mark.skipif(shutil.which("llvm-objcopy") is None, reason="llvm-objcopy not installed")
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_same_as_llvm_objcopy(built_tree: BuiltTree, target, tmp_path: Path) -> None:
    """Differential: the stripped file has the sections, symbols and relocations that
    ``llvm-objcopy --strip-debug --add-gnu-debuglink`` gives (MKDEBUG's recipe) -- on
    earmv7hf with the branch trampolines added to both (kmodbuild.armtramp)."""
    from kmodbuild import armtramp
    for name in MODULES:
        kmod = built_tree.kmod(target.key, name)
        debug = kmod.with_name(kmod.name + ".debug")
        ref = tmp_path / f"{name}.ref"
        subprocess.run(["llvm-objcopy", "--strip-debug", f"--add-gnu-debuglink={debug}",
                        str(kmod.with_name(kmod.name + ".full")), str(ref)], check=True,
                       timeout=60)
        expected = armtramp.add_trampolines(ref.read_bytes())
        assert (expected != ref.read_bytes()) == (target.name == "evbarm-earmv7hf"), name
        assert _facts(kmod.read_bytes()) == _facts(expected), name


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_stripped_modules_pass_the_check_and_load(built_tree: BuiltTree, target) -> None:
    version = NetBSDVersion.parse("10.0")
    manifest = load_manifest(built_tree.manifest(target.key))
    mods = [read_module(built_tree.kmod(target.key, n), target) for n in MODULES]
    assert check_modules(mods, manifest, target, version) == []
    # the installed tree is the stripped modules; the simulator links and loads each one
    stand = built_tree.root if target.primary else \
        built_tree.root / f"destdir.{target.key}"
    result = validate_tree(stand, target, version, built_tree.manifest(target.key))
    assert result.ok, [str(f) for f in result.failures]
    assert len(result.loaded) == len(MODULES)


def test_objects_without_debug_information_are_unchanged(built_tree: BuiltTree) -> None:
    data = built_tree.kmod("amd64-x86_64", "hello").read_bytes()
    # an old .gnu_debuglink is replaced (objcopy -R .gnu_debuglink), nothing else removed
    plain, removed = debugsplit.strip_debug(data, "hello.kmod")
    assert removed == (".gnu_debuglink",)
    assert debugsplit.strip_debug(plain, "hello.kmod") == (plain, ())


def test_errors(built_tree: BuiltTree) -> None:
    kernel = built_tree.kernel("amd64-x86_64").read_bytes()
    with pytest.raises(ModuleFormatError, match="not a relocatable object"):
        debugsplit.split_debug(kernel, "netbsd")
    full = built_tree.kmod("amd64-x86_64", "null").with_name("null.kmod.full").read_bytes()
    with pytest.raises(ModuleFormatError):
        debugsplit.split_debug(full[:200], "short.kmod")
    # a global symbol defined in a debug section cannot be stripped
    elf = elfraw.read_elf(full, "null")
    symtab = elf.get_section_by_type(elfraw.SHT_SYMTAB)
    info_index = next(s.index for s in elf.sections if s.name == ".debug_info")
    syms = elf.read_symbols(symtab)
    g = next(i for i, s in enumerate(syms) if s.bind == elfraw.STB_GLOBAL and s.shndx)
    patched = bytearray(full)
    at = symtab.offset + g * 24 + 6                  # Elf64_Sym.st_shndx
    struct.pack_into("<H", patched, at, info_index)
    with pytest.raises(ModuleFormatError, match="is defined in debug section .debug_info"):
        debugsplit.strip_debug(bytes(patched), "null.kmod")


def test_a_write_that_fails_leaves_no_temporary_file(built_tree: BuiltTree,
                                                     tmp_path: Path) -> None:
    # a full disk (here: RLIMIT_FSIZE, the write fails with EFBIG): one line, and no
    # NAME.kmod.debug.tmp left beside the build's products
    full = built_tree.kmod("amd64-x86_64", "hello").with_suffix(".kmod.full")
    out = tmp_path / "out"
    out.mkdir()
    code = (
        "import resource, signal, sys\n"
        "from pathlib import Path\n"
        "from kmodbuild import debugsplit\n"
        "from kmodbuild.errors import ModuleFormatError\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "o = Path(sys.argv[2])\n"
        "try:\n"
        "    debugsplit.split_file(Path(sys.argv[1]), o / 'hello.kmod', o / 'hello.kmod.debug')\n"
        "except ModuleFormatError as e:\n"
        "    print(e)\n"
        "    sys.exit(1)\n")
    res = subprocess.run([sys.executable, "-c", code, str(full), str(out)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1, res.stderr
    assert "cannot write" in res.stdout and "hello.kmod.debug" in res.stdout
    assert sorted(p.name for p in out.iterdir()) == []
