"""kmodbuild.linux.quickelf - what depmod reads from a module, for the ordinary case, fast.

:func:`fast_extract` decodes a well-formed module in the host's byte order
with far fewer Python operations than the general decoder
(:mod:`kmodbuild.linux.koelf`, which handles every ELF class, byte order
and damage and gives the exact error): section headers, symbol tables and
``__versions`` are sliced into columns with :mod:`array`, names resolved with
C-level ``map``/``compress``, no per-symbol objects.  Anything out of the
ordinary makes it return ``None``, and the caller takes the general path;
the rules -- libkmod's -- and so the answers are the same (the tests
compare the two on real and damaged modules).

This module imports no more than it needs (the general decoder is loaded
only for files that need it).
"""
from __future__ import annotations

import re
import struct
import sys
from array import array
from collections.abc import Callable
from itertools import compress, repeat
from operator import add, not_
from typing import Literal, NamedTuple

from kmodbuild.linux.facts import KoFacts, pack_crcs

EM_SPARC, EM_SPARCV9 = 2, 43
STT_REGISTER = 13
CRC_PREFIX = "__crc_"
#: CRC libkmod reports when a ``__crc_`` symbol points outside its section.
CRC_INVALID = 0xFFFFFFFFFFFFFFFF
#: Sections closer than this are read together.
_COALESCE_GAP = 16384
#: Up to this many ``__crc_`` names, their symbols are found by searching bytes.
_FEW_EXPORTS = 12

_HOST_LE = sys.byteorder == "little"
#: Where the low byte of a host-order u16 is.
_LOW_BYTE = 0 if _HOST_LE else 1
_VERSION_ENTRY = 64
_NUL_TO_SPACE = bytes.maketrans(b"\0", b" ")
#: Bytes that str.split() takes for white space once decoded as Latin-1.
_SPACES = bytes(i for i in range(1, 256) if chr(i).isspace())
#: NUL becomes a space and every white-space byte a NUL (which then proves that
#: no name held one).
_VERSION_NAMES = bytes.maketrans(b"\0" + _SPACES, b" " + bytes(len(_SPACES)))
#: st_info bytes with ELF_ST_BIND == STB_WEAK.
_WEAK_INFO = re.compile(rb"[\x20-\x2f]")
_SYMTAB, _STRTAB, _VERSIONS, _MODINFO = b".symtab\0", b".strtab\0", b"__versions\0", b".modinfo\0"
_KSYMTAB_STRINGS = b"__ksymtab_strings\0"
_KSYMTAB = b"__ksymtab\0"

#: ``read(offset, length) -> bytes``: the bytes of the file at ``offset``.  A reader
#: that holds the file's bytes from some offset on in memory may say so in a
#: ``held_from`` attribute (then sections there are not read together).
Reader = Callable[[int, int], bytes]
#: What malformed input can raise inside a decoder besides ModuleFormatError.
MALFORMED = (struct.error, ValueError, IndexError, OverflowError, KeyError, MemoryError)


#: EI_DATA of files in the host's byte order: the only ones :func:`fast_extract` takes.
_HOST_DATA = 1 if _HOST_LE else 2          # ELFDATA2LSB, ELFDATA2MSB
_SHT_NOBITS = 8
_SHN_UNDEF, _SHN_ABS = 0, 0xFFF1
_ELFCLASS32, _ELFCLASS64 = 1, 2


class _Layout(NamedTuple):
    """Where :func:`fast_extract` finds things in one ELF class (host byte order)."""

    ehdr: struct.Struct         # -> e_machine, e_shoff, e_shentsize, e_shnum, e_shstrndx
    ehdr_size: int
    shentsize: int
    word: str                   # array code of sh_offset/sh_size and st_value
    word_per_sh: int            # words per section header
    sh_offset: int              # word index of sh_offset (sh_size follows)
    u32_per_sh: int
    sh_info: int                # u32 index of sh_info
    symsize: int
    u32_per_sym: int            # st_name is u32 0 of each symbol
    shndx_at: int               # u16 index of st_shndx in a symbol
    info_at: int                # byte offset of st_info
    value_at: int               # word index of st_value in a symbol
    crc: str                    # array code of a __versions CRC
    crc_len: int


_LAYOUTS = {
    _ELFCLASS64: _Layout(struct.Struct("=18xH20xQ10xHHH"), 64, 64, "Q", 8, 3, 16, 11,
                               24, 6, 3, 4, 1, "Q", 8),
    _ELFCLASS32: _Layout(struct.Struct("=18xH12xI10xHHH"), 52, 40, "I", 10, 4, 10, 7,
                               16, 4, 7, 12, 1, "I", 4),
}
_WANTED = (_SYMTAB, _STRTAB, _VERSIONS, _MODINFO)


def fast_extract(read: Reader, size: int, path: str
                 ) -> tuple[KoFacts, list[str], list[int]] | None:
    """:func:`extract` for the ordinary case, in far fewer Python operations.

    Returns ``(facts, dependency names, their CRCs)`` -- the lists are what
    :attr:`KoFacts.dep_blob` and :attr:`KoFacts.dep_crc_blob` hold, handed over
    so that the caller need not split them again -- or ``None`` when the file
    is anything but a well-formed module in the host's byte order with a
    symbol table (other byte order, gABI extended numbering, a bound
    exceeded, an undecodable section...): the caller then takes the general
    path (:func:`kmodbuild.linux.koelf.extract`), which gives the same answers
    for everything and the exact error for broken files.  Same rules, same results (tests compare the
    two on real and damaged modules).
    """
    head = read(0, 64)
    if len(head) < 52 or head[:4] != b"\x7fELF" or head[5] != _HOST_DATA:
        return None
    lay = _LAYOUTS.get(head[4])
    if lay is None or len(head) < lay.ehdr_size:
        return None
    machine, shoff, shentsize, shnum, shstrndx = lay.ehdr.unpack_from(head)
    if not shoff or shentsize != lay.shentsize or not 0 < shstrndx < shnum:
        return None
    tsize = shnum * shentsize
    if shoff + tsize > size:
        return None
    table = read(shoff, tsize)
    if len(table) != tsize:
        return None
    words = array(lay.word)
    words.frombytes(table)
    u32 = array("I")
    u32.frombytes(table)
    wsh, osh, usz = lay.word_per_sh, lay.sh_offset, lay.u32_per_sh
    offsets, sizes, types = words[osh::wsh], words[osh + 1::wsh], u32[1::usz]
    o, n = offsets[shstrndx], sizes[shstrndx]
    if types[shstrndx] == _SHT_NOBITS or o + n > size:
        return None
    shstr = read(o, n)
    if len(shstr) != n or not shstr.endswith(b"\0"):
        return None
    names = u32[0::usz]
    index = names.index

    shfind = shstr.find

    def find(want: bytes) -> int:
        """The first section (from 1, as libkmod) named ``want``, or -1."""
        pos = shfind(want)
        if pos < 0:
            return -1
        if shfind(want, pos + 1) < 0:       # the usual: the name occurs once
            try:
                return index(pos, 1)
            except ValueError:
                return -1
        best = -1
        while pos >= 0:
            try:
                i = index(pos, 1, shnum if best < 0 else best)
            except ValueError:
                i = -1
            if i > 0:
                best = i
            pos = shfind(want, pos + 1)
        return best

    i_sym, i_str, i_ver, i_mi = wanted = tuple(map(find, _WANTED))
    if i_sym <= 0 or i_str <= 0:
        return None
    # The sections needed, neighbours read together.  (libkmod reads any section's file
    # bytes and passes over one outside the file: the general path does that.)
    present = [i for i in wanted if i > 0]
    if _SHT_NOBITS in map(types.__getitem__, present):
        return None
    starts = list(map(offsets.__getitem__, present))
    parts = sorted(zip(starts, map(add, starts, map(sizes.__getitem__, present)), present))
    data: dict[int, bytes] = {}
    held = getattr(read, "held_from", size)     # bytes from here on are in memory already
    k, nparts = 0, len(parts)
    while k < nparts:
        lo, hi, i = parts[k]
        end = k + 1
        while end < nparts and parts[end][0] - hi <= _COALESCE_GAP and lo < held:
            hi = max(hi, parts[end][1])
            end += 1
        if hi > size:
            return None
        blob = read(lo, hi - lo)
        if len(blob) != hi - lo:
            return None
        if end == k + 1:
            data[i] = blob
        else:
            for a, b, i in parts[k:end]:
                data[i] = blob[a - lo:b - lo]
        k = end
    symtab, strtab = data.get(i_sym, b""), data.get(i_str, b"")
    symsize = lay.symsize
    count = len(symtab) // symsize
    if not count or len(symtab) % symsize:
        return None
    # Symbol table columns (no per-symbol objects).
    col = array("I")
    col.frombytes(symtab)
    st_name = col[0::lay.u32_per_sym]
    half = array("H")
    half.frombytes(symtab)
    st_shndx = half[lay.shndx_at::symsize // 2]
    st_info = symtab[lay.info_at::symsize]
    strlen = len(strtab)
    if strtab[-1:] != b"\0":
        return None                     # a name may run past the section: the general path
    s = strtab.decode("latin-1") + "\0"
    first_global = u32[i_sym * usz + lay.sh_info]
    if not 0 < first_global <= count:
        first_global = 1

    # Exports (kmod_elf_get_symbols).
    export_names: list[str] = []
    export_crcs: list[int] = []
    source = ""
    # (libkmod reads the symbols from 1: symbol 0's name offset does not count)
    if CRC_PREFIX in s and all_below(st_name[1:], strlen):
        # The symbols (from 1) whose name starts with __crc_: their st_name is
        # where "__crc_" occurs in .strtab.  A few occurrences are looked for
        # in the st_name column as bytes (a C-level search each); many, with
        # one set lookup per symbol.
        starts = prefix_positions(s, CRC_PREFIX)
        if len(starts) <= _FEW_EXPORTS:
            column = st_name.tobytes()
            hits = []
            for c in starts:
                pattern = c.to_bytes(4, sys.byteorder)
                at = column.find(pattern, 4)
                while at >= 0:
                    if not at & 3:
                        hits.append(at >> 2)
                    at = column.find(pattern, at + 1)
            hits.sort()
        else:
            cands = set(starts)
            hits = list(compress(range(1, count), map(cands.__contains__, st_name[1:])))
        if hits:
            sfind = s.find
            skip = len(CRC_PREFIX)
            export_names = [s[st_name[j] + skip:sfind("\0", st_name[j])] for j in hits]
            values = array(lay.word)
            values.frombytes(symtab)
            vstride = symsize // values.itemsize
            value_at = lay.value_at
            order: Literal["little", "big"] = "little" if _HOST_LE else "big"
            sections: dict[int, bytes] = {}
            for j in hits:
                value, shndx = values[j * vstride + value_at], st_shndx[j]
                if shndx == _SHN_ABS or shndx == _SHN_UNDEF:
                    export_crcs.append(value)
                    continue
                if shndx >= shnum:
                    export_crcs.append(CRC_INVALID)
                    continue
                sec = sections.get(shndx)
                if sec is None:
                    o, n = offsets[shndx], sizes[shndx]
                    if types[shndx] == _SHT_NOBITS or o + n > size:
                        return None             # the general path, as libkmod would
                    sec = read(o, n)
                    if len(sec) != n:
                        return None
                    sections[shndx] = sec
                if value > len(sec) - 4:
                    export_crcs.append(CRC_INVALID)
                    continue
                export_crcs.append(int.from_bytes(sec[value:value + 4], order))
            source = "crc"
    if not source and b"__ksymtab" in shstr and (find(_KSYMTAB_STRINGS) > 0
                                                 or find(_KSYMTAB) > 0):
        return None                     # no CRCs: the general path reads the others

    # Dependency symbols (kmod_elf_get_dependency_symbols).
    start = first_global
    if start > 1 and 0 in st_shndx[1:start].tobytes()[_LOW_BYTE::2] \
            and st_shndx[1:start].count(0):             # (a byte search first: cheap)
        start = 1
    mask = list(map(not_, st_shndx[start:]))
    offs = list(compress(st_name[start:], mask))
    infos = bytes(compress(st_info[start:], mask))
    if machine in (EM_SPARC, EM_SPARCV9):
        regular = [i & 0xF != STT_REGISTER for i in infos]
        offs, infos = list(compress(offs, regular)), bytes(compress(infos, regular))
    if offs and max(offs) >= strlen:
        return None
    sfind = s.find      # (a comprehension: cheaper than map() over slice objects in 3.11)
    deps = [s[o:sfind("\0", o)] for o in offs]
    if "" in deps:
        keep = [bool(name) for name in deps]
        deps, infos = list(compress(deps, keep)), bytes(compress(infos, keep))
    weak = tuple(m.start() for m in _WEAK_INFO.finditer(infos)) if _WEAK_INFO.search(infos) \
        else ()
    n_und = len(deps)
    crcs: list[int]
    vdata = data.get(i_ver, b"") if i_ver > 0 else b""
    nver = len(vdata) // _VERSION_ENTRY
    if not nver or len(vdata) % _VERSION_ENTRY:
        crcs = [0] * n_und
    else:
        vcrcs = array(lay.crc)
        vcrcs.frombytes(vdata)
        stride = _VERSION_ENTRY // lay.crc_len
        vcrc = vcrcs[0::stride].tolist()
        # Blank the CRC fields; then one name per entry, separated by the NULs
        # made spaces (proved by no white space in a name, the count and a
        # non-NUL first byte of every name, as in koelf._versions).
        vcrcs[0::stride] = array(lay.crc, bytes(lay.crc_len * nver))
        buf = vcrcs.tobytes()
        spaced = buf.translate(_VERSION_NAMES)
        if b"\0" in spaced:
            return None                     # white space in a name: the general path
        vnames = spaced.decode("latin-1").split()
        if (len(vnames) != nver or 0 in buf[lay.crc_len::_VERSION_ENTRY]
                or any(buf[_VERSION_ENTRY - 1::_VERSION_ENTRY])):     # a name without NUL
            return None
        crc_of = dict(zip(vnames, vcrc))
        if len(crc_of) != nver:             # duplicates: the first entry of a name counts
            return None
        # Each dependency takes its CRC out of the table; what is left are the
        # entries without an undefined symbol, in table order.
        crcs = list(map(crc_of.pop, deps, repeat(None)))
        if len(crc_of) != nver - n_und:     # a pop missed: a symbol without an entry,
            # or a repeated one (the test counts what was taken): the long way
            crc_of = dict(zip(vnames, vcrc))
            crcs = list(map(crc_of.get, deps, repeat(0)))
            for k in sorted(map(vnames.index, crc_of.keys() - set(deps))):
                deps.append(vnames[k])
                crcs.append(vcrc[k])
        elif crc_of:
            deps += crc_of
            crcs += crc_of.values()
    name = vermagic = depends = None
    if i_mi > 0:
        mi = data.get(i_mi, b"")
        name, vermagic, depends = (modinfo_value(mi, b"name="), modinfo_value(mi, b"vermagic="),
                                   modinfo_value(mi, b"depends="))
    facts = KoFacts(64 if head[4] == _ELFCLASS64 else 32, machine, "\0".join(export_names),
                    pack_crcs(export_crcs), source, "\0".join(deps), pack_crcs(crcs), weak,
                    n_und, name, vermagic, depends, None)
    return facts, deps, crcs



def all_below(values: array, bound: int) -> bool:
    """``max(values, default=0) < bound`` for an ``array('I')``, without making an int of
    every value (what ``max`` costs for a symbol table): a bound below 2**16 is
    compared byte-column by byte-column, in C."""
    if not values:
        return 0 < bound
    if bound > 0xFFFF or not _HOST_LE or values.itemsize != 4:
        return max(values) < bound
    raw = values.tobytes()
    if raw[2::4].strip(b"\0") or raw[3::4].strip(b"\0"):
        return False                            # a value of 2**16 or more
    high, top = raw[1::4], bound >> 8
    if 1 in high.translate(bytes(top + 1) + b"\1" * (255 - top)):
        return False                            # a high byte above the bound's
    same = high.translate(bytes(top) + b"\1" + bytes(255 - top))
    k = same.find(1)
    if k < 0:
        return True
    low, least = raw[0::4], bound & 0xFF
    while k >= 0:                               # the few with the bound's high byte
        if low[k] >= least:
            return False
        k = same.find(1, k + 1)
    return True


def prefix_positions(s: str, prefix: str) -> list[int]:
    """Every position in ``s`` where ``prefix`` begins, overlapping ones included.

    A search that resumes after each match (``re.finditer``) misses some: in
    ``"__crc__crc_x"`` the prefix ``"__crc_"`` begins at 0 and at 5, and a
    linker that shares string tails may give a symbol the name at 5.  Resuming
    one character on is also faster for the few matches a module has.
    """
    out: list[int] = []
    find = s.find
    at = find(prefix)
    while at >= 0:
        out.append(at)
        at = find(prefix, at + 1)
    return out


def modinfo_value(data: bytes, key: bytes) -> str | None:
    """The first ``key=value`` entry of a .modinfo section (``key`` ends in ``=``)."""
    if data.startswith(key):
        pos = 0
    else:
        pos = data.find(b"\0" + key)
        if pos < 0:
            return None
        pos += 1
    start = pos + len(key)
    end = data.find(b"\0", start)
    return data[start:end if end >= 0 else len(data)].decode("utf-8", "backslashreplace")
