"""kmodbuild.linux.koelf - decode what depmod reads from a module's ELF into :class:`KoFacts`.

The rules are libkmod's, so that results match ``depmod`` exactly
(kmod ``libkmod/libkmod-elf.c``, https://github.com/kmod-project/kmod):

* exports (``kmod_elf_get_symbols``): every symbol whose name starts with
  ``__crc_``; its CRC is ``st_value`` for ``SHN_ABS``/``SHN_UNDEF`` symbols,
  otherwise the 32-bit word at ``st_value`` inside its section (``__kcrctab``
  or ``__kcrctab_gpl`` on Linux >= 5.19), ``(u64)-1`` when that is out of
  range.  With no ``__crc_`` symbol: the strings of ``__ksymtab_strings``,
  CRC 0.  (Our one addition: with neither, the ``__ksymtab_<name>`` symbols.)
* dependency symbols (``kmod_elf_get_dependency_symbols``): every symbol
  with ``st_shndx == SHN_UNDEF`` and a non-empty name (on SPARC not
  ``STT_REGISTER``), weak when ``STB_WEAK``, with the CRC of the first
  ``__versions`` entry of that name (0 if none); then each ``__versions``
  entry no undefined symbol named (``module_layout`` and friends).
  ``__versions`` entries are 64 bytes: an ``unsigned long`` CRC (8 bytes on
  ELF64, 4 on ELF32) and the NUL-padded name.
* sections are found by name, the first match from index 1, ``.symtab`` and
  ``.strtab`` included.

It works on a *reader* ``read(offset, length) -> bytes`` so that only the
bytes needed are fetched (:mod:`kmodbuild.linux.kofile` reads files with
``os.pread``).  The header and the section header layout come from
:mod:`kmodbuild.elfraw`.  This is the general decoder: every ELF class and
byte order, and the exact error for damaged files.  Ordinary modules are
decoded by :func:`kmodbuild.linux.quickelf.fast_extract`, the same rules in
fewer Python operations; :mod:`kmodbuild.linux.kofile` comes here when it
declines a file.
"""
from __future__ import annotations

from array import array
from functools import partial
from itertools import compress, repeat
from operator import not_
from typing import Literal

from kmodbuild import elfraw
from kmodbuild.errors import ModuleFormatError
from kmodbuild.linux.facts import KoFacts, pack_crcs
from kmodbuild.linux.quickelf import (_COALESCE_GAP, _HOST_LE, _KSYMTAB, _KSYMTAB_STRINGS,
                                      _MODINFO, _NUL_TO_SPACE, _STRTAB, _SYMTAB,
                                      _VERSION_ENTRY, _VERSIONS, _WEAK_INFO, CRC_INVALID,
                                      CRC_PREFIX, EM_SPARC, EM_SPARCV9, MALFORMED, STT_REGISTER,
                                      Reader)
from kmodbuild.linux.quickelf import modinfo_value as _modinfo_value
from kmodbuild.linux.quickelf import prefix_positions

KSYMTAB_PREFIX = "__ksymtab_"
# Elf_Sym field positions, by ELF class, in units of the array item:
# (u32 index of st_name, u16 index of st_shndx, byte offset of st_info, u32 words per entry).
_SYM_COLUMNS = {64: (0, 3, 4, 6), 32: (0, 7, 12, 4)}
_VERSION_CRC = {64: ("Q", 8), 32: ("I", 4)}
_MODINFO_KEYS = (b"name=", b"vermagic=", b"depends=")


def _fail(path: str, message: str) -> ModuleFormatError:
    return ModuleFormatError(message, path=path)


class Elf:
    """The section header table of one file, and its sections on demand.

    Section headers are decoded when first asked for (:meth:`section`): a
    module has dozens, the checker needs five or six.
    """

    __slots__ = ("read", "size", "path", "cls", "le", "swap", "machine", "sh", "table", "shnum",
                 "names", "decoded", "shstr", "fetched")

    def __init__(self, read: Reader, size: int, path: str) -> None:
        self.read, self.size, self.path = read, size, path
        self.fetched: dict[int, bytes] = {}
        self.decoded: dict[int, tuple[int, ...]] = {}
        hdr = elfraw.parse_header(read(0, elfraw.EHDR_SIZE[64]), path)
        self.cls, self.le, self.machine = hdr.elfclass, hdr.little_endian, hdr.e_machine
        self.swap = hdr.little_endian != _HOST_LE
        if hdr.e_shoff == 0:
            raise _fail(path, "no section header table")
        self.sh = sh = elfraw.section_header_struct(hdr)
        if hdr.e_shentsize != sh.size:
            raise _fail(path, f"bad section header size {hdr.e_shentsize}")
        shnum = hdr.e_shnum
        if shnum == 0:      # gABI extended numbering: the count is section 0's sh_size
            shnum = sh.unpack(self.get(hdr.e_shoff, sh.size))[5]
        self.shnum = shnum
        self.table = self.get(hdr.e_shoff, shnum * sh.size)
        self.names: list[int] = self.uint_array("I", self.table)[0::sh.size // 4].tolist()
        stridx = hdr.e_shstrndx
        if stridx == elfraw.SHN_XINDEX:
            stridx = self.section(0)[6]
        if not 0 < stridx < shnum:
            raise _fail(path, "bad shstrndx")
        self.shstr = self.data(stridx)
        if not self.shstr.endswith(b"\0"):         # kmod_elf_new refuses the file
            raise _fail(path, "the section name table does not end with NUL")

    def section(self, index: int) -> tuple[int, ...]:
        """Section ``index``'s header fields (name offset, type, flags, addr, offset,
        size, link, info, addralign, entsize)."""
        sec = self.decoded.get(index)
        if sec is None:
            if not 0 <= index < self.shnum:
                raise _fail(self.path, f"section index {index} out of range")
            sec = self.decoded[index] = self.sh.unpack_from(self.table, index * self.sh.size)
        return sec

    def get(self, offset: int, length: int) -> bytes:
        """``length`` bytes at file ``offset``, bounds-checked."""
        if offset + length > self.size:
            raise _fail(self.path, f"{length} bytes at {offset:#x} extend past the end of file "
                                   f"({self.size} bytes)")
        data = self.read(offset, length)
        if len(data) != length:
            raise _fail(self.path, f"short read at {offset:#x}")
        return data

    def data(self, index: int) -> bytes:
        """The file bytes of section ``index`` (its type does not matter to libkmod,
        which reads ``sh_size`` bytes at ``sh_offset`` of any section)."""
        data = self.fetched.get(index)
        if data is not None:
            return data
        sec = self.section(index)
        return self.get(sec[4], sec[5])

    def c_string_at(self, offset: int) -> bytes:
        """The bytes from file ``offset`` up to the next NUL (or the end of the file): what
        libkmod reads for a name that runs past the end of its section or entry."""
        out = b""
        while offset < self.size:
            chunk = self.read(offset, min(256, self.size - offset))
            if not chunk:
                break
            end = chunk.find(b"\0")
            if end >= 0:
                return out + chunk[:end]
            out += chunk
            offset += len(chunk)
        return out

    def in_file(self, index: int) -> bool:
        """True when section ``index`` lies inside the file (``elf_get_section_info``:
        libkmod passes over a section that does not, as if it were not there)."""
        sec = self.section(index)
        return sec[4] + sec[5] <= self.size

    def spans(self, indices: tuple[int, ...]) -> list[tuple[int, int, list[int]]]:
        """File ranges ``(start, end, sections)`` covering sections ``indices`` (-1
        ignored), neighbours merged: system calls, not bytes, are what cost."""
        parts = sorted((sec[4], sec[4] + sec[5], i) for i in indices
                       if i > 0 and (sec := self.section(i)))
        merged: list[tuple[int, int, list[int]]] = []
        for lo, hi, i in parts:
            if merged and lo - merged[-1][1] <= _COALESCE_GAP:
                last = merged[-1]
                merged[-1] = (last[0], max(last[1], hi), [*last[2], i])
            else:
                merged.append((lo, hi, [i]))
        return merged

    def prefetch(self, indices: tuple[int, ...]) -> None:
        """Read the sections ``indices`` with one read per cluster of neighbours."""
        for lo, hi, members in self.spans(indices):
            blob = self.get(lo, hi - lo)
            for i in members:
                sec = self.section(i)
                off = sec[4] - lo
                self.fetched[i] = blob[off:off + sec[5]]

    def find(self, want: bytes) -> int:
        """Index of the first section (from 1, as libkmod) whose name is ``want``
        (NUL-terminated bytes) and whose bytes lie inside the file, or -1."""
        shstr, names = self.shstr, self.names
        at: set[int] = set()
        pos = shstr.find(want)
        while pos >= 0:
            at.add(pos)
            pos = shstr.find(want, pos + 1)
        if at:
            for i in range(1, self.shnum):
                if names[i] in at and self.in_file(i):
                    return i
        return -1

    def uint_array(self, code: str, data: bytes) -> array[int]:
        """``data`` as an array of unsigned ints in host order."""
        arr = array(code)
        arr.frombytes(data[:len(data) - len(data) % arr.itemsize])
        if self.swap:
            arr.byteswap()
        return arr


def _strings(raw: bytes) -> str:
    # latin-1 keeps byte offsets equal to string offsets; names are ASCII in practice.
    return raw.decode("latin-1")


def _cstr(s: str, offset: int) -> str:
    end = s.find("\0", offset)
    return s[offset:] if end < 0 else s[offset:end]


def extract(read: Reader, size: int, path: str) -> KoFacts:
    """The facts of the module whose bytes ``read`` returns (``size`` bytes in all).

    Raises:
        ModuleFormatError: malformed ELF (never another exception).
    """
    try:
        return extract_facts(Elf(read, size, path))
    except MALFORMED as e:
        # Defensive: every bound is checked, but hostile input must never escape as
        # anything but ModuleFormatError (STYLE section 8.4).
        raise _fail(path, f"malformed ELF file: {e}") from e



def locate(elf: Elf) -> tuple[int, int, int, int]:
    """Indices of .symtab, .strtab, __versions and .modinfo (-1 when absent)."""
    return elf.find(_SYMTAB), elf.find(_STRTAB), elf.find(_VERSIONS), elf.find(_MODINFO)


def extract_facts(elf: Elf, wanted: tuple[int, int, int, int] | None = None) -> KoFacts:
    i_sym, i_str, i_ver, i_mi = wanted = wanted or locate(elf)
    elf.prefetch(wanted)
    cols = None
    if i_sym > 0 and i_str > 0:
        symtab = elf.data(i_sym)
        if len(symtab) % elfraw.SYM_SIZE[elf.cls] == 0:   # else libkmod: "unexpected .symtab"
            strsec = elf.section(i_str)
            cols = _SymColumns(elf, symtab, elf.data(i_str), elf.section(i_sym)[7],
                               strsec[4] + strsec[5])
    exports, crcs, source = _exports(elf, cols)
    error = None
    deps: list[str] = []
    dep_crcs: list[int] = []
    weak: tuple[int, ...] = ()
    n_und = 0
    if cols is None:
        error = "cannot read dependency symbols: no usable .symtab and .strtab"
    else:
        try:
            deps, dep_crcs, weak, n_und = _dependency_symbols(elf, cols, i_ver)
        except ModuleFormatError as e:
            error = f"cannot read dependency symbols: {e.message}"
    name = vermagic = depends = None
    if i_mi > 0:
        name, vermagic, depends = map(partial(_modinfo_value, elf.data(i_mi)), _MODINFO_KEYS)
    return KoFacts(elf.cls, elf.machine, "\0".join(exports), pack_crcs(crcs), source,
                   "\0".join(deps), pack_crcs(dep_crcs), weak, n_und, name, vermagic, depends,
                   error)


class _SymColumns:
    """Columns of a symbol table: st_name, st_shndx (arrays), st_info (bytes)."""

    __slots__ = ("raw", "count", "first_global", "st_name", "st_shndx", "st_info", "strlen",
                 "strtab")

    def __init__(self, elf: Elf, symtab: bytes, strtab: bytes, first_global: int,
                 strtab_end: int) -> None:
        name_at, shndx_at, info_at, words = _SYM_COLUMNS[elf.cls]
        self.raw = symtab
        self.count = len(symtab) // elfraw.SYM_SIZE[elf.cls]
        self.first_global = first_global if 0 < first_global <= self.count else 1
        self.st_name = elf.uint_array("I", symtab)[name_at::words]
        self.st_shndx = elf.uint_array("H", symtab)[shndx_at::words * 2]
        self.st_info = symtab[info_at::elfraw.SYM_SIZE[elf.cls]]
        self.strlen = len(strtab)
        # A trailing NUL guarantees str.find("\0", offset) never fails for offset < strlen.
        # A last name without its NUL goes on, for libkmod's C strings, past the section.
        more = elf.c_string_at(strtab_end) if strtab and strtab[-1] else b""
        self.strtab = _strings(strtab + more) + "\0"



def _exports(elf: Elf, cols: _SymColumns | None) -> tuple[list[str], list[int], str]:
    # libkmod falls back to __ksymtab_strings when no symbol is called __crc_*, and
    # also when any symbol's name offset (from symbol 1 on) lies outside .strtab.
    if (cols is not None and CRC_PREFIX in cols.strtab
            and max(cols.st_name[1:], default=0) < cols.strlen):
        cands = set(prefix_positions(cols.strtab, CRC_PREFIX))
        hits = list(compress(range(1, cols.count), map(cands.__contains__, cols.st_name[1:])))
        if hits:
            return _crc_exports(elf, cols, hits)
    i = elf.find(_KSYMTAB_STRINGS)
    if i > 0:
        names = [n for n in _strings(elf.data(i)).split("\0") if n]
        return names, [0] * len(names), "ksymtab_strings"
    if cols is not None and elf.find(_KSYMTAB) > 0 and KSYMTAB_PREFIX in cols.strtab:
        s = cols.strtab
        cands = set(prefix_positions(s, KSYMTAB_PREFIX))
        names = [_cstr(s, cols.st_name[j])[len(KSYMTAB_PREFIX):]
                 for j in compress(range(1, cols.count), map(cands.__contains__, cols.st_name[1:]))]
        names = [n for n in names if n and n != "strings"]
        if names:
            return names, [0] * len(names), "symtab"
    return [], [], ""


def _crc_exports(elf: Elf, cols: _SymColumns,
                 hits: list[int]) -> tuple[list[str], list[int], str]:
    s, st_name, st_shndx = cols.strtab, cols.st_name, cols.st_shndx
    find = s.find
    skip = len(CRC_PREFIX)
    names = [s[st_name[j] + skip:find("\0", st_name[j])] for j in hits]
    values = elf.uint_array("Q" if elf.cls == 64 else "I", cols.raw)
    words = elfraw.SYM_SIZE[elf.cls] // values.itemsize      # st_value is word 1 of Elf_Sym
    crcs: list[int] = []
    sections: dict[int, bytes] = {}
    order: Literal["little", "big"] = "little" if elf.le else "big"
    nsec = elf.shnum
    for j in hits:
        value, shndx = values[j * words + 1], st_shndx[j]
        if shndx == elfraw.SHN_ABS or shndx == elfraw.SHN_UNDEF:
            crcs.append(value)
            continue
        # kmod_elf_resolve_crc: the CRC is a u32 at st_value inside the symbol's section.
        if shndx >= nsec or not elf.in_file(shndx):
            crcs.append(CRC_INVALID)
            continue
        data = sections.get(shndx)
        if data is None:
            data = sections[shndx] = elf.data(shndx)
        if len(data) < 4 or value > len(data) - 4:
            crcs.append(CRC_INVALID)
            continue
        crcs.append(int.from_bytes(data[value:value + 4], order))
    return names, crcs, "crc"


def _versions(elf: Elf, i: int) -> tuple[list[str], list[int]]:
    if i <= 0:
        return [], []
    data = elf.data(i)
    if not data or len(data) % _VERSION_ENTRY:
        return [], []           # libkmod ignores a __versions of odd length
    code, crclen = _VERSION_CRC[elf.cls]
    n = len(data) // _VERSION_ENTRY
    crcs = elf.uint_array(code, data)[0::_VERSION_ENTRY // crclen].tolist()
    # Fast path: blank the CRC fields, turn NULs into spaces and split on
    # whitespace -- one name per entry.  Proof: the total length says the only
    # whitespace is NUL, so the names are the runs of other bytes, which cannot
    # cross the blanked CRC fields; every entry's name starts with a non-NUL
    # byte, so each entry holds at least one run; the count says exactly one.
    # (Count and length alone do not do: "a\0b" beside an empty name keeps
    # both.)  Otherwise decode entry by entry.
    buf = bytearray(data)
    zeros = bytes(n)
    for k in range(crclen):
        buf[k::_VERSION_ENTRY] = zeros
    names = buf.translate(_NUL_TO_SPACE).decode("latin-1").split()
    if (len(names) != n or 0 in buf[crclen::_VERSION_ENTRY]
            or any(buf[_VERSION_ENTRY - 1::_VERSION_ENTRY])
            or sum(map(len, names)) != len(buf) - buf.count(0)):
        # entry by entry; a name without its NUL runs on (C strings) into what follows
        sec = elf.section(i)
        names = []
        for k in range(0, len(data), _VERSION_ENTRY):
            raw = data[k + crclen:]
            end = raw.find(b"\0")
            if end < 0:
                raw += elf.c_string_at(sec[4] + sec[5])
                end = len(raw)
            names.append(_strings(raw[:end]))
    return names, crcs


def _dependency_symbols(elf: Elf, cols: _SymColumns, i_versions: int
                        ) -> tuple[list[str], list[int], tuple[int, ...], int]:
    # Undefined symbols (st_shndx == SHN_UNDEF, entry 0 excluded).  They are
    # global or weak, after sh_info; libkmod scans the locals too, and so do
    # we when any local is undefined.
    shndx = cols.st_shndx
    start = cols.first_global
    if start > 1 and shndx[1:start].count(0):
        start = 1
    mask = list(map(not_, shndx[start:]))
    offsets = list(compress(cols.st_name[start:], mask))
    infos = bytes(compress(cols.st_info[start:], mask))
    if elf.machine in (EM_SPARC, EM_SPARCV9):
        regular = [i & 0xF != STT_REGISTER for i in infos]
        offsets, infos = list(compress(offsets, regular)), bytes(compress(infos, regular))
    if offsets and max(offsets) >= cols.strlen:
        raise _fail(elf.path, f".strtab is {cols.strlen} bytes, but an undefined symbol "
                              f"wants to access offset {max(offsets)}")
    s = cols.strtab
    find = s.find
    names = [s[o:find("\0", o)] for o in offsets]      # strtab ends in NUL (see _SymColumns)
    if "" in names:                                      # libkmod skips empty names
        keep = [bool(name) for name in names]
        names, infos = list(compress(names, keep)), bytes(compress(infos, keep))
    weak = [m.start() for m in _WEAK_INFO.finditer(infos)] if _WEAK_INFO.search(infos) else []
    n_und = len(names)
    vnames, vcrcs = _versions(elf, i_versions)
    if not vnames:
        return names, [0] * n_und, tuple(weak), n_und
    # kmod_elf_crc_find: the first entry of a name gives its CRC; entries no
    # undefined symbol visited (module_layout, duplicates) are dependencies too.
    crc_of = dict(zip(reversed(vnames), reversed(vcrcs)))
    crcs = list(map(crc_of.get, names, repeat(0)))
    unvisited = sorted(map(vnames.index, crc_of.keys() - set(names)))
    if len(crc_of) != len(vnames):
        firsts = set(map(vnames.index, crc_of))
        unvisited = sorted({*unvisited, *(k for k in range(len(vnames)) if k not in firsts)})
    names += [vnames[k] for k in unvisited]
    crcs += [vcrcs[k] for k in unvisited]
    return names, crcs, tuple(weak), n_und
