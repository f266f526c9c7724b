"""kmodbuild.elfraw - a pure-stdlib, struct-level ELF reader (the fast path).

This module reads just what a kernel-module checker needs from an ELF file,
with :mod:`struct` and :mod:`array` only: the file header, the section header
table, string tables, symbol tables (in bulk, with ``struct.iter_unpack``),
REL/RELA tables (including the MIPS64 n64 ``r_info`` layout) and notes.  It is
shared by the NetBSD reader (:mod:`kmodbuild.elf`) and the Linux ``.ko``
reader, and it never imports pyelftools.

Contract: every offset, size and count read from the file is bounds-checked
before use; any malformed input raises :class:`~kmodbuild.errors.ModuleFormatError`
(carrying the path) -- never ``IndexError``, ``struct.error``,
``UnicodeDecodeError`` or ``ValueError``.  Names are text: invalid UTF-8 and
control characters come out escaped (``\\xNN``), so a message naming one stays
on one line.

Typical use::

    elf = read_elf(data, path)                  # header + section headers + names
    symtab = elf.get_section_by_type(SHT_SYMTAB)
    for sym in elf.read_symbols(symtab):        # list[RawSymbol]
        ...
    for sec in elf.iter_sections(SHT_RELA):
        for r in elf.read_relocations(sec):     # list[RawReloc]
            ...

Layouts follow the System V gABI (https://www.sco.com/developers/gabi/latest/ch4.intro.html)
and, for MIPS64, the "64-bit ELF Object File Specification" (r_info split
into r_sym, r_ssym, r_type3, r_type2, r_type).
"""
from __future__ import annotations

import re
import struct
from array import array
from itertools import accumulate, repeat
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

from kmodbuild.errors import ModuleFormatError

# --------------------------------------------------------------------------- constants

ELFMAG = b"\x7fELF"
EI_CLASS, EI_DATA, EI_VERSION, EI_OSABI, EI_NIDENT = 4, 5, 6, 7, 16
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2
EV_CURRENT = 1
ET_NONE, ET_REL, ET_EXEC, ET_DYN, ET_CORE = 0, 1, 2, 3, 4

SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA = 0, 1, 2, 3, 4
SHT_NOTE, SHT_NOBITS, SHT_REL, SHT_DYNSYM, SHT_SYMTAB_SHNDX = 7, 8, 9, 11, 18
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHN_UNDEF, SHN_LORESERVE, SHN_ABS, SHN_COMMON, SHN_XINDEX = 0, 0xFF00, 0xFFF1, 0xFFF2, 0xFFFF
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE = 0, 1, 2, 3, 4
EM_MIPS = 8

#: ``sizeof(Elf_Ehdr)``, ``sizeof(Elf_Shdr)``, ``sizeof(Elf_Sym)``, ``sizeof(Elf_Rel)``,
#: ``sizeof(Elf_Rela)`` by ELF class (32 or 64).
EHDR_SIZE = {32: 52, 64: 64}
SHDR_SIZE = {32: 40, 64: 64}
SYM_SIZE = {32: 16, 64: 24}
REL_SIZE = {32: 8, 64: 16}
RELA_SIZE = {32: 12, 64: 24}

_BO = {True: "<", False: ">"}

# Header after e_ident: e_type e_machine e_version e_entry e_phoff e_shoff e_flags
# e_ehsize e_phentsize e_phnum e_shentsize e_shnum e_shstrndx.
_EHDR = {(c, le): struct.Struct(_BO[le] + ("HHIIIIIHHHHHH" if c == 32 else "HHIQQQIHHHHHH"))
         for c in (32, 64) for le in (True, False)}
# Section header: name type flags addr offset size link info addralign entsize.
_SHDR = {(c, le): struct.Struct(_BO[le] + ("IIIIIIIIII" if c == 32 else "IIQQQQIIQQ"))
         for c in (32, 64) for le in (True, False)}
# Symbols, normalised below to (name, value, size, info, other, shndx).
_SYM_FMT = {32: "IIIBBH", 64: "IBBHQQ"}
# REL/RELA: offset, info[, addend]; MIPS64 splits info into sym u32 + four bytes.
_REL_FMT = {(32, False): "II", (32, True): "IIi", (64, False): "QQ", (64, True): "QQq"}
_MIPS64_REL_FMT = {False: "QIBBBB", True: "QIBBBBq"}
_NHDR = {le: struct.Struct(_BO[le] + "III") for le in (True, False)}


# --------------------------------------------------------------------------- records

class ElfHeader(NamedTuple):
    """The ELF file header (``Elf_Ehdr``), with ``e_ident`` decoded.

    ``elfclass`` is 32 or 64; ``little_endian`` comes from ``EI_DATA``.
    Values are raw: the gABI extensions (``e_shnum == 0``, ``SHN_XINDEX``) are
    resolved by :func:`parse_section_headers`, not here.
    """

    elfclass: int
    little_endian: bool
    ei_version: int
    ei_osabi: int
    e_type: int
    e_machine: int
    e_version: int
    e_entry: int
    e_phoff: int
    e_shoff: int
    e_flags: int
    e_ehsize: int
    e_phentsize: int
    e_phnum: int
    e_shentsize: int
    e_shnum: int
    e_shstrndx: int


class RawSection(NamedTuple):
    """One section header; ``name`` is filled in by :func:`read_elf` ('' before)."""

    index: int
    name_offset: int
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int
    name: str = ""


class RawSymbol(NamedTuple):
    """One ``Elf_Sym`` with its name resolved; its index is its list position."""

    name: str
    value: int
    size: int
    info: int
    other: int
    shndx: int

    @property
    def bind(self) -> int:
        """``ELF_ST_BIND(st_info)`` (STB_*)."""
        return self.info >> 4

    @property
    def type(self) -> int:
        """``ELF_ST_TYPE(st_info)`` (STT_*)."""
        return self.info & 0xF


class SymbolSummary(NamedTuple):
    """Non-local named symbols, as :meth:`RawElf.symbol_summary` splits them.

    ``undefined``: ``(name, bind)`` of undefined ones (GLOBAL or WEAK), in table
    order; ``exports``: names of defined STB_GLOBAL ones; ``common``: names of
    SHN_COMMON ones.
    """

    undefined: list[tuple[str, int]]
    exports: list[str]
    common: list[str]


class RawReloc(NamedTuple):
    """One REL/RELA entry.

    ``addend`` is ``None`` for REL (the addend is the word stored at the
    place).  ``type2``/``type3``/``ssym`` are the MIPS64 n64 extra fields (0
    elsewhere).
    """

    offset: int
    type: int
    sym: int
    addend: int | None
    type2: int = 0
    type3: int = 0
    ssym: int = 0


class RawNote(NamedTuple):
    """One note entry: ``name`` without its NUL, ``desc`` bytes."""

    name: str
    type: int
    desc: bytes


# --------------------------------------------------------------------------- helpers

def _fail(path: str, message: str) -> ModuleFormatError:
    return ModuleFormatError(message, path=path)


#: Bytes and characters that would break a one-line message (C0/C1 controls, DEL and
#: the characters str.splitlines() treats as line ends); shown as ``\xNN``/``\uNNNN``.
_CTRL_BYTES = re.compile(rb"[\x01-\x1f\x7f]")
_CTRL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_char(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def _decode(raw: bytes) -> str:
    # Kernel names are bytes; backslashreplace keeps odd ones printable and never fails,
    # and control characters are escaped so every message stays on one line.
    text = raw.decode("utf-8", "backslashreplace")
    if text.isprintable():              # (almost every name: no regex search for it)
        return text
    return _CTRL_CHARS.sub(_escape_char, text) if _CTRL_CHARS.search(text) else text


def decode_name(raw: bytes) -> str:
    """``raw`` (bytes of a name or string in the file) as one-line text: invalid UTF-8
    and control characters escaped (``\\xNN``), as every name the reader returns."""
    return _decode(raw)


def string_map(table: bytes) -> dict[int, str]:
    """Map the offset of every NUL-terminated string of ``table`` to the string.

    Built in bulk (one split, C-level accumulation).  Offsets that point into
    the middle of a string (suffix sharing) are not keys; look them up with a
    ``find`` instead.  An unterminated tail is left out.
    """
    parts = table.split(b"\0")
    if table.isascii() and not _CTRL_BYTES.search(table):
        names: list[str] | list[bytes] = table.decode("ascii").split("\0")
    else:
        names = [_decode(p) for p in parts]
    out = dict(zip(accumulate(map((1).__add__, map(len, parts)), initial=0), names))
    # The last piece is either the empty tail after the final NUL or an unterminated string.
    out.pop(len(table) - len(parts[-1]), None)
    return out  # type: ignore[return-value]


# --------------------------------------------------------------------------- parsing steps

def ident_class(data: bytes) -> int | None:
    """``EI_CLASS`` of ``data`` as 32 or 64, or ``None`` (unknown value, or too short)."""
    return {ELFCLASS32: 32, ELFCLASS64: 64}.get(data[EI_CLASS]) if len(data) > EI_CLASS \
        else None


def ident_little_endian(data: bytes) -> bool | None:
    """``EI_DATA`` of ``data``: True for LSB, False for MSB, ``None`` for anything else."""
    return {ELFDATA2LSB: True, ELFDATA2MSB: False}.get(data[EI_DATA]) if len(data) > EI_DATA \
        else None


def parse_header(data: bytes, path: str, *, elfclass: int | None = None,
                 little_endian: bool | None = None) -> ElfHeader:
    """Decode the ELF header of ``data``.

    Checks only what is needed to decode it: the magic, a known ``EI_CLASS``
    and ``EI_DATA``, and that the header fits in the file.  Version, type and
    machine are left to the caller (the kernel checks them in its own order).
    ``elfclass`` / ``little_endian`` decode the file as that class and byte order
    whatever its ``EI_CLASS`` / ``EI_DATA`` say (a kernel reads the header natively
    and never looks at them, spec §1.1); the returned header then carries those.

    Raises:
        ModuleFormatError: ``not an ELF object`` (magic), unknown class or data
            encoding (unless forced), or a file shorter than its header.
    """
    if len(data) < EI_NIDENT or data[:4] != ELFMAG:
        raise _fail(path, "not an ELF object")
    cls = elfclass if elfclass is not None else ident_class(data)
    if cls is None:
        raise _fail(path, f"unsupported ELF class {data[EI_CLASS]}")
    le = little_endian if little_endian is not None else ident_little_endian(data)
    if le is None:
        raise _fail(path, f"unsupported ELF data encoding {data[EI_DATA]}")
    st = _EHDR[cls, le]
    if len(data) < EI_NIDENT + st.size:
        raise _fail(path, f"truncated ELF header ({len(data)} bytes)")
    return ElfHeader(cls, le, data[EI_VERSION], data[EI_OSABI],
                     *st.unpack_from(data, EI_NIDENT))


def section_header_struct(hdr: ElfHeader) -> struct.Struct:
    """The :class:`struct.Struct` of one ``Elf_Shdr`` for ``hdr``'s class and byte order.

    Fields, in order: name, type, flags, addr, offset, size, link, info,
    addralign, entsize (as in :class:`RawSection` after its index).
    """
    return _SHDR[hdr.elfclass, hdr.little_endian]


def symbol_struct(hdr: ElfHeader) -> struct.Struct:
    """The :class:`struct.Struct` of one ``Elf_Sym`` for ``hdr``'s class and byte order.

    ELF64 order: name, info, other, shndx, value, size; ELF32 order: name,
    value, size, info, other, shndx (the file layouts differ).
    """
    return struct.Struct(_BO[hdr.little_endian] + _SYM_FMT[hdr.elfclass])


def parse_section_headers(data: bytes, hdr: ElfHeader, path: str) -> list[RawSection]:
    """Decode the section header table (names not resolved).

    Applies the gABI extended numbering: ``e_shnum == 0`` with a non-zero
    ``e_shoff`` takes the count from section 0's ``sh_size``.  Returns ``[]``
    when there is no table (``e_shoff == 0``).

    Raises:
        ModuleFormatError: wrong ``e_shentsize``, or a table past the end of file.
    """
    if hdr.e_shoff == 0:
        return []
    cls = hdr.elfclass
    st = _SHDR[cls, hdr.little_endian]
    if hdr.e_shentsize != st.size:
        raise _fail(path, f"bad section header size {hdr.e_shentsize} "
                          f"(ELF{cls} needs {st.size})")
    off = hdr.e_shoff
    if off + st.size > len(data):
        raise _fail(path, f"section header table at {off:#x} is past the end of file "
                          f"({len(data)} bytes)")
    shnum = hdr.e_shnum
    if shnum == 0:
        # gABI: "If the number of sections is greater than or equal to SHN_LORESERVE
        # (0xff00), e_shnum holds zero and the actual number ... is in sh_size" of entry 0.
        shnum = st.unpack_from(data, off)[5]
    end = off + shnum * st.size
    if end > len(data):
        raise _fail(path, f"section header table ({shnum} entries at {off:#x}) extends past "
                          f"the end of file ({len(data)} bytes)")
    new = tuple.__new__
    return [new(RawSection, (i, *fields, ""))
            for i, fields in enumerate(st.iter_unpack(data[off:end]))]


def section_string_index(hdr: ElfHeader, sections: list[RawSection]) -> int:
    """``e_shstrndx``, resolving ``SHN_XINDEX`` through section 0's ``sh_link``."""
    if hdr.e_shstrndx == SHN_XINDEX and sections:
        return sections[0].link
    return hdr.e_shstrndx


# --------------------------------------------------------------------------- RawElf

class RawElf:
    """A parsed ELF file: header, sections (with names) and on-demand tables.

    Attributes:
        path: the file name used in error messages.
        data: the whole file contents.
        header: the :class:`ElfHeader`.
        sections: the section headers, names resolved.
    """

    def __init__(self, path: str, data: bytes, header: ElfHeader,
                 sections: list[RawSection]) -> None:
        self.path = path
        self.data = data
        self.header = header
        self.sections = sections
        #: 32 or 64 (``EI_CLASS``).
        self.elfclass = header.elfclass
        #: True for ELFDATA2LSB.
        self.little_endian = header.little_endian
        self._by_name: dict[str, RawSection] | None = None
        self._string_maps: dict[int, dict[int, str]] = {}

    # ---- accessors -----------------------------------------------------

    def num_sections(self) -> int:
        """Number of section headers (extended numbering resolved)."""
        return len(self.sections)

    def get_section(self, index: int) -> RawSection:
        """Section ``index``.

        Raises:
            ModuleFormatError: no such section.
        """
        if not 0 <= index < len(self.sections):
            raise _fail(self.path, f"section index {index} out of range "
                                   f"({len(self.sections)} sections)")
        return self.sections[index]

    def get_section_by_name(self, name: str) -> RawSection | None:
        """The first section called ``name``, or ``None``."""
        if self._by_name is None:
            by: dict[str, RawSection] = {}
            for s in self.sections:
                by.setdefault(s.name, s)
            self._by_name = by
        return self._by_name.get(name)

    def iter_sections(self, type: int | None = None) -> Iterator[RawSection]:
        """Sections in header order, optionally only those of ``sh_type == type``."""
        for s in self.sections:
            if type is None or s.type == type:
                yield s

    def get_section_by_type(self, type: int) -> RawSection | None:
        """The first section of ``sh_type == type``, or ``None``."""
        for s in self.sections:
            if s.type == type:
                return s
        return None

    def section_data(self, sec: RawSection) -> bytes:
        """Contents of ``sec`` (``b''`` for SHT_NOBITS and SHT_NULL).

        Raises:
            ModuleFormatError: the section extends past the end of file.
        """
        if sec.type in (SHT_NOBITS, SHT_NULL):
            return b""
        end = sec.offset + sec.size
        if end > len(self.data):
            raise _fail(self.path, f"section {self._label(sec)} ({sec.size} bytes at "
                                   f"{sec.offset:#x}) extends past the end of file "
                                   f"({len(self.data)} bytes)")
        return self.data[sec.offset:end]

    def get_string(self, strtab: RawSection | int, offset: int) -> str:
        """The NUL-terminated string at ``offset`` of string table ``strtab``.

        Raises:
            ModuleFormatError: not a string table, offset out of range, or no NUL.
        """
        sec = strtab if isinstance(strtab, RawSection) else self.get_section(strtab)
        if sec.type != SHT_STRTAB:
            raise _fail(self.path, f"section {self._label(sec)} is not a string table")
        return self._cstring(self.section_data(sec), offset, sec)

    # ---- symbols -------------------------------------------------------

    def read_symbols(self, symtab: RawSection, start: int = 0) -> list[RawSymbol]:
        """Entries ``start..`` of symbol table ``symtab`` (SHT_SYMTAB/SHT_DYNSYM), in bulk.

        Names come from the table's ``sh_link`` string table.  With
        ``start == 0`` entry 0 (the null symbol) is included, so list positions
        are symbol indices; otherwise position ``i`` is symbol ``start + i``.
        (``sh_info`` of a symbol table is the index of its first non-local
        symbol: :meth:`first_nonlocal` validates it for ``start``.)

        Raises:
            ModuleFormatError: bad ``sh_entsize``, ``sh_link`` not a string table,
                a name offset out of range or unterminated.
        """
        cls = self.elfclass
        size = SYM_SIZE[cls]
        if symtab.entsize not in (0, size):
            raise _fail(self.path, f"symbol table {self._label(symtab)} has entry size "
                                   f"{symtab.entsize}, expected {size}")
        raw = self.section_data(symtab)
        raw = raw[start * size if start > 0 else 0:len(raw) - len(raw) % size]
        strsec = self._linked_strtab(symtab)
        names = self._strings(strsec)
        get = names.get
        fmt = _BO[self.little_endian] + _SYM_FMT[cls]
        new = tuple.__new__
        if cls == 64:
            out = [new(RawSymbol, (get(st_name) or self._name(strsec, st_name, names),
                                   value, sz, info, other, shndx))
                   for st_name, info, other, shndx, value, sz in struct.iter_unpack(fmt, raw)]
        else:
            out = [new(RawSymbol, (get(st_name) or self._name(strsec, st_name, names),
                                   value, sz, info, other, shndx))
                   for st_name, value, sz, info, other, shndx in struct.iter_unpack(fmt, raw)]
        return out

    def symbol_summary(self, symtab: RawSection) -> SymbolSummary:
        """The non-local named symbols of ``symtab`` split by what a linker check needs.

        Decoded column-wise (``st_info`` bytes and ``st_shndx``/``st_name``
        words sliced out with :mod:`array`), skipping the local symbols, and
        resolving only the names kept: several times faster than
        :meth:`read_symbols` when only these facts are wanted.

        Raises:
            ModuleFormatError: as :meth:`read_symbols`.
        """
        cls = self.elfclass
        size = SYM_SIZE[cls]
        if symtab.entsize not in (0, size):
            raise _fail(self.path, f"symbol table {self._label(symtab)} has entry size "
                                   f"{symtab.entsize}, expected {size}")
        start = self.first_nonlocal(symtab)
        raw = self.section_data(symtab)
        raw = raw[start * size:len(raw) - len(raw) % size]
        strsec = self._linked_strtab(symtab)
        names = self._strings(strsec)
        get = names.get
        infos = raw[4::size] if cls == 64 else raw[12::size]
        halves = array("H", raw)
        words = array("I", raw)
        if not self.little_endian:
            halves.byteswap()
            words.byteswap()
        shndx = halves[3::size // 2] if cls == 64 else halves[7::size // 2]
        rows = [(n, i >> 4, x) for n, i, x in zip(words[0::size // 4], infos, shndx)
                if i >= 0x10 and n]
        undefined = [(get(n) or self._name(strsec, n, names), b) for n, b, x in rows if x == 0]
        exports = [get(n) or self._name(strsec, n, names) for n, b, x in rows
                   if x and b == STB_GLOBAL]
        common = [get(n) or self._name(strsec, n, names) for n, b, x in rows
                  if x == SHN_COMMON]
        return SymbolSummary(undefined, exports, common)

    def read_symbol(self, symtab: RawSection, index: int) -> RawSymbol:
        """Symbol ``index`` of ``symtab`` alone.

        Raises:
            ModuleFormatError: index out of range, or a bad name.
        """
        if not 0 <= index < self.symbol_count(symtab):
            raise _fail(self.path, f"symbol index {index} out of range "
                                   f"({self.symbol_count(symtab)} symbols)")
        size = SYM_SIZE[self.elfclass]
        row = struct.unpack_from(_BO[self.little_endian] + _SYM_FMT[self.elfclass],
                                 self.section_data(symtab), index * size)
        if self.elfclass == 64:
            st_name, info, other, shndx, value, sz = row
        else:
            st_name, value, sz, info, other, shndx = row
        if st_name:
            strsec = self._linked_strtab(symtab)
            names = self._strings(strsec)
            name = names.get(st_name) or self._name(strsec, st_name, names)
        else:
            name = ""
        return RawSymbol(name, value, sz, info, other, shndx)

    def first_nonlocal(self, symtab: RawSection) -> int:
        """``sh_info`` of ``symtab`` if every symbol before it really is STB_LOCAL, else 0.

        Checked in bulk (the ``st_info`` bytes are sliced out, no per-symbol
        objects), so skipping the locals is safe even for odd files.
        """
        n = symtab.info
        count = self.symbol_count(symtab)
        if not 0 < n <= count:
            return 0
        size = SYM_SIZE[self.elfclass]
        raw = self.section_data(symtab)
        info_at = 4 if self.elfclass == 64 else 12
        infos = raw[info_at:n * size:size]
        return n if max(infos) < 0x10 else 0

    def symbol_count(self, symtab: RawSection) -> int:
        """``sh_size / sizeof(Elf_Sym)``, as the kernel computes it."""
        return symtab.size // SYM_SIZE[self.elfclass]

    # ---- relocations ---------------------------------------------------

    def is_mips64(self) -> bool:
        """True for 64-bit MIPS, whose ``r_info`` has the n64 layout."""
        return self.header.e_machine == EM_MIPS and self.elfclass == 64

    def read_relocations(self, sec: RawSection) -> list[RawReloc]:
        """All entries of SHT_REL/SHT_RELA section ``sec``.

        For ELF32 ``r_info`` is ``sym << 8 | type``; for ELF64 ``sym << 32 |
        type``; for MIPS64 the field is ``r_sym`` (u32, file byte order)
        followed by the bytes ``r_ssym, r_type3, r_type2, r_type`` -- on
        little-endian MIPS this is *not* a little-endian 64-bit number, so it is
        decoded field by field.

        Raises:
            ModuleFormatError: not a relocation section, bad ``sh_entsize``, or
                the section lies outside the file.
        """
        is_rela = self._reloc_kind(sec)
        raw = self._reloc_bytes(sec, is_rela)
        bo = _BO[self.little_endian]
        new = tuple.__new__
        if self.is_mips64():
            if is_rela:
                return [new(RawReloc, (off, t1, sym, add, t2, t3, ss)) for off, sym, ss, t3, t2, t1, add
                        in struct.iter_unpack(bo + _MIPS64_REL_FMT[True], raw)]
            return [new(RawReloc, (off, t1, sym, None, t2, t3, ss)) for off, sym, ss, t3, t2, t1
                    in struct.iter_unpack(bo + _MIPS64_REL_FMT[False], raw)]
        fmt = bo + _REL_FMT[self.elfclass, is_rela]
        if self.elfclass == 64:
            if is_rela:
                return [new(RawReloc, (off, info & 0xFFFFFFFF, info >> 32, add, 0, 0, 0))
                        for off, info, add in struct.iter_unpack(fmt, raw)]
            return [new(RawReloc, (off, info & 0xFFFFFFFF, info >> 32, None, 0, 0, 0))
                    for off, info in struct.iter_unpack(fmt, raw)]
        if is_rela:
            return [new(RawReloc, (off, info & 0xFF, info >> 8, add, 0, 0, 0))
                    for off, info, add in struct.iter_unpack(fmt, raw)]
        return [new(RawReloc, (off, info & 0xFF, info >> 8, None, 0, 0, 0))
                for off, info in struct.iter_unpack(fmt, raw)]

    def relocation_columns(self, sec: RawSection) -> tuple[
            Sequence[int], list[int], Sequence[int], Sequence[int] | None]:
        """The entries of ``sec`` as columns ``(offsets, types, symbols, addends)`` (``addends``
        None for REL), decoded in bulk: no per-entry objects, for callers that go over
        thousands of entries (DWARF's).  A MIPS64 entry with a composed ``r_type2`` or
        ``r_type3`` has the type -1 (see :meth:`read_relocations` for those).

        Raises:
            ModuleFormatError: as :meth:`read_relocations`.
        """
        if self.is_mips64():
            rels = self.read_relocations(sec)
            return ([r.offset for r in rels],
                    [-1 if r.type2 or r.type3 else r.type for r in rels],
                    [r.sym for r in rels],
                    [r.addend for r in rels] if sec.type == SHT_RELA else None)
        is_rela = self._reloc_kind(sec)
        raw = self._reloc_bytes(sec, is_rela)
        fields = _REL_FMT[self.elfclass, is_rela]
        n = len(raw) // struct.calcsize("<" + fields)
        flat = struct.unpack(_BO[self.little_endian] + fields * n, raw)
        step = len(fields)
        infos = flat[1::step]
        shift, mask = (32, 0xFFFFFFFF) if self.elfclass == 64 else (8, 0xFF)
        return (flat[0::step], [i & mask for i in infos], [i >> shift for i in infos],
                flat[2::step] if is_rela else None)

    def relocation_entries(self, sec: RawSection) -> Iterable[
            tuple[int, int, int, int | None]] | None:
        """``(offset, type, symbol, addend)`` of each entry of ``sec`` (``addend`` None for
        REL), from :meth:`relocation_columns`: no per-entry object on the way.  ``None``
        for MIPS64, whose composed types need :meth:`read_relocations`.

        Raises:
            ModuleFormatError: as :meth:`read_relocations`.
        """
        if self.is_mips64():
            return None
        offsets, types, syms, addends = self.relocation_columns(sec)
        return zip(offsets, types, syms,
                   addends if addends is not None else repeat(None, len(offsets)))

    def relocation_types(self, sec: RawSection) -> set[int]:
        """The set of relocation types used in ``sec`` (fast; no per-entry objects).

        For MIPS64 the composed ``r_type2``/``r_type3`` values are included
        when they are not ``R_MIPS_NONE``.

        Raises:
            ModuleFormatError: as :meth:`read_relocations`.
        """
        is_rela = self._reloc_kind(sec)
        raw = self._reloc_bytes(sec, is_rela)
        if self.is_mips64():
            rels = self.read_relocations(sec)
            out = {r.type for r in rels}
            out.update(t for r in rels for t in (r.type2, r.type3) if t)
            return out
        ent = (RELA_SIZE if is_rela else REL_SIZE)[self.elfclass]
        if self.elfclass == 32:
            words = array("I", raw)
            if not self.little_endian:
                words.byteswap()
            step = ent // 4
            return {w & 0xFF for w in words[1::step]}
        # ELF64: the low 32 bits of r_info are its second 32-bit half in memory
        # order on little-endian files, the first on big-endian ones.
        words = array("I", raw)
        if not self.little_endian:
            words.byteswap()
        step = ent // 4
        return set(words[2::step] if self.little_endian else words[3::step])

    def read_word(self, sec: RawSection, offset: int, size: int, signed: bool = False) -> int:
        """The ``size``-byte integer (1, 2, 4 or 8) at ``offset`` inside ``sec``.

        Used for REL implicit addends and modinfo fields.

        Raises:
            ModuleFormatError: outside the section (or the section outside the file).
        """
        fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}.get(size)
        if fmt is None:
            raise _fail(self.path, f"unsupported word size {size}")
        if signed:
            fmt = fmt.lower()
        if offset < 0 or offset + size > sec.size:
            raise _fail(self.path, f"offset {offset:#x}+{size} is outside section "
                                   f"{self._label(sec)} ({sec.size} bytes)")
        if sec.type == SHT_NOBITS:
            return 0
        data = self.section_data(sec)
        return int(struct.unpack_from(_BO[self.little_endian] + fmt, data, offset)[0])

    def read_cstring(self, sec: RawSection, offset: int) -> str:
        """The NUL-terminated string at ``offset`` inside any section ``sec``.

        Raises:
            ModuleFormatError: offset outside the section, or no NUL before its end.
        """
        if sec.type == SHT_NOBITS:
            if 0 <= offset < sec.size:
                return ""
            raise _fail(self.path, f"offset {offset:#x} is outside section {self._label(sec)}")
        return self._cstring(self.section_data(sec), offset, sec)

    def read_cbytes(self, sec: RawSection, offset: int) -> bytes:
        """The bytes of the NUL-terminated string at ``offset`` inside ``sec``, undecoded
        (:meth:`read_cstring` escapes control characters and odd bytes for display; a
        length the kernel measures is measured here).

        Raises:
            ModuleFormatError: offset outside the section, or no NUL before its end.
        """
        if sec.type == SHT_NOBITS:
            if 0 <= offset < sec.size:
                return b""
            raise _fail(self.path, f"offset {offset:#x} is outside section {self._label(sec)}")
        data = self.section_data(sec)
        self._cstring(data, offset, sec)          # the same checks and messages
        return data[offset:data.find(b"\0", offset)]

    # ---- notes ---------------------------------------------------------

    def iter_notes(self, sec: RawSection) -> Iterator[RawNote]:
        """Entries of SHT_NOTE section ``sec`` (4-byte aligned name and desc).

        Raises:
            ModuleFormatError: an entry runs past the end of the section.
        """
        data = self.section_data(sec)
        st = _NHDR[self.little_endian]
        pos = 0
        while pos + st.size <= len(data):
            namesz, descsz, ntype = st.unpack_from(data, pos)
            pos += st.size
            name_end = pos + namesz
            desc_at = pos + (namesz + 3) // 4 * 4
            desc_end = desc_at + descsz
            if desc_end > len(data):
                raise _fail(self.path, f"note in section {self._label(sec)} runs past its end")
            name = _decode(data[pos:name_end].rstrip(b"\0"))
            yield RawNote(name, ntype, data[desc_at:desc_end])
            pos = desc_at + (descsz + 3) // 4 * 4

    # ---- PRIVATE -------------------------------------------------------

    def _strings(self, strsec: RawSection) -> dict[int, str]:
        cache = self._string_maps
        m = cache.get(strsec.index)
        if m is None:
            m = cache[strsec.index] = string_map(self.section_data(strsec))
        return m

    def _name(self, strsec: RawSection, offset: int, names: dict[int, str]) -> str:
        # Slow path: empty names, suffix-shared offsets, and errors.
        if offset in names:
            return names[offset]
        name = self._cstring(self.section_data(strsec), offset, strsec)
        names[offset] = name
        return name

    def _label(self, sec: RawSection) -> str:
        return f"{sec.name} [{sec.index}]" if sec.name else f"[{sec.index}]"

    def _linked_strtab(self, sec: RawSection) -> RawSection:
        if not 0 < sec.link < len(self.sections) or self.sections[sec.link].type != SHT_STRTAB:
            raise _fail(self.path, f"section {self._label(sec)} has sh_link {sec.link}, "
                                   f"which is not a string table")
        return self.sections[sec.link]

    def _cstring(self, data: bytes, offset: int, sec: RawSection) -> str:
        if not 0 <= offset < len(data):
            raise _fail(self.path, f"string offset {offset} is outside section "
                                   f"{self._label(sec)} ({len(data)} bytes)")
        end = data.find(b"\0", offset)
        if end < 0:
            raise _fail(self.path, f"unterminated string at offset {offset} of section "
                                   f"{self._label(sec)}")
        return _decode(data[offset:end])

    def _reloc_kind(self, sec: RawSection) -> bool:
        if sec.type not in (SHT_REL, SHT_RELA):
            raise _fail(self.path, f"section {self._label(sec)} is not a relocation section")
        return sec.type == SHT_RELA

    def _reloc_bytes(self, sec: RawSection, is_rela: bool) -> bytes:
        ent = (RELA_SIZE if is_rela else REL_SIZE)[self.elfclass]
        if sec.entsize not in (0, ent):
            raise _fail(self.path, f"relocation section {self._label(sec)} has entry size "
                                   f"{sec.entsize}, expected {ent}")
        raw = self.section_data(sec)
        return raw[:len(raw) - len(raw) % ent]


def name_sections(elf_path: str, data: bytes, hdr: ElfHeader,
                  sections: list[RawSection]) -> list[RawSection]:
    """Return ``sections`` with names resolved from the section-name string table.

    With ``e_shstrndx == SHN_UNDEF`` every name is ``''``.

    Raises:
        ModuleFormatError: ``bad shstrndx`` (out of range or not a string table),
            or a name offset outside it.
    """
    idx = section_string_index(hdr, sections)
    if idx == SHN_UNDEF:
        return sections
    if idx >= len(sections):
        raise _fail(elf_path, "bad shstrndx")
    strsec = sections[idx]
    if strsec.type != SHT_STRTAB:
        raise _fail(elf_path, f"bad shstrndx: section [{idx}] is not a string table")
    tmp = RawElf(elf_path, data, hdr, sections)
    names = tmp._strings(strsec)
    get = names.get
    new = tuple.__new__
    return [new(RawSection, s[:11] + (get(s.name_offset) or tmp._name(strsec, s.name_offset, names),))
            for s in sections]


def read_elf(data: bytes, path: str) -> RawElf:
    """Parse ``data`` (a whole ELF file) into a :class:`RawElf`.

    Header, section headers and section names are decoded; symbol and
    relocation tables are decoded on request.

    Raises:
        ModuleFormatError: any malformed header, section header table or
            section-name table (message says which).
    """
    path = str(path)
    try:
        hdr = parse_header(data, path)
        sections = parse_section_headers(data, hdr, path)
        return RawElf(path, data, hdr, name_sections(path, data, hdr, sections))
    except (struct.error, ValueError, IndexError, OverflowError) as e:  # defensive: bugs in checks
        raise _fail(path, f"malformed ELF file: {e}") from e


def layout_problem(data: bytes) -> str | None:
    """Why ``data`` cannot be a whole ELF file -- a bad header, a section header table
    or a section's contents past the end of file (a truncated copy) -- or ``None``.
    Only the layout: no symbol, relocation or name table is decoded."""
    try:
        hdr = parse_header(data, "")
        for sec in parse_section_headers(data, hdr, ""):
            if sec.type not in (SHT_NOBITS, SHT_NULL) and sec.offset + sec.size > len(data):
                return (f"section {sec.index} ends at {sec.offset + sec.size:#x}, past the "
                        f"end of file ({len(data)} bytes)")
    except ModuleFormatError as e:
        return e.message
    except (struct.error, ValueError, IndexError, OverflowError) as e:
        return f"malformed ELF file: {e}"
    return None


def read_elf_file(path: str) -> RawElf:
    """Read the file at ``path`` once and parse it with :func:`read_elf`.

    Raises:
        ModuleFormatError: unreadable or malformed file.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise _fail(str(path), f"cannot read: {e.strerror or e}") from e
    return read_elf(data, str(path))
