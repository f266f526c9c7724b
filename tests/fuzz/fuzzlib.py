"""tests.fuzz.fuzzlib - mutate real .kmod files and kernels; feed them to check, sim and manifest.

Shared by the test suite (tests/fuzz/test_fuzz.py, a few hundred cases) and
the long run (bench/bench_fuzz.py, 10,000 and more).  Everything is seeded:
a :class:`Case` is ``(target, module, mutation, seed)`` and always produces the
same bytes, so a failure is reproduced with its id alone::

    python bench/bench_fuzz.py --case amd64/null/reloc-index#1234

Mutations (:data:`MUTATIONS`) work on the real layout of the file (read once
with :mod:`kmodbuild.elfraw`): truncation, random bytes in the ELF header and
the section header table, offsets and sizes pointing outside the file, huge
counts and sizes, bad string-table offsets, relocation and symbol indices out
of range, ``link_set_modules`` (and the modinfo pointers behind it) pointing
anywhere, section types swapped, and plain byte flips.

Every command runs in-process through :func:`kmodbuild.cli.main` with
stdout/stderr captured, under a per-command time limit (``SIGALRM``) and an
address-space limit (``RLIMIT_AS``), so a hang or a runaway allocation is
reported as such instead of stalling or swapping the machine.  What a result
must look like is in :func:`judge_check`, :func:`judge_manifest`,
:func:`judge_modload` and :func:`judge_validate`.
"""
from __future__ import annotations

import contextlib
import io
import os
import random
import re
import resource
import shutil
import signal
import struct
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kmodbuild import elfraw
from kmodbuild.target import TARGETS, Target, get_target

VERSION = "10.0"
MODULES = ("bitbucket", "bufq_demo", "compat_demo", "exec_demo", "ffs", "hello", "layerfs",
           "null", "secmodel_example", "sysdemo")
KERNEL = "netbsd"
MANIFEST_MAGIC = "# kmodbuild kernel symbol manifest v1"

#: Extra address space a single command may take beyond what the process has (bytes).
MEMORY_HEADROOM = 1536 << 20


# --------------------------------------------------------------------------- layout

@dataclass
class RelocTable:
    """One SHT_REL/SHT_RELA section: where its entries are and what they patch."""

    index: int
    offset: int
    entsize: int
    count: int
    is_rela: bool
    target: int


@dataclass
class Layout:
    """Where things are in a pristine ELF file (byte offsets), read once per file."""

    elfclass: int
    little_endian: bool
    mips64: bool
    size: int
    shoff: int
    shnum: int
    shentsize: int
    sections: list[elfraw.RawSection]
    symtab: elfraw.RawSection | None
    nsyms: int
    relocs: list[RelocTable]
    lsm: elfraw.RawSection | None             # link_set_modules
    strtabs: list[elfraw.RawSection] = field(default_factory=list)

    @property
    def bo(self) -> str:
        return "<" if self.little_endian else ">"


def layout_of(data: bytes) -> Layout:
    """The :class:`Layout` of a well-formed file (the fuzzer's own parse)."""
    elf = elfraw.read_elf(data, "<pristine>")
    h = elf.header
    symtab = elf.get_section_by_type(elfraw.SHT_SYMTAB)
    nsyms = elf.symbol_count(symtab) if symtab is not None else 0
    relocs = []
    for s in elf.sections:
        if s.type in (elfraw.SHT_REL, elfraw.SHT_RELA):
            is_rela = s.type == elfraw.SHT_RELA
            ent = (elfraw.RELA_SIZE if is_rela else elfraw.REL_SIZE)[elf.elfclass]
            relocs.append(RelocTable(s.index, s.offset, ent, s.size // ent, is_rela, s.info))
    return Layout(elf.elfclass, elf.little_endian, elf.is_mips64(), len(data), h.e_shoff,
                  len(elf.sections), h.e_shentsize, elf.sections, symtab, nsyms, relocs,
                  elf.get_section_by_name("link_set_modules"),
                  [s for s in elf.sections if s.type == elfraw.SHT_STRTAB])


# --------------------------------------------------------------------------- field access

# (offset, struct code) of header fields, by ELF class (gABI Elf32_Ehdr / Elf64_Ehdr).
EHDR_FIELDS = {
    32: {"e_type": (16, "H"), "e_machine": (18, "H"), "e_version": (20, "I"),
         "e_entry": (24, "I"), "e_phoff": (28, "I"), "e_shoff": (32, "I"), "e_flags": (36, "I"),
         "e_ehsize": (40, "H"), "e_phentsize": (42, "H"), "e_phnum": (44, "H"),
         "e_shentsize": (46, "H"), "e_shnum": (48, "H"), "e_shstrndx": (50, "H")},
    64: {"e_type": (16, "H"), "e_machine": (18, "H"), "e_version": (20, "I"),
         "e_entry": (24, "Q"), "e_phoff": (32, "Q"), "e_shoff": (40, "Q"), "e_flags": (48, "I"),
         "e_ehsize": (52, "H"), "e_phentsize": (54, "H"), "e_phnum": (56, "H"),
         "e_shentsize": (58, "H"), "e_shnum": (60, "H"), "e_shstrndx": (62, "H")},
}
SHDR_FIELDS = {
    32: {"sh_name": (0, "I"), "sh_type": (4, "I"), "sh_flags": (8, "I"), "sh_addr": (12, "I"),
         "sh_offset": (16, "I"), "sh_size": (20, "I"), "sh_link": (24, "I"), "sh_info": (28, "I"),
         "sh_addralign": (32, "I"), "sh_entsize": (36, "I")},
    64: {"sh_name": (0, "I"), "sh_type": (4, "I"), "sh_flags": (8, "Q"), "sh_addr": (16, "Q"),
         "sh_offset": (24, "Q"), "sh_size": (32, "Q"), "sh_link": (40, "I"), "sh_info": (44, "I"),
         "sh_addralign": (48, "Q"), "sh_entsize": (56, "Q")},
}
SYM_FIELDS = {
    32: {"st_name": (0, "I"), "st_value": (4, "I"), "st_size": (8, "I"), "st_info": (12, "B"),
         "st_other": (13, "B"), "st_shndx": (14, "H")},
    64: {"st_name": (0, "I"), "st_info": (4, "B"), "st_other": (5, "B"), "st_shndx": (6, "H"),
         "st_value": (8, "Q"), "st_size": (16, "Q")},
}
_WIDTH = {"B": 1, "H": 2, "I": 4, "Q": 8}


def put(buf: bytearray, lay: Layout, at: int, code: str, value: int) -> None:
    """Store ``value`` (reduced to the field's width) at byte ``at`` in the file's byte order."""
    width = _WIDTH[code]
    if at < 0 or at + width > len(buf):
        return
    struct.pack_into(lay.bo + code, buf, at, value & ((1 << (8 * width)) - 1))


def get(buf: bytes | bytearray, lay: Layout, at: int, code: str) -> int:
    return int(struct.unpack_from(lay.bo + code, buf, at)[0])


def interesting(rng: random.Random, width: int, size: int) -> int:
    """A value likely to hit an edge: 0, 1, around the file size, sign and width limits."""
    top = (1 << (8 * width)) - 1
    return rng.choice([0, 1, 2, 3, 4, 7, 8, 16, 0x40, size - 1, size, size + 1,
                       size + rng.randrange(1, 4096), size * 2, 0x7F, 0x80, 0xFF, 0x100,
                       0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
                       1 << 32, (1 << 63) - 1, 1 << 63, top, top - 1, top - size,
                       rng.getrandbits(8 * width), rng.randrange(0, max(size, 1) * 4)]) & top


def _shdr_at(lay: Layout, index: int, fieldname: str) -> tuple[int, str]:
    off, code = SHDR_FIELDS[lay.elfclass][fieldname]
    return lay.shoff + index * lay.shentsize + off, code


def set_shdr(buf: bytearray, lay: Layout, index: int, fieldname: str, value: int) -> None:
    at, code = _shdr_at(lay, index, fieldname)
    put(buf, lay, at, code, value)


def _sym_at(lay: Layout, index: int, fieldname: str) -> tuple[int, str]:
    assert lay.symtab is not None
    off, code = SYM_FIELDS[lay.elfclass][fieldname]
    return lay.symtab.offset + index * elfraw.SYM_SIZE[lay.elfclass] + off, code


def _reloc_fields(lay: Layout, rt: RelocTable, i: int) -> dict[str, tuple[int, str]]:
    """Byte offset and code of r_offset, the symbol field, the type field and r_addend."""
    base = rt.offset + i * rt.entsize
    if lay.elfclass == 32:
        out = {"offset": (base, "I"), "info": (base + 4, "I")}
        if rt.is_rela:
            out["addend"] = (base + 8, "I")
    elif lay.mips64:
        out = {"offset": (base, "Q"), "sym": (base + 8, "I"), "type": (base + 15, "B")}
        if rt.is_rela:
            out["addend"] = (base + 16, "Q")
    else:
        out = {"offset": (base, "Q"), "info": (base + 8, "Q")}
        if rt.is_rela:
            out["addend"] = (base + 16, "Q")
    return out


def set_reloc_sym(buf: bytearray, lay: Layout, rt: RelocTable, i: int, sym: int) -> None:
    f = _reloc_fields(lay, rt, i)
    if "sym" in f:
        put(buf, lay, *f["sym"], sym)
        return
    at, code = f["info"]
    info = get(buf, lay, at, code)
    if lay.elfclass == 32:
        put(buf, lay, at, code, (sym << 8) | (info & 0xFF))
    else:
        put(buf, lay, at, code, (sym << 32) | (info & 0xFFFFFFFF))


def set_reloc_type(buf: bytearray, lay: Layout, rt: RelocTable, i: int, rtype: int) -> None:
    f = _reloc_fields(lay, rt, i)
    if "type" in f:
        put(buf, lay, *f["type"], rtype)
        return
    at, code = f["info"]
    info = get(buf, lay, at, code)
    if lay.elfclass == 32:
        put(buf, lay, at, code, (info & ~0xFF) | (rtype & 0xFF))
    else:
        put(buf, lay, at, code, (info & ~0xFFFFFFFF) | (rtype & 0xFFFFFFFF))


# --------------------------------------------------------------------------- mutations

Mutator = Callable[[bytearray, Layout, random.Random], bytes]


def m_truncate(buf: bytearray, lay: Layout, rng: random.Random) -> bytes:
    """Cut the file: inside e_ident, the header, a section, or the section header table."""
    ehsize = elfraw.EHDR_SIZE[lay.elfclass]
    cut = rng.choice([0, rng.randrange(1, 16), rng.randrange(16, ehsize),
                      rng.randrange(lay.shoff, min(lay.size, lay.shoff + lay.shnum
                                                   * lay.shentsize)) if lay.shoff < lay.size
                      else lay.size - 1,
                      rng.randrange(ehsize, lay.size), lay.size - 1,
                      rng.randrange(0, lay.size)])
    return bytes(buf[:cut])


def m_header_bytes(buf: bytearray, lay: Layout, rng: random.Random) -> bytes:
    """Random bytes in the ELF header (the magic kept most of the time, to get further)."""
    ehsize = elfraw.EHDR_SIZE[lay.elfclass]
    low = 0 if rng.random() < 0.1 else 4
    for _ in range(rng.randint(1, 4)):
        buf[rng.randrange(low, ehsize)] = rng.getrandbits(8)
    return bytes(buf)


def m_header_field(buf: bytearray, lay: Layout, rng: random.Random) -> bytes:
    """One header field set to an edge value (e_shoff, e_shnum, e_shstrndx, ...)."""
    name = rng.choice(sorted(EHDR_FIELDS[lay.elfclass]))
    at, code = EHDR_FIELDS[lay.elfclass][name]
    put(buf, lay, at, code, interesting(rng, _WIDTH[code], lay.size))
    return bytes(buf)


def m_shdr_bytes(buf: bytearray, lay: Layout, rng: random.Random) -> bytes:
    """Random bytes anywhere in the section header table."""
    span = lay.shnum * lay.shentsize
    for _ in range(rng.randint(1, 8)):
        at = lay.shoff + rng.randrange(span)
        if at < len(buf):
            buf[at] = rng.getrandbits(8)
    return bytes(buf)


def m_shdr_field(buf: bytearray, lay: Layout, rng: random.Random) -> bytes:
    """One section header field of one section set to an edge value."""
    for _ in range(rng.randint(1, 2)):
        name = rng.choice(sorted(SHDR_FIELDS[lay.elfclass]))
        at, code = _shdr_at(lay, rng.randrange(lay.shnum), name)
        put(buf, lay, at, code, interesting(rng, _WIDTH[code], lay.size))
    return bytes(buf)


def m_outside(buf: bytearray, lay: Layout, rng: random.Random) -> bytes:
    """A section's sh_offset or sh_size (or e_shoff) pointing past the end of the file."""
    width = 4 if lay.elfclass == 32 else 8
    past = rng.choice([lay.size, lay.size + 1, lay.size + rng.randrange(1, 1 << 16),
                       (1 << (8 * width)) - 1, 1 << (8 * width - 1)])
    roll = rng.random()
    if roll < 0.1:
        put(buf, lay, *EHDR_FIELDS[lay.elfclass]["e_shoff"], past)
        return bytes(buf)
    s = rng.choice(lay.sections[1:] or lay.sections)
    if roll < 0.55:
        set_shdr(buf, lay, s.index, "sh_offset", past - rng.choice([0, 0, s.size]))
    else:
        set_shdr(buf, lay, s.index, "sh_size", past - rng.choice([0, s.offset]))
    return bytes(buf)


def m_huge(buf: bytearray, lay: Layout, rng: random.Random) -> bytes:
    """Huge counts and sizes: e_shnum, symbol/relocation table sizes, NOBITS and alignments."""
    width = 4 if lay.elfclass == 32 else 8
    big = rng.choice([0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 31, 1 << 40, (1 << 63) - 1,
                      (1 << (8 * width)) - 1, 1 << 30, 64 << 20, 3 << 30])
    roll = rng.randrange(7)
    if roll == 0:
        put(buf, lay, *EHDR_FIELDS[lay.elfclass]["e_shnum"], rng.choice([0, 0xFF00, 0xFFFF,
                                                                          32769, lay.shnum + 1]))
        if rng.random() < 0.5:      # extended numbering: the count is section 0's sh_size
            set_shdr(buf, lay, 0, "sh_size", big)
    elif roll == 1 and lay.symtab is not None:
        set_shdr(buf, lay, lay.symtab.index, "sh_size", big)
    elif roll == 2 and lay.relocs:
        set_shdr(buf, lay, rng.choice(lay.relocs).index, "sh_size", big)
    elif roll == 3:
        nobits = [s for s in lay.sections if s.type == elfraw.SHT_NOBITS] or lay.sections[1:]
        s = rng.choice(nobits)
        if s.type != elfraw.SHT_NOBITS and rng.random() < 0.5:
            set_shdr(buf, lay, s.index, "sh_type", elfraw.SHT_NOBITS)
        set_shdr(buf, lay, s.index, "sh_size", big)
    elif roll == 4:
        set_shdr(buf, lay, rng.randrange(1, lay.shnum), "sh_addralign",
                 rng.choice([big, 1 << 62, 1 << 31, 3, 0]))
    elif roll == 5:
        set_shdr(buf, lay, rng.randrange(1, lay.shnum), "sh_entsize", rng.choice([big, 0, 1, 3]))
    else:
        set_shdr(buf, lay, rng.randrange(1, lay.shnum), "sh_size", big)
    return bytes(buf)


def m_strtab(buf: bytearray, lay: Layout, rng: random.Random) -> bytes:
    """Bad string-table offsets: sh_name, st_name, e_shstrndx, a symtab's sh_link, strtab size."""
    roll = rng.randrange(6)
    if roll == 0:
        set_shdr(buf, lay, rng.randrange(lay.shnum), "sh_name", interesting(rng, 4, lay.size))
    elif roll == 1 and lay.symtab is not None and lay.nsyms:
        for _ in range(rng.randint(1, 3)):
            at, code = _sym_at(lay, rng.randrange(lay.nsyms), "st_name")
            put(buf, lay, at, code, interesting(rng, 4, lay.size))
    elif roll == 2:
        put(buf, lay, *EHDR_FIELDS[lay.elfclass]["e_shstrndx"],
            rng.choice([0, lay.shnum, lay.shnum - 1, 0xFFFF, 0xFF00, rng.randrange(lay.shnum)]))
    elif roll == 3 and lay.symtab is not None:
        set_shdr(buf, lay, lay.symtab.index, "sh_link",
                 rng.choice([0, lay.symtab.index, lay.shnum, 0xFFFFFFFF,
                             rng.randrange(lay.shnum)]))
    elif roll == 4 and lay.strtabs:
        s = rng.choice(lay.strtabs)
        set_shdr(buf, lay, s.index, "sh_size", rng.choice([0, 1, s.size // 2, s.size - 1]))
    elif lay.strtabs:
        # no NUL at the end of a string table: strings run off its end
        s = rng.choice(lay.strtabs)
        for i in range(max(0, s.size - rng.randint(1, 8)), s.size):
            if s.offset + i < len(buf):
                buf[s.offset + i] = rng.randrange(0x21, 0x7F)
    return bytes(buf)


def m_reloc_index(buf: bytearray, lay: Layout, rng: random.Random) -> bytes:
    """Relocation entries with out-of-range symbol indices, offsets or odd types; sh_info/link."""
    tables = [rt for rt in lay.relocs if rt.count]
    if not tables:
        return m_shdr_field(buf, lay, rng)
    for _ in range(rng.randint(1, 3)):
        rt = rng.choice(tables)
        i = rng.randrange(rt.count)
        roll = rng.randrange(6)
        if roll <= 1:
            set_reloc_sym(buf, lay, rt, i, rng.choice([lay.nsyms, lay.nsyms + 1, 0xFFFF,
                                                       0xFFFFFF, 0xFFFFFFFF, 0, lay.nsyms - 1,
                                                       rng.randrange(lay.nsyms + 64)]))
        elif roll == 2:
            f = _reloc_fields(lay, rt, i)
            at, code = f["offset"]
            put(buf, lay, at, code, interesting(rng, _WIDTH[code], lay.size))
        elif roll == 3:
            set_reloc_type(buf, lay, rt, i, rng.choice([0, 1, 2, 0xFF, rng.getrandbits(8),
                                                        rng.getrandbits(16)]))
        elif roll == 4 and rt.is_rela:
            at, code = _reloc_fields(lay, rt, i)["addend"]
            put(buf, lay, at, code, interesting(rng, _WIDTH[code], lay.size))
        else:
            set_shdr(buf, lay, rt.index, rng.choice(["sh_info", "sh_link"]),
                     rng.choice([0, lay.shnum, 0xFFFF, 0xFFFFFFFF, rng.randrange(lay.shnum)]))
    return bytes(buf)


def m_symbol(buf: bytearray, lay: Layout, rng: random.Random) -> bytes:
    """Symbols with st_shndx out of range (or reserved), huge values, odd binding and type."""
    if lay.symtab is None or not lay.nsyms:
        return m_shdr_field(buf, lay, rng)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(lay.nsyms)
        name = rng.choice(["st_shndx", "st_shndx", "st_value", "st_size", "st_info"])
        at, code = _sym_at(lay, i, name)
        if name == "st_shndx":
            value = rng.choice([lay.shnum, lay.shnum + 1, 0xFEFF, 0xFF00, 0xFFF1, 0xFFF2,
                                0xFFFF, 0, rng.randrange(lay.shnum)])
        elif name == "st_info":
            value = rng.getrandbits(8)
        else:
            value = interesting(rng, _WIDTH[code], lay.size)
        put(buf, lay, at, code, value)
    if rng.random() < 0.2:
        set_shdr(buf, lay, lay.symtab.index, "sh_info",
                 rng.choice([0, lay.nsyms, lay.nsyms + 1, 0xFFFFFFFF]))
    return bytes(buf)


def m_link_set(buf: bytearray, lay: Layout, rng: random.Random) -> bytes:
    """``link_set_modules`` and the modinfo pointers behind it pointing anywhere."""
    lsm = lay.lsm
    if lsm is None:
        return m_reloc_index(buf, lay, rng)
    lsm_tables = [rt for rt in lay.relocs if rt.target == lsm.index and rt.count]
    roll = rng.randrange(8)
    if roll == 0:
        set_shdr(buf, lay, lsm.index, "sh_size", rng.choice([0, 1, lsm.size - 1, lsm.size + 1,
                                                             lsm.size * 2, lsm.size * 3,
                                                             0xFFFFFFFF]))
    elif roll == 1:
        set_shdr(buf, lay, lsm.index, rng.choice(["sh_type", "sh_offset", "sh_flags"]),
                 rng.choice([elfraw.SHT_NOBITS, elfraw.SHT_NULL, elfraw.SHT_STRTAB,
                             lay.size, lay.size - 1, 0, 0xFFFFFFFF]))
    elif roll == 2 and lsm.type == elfraw.SHT_PROGBITS:
        # the pointer word itself (the implicit addend of REL targets)
        for k in range(lsm.size):
            if lsm.offset + k < len(buf):
                buf[lsm.offset + k] = rng.getrandbits(8)
    elif lsm_tables and roll <= 5:
        rt = rng.choice(lsm_tables)
        i = rng.randrange(rt.count)
        f = _reloc_fields(lay, rt, i)
        if roll == 3:
            set_reloc_sym(buf, lay, rt, i, rng.randrange(lay.nsyms + 8))
        elif roll == 4 and "addend" in f:
            at, code = f["addend"]
            put(buf, lay, at, code, interesting(rng, _WIDTH[code], lay.size))
        else:
            at, code = f["offset"]
            put(buf, lay, at, code, rng.choice([1, 4, lsm.size, lsm.size + 8, 0xFFFFFFFF]))
    else:
        # the relocations that fill the modinfo record (mi_name, mi_required, mi_modcmd):
        # entries of tables that do not patch link_set_modules, near their start
        others = [rt for rt in lay.relocs if rt.target != lsm.index and rt.count]
        if not others:
            return bytes(buf)
        rt = rng.choice(others)
        i = rng.randrange(min(rt.count, 8))
        f = _reloc_fields(lay, rt, i)
        what = rng.choice(["sym", "addend", "offset"])
        if what == "sym":
            set_reloc_sym(buf, lay, rt, i, rng.randrange(lay.nsyms + 8))
        elif what == "addend" and "addend" in f:
            at, code = f["addend"]
            put(buf, lay, at, code, interesting(rng, _WIDTH[code], lay.size))
        else:
            at, code = f["offset"]
            put(buf, lay, at, code, interesting(rng, _WIDTH[code], lay.size))
    return bytes(buf)


def m_section_type(buf: bytearray, lay: Layout, rng: random.Random) -> bytes:
    """A section's sh_type changed (a second SYMTAB, text as STRTAB, a REL that is RELA...)."""
    for _ in range(rng.randint(1, 2)):
        set_shdr(buf, lay, rng.randrange(lay.shnum), "sh_type",
                 rng.choice([0, 1, 2, 3, 4, 7, 8, 9, 11, 18, 0x6FFFFFF5, 0x70000003,
                             rng.getrandbits(32)]))
    return bytes(buf)


def m_flip(buf: bytearray, lay: Layout, rng: random.Random) -> bytes:
    """Random bytes (or bits) anywhere in the file."""
    for _ in range(rng.choice([1, 2, 4, 8, 16, 64])):
        at = rng.randrange(len(buf))
        if rng.random() < 0.5:
            buf[at] ^= 1 << rng.randrange(8)
        else:
            buf[at] = rng.getrandbits(8)
    return bytes(buf)


def m_string_bytes(buf: bytearray, lay: Layout, rng: random.Random) -> bytes:
    """Control characters, newlines and non-UTF-8 bytes inside string tables and .rodata."""
    cands = lay.strtabs + [s for s in lay.sections if s.type == elfraw.SHT_PROGBITS
                           and s.name.startswith(".rodata") and s.size]
    if not cands:
        return m_flip(buf, lay, rng)
    for _ in range(rng.randint(1, 6)):
        s = rng.choice(cands)
        at = s.offset + rng.randrange(max(s.size, 1))
        if at < len(buf):
            buf[at] = rng.choice([0x0A, 0x0D, 0x1B, 0x09, 0x20, 0xFF, 0xC3, 0x80, 0x2F, 0x2E,
                                  0x00, rng.getrandbits(8)])
    return bytes(buf)


#: Mutation name -> mutator; the names appear in case ids.
MUTATIONS: dict[str, Mutator] = {
    "truncate": m_truncate, "header-bytes": m_header_bytes, "header-field": m_header_field,
    "shdr-bytes": m_shdr_bytes, "shdr-field": m_shdr_field, "outside": m_outside,
    "huge": m_huge, "strtab": m_strtab, "reloc-index": m_reloc_index, "symbol": m_symbol,
    "link-set": m_link_set, "section-type": m_section_type, "flip": m_flip,
    "strings": m_string_bytes,
}

#: Mutations applied to kernel images (fed to ``kmodbuild manifest``).
KERNEL_MUTATIONS = ("truncate", "header-bytes", "header-field", "shdr-bytes", "shdr-field",
                    "outside", "huge", "strtab", "symbol", "section-type", "flip", "strings")


# --------------------------------------------------------------------------- cases

@dataclass(frozen=True)
class Case:
    """One reproducible input: ``target/module/mutation#seed`` (module ``netbsd``: the kernel)."""

    target: str
    module: str
    mutation: str
    seed: int

    @property
    def ident(self) -> str:
        return f"{self.target}/{self.module}/{self.mutation}#{self.seed}"

    @classmethod
    def parse(cls, ident: str) -> "Case":
        """The case named ``target/module/mutation#seed``."""
        head, _, seed = ident.rpartition("#")
        target, module, mutation = head.split("/")
        if mutation not in MUTATIONS:
            raise ValueError(f"unknown mutation {mutation!r}")
        return cls(get_target(target).name, module, mutation, int(seed))

    def mutate(self, pristine: bytes, lay: Layout) -> bytes:
        """The mutated bytes (same for the same case, always)."""
        rng = random.Random(f"{self.ident}")
        return MUTATIONS[self.mutation](bytearray(pristine), lay, rng)


def generate_cases(count: int, seed: int = 0, targets: Sequence[str] | None = None,
                   kernel_share: float = 0.1) -> list[Case]:
    """``count`` cases spread evenly over the targets and mutations (seeded)."""
    rng = random.Random(seed)
    names = list(targets) if targets else [t.name for t in TARGETS]
    muts = sorted(MUTATIONS)
    out: list[Case] = []
    for i in range(count):
        target = names[i % len(names)]
        if rng.random() < kernel_share:
            out.append(Case(target, KERNEL, rng.choice(KERNEL_MUTATIONS), rng.getrandbits(32)))
        else:
            out.append(Case(target, rng.choice(MODULES), muts[(i // len(names)) % len(muts)],
                            rng.getrandbits(32)))
    return out


# --------------------------------------------------------------------------- workspace

@dataclass
class TargetFiles:
    """A target's pristine inputs and its scratch stand tree."""

    target: Target
    destdir: Path                     # holds stand/<archdir>/<rel>/modules
    modules_dir: Path
    manifest: Path
    kernel_src: Path
    kernel_work: Path
    pristine: dict[str, bytes] = field(default_factory=dict)
    layouts: dict[str, Layout] = field(default_factory=dict)
    scripts: dict[str, Path] = field(default_factory=dict)

    def path_of(self, module: str) -> Path:
        if module == KERNEL:
            return self.kernel_work
        return self.modules_dir / module / f"{module}.kmod"


class Workspace:
    """Scratch copies of a built tree's modules and kernels, one stand tree per target.

    Args:
        built_root: a tree built with ``scons ARCH=all VERSION=10.0`` (holds build/).
        work: an empty scratch directory.
    """

    def __init__(self, built_root: Path, work: Path, targets: Sequence[str] | None = None) -> None:
        self.work = Path(work)
        self.targets: dict[str, TargetFiles] = {}
        for t in TARGETS:
            if targets and t.name not in targets:
                continue
            build = Path(built_root) / "build" / t.key / VERSION
            destdir = self.work / t.key
            mdir = destdir / "stand" / t.kmodulearchdir / VERSION / "modules"
            tf = TargetFiles(t, destdir, mdir, build / "kernel" / "netbsd.syms",
                             build / "kernel" / "netbsd", destdir / "kernel" / "netbsd")
            for name in MODULES:
                src = build / "modules" / name / f"{name}.kmod"
                data = src.read_bytes()
                dest = mdir / name / f"{name}.kmod"
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
                tf.pristine[name] = data
                tf.layouts[name] = layout_of(data)
                script = destdir / f"modload-{name}.scn"
                # by path (from the file system), then as a boot-loader module
                script.write_text(f"modload {dest}\nboot load={name}\n")
                tf.scripts[name] = script
            kdata = tf.kernel_src.read_bytes()
            tf.kernel_work.parent.mkdir(parents=True, exist_ok=True)
            tf.kernel_work.write_bytes(kdata)
            tf.pristine[KERNEL] = kdata
            tf.layouts[KERNEL] = layout_of(kdata)
            self.targets[t.name] = tf

    def place(self, case: Case) -> tuple[TargetFiles, Path, bytes]:
        """Write the case's mutant where the pristine file was; returns (files, path, bytes)."""
        tf = self.targets[case.target]
        data = case.mutate(tf.pristine[case.module], tf.layouts[case.module])
        path = tf.path_of(case.module)
        _replace(path, data)
        return tf, path, data

    def restore(self, case: Case) -> None:
        """Put the pristine file back."""
        tf = self.targets[case.target]
        _replace(tf.path_of(case.module), tf.pristine[case.module])


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.fuzz")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def build_tree(dest: Path) -> Path:
    """Copy the repository's SConstruct, site_scons/ and sys/ to ``dest`` and build ARCH=all."""
    from tests.conftest import copy_tree, scons
    if (dest / "build").is_dir() and (dest / "stand").is_dir():
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    root = copy_tree(dest)
    scons(root, "ARCH=all", f"VERSION={VERSION}", "-j2")
    return root


# --------------------------------------------------------------------------- running

class CaseTimeout(BaseException):
    """Raised by the alarm inside a command that ran too long (not an Exception: nothing
    in kmodbuild may swallow it)."""


@dataclass
class Run:
    """One in-process CLI run."""

    argv: list[str]
    rc: int | None
    out: str
    err: str
    seconds: float
    timed_out: bool = False
    escaped: str | None = None       # an exception that got out of cli.main


def _vm_size() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


@contextlib.contextmanager
def limits(seconds: float, headroom: int = MEMORY_HEADROOM) -> Iterator[None]:
    """Raise :class:`CaseTimeout` after ``seconds``; cap the address space at now + headroom."""
    def alarm(signum: int, frame: object) -> None:
        raise CaseTimeout()

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _vm_size() + headroom if headroom else resource.RLIM_INFINITY
    if hard != resource.RLIM_INFINITY and cap != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    old = signal.signal(signal.SIGALRM, alarm)
    try:
        if headroom:
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
        signal.setitimer(signal.ITIMER_REAL, seconds)
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if headroom:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_cli(argv: Sequence[str], timeout: float, stdin: str = "") -> Run:
    """``kmodbuild ARGV`` in this process, output captured, under :func:`limits`."""
    from kmodbuild.cli import main
    out, err = io.StringIO(), io.StringIO()
    rc: int | None = None
    escaped = None
    timed_out = False
    start = time.perf_counter()
    old_stdin = sys.stdin
    try:
        sys.stdin = io.StringIO(stdin)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            with limits(timeout):
                rc = main(list(argv))
    except CaseTimeout:
        timed_out = True
    except SystemExit as e:          # argparse
        rc = e.code if isinstance(e.code, int) else 2
    except BaseException as e:  # noqa: BLE001 - anything escaping main() is a finding
        escaped = f"{type(e).__name__}: {e}"
    finally:
        sys.stdin = old_stdin
    return Run(list(argv), rc, out.getvalue(), err.getvalue(), time.perf_counter() - start,
               timed_out, escaped)


# --------------------------------------------------------------------------- judging

def _common(run: Run, allowed: tuple[int, ...] = (0, 1)) -> list[str]:
    problems = []
    if run.timed_out:
        problems.append(f"hang: no answer after {run.seconds:.1f}s")
    if run.escaped:
        problems.append(f"exception escaped cli.main: {run.escaped}")
    if "Traceback" in run.out or "Traceback" in run.err:
        problems.append("traceback: " + (run.err or run.out).strip().splitlines()[-1][:300])
    elif run.rc is not None and run.rc not in allowed:
        problems.append(f"exit status {run.rc}: {(run.err or run.out).strip()[:300]}")
    return problems


def judge_check(run: Run, path: Path) -> list[str]:
    """``kmodbuild check``: 0 or 1; every report line is ``PATH: message`` on one line."""
    problems = _common(run)
    if problems:
        return problems
    prefix = f"{path}: "
    lines = run.out.splitlines()
    for line in lines:
        if not line.startswith(prefix):
            problems.append(f"report line does not start with the file name: {line[:200]!r}")
            break
    for line in run.err.splitlines():
        if not line.startswith("kmodbuild check: "):
            problems.append(f"unexpected stderr line: {line[:200]!r}")
            break
    if run.rc == 1 and not lines:
        problems.append("exit 1 without a report line")
    return problems


def judge_manifest(run: Run, path: Path) -> list[str]:
    """``kmodbuild manifest``: a manifest and 0, or exactly one line
    ``kmodbuild manifest: PATH: problem`` and 2 (the kernel is the user's input: a bad one
    is a usage error, README's exit-code table)."""
    problems = _common(run, (0, 2))
    if problems:
        return problems
    if run.rc == 0:
        from kmodbuild.errors import KmodError
        from kmodbuild.manifest import parse_manifest
        if not run.out.startswith(MANIFEST_MAGIC):
            problems.append("exit 0 without a manifest")
        else:
            try:            # what it wrote, check --manifest must be able to read
                parse_manifest(run.out, "<written>")
            except KmodError as e:
                problems.append(f"wrote a manifest it cannot read back: {e}")
        return problems
    lines = run.err.splitlines()
    if len(lines) != 1 or not lines[0].startswith(f"kmodbuild manifest: {path}: "):
        problems.append(f"not exactly one line naming the file: {run.err[:300]!r}")
    return problems


_STRERROR = re.compile(r"[A-Z][A-Za-z ,:()0-9-]*")


def judge_modload(run: Run, path: Path) -> list[str]:
    """``kmodbuild sim`` running ``modload PATH`` then ``boot load=NAME``: exit 0; a refusal
    is one line ``modload: PATH: <strerror>`` (after the kernel's console lines, one line
    each)."""
    problems = _common(run, (0,))
    if problems:
        return problems
    lines = run.out.splitlines()
    fails = [ln for ln in lines if ln.startswith("modload: ")]
    if fails:
        want = f"modload: {path}: "
        if len(fails) != 1 or not fails[0].startswith(want) \
                or not _STRERROR.fullmatch(fails[0][len(want):]):
            problems.append(f"refusal is not one line naming the file: {fails!r:.300}")
    for ln in lines:
        if any(ord(c) < 0x20 and c != "\t" for c in ln):
            problems.append(f"control character in output line: {ln[:200]!r}")
            break
    return problems


_SUMMARY = re.compile(r"\S+ \S+: \d+ modules, \d+ loaded, \d+ unloaded, (\d+) failures?")
_VFAIL = re.compile(r"[A-Za-z0-9_]+: (load|unload) failed: .+")


def judge_validate(run: Run) -> list[str]:
    """``kmodbuild sim --validate``: 0, or 1 with ``NAME: load failed: ...`` lines; a summary."""
    problems = _common(run)
    if problems:
        return problems
    lines = run.out.splitlines()
    m = _SUMMARY.fullmatch(lines[-1]) if lines else None
    if m is None:
        return [f"no summary line: {run.out[-300:]!r}"]
    failures = int(m.group(1))
    if (run.rc == 1) != (failures > 0):
        problems.append(f"exit {run.rc} with {failures} failures")
    heads = [ln for ln in lines[:-1] if not ln.startswith("    ")]
    if len(heads) != failures or not all(_VFAIL.fullmatch(h) for h in heads):
        problems.append(f"failure lines malformed: {heads!r:.300}")
    return problems


#: Console lines of a refusal the link check cannot foresee: the module's own code failing
#: when run (emulated), or a required module failing.
_AT_RUN_TIME = ("modcmd(CMD_INIT) failed", "recursive load failed")


def judge_agreement(check: Run, modload: Run) -> list[str]:
    """The check answers "would the kernel load this?": a module the simulated kernel
    refuses before running any of its code must not pass the check."""
    refusals = [ln for ln in modload.out.splitlines() if ln.startswith("modload: ")]
    if check.rc != 0 or not refusals or any(m in modload.out for m in _AT_RUN_TIME):
        return []
    said = "; ".join(ln for ln in modload.out.splitlines() if "error" in ln)[:300]
    return [f"check passed a module the loader refuses: {refusals[0][:200]} ({said})"]


@dataclass
class CaseResult:
    """What one case did: its problems (empty = fine), whether anything refused it, timings."""

    case: Case
    problems: list[str]
    refused: bool
    seconds: dict[str, float]

    @property
    def slowest(self) -> float:
        return max(self.seconds.values(), default=0.0)


def run_case(ws: Workspace, case: Case, timeout: float = 10.0,
             validate: bool = True) -> CaseResult:
    """Feed one mutant to ``check``, ``sim`` (modload and --validate) and ``manifest``."""
    tf, path, data = ws.place(case)
    t = tf.target
    problems: list[str] = []
    seconds: dict[str, float] = {}
    refused = False
    try:
        runs: list[tuple[str, Run, Callable[[Run], list[str]]]] = []
        if case.module != KERNEL:
            # odd seeds: target, version and manifest inferred (from the path and the header)
            opts = [] if case.seed % 2 else ["--arch", t.name, "--version", VERSION,
                                            "--manifest", str(tf.manifest)]
            r = run_cli(["check", *opts, str(path)], timeout)
            runs.append(("check", r, lambda r: judge_check(r, path)))
            r = run_cli(["sim", "--root", str(tf.destdir), "--arch", t.name, "--version",
                         VERSION, "--manifest", str(tf.manifest), "--script",
                         str(tf.scripts[case.module])], timeout)
            runs.append(("modload", r, lambda r: judge_modload(r, path)))
            if validate:
                r = run_cli(["sim", "--root", str(tf.destdir), "--arch", t.name, "--version",
                             VERSION, "--manifest", str(tf.manifest), "--validate"], timeout)
                runs.append(("validate", r, judge_validate))
        r = run_cli(["manifest", "--arch", t.name, "--version", VERSION, str(path), "-o", "-"],
                    timeout)
        runs.append(("manifest", r, lambda r: judge_manifest(r, path)))
        for name, r, judge in runs:
            seconds[name] = r.seconds
            for p in judge(r):
                problems.append(f"{case.ident}: {name}: {p}")
            if name != "manifest" or case.module == KERNEL:
                refused |= r.rc == 1 or "modload: " in r.out
        if case.module != KERNEL and not case.seed % 2:      # check given the manifest
            problems.extend(f"{case.ident}: {p}" for p in judge_agreement(runs[0][1], runs[1][1]))
    finally:
        ws.restore(case)
    return CaseResult(case, problems, refused, seconds)
