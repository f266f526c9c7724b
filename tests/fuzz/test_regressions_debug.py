"""The bugs a fuzzer found in the readers of debug files and in the debug split, each
pinned with a hand-aimed corruption of a real file of the session build.

1. A huge ``sh_addralign`` in ``NAME.kmod.full`` made the split pad the output to it:
   MemoryError or OverflowError (a traceback from the build).  A bad ``e_ehsize``
   was copied as the output's ELF header: a stripped module that is not ELF.
   Now both are refused with one ModuleFormatError naming the file.
2. A newline in a DWARF name (a struct member's, in ``.debug_str``) split the ABI
   check's report line.  Now escaped (``\\x0a``) as the ELF reader escapes symbol names.
3. A line table header the walker does not decode went to pyelftools, which takes any
   version from 5 up as DWARF 5 and reads as many (empty) entries as a damaged count
   says: ``kmodbuild check`` ran for minutes and exhausted the memory.  Now the
   walker's own reader is used there too.
4. ``kmodbuild manifest KERNEL --abi`` exited 1 -- the status of a manifest that cannot
   be written -- when the kernel's DWARF was malformed (found by fuzzing the DWARF 5
   sections of stub kernels built with ``-gdwarf-5``): the kernel is the input the user
   named, a usage error (exit 2) as an unreadable KERNEL is without ``--abi``.
"""
from __future__ import annotations

import os
import resource
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from kmodbuild import abiprobe, debugsplit, elfraw
from kmodbuild.elf import read_debug_info
from kmodbuild.errors import ModuleFormatError
from tests.conftest import REPO, BuiltTree
from tests.fuzz.fuzzlib import SHDR_FIELDS, limits, run_cli

T = 20.0


def _full(built_tree: BuiltTree, key: str, name: str) -> bytes:
    return built_tree.kmod(key, name).with_name(f"{name}.kmod.full").read_bytes()


def _set_shdr(buf: bytearray, elf: elfraw.RawElf, index: int, field: str, value: int) -> None:
    off, code = SHDR_FIELDS[elf.elfclass][field]
    bo = "<" if elf.little_endian else ">"
    struct.pack_into(bo + code, buf, elf.header.e_shoff + index * elf.header.e_shentsize + off,
                     value)


@pytest.mark.parametrize("align", [1 << 40, 1 << 62, 3])
def test_split_refuses_a_corrupt_alignment(built_tree: BuiltTree, align: int) -> None:
    data = _full(built_tree, "amd64-x86_64", "null")
    elf = elfraw.read_elf(data, "null.kmod.full")
    buf = bytearray(data)
    _set_shdr(buf, elf, elf.get_section_by_name(".text").index, "sh_addralign", align)
    with limits(T, 512 << 20):
        with pytest.raises(ModuleFormatError) as e:
            debugsplit.split_debug(bytes(buf), "null.kmod.full", debug_name="null.kmod.debug")
    assert str(e.value).startswith("null.kmod.full: cannot split debug information: "
                                   f"section .text has sh_addralign {align:#x}"), str(e.value)


@pytest.mark.parametrize("key,ehsize", [("i386-i386", 1), ("sparc64-sparc64", 4),
                                        ("riscv-riscv64", 0x40 + 7)])
def test_split_refuses_a_bad_header_size(built_tree: BuiltTree, key: str, ehsize: int) -> None:
    data = _full(built_tree, key, "null")
    elf = elfraw.read_elf(data, "null.kmod.full")
    buf = bytearray(data)
    struct.pack_into(("<" if elf.little_endian else ">") + "H", buf,
                     40 if elf.elfclass == 32 else 52, ehsize)
    with pytest.raises(ModuleFormatError, match=f"bad ELF header size e_ehsize {ehsize}"):
        debugsplit.split_debug(bytes(buf), "null.kmod.full", debug_name="null.kmod.debug")


def _place(built_tree: BuiltTree, tmp_path: Path, key: str, name: str,
           debug: bytes) -> Path:
    """NAME.kmod of the build and ``debug`` as its NAME.kmod.debug in ``tmp_path``, the
    module's .gnu_debuglink CRC-32 set to the debug file's (as a split writes them)."""
    kmod = bytearray(built_tree.kmod(key, name).read_bytes())
    elf = elfraw.read_elf(bytes(kmod), name)
    link = elf.get_section_by_name(debugsplit.DEBUGLINK_SECTION)
    assert link is not None
    struct.pack_into(("<" if elf.little_endian else ">") + "I", kmod,
                     link.offset + link.size - 4, zlib.crc32(debug))
    path = tmp_path / f"{name}.kmod"
    path.write_bytes(bytes(kmod))
    path.with_name(f"{name}.kmod.debug").write_bytes(debug)
    return path


def _without_abi_view(debug: bytes) -> bytearray:
    """The debug file with its probe view renamed away: the check reads the DWARF."""
    at = debug.index(abiprobe.ABI_SECTION.encode() + b"\0")
    buf = bytearray(debug)
    buf[at + len(abiprobe.ABI_SECTION) - 1] = ord("j")
    return buf


def _check(built_tree: BuiltTree, key: str, path: Path) -> list[str]:
    r = run_cli(["check", "--manifest", str(built_tree.manifest(key)), str(path)], T)
    assert not r.timed_out and r.escaped is None and "Traceback" not in r.err, r.err[-2000:]
    assert r.rc in (0, 1), (r.rc, r.err)
    lines = r.out.splitlines()
    assert all(ln.startswith(f"{path}: ") for ln in lines), lines
    return lines


def test_newline_in_a_dwarf_name_stays_on_one_line(built_tree: BuiltTree,
                                                    tmp_path: Path) -> None:
    key = "evbppc-powerpc"
    dbg = built_tree.kmod(key, "compat_demo").with_name("compat_demo.kmod.debug")
    buf = _without_abi_view(dbg.read_bytes())
    elf = elfraw.read_elf(bytes(buf), "compat_demo.kmod.debug")
    strs = elf.get_section_by_name(".debug_str")
    at = bytes(buf).index(b"\0ecoff_probe_func\0", strs.offset) + 3
    buf[at] = 0x0A                                      # "ec\nff_probe_func"
    info = read_debug_info(dbg, data=bytes(buf))
    assert info is not None
    names = [e.name for e in info.dies.values() if e.name]
    assert "ec\\x0aff_probe_func" in names and not any("\n" in n for n in names)
    path = _place(built_tree, tmp_path, key, "compat_demo", bytes(buf))
    lines = _check(built_tree, key, path)
    assert any("ec\\x0aff_probe_func" in ln for ln in lines), lines


def test_damaged_line_table_header_is_read_fast(built_tree: BuiltTree, tmp_path: Path) -> None:
    key = "i386-i386"
    dbg = built_tree.kmod(key, "bufq_demo").with_name("bufq_demo.kmod.debug")
    buf = _without_abi_view(dbg.read_bytes())
    elf = elfraw.read_elf(bytes(buf), "bufq_demo.kmod.debug")
    line = elf.get_section_by_name(".debug_line")
    # the first line table's header from its version on: DWARF "5" plus 0x200, no opcode
    # lengths, no directory entry formats, and 2**28 - 1 directories (each of no bytes)
    header = struct.pack("<HBBIBBBbBB", 0x205, 4, 0, 100, 1, 1, 1, -5, 14, 1) + b"\0\xff\xff\xff\x7f"
    buf[line.offset + 4:line.offset + 4 + len(header)] = header
    path = _place(built_tree, tmp_path, key, "bufq_demo", bytes(buf))
    # in a process of its own, its memory capped: the reader this replaced took it all
    res = subprocess.run([sys.executable, "-m", "kmodbuild", "check", "--manifest",
                          str(built_tree.manifest(key)), str(path)], capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)),
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (2 << 30,) * 2))
    assert res.returncode in (0, 1) and not res.stderr, res.stderr[-2000:]
    assert all(ln.startswith(f"{path}: ") for ln in res.stdout.splitlines()), res.stdout
    info = read_debug_info(path.with_name("bufq_demo.kmod.debug"))
    assert info is not None and info.dies


@pytest.mark.parametrize("damage", ["abbrev", "offset"])
def test_manifest_abi_of_a_kernel_with_bad_dwarf_is_a_usage_error(
        tmp_path: Path, damage: str) -> None:
    from kmodbuild.toolchain import zig_path
    zig = zig_path()
    src = tmp_path / "k.c"
    src.write_text("struct s { int a; long b; };\nstruct s hz_like;\n"
                   "int start(struct s *p) { return p->a; }\n")
    obj, kernel = tmp_path / "k.o", tmp_path / "netbsd"
    for argv in ([zig, "clang", "--target=x86_64-unknown-netbsd", "-ffreestanding",
                  "-nostdinc", "-O2", "-g", "-gdwarf-5", "-c", str(src), "-o", str(obj)],
                 [zig, "ld.lld", "-static", "-e", "start", "-o", str(kernel), str(obj)]):
        subprocess.run(argv, check=True, capture_output=True)
    data = bytearray(kernel.read_bytes())
    elf = elfraw.read_elf(bytes(data), "netbsd")
    if damage == "abbrev":          # the first attribute's form: 0x7e, no DW_FORM
        abbrev = elf.get_section_by_name(".debug_abbrev")
        data[abbrev.offset + 4] = 0x7E
    else:                           # .debug_info past the end of the file
        _set_shdr(data, elf, elf.get_section_by_name(".debug_info").index, "sh_offset",
                  len(data) + 64)
    kernel.write_bytes(bytes(data))
    out = tmp_path / "netbsd.syms"
    r = run_cli(["manifest", "--arch", "amd64", "--version", "10.0", str(kernel), "-o",
                 str(out), "--abi", str(tmp_path / "netbsd.abi")], T)
    assert r.rc == 2 and r.escaped is None and "Traceback" not in r.err, (r.rc, r.err)
    assert r.err.startswith(f"kmodbuild manifest: {kernel}: ") and \
        len(r.err.splitlines()) == 1, r.err
    assert not out.exists() and not (tmp_path / "netbsd.abi").exists()
