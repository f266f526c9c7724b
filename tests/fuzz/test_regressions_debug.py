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
"""
from __future__ import annotations

import struct

import pytest

from kmodbuild import debugsplit, elfraw
from kmodbuild.errors import ModuleFormatError
from tests.conftest import BuiltTree
from tests.fuzz.fuzzlib import SHDR_FIELDS, limits

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
