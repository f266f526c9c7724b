"""kmodbuild.armtramp - branch trampolines for arm modules, as NetBSD's arm link adds them.

An ARM ``bl``/``b`` (``R_ARM_CALL``, ``R_ARM_JUMP24``) reaches +-32 MiB, and
the kernel's linker refuses a call it cannot reach ("Relocation ... too
far").  Modules load into ``module_map``, tens of MiB from the kernel on some
machines, so NetBSD's bsd.kmodule.mk links arm modules in four steps (spec
§4.2): ``kmodwrap.awk`` wraps every undefined function a branch calls
(``--wrap``), ``kmodtramp.awk`` writes a trampoline for each (``__wrap_f:
ldr pc, [pc, #-4]; .word f``), and ``kmodhide.awk`` makes the trampolines'
symbols local.  The call then reaches the trampoline, inside the module, and
the trampoline reaches ``f`` through a 32-bit address (``R_ARM_ABS32``).

:func:`add_trampolines` does the same to a linked module in one pass over its
ELF: a ``.text.kmodtramp`` section of 8-byte trampolines, its ``R_ARM_ABS32``
relocations, a local ``__wrap_NAME`` function symbol for each (with the ``$a``
and ``$d`` mapping symbols an assembler would write), and every
branch relocation against an undefined symbol pointed at its trampoline.
Local symbols come before the globals, so the globals' indices move up and
every relocation table, group and address-significance table is renumbered.
Thumb branches are left as they are (modules are built ``-marm``).
"""
from __future__ import annotations

import struct

from kmodbuild import elfraw as raw
from kmodbuild.debugsplit import (_SYM_FMT, SHF_INFO_LINK, SHT_GROUP, SHT_LLVM_ADDRSIG,
                                  _layout, _read, _read_ulebs, _renumber_relocations,
                                  _Section, _uleb)
from kmodbuild.elfraw import RawSection
from kmodbuild.errors import ModuleFormatError

EM_ARM = 40
R_ARM_ABS32, R_ARM_CALL, R_ARM_JUMP24 = 2, 28, 29
#: the branches a trampoline serves
BRANCHES = frozenset({R_ARM_CALL, R_ARM_JUMP24})
TRAMP_SECTION = ".text.kmodtramp"
#: ``ldr pc, [pc, #-4]`` (the word after it: pc reads 8 ahead), then that word
_LDR_PC = 0xE51FF004
TRAMP_SIZE = 8


#: local symbols per trampoline: ``__wrap_NAME`` and the ARM ELF mapping symbols ``$a``
#: (ARM code from here) and ``$d`` (data: the address), as an assembler writes them
SYMS_PER_TRAMP = 3


def _fail(path: str, message: str) -> ModuleFormatError:
    return ModuleFormatError(f"cannot add branch trampolines: {message}", path=path)


def needs_trampolines(data: bytes) -> bool:
    """Is ``data`` a little-endian 32-bit ARM relocatable object (a module to give
    trampolines)?"""
    return (len(data) > 20 and data[:4] == b"\x7fELF" and data[4] == 1 and data[5] == 1
            and struct.unpack_from("<HH", data, 16) == (raw.ET_REL, EM_ARM))


def add_trampolines(data: bytes, path: str = "<elf>") -> bytes:
    """``data`` with a trampoline for every undefined symbol an ARM branch calls (see
    the module docstring); unchanged when there is none or it is not an ARM module.

    Raises:
        ModuleFormatError: malformed object.
    """
    if not needs_trampolines(data):
        return data
    elf = _read(data, path)
    symtabs = [s for s in elf.sections if s.type == raw.SHT_SYMTAB]
    if len(symtabs) != 1:
        return data
    symtab = symtabs[0]
    st = struct.Struct("<" + _SYM_FMT[32])
    size = raw.SYM_SIZE[32]
    body = elf.section_data(symtab)
    entries = list(st.iter_unpack(body[:len(body) - len(body) % size]))
    first_global = symtab.info
    if not 0 < first_global <= len(entries):
        raise _fail(path, f"symbol table sh_info {first_global} out of range")
    # the undefined symbols a branch calls, in the order first met (deterministic)
    called: dict[int, None] = {}
    for rel in elf.sections:
        if rel.type != raw.SHT_REL or rel.link != symtab.index \
                or not elf.get_section(rel.info).flags & raw.SHF_EXECINSTR:
            continue
        for r in elf.read_relocations(rel):
            if r.type in BRANCHES and first_global <= r.sym < len(entries) \
                    and entries[r.sym][5] == raw.SHN_UNDEF:
                called.setdefault(r.sym, None)
    if not called:
        return data
    targets = list(called)
    m = SYMS_PER_TRAMP * len(targets)
    tramp_index = len(elf.sections)           # appended: every other index stays
    if tramp_index + 1 >= raw.SHN_LORESERVE:
        raise _fail(path, f"{tramp_index} sections: no section index left for them")
    strtab = elf.get_section(symtab.link)
    names = bytearray(elf.section_data(strtab))
    mapping = {}
    for tag in (b"$a", b"$d"):
        mapping[tag] = len(names)
        names += tag + b"\0"
    locals_new = []
    for j, sym in enumerate(targets):
        name_at = len(names)
        names += b"__wrap_" + elf.read_symbol(symtab, sym).name.encode() + b"\0"
        at = TRAMP_SIZE * j
        locals_new += [st.pack(name_at, at, TRAMP_SIZE, raw.STB_LOCAL << 4 | raw.STT_FUNC, 0,
                               tramp_index),
                       st.pack(mapping[b"$a"], at, 0, raw.STB_LOCAL << 4 | raw.STT_NOTYPE, 0,
                               tramp_index),
                       st.pack(mapping[b"$d"], at + 4, 0, raw.STB_LOCAL << 4 | raw.STT_NOTYPE,
                               0, tramp_index)]
    # globals move up by m; a branch to a called symbol goes to its trampoline
    smap = {i: i if i < first_global else i + m for i in range(len(entries))}
    tramp_of = {sym: first_global + SYMS_PER_TRAMP * j for j, sym in enumerate(targets)}
    out: list[_Section] = []
    for s in elf.sections:
        sec = _Section(s, elf.section_data(s))
        if s.index == symtab.index:
            sec.data = b"".join([*(st.pack(*e) for e in entries[:first_global]), *locals_new,
                                 *(st.pack(*e) for e in entries[first_global:])])
            sec.info = first_global + m
        elif s.index == strtab.index:
            sec.data = bytes(names)
        elif s.type in (raw.SHT_REL, raw.SHT_RELA) and s.link == symtab.index:
            sec.data = _renumber_relocations(elf, s, sec.data, smap, path)
            if s.type == raw.SHT_REL and elf.get_section(s.info).flags & raw.SHF_EXECINSTR:
                sec.data = _to_trampolines(sec.data, smap, tramp_of)
        elif s.type == SHT_GROUP and s.link == symtab.index:
            sec.info = smap.get(s.info, s.info)
        elif s.type == SHT_LLVM_ADDRSIG and s.link == symtab.index:
            sec.data = b"".join(_uleb(smap.get(i, i)) for i in _read_ulebs(sec.data, path))
        out.append(sec)
    code = RawSection(0, 0, raw.SHT_PROGBITS, raw.SHF_ALLOC | raw.SHF_EXECINSTR, 0, 0, 0,
                      0, 0, 4, 0, TRAMP_SECTION)
    out.append(_Section(code, b"".join(struct.pack("<II", _LDR_PC, 0) for _ in targets)))
    relocs = RawSection(0, 0, raw.SHT_REL, SHF_INFO_LINK, 0, 0, 0, symtab.index,
                        tramp_index, 4, 8, ".rel" + TRAMP_SECTION)
    out.append(_Section(relocs, b"".join(
        struct.pack("<II", TRAMP_SIZE * j + 4, smap[sym] << 8 | R_ARM_ABS32)
        for j, sym in enumerate(targets))))
    return _layout(elf, out)


def _to_trampolines(table: bytes, smap: dict[int, int], tramp_of: dict[int, int]) -> bytes:
    """A REL table (symbols renumbered already) whose branches to a called symbol name
    its trampoline's local symbol instead."""
    new_of = {smap[old]: tramp for old, tramp in tramp_of.items()}
    buf = bytearray(table)
    for off in range(0, len(buf) - len(buf) % 8, 8):
        (info,) = struct.unpack_from("<I", buf, off + 4)
        if info & 0xFF in BRANCHES and info >> 8 in new_of:
            struct.pack_into("<I", buf, off + 4, new_of[info >> 8] << 8 | info & 0xFF)
    return bytes(buf)
