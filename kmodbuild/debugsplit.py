"""kmodbuild.debugsplit - split the debug information off a relocatable ELF object.

What NetBSD's MKDEBUG does to every module with binutils (spec §4.2)::

    objcopy --only-keep-debug NAME.kmod NAME.kmod.debug
    objcopy --strip-debug -p -R .gnu_debuglink --add-gnu-debuglink=NAME.kmod.debug NAME.kmod

done in pure Python for every target (ELF32/ELF64, little- and big-endian,
REL and RELA, the MIPS64 ``r_info`` layout), because zig ships no objcopy
that handles relocatable or big-endian objects (shared/TOOLCHAIN.md).

* :func:`strip_debug` removes every debug section (``.debug_*``,
  ``.zdebug_*``, ``.stab*``, ``.line``) and the relocation sections applying
  to them, renumbers the remaining sections (``sh_link``, ``sh_info``,
  ``e_shstrndx``, ``st_shndx``, group members), drops the symbols that were
  defined in removed sections (section symbols of ``.debug_*``) and the
  ``STT_FILE`` symbols (as both objcopys do), renumbers
  the symbol indices in the remaining relocation tables, address-significance
  tables and groups, and updates the symbol table's ``sh_info`` (first
  non-local symbol).  Optionally adds a ``.gnu_debuglink`` section.
* :func:`only_keep_debug` keeps every section header (indices unchanged, so
  the symbol table and the debug relocations stay valid), turns allocated
  sections into ``SHT_NOBITS`` without contents, and may append extra
  sections (kmodbuild stores the module's ABI view in ``.kmodbuild.abi``).

Both rebuild the section name table and lay the file out afresh.  The
kernel's loader loads every SHT_PROGBITS section, allocated or not (spec
§2.1), which is why debug sections must not stay in an installed module.
Any malformed input raises :class:`~kmodbuild.errors.ModuleFormatError`.
"""
from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kmodbuild import elfraw as raw
from kmodbuild.elfraw import RawElf, RawSection
from kmodbuild.errors import ModuleFormatError

SHT_GROUP = 17
SHT_LLVM_ADDRSIG = 0x6FFF4C03
SHF_INFO_LINK = 0x40
SHF_LINK_ORDER = 0x80
GRP_COMDAT = 1
DEBUGLINK_SECTION = ".gnu_debuglink"
#: The largest sh_addralign a section may have: the output pads each section to it
#: (kobj_load refuses anything aligned beyond a page anyway).
MAX_ADDRALIGN = 1 << 16

#: Section types whose ``sh_link`` names a section (gABI, and the GNU/LLVM/ARM extensions).
_LINK_IS_SECTION = frozenset({raw.SHT_SYMTAB, raw.SHT_RELA, 5, 6, raw.SHT_REL, raw.SHT_DYNSYM,
                              SHT_GROUP, raw.SHT_SYMTAB_SHNDX, 0x6FFFFFF6, 0x6FFFFFFD,
                              0x6FFFFFFE, 0x6FFFFFFF, SHT_LLVM_ADDRSIG, 0x6FFF4C09,
                              0x70000001})
# ELF header field offsets (gABI): e_shoff, e_shnum, e_shstrndx, by class.
_E_SHOFF = {32: (0x20, "I"), 64: (0x28, "Q")}
_E_SHNUM = {32: 0x30, 64: 0x3C}
_E_SHSTRNDX = {32: 0x32, 64: 0x3E}
_SYM_FMT = {32: "IIIBBH", 64: "IBBHQQ"}


def is_debug_section(name: str) -> bool:
    """True for the sections ``objcopy --strip-debug`` removes (DWARF, compressed
    DWARF, stabs and the old ``.line``)."""
    return name.startswith((".debug", ".zdebug", ".stab", ".gnu.linkonce.wi.")) \
        or name == ".line"


@dataclass(frozen=True)
class SplitResult:
    """The two halves of a module: ``stripped`` (installed and loaded) and
    ``debug`` (kept as ``NAME.kmod.debug``); ``removed`` names the sections
    taken out of the stripped file."""

    stripped: bytes
    debug: bytes
    removed: tuple[str, ...]


# --------------------------------------------------------------------------- helpers

def _fail(path: str, message: str) -> ModuleFormatError:
    return ModuleFormatError(f"cannot split debug information: {message}", path=path)


def _read(data: bytes, path: str) -> RawElf:
    elf = raw.read_elf(data, path)
    if elf.header.e_type != raw.ET_REL:
        raise _fail(path, f"not a relocatable object (e_type {elf.header.e_type})")
    if elf.header.e_shnum == 0 or any(s.type == raw.SHT_SYMTAB_SHNDX for s in elf.sections):
        raise _fail(path, "extended section numbering (more than 65279 sections) is not "
                          "supported")
    if not elf.sections:
        raise _fail(path, "no section header table")
    # the output starts with a copy of the input's ELF header (e_ehsize bytes): any other
    # size writes a file that is not ELF, or whose fields land on section contents
    if elf.header.e_ehsize != raw.EHDR_SIZE[elf.elfclass]:
        raise _fail(path, f"bad ELF header size e_ehsize {elf.header.e_ehsize} (ELF"
                          f"{elf.elfclass} needs {raw.EHDR_SIZE[elf.elfclass]})")
    for s in elf.sections:
        # each section is padded to its alignment in the output: a corrupt sh_addralign
        # must not make the split allocate gigabytes (gABI: 0, or a power of two)
        if s.addralign & (s.addralign - 1) or s.addralign > MAX_ADDRALIGN:
            raise _fail(path, f"section {s.name or s.index} has sh_addralign "
                              f"{s.addralign:#x} (a power of two up to "
                              f"{MAX_ADDRALIGN:#x} expected)")
    return elf


def gnu_debuglink(filename: str, debug_data: bytes, little_endian: bool) -> bytes:
    """Contents of a ``.gnu_debuglink`` section: the debug file's base name, NUL,
    padding to 4 bytes, then the CRC-32 of the debug file in the object's byte order."""
    name = filename.encode() + b"\0"
    name += b"\0" * (-len(name) % 4)
    return name + struct.pack("<I" if little_endian else ">I", zlib.crc32(debug_data))


def parse_gnu_debuglink(data: bytes, little_endian: bool) -> tuple[str, int] | None:
    """``(debug file name, CRC-32)`` from a ``.gnu_debuglink`` section's contents (the
    inverse of :func:`gnu_debuglink`); ``None`` when they are not shaped like one."""
    nul = data.find(b"\0")
    if nul <= 0:
        return None
    at = (nul + 4) & ~3
    if len(data) < at + 4:
        return None
    crc = struct.unpack_from("<I" if little_endian else ">I", data, at)[0]
    return data[:nul].decode("utf-8", "replace"), crc


def _uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_ulebs(data: bytes, path: str) -> list[int]:
    out, value, shift = [], 0, 0
    for b in data:
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            out.append(value)
            value = shift = 0
    if shift:
        raise _fail(path, "truncated address-significance table")
    return out


class _Section:
    """A section of the output: header fields (as RawSection order) and contents."""

    __slots__ = ("name", "type", "flags", "addr", "size", "link", "info", "addralign",
                 "entsize", "data")

    def __init__(self, s: RawSection, data: bytes) -> None:
        self.name = s.name
        self.type = s.type
        self.flags = s.flags
        self.addr = s.addr
        self.size = s.size
        self.link = s.link
        self.info = s.info
        self.addralign = s.addralign
        self.entsize = s.entsize
        self.data = data


def _layout(elf: RawElf, sections: list[_Section]) -> bytes:
    """Write the ELF header (patched), the section contents and the section
    header table, with a fresh ``.shstrtab`` as the last section's name table."""
    hdr = elf.header
    cls = hdr.elfclass
    le = elf.little_endian
    bo = "<" if le else ">"
    # Section names: reuse the existing .shstrtab slot, or add one.
    shstr_index = next((i for i, s in enumerate(sections)
                        if s.type == raw.SHT_STRTAB and s.name == ".shstrtab"), None)
    if shstr_index is None:
        empty = RawSection(0, 0, raw.SHT_STRTAB, 0, 0, 0, 0, 0, 0, 1, 0, ".shstrtab")
        sections.append(_Section(empty, b""))
        shstr_index = len(sections) - 1
    table = bytearray(b"\0")
    offsets: dict[str, int] = {"": 0}
    for s in sections:
        if s.name not in offsets:
            offsets[s.name] = len(table)
            table += s.name.encode() + b"\0"
    sections[shstr_index].data = bytes(table)
    sections[shstr_index].size = len(table)
    out = bytearray(elf.data[:hdr.e_ehsize])
    file_offsets = [0] * len(sections)
    for i, s in enumerate(sections):
        if i == 0:
            continue
        if s.type != raw.SHT_NOBITS:
            out += b"\0" * (-len(out) % max(1, s.addralign))
        file_offsets[i] = len(out)
        if s.type != raw.SHT_NOBITS:
            out += s.data
    out += b"\0" * (-len(out) % (8 if cls == 64 else 4))
    shoff = len(out)
    shdr = raw.section_header_struct(hdr)
    out += elf.data[hdr.e_shoff:hdr.e_shoff + shdr.size]        # section 0, as it was
    for i, s in enumerate(sections[1:], start=1):
        size = s.size if s.type == raw.SHT_NOBITS else len(s.data)
        out += shdr.pack(offsets[s.name], s.type, s.flags, s.addr, file_offsets[i], size,
                         s.link, s.info, s.addralign, s.entsize)
    at, fmt = _E_SHOFF[cls]
    struct.pack_into(bo + fmt, out, at, shoff)
    struct.pack_into(bo + "H", out, _E_SHNUM[cls], len(sections))
    struct.pack_into(bo + "H", out, _E_SHSTRNDX[cls], shstr_index)
    return bytes(out)


# --------------------------------------------------------------------------- strip

def strip_debug(data: bytes, path: str = "<elf>", *, debuglink: tuple[str, bytes] | None = None
                ) -> tuple[bytes, tuple[str, ...]]:
    """``objcopy --strip-debug`` for a relocatable object.

    Args:
        data: the object file.
        path: its name, for error messages.
        debuglink: ``(debug file name, debug file contents)``: add a
            ``.gnu_debuglink`` section naming it, with its CRC-32 (MKDEBUG).

    Returns:
        The stripped file and the names of the sections removed.

    Raises:
        ModuleFormatError: not a relocatable ELF object, malformed, or a
            global symbol or a kept relocation refers to a debug section.
    """
    elf = _read(data, path)
    secs = elf.sections
    cls = elf.elfclass
    bo = "<" if elf.little_endian else ">"
    removed = {s.index for s in secs if s.index and (is_debug_section(s.name)
                                                      or s.name == DEBUGLINK_SECTION)}
    removed |= {s.index for s in secs if s.type in (raw.SHT_REL, raw.SHT_RELA)
                and s.info in removed}
    if not removed and debuglink is None:
        return bytes(data), ()
    keep = [s for s in secs if s.index not in removed]
    sec_map = {s.index: i for i, s in enumerate(keep)}

    def new_shndx(shndx: int) -> int:
        if shndx == raw.SHN_UNDEF or shndx >= raw.SHN_LORESERVE:
            return shndx
        if shndx not in sec_map:
            raise _fail(path, f"section index {shndx} out of range")
        return sec_map[shndx]

    out = [_Section(s, elf.section_data(s)) for s in keep]
    sym_maps: dict[int, dict[int, int]] = {}
    # Symbol tables: drop symbols of removed sections, renumber st_shndx.
    for o, s in zip(out, keep):
        if s.type != raw.SHT_SYMTAB:
            continue
        size = raw.SYM_SIZE[cls]
        st = struct.Struct(bo + _SYM_FMT[cls])
        entries = list(st.iter_unpack(o.data[:len(o.data) - len(o.data) % size]))
        shndx_at = 3 if cls == 64 else 5
        info_at = 1 if cls == 64 else 3
        sym_map: dict[int, int] = {}
        rows = bytearray()
        first_global = s.info
        locals_kept = 0
        for i, e in enumerate(entries):
            shndx = e[shndx_at]
            if i and e[info_at] == (raw.STB_LOCAL << 4 | raw.STT_FILE):
                continue                # source file names are debugging symbols too
            if 0 < shndx < raw.SHN_LORESERVE and shndx in removed:
                if e[info_at] >> 4 != raw.STB_LOCAL:
                    name = elf.read_symbol(s, i).name
                    raise _fail(path, f"global symbol {name} is defined in debug section "
                                      f"{secs[shndx].name}")
                continue
            sym_map[i] = len(sym_map)
            if i < first_global:
                locals_kept += 1
            fields = list(e)
            fields[shndx_at] = new_shndx(shndx)
            rows += st.pack(*fields)
        o.data = bytes(rows)
        o.info = locals_kept if 0 < first_global <= len(entries) else s.info
        sym_maps[s.index] = sym_map
    # Relocations, groups and address-significance tables: renumber symbols.
    for o, s in zip(out, keep):
        if s.type in (raw.SHT_REL, raw.SHT_RELA):
            smap = sym_maps.get(s.link)
            if smap is None:
                raise _fail(path, f"relocation section {s.name} does not link to a symbol "
                                  f"table")
            o.data = _renumber_relocations(elf, s, o.data, smap, path)
        elif s.type == SHT_GROUP:
            smap = sym_maps.get(s.link, {})
            if s.info not in smap:
                raise _fail(path, f"group section {s.name} has a bad signature symbol")
            o.info = smap[s.info]
            words = list(struct.unpack(f"{bo}{len(o.data) // 4}I", o.data[:len(o.data) // 4 * 4]))
            kept = [words[0]] + [sec_map[w] for w in words[1:] if w not in removed
                                 and w in sec_map]
            o.data = struct.pack(f"{bo}{len(kept)}I", *kept)
        elif s.type == SHT_LLVM_ADDRSIG:
            smap = sym_maps.get(s.link, {})
            o.data = b"".join(_uleb(smap[i]) for i in _read_ulebs(o.data, path) if i in smap)
    # Section header links.
    for o, s in zip(out, keep):
        if s.type in _LINK_IS_SECTION or s.flags & SHF_LINK_ORDER:
            o.link = sec_map.get(s.link, 0)
        if s.type in (raw.SHT_REL, raw.SHT_RELA) or s.flags & SHF_INFO_LINK:
            if s.info not in sec_map:
                raise _fail(path, f"relocation section {s.name} applies to a removed section")
            o.info = sec_map[s.info]
    if debuglink is not None:
        name, contents = debuglink
        link = RawSection(0, 0, raw.SHT_PROGBITS, 0, 0, 0, 0, 0, 0, 4, 0, DEBUGLINK_SECTION)
        out.append(_Section(link, gnu_debuglink(name, contents, elf.little_endian)))
    names = tuple(secs[i].name for i in sorted(removed))
    return _layout(elf, out), names


def _renumber_relocations(elf: RawElf, s: RawSection, data: bytes, smap: dict[int, int],
                          path: str) -> bytes:
    """``data`` (a REL/RELA table) with every symbol index mapped through ``smap``."""
    cls = elf.elfclass
    is_rela = s.type == raw.SHT_RELA
    ent = (raw.RELA_SIZE if is_rela else raw.REL_SIZE)[cls]
    if s.entsize not in (0, ent):
        raise _fail(path, f"relocation section {s.name} has entry size {s.entsize}")
    bo = "<" if elf.little_endian else ">"
    buf = bytearray(data[:len(data) - len(data) % ent])
    mips64 = elf.is_mips64()
    if cls == 32:
        fmt, at = bo + "I", 4
    elif mips64:
        fmt, at = bo + "I", 8          # r_sym is the first 32-bit word of r_info
    else:
        fmt, at = bo + "Q", 8
    for pos in range(0, len(buf), ent):
        (info,) = struct.unpack_from(fmt, buf, pos + at)
        if cls == 32:
            sym, rest = info >> 8, info & 0xFF
        elif mips64:
            sym, rest = info, 0
        else:
            sym, rest = info >> 32, info & 0xFFFFFFFF
        if sym not in smap:
            raise _fail(path, f"relocation at {s.name}[{pos // ent}] refers to symbol {sym}, "
                              f"which is removed or out of range")
        new = smap[sym]
        if new == sym:
            continue
        if cls == 32:
            struct.pack_into(fmt, buf, pos + at, new << 8 | rest)
        elif mips64:
            struct.pack_into(fmt, buf, pos + at, new)
        else:
            struct.pack_into(fmt, buf, pos + at, new << 32 | rest)
    return bytes(buf)


# --------------------------------------------------------------------------- keep debug

def only_keep_debug(data: bytes, path: str = "<elf>", *,
                    extra_sections: Mapping[str, bytes] | None = None) -> bytes:
    """``objcopy --only-keep-debug`` for a relocatable object.

    Every section header is kept at its index; allocated sections become
    ``SHT_NOBITS`` (their contents are in the stripped file); debug sections,
    their relocations, the symbol and string tables keep their contents.
    ``extra_sections`` are appended as non-allocated ``SHT_PROGBITS`` sections.

    Raises:
        ModuleFormatError: not a relocatable ELF object, or malformed.
    """
    elf = _read(data, path)
    out: list[_Section] = []
    for s in elf.sections:
        if s.index and s.name == DEBUGLINK_SECTION:
            sec = _Section(s, b"")
            sec.type = raw.SHT_NOBITS
            out.append(sec)
            continue
        if s.index and s.flags & raw.SHF_ALLOC and s.type != raw.SHT_NOBITS:
            sec = _Section(s, b"")
            sec.type = raw.SHT_NOBITS
            out.append(sec)
            continue
        out.append(_Section(s, elf.section_data(s)))
    for name, contents in (extra_sections or {}).items():
        extra = RawSection(0, 0, raw.SHT_PROGBITS, 0, 0, 0, len(contents), 0, 0, 1, 0, name)
        out.append(_Section(extra, bytes(contents)))
    return _layout(elf, out)


def split_debug(data: bytes, path: str = "<elf>", *, debug_name: str | None = None,
                extra_sections: Mapping[str, bytes] | None = None) -> SplitResult:
    """Both halves at once, as MKDEBUG makes them (spec §4.2); an arm module's
    stripped half also gets the branch trampolines of NetBSD's arm link
    (:mod:`kmodbuild.armtramp`).

    ``debug_name``, when given, is the debug file's name recorded in the
    stripped file's ``.gnu_debuglink`` (with the debug file's CRC-32).

    Raises:
        ModuleFormatError: as :func:`strip_debug`.
    """
    debug = only_keep_debug(data, path, extra_sections=extra_sections)
    link = (debug_name, debug) if debug_name is not None else None
    stripped, removed = strip_debug(data, path, debuglink=link)
    from kmodbuild import armtramp        # (it builds on this module's helpers)
    # an arm module: the branch trampolines NetBSD's arm link adds (kmodtramp.awk), in the
    # module installed, as there; the debug file describes the code, which is the same
    stripped = armtramp.add_trampolines(stripped, path)
    return SplitResult(stripped, debug, removed)


def split_file(src: Path, stripped: Path, debug: Path, *,
               extra_sections: Mapping[str, bytes] | None = None,
               debuglink: bool = True) -> SplitResult:
    """Split the object at ``src`` into ``stripped`` and ``debug`` (files written
    only when their contents change, so unchanged modules keep their mtime).

    Raises:
        ModuleFormatError: unreadable input, malformed object, or a write error.
    """
    try:
        data = Path(src).read_bytes()
    except OSError as e:
        raise ModuleFormatError(f"cannot read: {e.strerror or e}", path=src) from None
    result = split_debug(data, str(src), debug_name=Path(debug).name if debuglink else None,
                         extra_sections=extra_sections)
    from kmodbuild.atomicfile import replace_if_changed
    for dest, contents in ((Path(debug), result.debug), (Path(stripped), result.stripped)):
        try:
            # through a temporary file, removed when the write fails (a full disk)
            replace_if_changed(str(dest), contents)
        except OSError as e:
            raise ModuleFormatError(f"cannot write: {e.strerror or e}", path=dest) from None
    return result


def debug_sections(data: bytes, path: str = "<elf>") -> Sequence[str]:
    """Names of the debug sections of an ELF file (empty when it is stripped).

    Raises:
        ModuleFormatError: malformed file.
    """
    return [s.name for s in raw.read_elf(data, path).sections if is_debug_section(s.name)]
