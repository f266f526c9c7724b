"""kmodbuild.elf - read NetBSD ``.kmod`` files and kernel images into model records.

This is the ELF boundary of the NetBSD side: :func:`read_module` applies the
loader's header checks in ``kobj_load`` order (spec §1.1) with the kernel's
messages, then builds a :class:`~kmodbuild.model.ModuleObject` (sections,
symbols, relocations, and the ``modinfo_t`` found through
``link_set_modules``, spec §1.2-§1.3).  :func:`read_kernel` lists a linked
kernel's defined global symbols for the manifest.

:func:`read_debug_info` extracts DWARF type information (for kmodbuild.abi).

The fast path is :mod:`kmodbuild.elfraw` (struct-level, stdlib only).  This
is the only kmodbuild module allowed to import pyelftools (``elftools``); it
does so lazily, only in :func:`describe` and :func:`read_debug_info`, so a
check that reads no DWARF never pays for it.
Every exception a malformed file can cause is turned into
:class:`~kmodbuild.errors.ModuleFormatError` here.
"""
from __future__ import annotations

import io
import os
import stat
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, TypeVar, overload

from kmodbuild import elfraw as raw
from kmodbuild.dwarfwalk import Unsupported, line_table_files, walk_units
from kmodbuild.dwarfwalk import _Unit as _DwarfUnit
from kmodbuild.elfraw import RawElf, RawReloc, RawSection, RawSymbol
from kmodbuild.errors import ModuleFormatError
from kmodbuild.model import (SHN_UNDEF, SHT_NOBITS, SHT_PROGBITS, STB_GLOBAL,
                             STB_LOCAL, STT_FILE, STT_FUNC, STT_OBJECT, STT_SECTION, ModInfo,
                             ModuleObject, Pointer, Relocation, RelocationSection, Section,
                             Symbol, SymbolFacts)
from kmodbuild.target import TARGETS, Target

#: Exceptions a malformed file can raise below this boundary (pyelftools' ELFError is
#: added where pyelftools is used); all become ModuleFormatError.
_BOUNDARY = (ValueError, OverflowError, OSError, KeyError, IndexError, struct.error,
             UnicodeDecodeError, TypeError)

ELF_MAXSHNUM = 32768            # subr_kobj.c
MODINFO_SECTION = "link_set_modules"
ENOENT = 2

#: Display names of the machines we meet (spec §2.5).
MACHINE_NAMES = {2: "SPARC", 3: "i386", 6: "i486", 8: "MIPS", 18: "SPARC32PLUS", 20: "PowerPC",
                 21: "PowerPC64", 40: "ARM", 43: "SPARC V9", 62: "x86-64", 183: "AArch64",
                 243: "RISC-V"}
_ET_NAMES = {0: "ET_NONE", 1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"}

#: modinfo_t field offsets and size by pointer size (spec §1.3).
_MODINFO_LAYOUT = {8: {"version": 0, "class": 4, "modcmd": 8, "name": 16, "required": 24,
                       "size": 32},
                   4: {"version": 0, "class": 4, "modcmd": 8, "name": 12, "required": 16,
                       "size": 20}}

T = TypeVar("T")


class LazyTuple(Sequence[T]):
    """A read-only sequence built on first use (symbols and relocations of a module).

    Behaves like the tuple it wraps (indexing, slicing, ``len``, iteration,
    equality with tuples and other LazyTuples, hashing).
    """

    __slots__ = ("_build", "_items")

    def __init__(self, build: Callable[[], tuple[T, ...]]) -> None:
        self._build: Callable[[], tuple[T, ...]] | None = build
        self._items: tuple[T, ...] | None = None

    def _get(self) -> tuple[T, ...]:
        if self._items is None:
            assert self._build is not None
            self._items = self._build()
            self._build = None
        return self._items

    @overload
    def __getitem__(self, i: int) -> T: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[T, ...]: ...

    def __getitem__(self, i: int | slice) -> T | tuple[T, ...]:
        return self._get()[i]

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator[T]:
        return iter(self._get())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyTuple):
            other = other._get()
        return self._get() == other

    def __hash__(self) -> int:
        return hash(self._get())

    def __repr__(self) -> str:
        return repr(self._get())

    def __reduce__(self) -> tuple[type, tuple[tuple[T, ...]]]:
        # Pickles (and deep-copies) as the plain tuple: the builder closure cannot travel.
        return (tuple, (self._get(),))


class KernelSymbol(NamedTuple):
    """A defined global symbol of a linked kernel: name, ``func``/``object``/``notype``, size."""

    name: str
    kind: str
    size: int


class KernelImage(NamedTuple):
    """What :func:`read_kernel` found in a kernel ELF image."""

    path: str
    elfclass: int
    little_endian: bool
    e_machine: int
    symbols: tuple[KernelSymbol, ...]
    netbsd_version: int | None      # from the NetBSD ident note, if present


_KINDS = {STT_FUNC: "func", STT_OBJECT: "object"}


# --------------------------------------------------------------------------- helpers

def machine_name(e_machine: int) -> str:
    """``x86-64`` for 62, else ``machine N``."""
    return MACHINE_NAMES.get(e_machine, f"machine {e_machine}")


def target_for(e_machine: int, elfclass: int, little_endian: bool) -> Target | None:
    """The supported target whose kernel loads objects of this kind, or ``None``."""
    for t in TARGETS:
        if (e_machine in t.accepted_machines and t.elfclass == elfclass
                and t.little_endian == little_endian):
            return t
    return None


class TargetMismatchError(ModuleFormatError):
    """kobj_load refuses the file for the target it was read for: its byte order
    (check 2), ``e_machine`` (check 4) or ELF class (check 5) is not the kernel's
    (spec §1.1, §2.5).  ``rule`` names the check's rule (docs/check.md)."""

    rule = "machine"


def error_rule(err: ModuleFormatError) -> str:
    """The check rule of a reader error: ``machine`` for :class:`TargetMismatchError`,
    else ``format``."""
    return getattr(err, "rule", "format")


def _kobj(path: str, message: str, hint: str | None = None, *,
          mismatch: bool = False) -> ModuleFormatError:
    # kobj_load's prefix (spec §3.11) without the function/line part.
    cls = TargetMismatchError if mismatch else ModuleFormatError
    return cls("linker error: " + message, path=path, hint=hint)


def _endian(le: bool) -> str:
    return "little-endian" if le else "big-endian"


def _bswap(value: int, size: int) -> int:
    return int.from_bytes(value.to_bytes(size, "little"), "big")


# --------------------------------------------------------------------------- kobj_load checks

def check_header(elf_data: bytes, path: str, target: Target | None) -> raw.ElfHeader:
    """kobj_load checks 1-5 (spec §1.1) on the file header, as ``target``'s kernel sees it.

    With a ``target`` the header is decoded as that kernel reads it, natively: in its
    class and byte order, whatever ``EI_CLASS`` and ``EI_DATA`` say (the kernel never
    looks at them; a file of the other byte order fails check 2, one of the other class
    check 5, and the hints say why from those bytes).  With ``target`` ``None`` the
    machine check is skipped and the file's own class and byte order are used -- they
    must be valid to read the file at all (docs/check.md, "Deviations").

    Raises:
        ModuleFormatError: ``linker error: not an ELF object``, ``unsupported
            file version N``, ``unsupported file type N``, ``unsupported
            machine N`` or ``bad sizes`` (with a hint saying why); a
            :class:`TargetMismatchError` when the target's byte order, machine or
            class is the reason.
    """
    if elf_data[:4] != raw.ELFMAG:
        raise _kobj(path, "not an ELF object")
    if target is None:
        hdr = raw.parse_header(elf_data, path)
        declared_cls: int | None = hdr.elfclass
        declared_le: bool | None = hdr.little_endian
    else:
        hdr = raw.parse_header(elf_data, path, elfclass=target.elfclass,
                               little_endian=target.little_endian)
        declared_cls = raw.ident_class(elf_data)
        declared_le = raw.ident_little_endian(elf_data)
    # 2. e_ident[EI_VERSION], then e_version (read in the kernel's byte order).
    swapped = target is not None and (
        declared_le is not None and declared_le != target.little_endian
        or declared_le is None and hdr.e_version != raw.EV_CURRENT
        and _bswap(hdr.e_version, 4) == raw.EV_CURRENT)
    swap_hint = None
    if swapped and target is not None:
        other = not target.little_endian
        swap_hint = (f"{_endian(other)} object; {target.name} kernels are "
                     f"{_endian(target.little_endian)}")
    if hdr.ei_version != raw.EV_CURRENT:
        raise _kobj(path, f"unsupported file version {hdr.ei_version}", swap_hint,
                    mismatch=swapped)
    if hdr.e_version != raw.EV_CURRENT:
        raise _kobj(path, f"unsupported file version {hdr.e_version}", swap_hint,
                    mismatch=swapped)
    # 3. ET_REL only.
    if hdr.e_type != raw.ET_REL:
        kind = _ET_NAMES.get(hdr.e_type, "unknown type")
        raise _kobj(path, f"unsupported file type {hdr.e_type}",
                    f"{kind}; a module must be a relocatable object made with ld -r")
    # 4. e_machine among the kernel's ELF{32,64}_MACHDEP_ID_CASES.
    if target is not None and hdr.e_machine not in target.accepted_machines:
        wanted = " or ".join(machine_name(m) for m in sorted(target.accepted_machines))
        raise _kobj(path, f"unsupported machine {hdr.e_machine}",
                    f"{machine_name(hdr.e_machine)} object; {target.name} kernels load {wanted}",
                    mismatch=True)
    # 5. sizes; EI_CLASS is never checked, a class mismatch shows up here (derived).
    cls = hdr.elfclass
    if (hdr.e_shnum == 0 or hdr.e_shnum > ELF_MAXSHNUM or hdr.e_shoff == 0
            or hdr.e_shentsize != raw.SHDR_SIZE[cls]):
        other_class = target is not None and declared_cls is not None and declared_cls != cls
        if other_class and target is not None:
            hint = f"ELF{declared_cls} object; {target.name} kernels load ELF{cls}"
        elif hdr.e_shnum == 0 or hdr.e_shoff == 0:
            hint = "no section header table"
        elif hdr.e_shnum > ELF_MAXSHNUM:
            hint = f"{hdr.e_shnum} sections, at most {ELF_MAXSHNUM}"
        else:
            hint = f"e_shentsize {hdr.e_shentsize}, expected {raw.SHDR_SIZE[cls]}"
        raise _kobj(path, "bad sizes", hint, mismatch=other_class)
    return hdr


def check_sections(hdr: raw.ElfHeader, sections: list[RawSection], path: str) -> RawSection:
    """kobj_load checks 6-9 (spec §1.1); returns the symbol table section.

    Raises:
        ModuleFormatError: ``file has no contents``, ``file has no valid symbol
            table``, ``file has invalid symbol strings``, ``no symbol table``,
            ``no symbol strings``, ``bad shstrndx`` or ``no text``.
    """
    loaded = [s for s in sections if s.type in (SHT_PROGBITS, SHT_NOBITS)]
    if not loaded:
        raise _kobj(path, "file has no contents")
    symtabs = [s for s in sections if s.type == raw.SHT_SYMTAB]
    if len(symtabs) != 1:
        raise _kobj(path, "file has no valid symbol table",
                    f"{len(symtabs)} SHT_SYMTAB sections, the loader needs exactly one")
    symtab = symtabs[0]
    if not 0 <= symtab.link < len(sections) or sections[symtab.link].type != raw.SHT_STRTAB:
        raise _kobj(path, "file has invalid symbol strings")
    sym_size = raw.SYM_SIZE[hdr.elfclass]
    if symtab.size // sym_size == 0:
        raise _kobj(path, "no symbol table")
    if sections[symtab.link].size == 0:
        raise _kobj(path, "no symbol strings")
    if hdr.e_shstrndx != raw.SHN_UNDEF and hdr.e_shstrndx >= len(sections):
        raise _kobj(path, "bad shstrndx")
    if sum(s.size for s in loaded if s.flags & raw.SHF_EXECINSTR) == 0:
        raise _kobj(path, "no text")
    return symtab


# --------------------------------------------------------------------------- modinfo

#: The relocation types that store a whole pointer (symbol + addend) at their place, by
#: name; a pointer field relocated by any other type holds something else once linked.
POINTER_RELOCS = frozenset({"R_X86_64_64", "R_386_32", "R_AARCH64_ABS64", "R_ARM_ABS32",
                            "R_RISCV_64", "R_SPARC_64", "R_SPARC_UA64", "R_PPC_ADDR32",
                            "R_MIPS_64"})


class _NotAPointer(Exception):
    """A pointer field relocated by a type that does not store a pointer (its name)."""


class _PointerReader:
    """Follows pointer fields through relocations (spec §1.2; TOOLCHAIN.md resolver)."""

    def __init__(self, elf: RawElf, symtab: RawSection, ptrsize: int,
                 relsecs_by_target: dict[int, list[RawSection]]) -> None:
        self.elf = elf
        self.symtab = symtab
        self.ptrsize = ptrsize
        self.by_target = relsecs_by_target
        self._at: dict[int, dict[int, tuple[RawReloc, bool]]] = {}
        hdr = elf.header
        t = target_for(hdr.e_machine, hdr.elfclass, hdr.little_endian)
        self.reloc_names = t.reloc_names if t is not None else None

    def _relocs_at(self, sec_index: int) -> dict[int, tuple[RawReloc, bool]]:
        table = self._at.get(sec_index)
        if table is None:
            table = {}
            # kobj reads a relocation table only for a SHT_PROGBITS target (spec §2.1)
            targets = self.by_target.get(sec_index, ()) \
                if self.elf.sections[sec_index].type == SHT_PROGBITS else ()
            for rs in targets:
                is_rela = rs.type == raw.SHT_RELA
                for r in self.elf.read_relocations(rs):
                    table.setdefault(r.offset, (r, is_rela))
            self._at[sec_index] = table
        return table

    def resolve(self, sec_index: int, offset: int) -> tuple[Pointer | None, RawSymbol | None]:
        """The pointer stored at (section, offset): ``(None, None)`` for NULL.

        Returns the pointer and the symbol its relocation uses.
        """
        hit = self._relocs_at(sec_index).get(offset)
        if hit is None:
            return None, None
        rel, is_rela = hit
        if self.reloc_names is not None and (
                self.reloc_names.get(rel.type) not in POINTER_RELOCS
                or getattr(rel, "type2", 0) or getattr(rel, "type3", 0)):
            raise _NotAPointer(self.reloc_names.get(rel.type, f"type {rel.type}"))
        sym = self.elf.read_symbol(self.symtab, rel.sym)
        if is_rela:
            addend = rel.addend or 0
        else:
            # REL: the implicit addend is the word stored at the place (i386, arm).
            addend = self.elf.read_word(self.elf.get_section(sec_index), offset, self.ptrsize,
                                        signed=True)
        if sym.shndx == SHN_UNDEF:
            return Pointer(0, addend, symbol=sym.name), sym
        return Pointer(sym.shndx, sym.value + addend), sym

    def stored(self, sec_index: int, offset: int) -> int:
        """The pointer-sized word in the file at (section, offset): what the kernel reads
        at a place no relocation changes."""
        return self.elf.read_word(self.elf.get_section(sec_index), offset, self.ptrsize)

    def string(self, ptr: Pointer) -> bytes:
        """The bytes of the NUL-terminated string a module-local pointer points to."""
        return self.elf.read_cbytes(self.elf.get_section(ptr.section), ptr.offset)


def _not_loaded(elf: RawElf, index: int) -> str | None:
    """Why section ``index`` is not in the loaded module (kobj_load loads every SHT_PROGBITS
    and SHT_NOBITS section, nothing else: spec §2.1), or ``None``."""
    sec = elf.sections[index]
    if sec.type in (SHT_PROGBITS, SHT_NOBITS):
        return None
    return f"into section {sec.name or index}, which kobj_load does not load"


def _read_modinfo(elf: RawElf, symtab: RawSection, ptrsize: int,
                  relsecs_by_target: dict[int, list[RawSection]]
                  ) -> tuple[ModInfo | None, str | None]:
    """``module_fetch_info()`` (spec §1.2): the modinfo record, or the kernel's error text."""
    try:
        return _fetch_info(elf, symtab, ptrsize, relsecs_by_target)
    except _NotAPointer as e:
        return None, (f"a modinfo pointer is relocated with {e}, which does not store a "
                      "pointer: it points outside the module")


def _fetch_info(elf: RawElf, symtab: RawSection, ptrsize: int,
                relsecs_by_target: dict[int, list[RawSection]]
                ) -> tuple[ModInfo | None, str | None]:
    lsm = None
    for s in elf.sections:
        if s.name == MODINFO_SECTION and s.type in (SHT_PROGBITS, SHT_NOBITS):
            lsm = s
            break
    if lsm is None:
        return None, f"`{MODINFO_SECTION}' section not present, error {ENOENT}"
    if lsm.size != ptrsize:
        if lsm.size > ptrsize and lsm.size % ptrsize == 0:
            return None, (f"`{MODINFO_SECTION}' section wrong size ({lsm.size // ptrsize} "
                          f"different MODULE declarations?)")
        return None, f"`{MODINFO_SECTION}' section wrong size (got {lsm.size}, wanted {ptrsize})"
    reader = _PointerReader(elf, symtab, ptrsize, relsecs_by_target)
    loc, sym = reader.resolve(lsm.index, 0)
    if loc is None:
        stored = reader.stored(lsm.index, 0)
        if stored:          # an address no relocation moves into the module
            return None, (f"`{MODINFO_SECTION}' entry points outside the module (address "
                          f"{stored:#x}, no relocation)")
        return None, f"`{MODINFO_SECTION}' entry is a NULL pointer (no relocation)"
    if loc.symbol is not None:
        return None, (f"`{MODINFO_SECTION}' entry points to undefined symbol `{loc.symbol}' "
                      f"(modinfo must be defined in the module)")
    if sym is not None and sym.bind != STB_LOCAL:
        # Only local relocations are applied before module_fetch_info() reads it (§1.2).
        return None, (f"`{MODINFO_SECTION}' entry is relocated against global symbol "
                      f"`{sym.name}'; the modinfo record must be static")
    if not 0 < loc.section < len(elf.sections):
        return None, f"modinfo lies in invalid section {loc.section:#x}"
    unloaded = _not_loaded(elf, loc.section)
    if unloaded:
        return None, f"`{MODINFO_SECTION}' entry points outside the module ({unloaded})"
    layout = _MODINFO_LAYOUT[ptrsize]
    msec = elf.sections[loc.section]
    if loc.offset < 0 or loc.offset + layout["size"] > msec.size:
        return None, (f"modinfo at {msec.name}+{loc.offset:#x} does not fit in its section "
                      f"({msec.size} bytes)")
    base = loc.offset
    version = elf.read_word(msec, base + layout["version"], 4)
    mclass = elf.read_word(msec, base + layout["class"], 4, signed=True)
    modcmd, _ = reader.resolve(msec.index, base + layout["modcmd"])
    strings: dict[str, bytes | None] = {}
    for field in ("name", "required"):
        ptr, psym = reader.resolve(msec.index, base + layout[field])
        if ptr is None:
            stored = reader.stored(msec.index, base + layout[field])
            if stored:      # module_fetch_info() would read the string there
                return None, (f"mi_{field} points outside the module (address {stored:#x}, "
                              "no relocation)")
            strings[field] = None
            continue
        if ptr.symbol is not None:
            return None, f"mi_{field} points to undefined symbol `{ptr.symbol}'"
        if psym is not None and psym.bind != STB_LOCAL:
            return None, (f"mi_{field} is relocated against global symbol `{psym.name}'; "
                          f"it must point to module-local data")
        if not 0 < ptr.section < len(elf.sections):
            return None, f"mi_{field} points into invalid section {ptr.section:#x}"
        unloaded = _not_loaded(elf, ptr.section)
        if unloaded:
            return None, f"mi_{field} points outside the module ({unloaded})"
        strings[field] = reader.string(ptr)
    name, required = strings["name"], strings["required"]
    return ModInfo(version, mclass, None if name is None else raw.decode_name(name),
                   None if required is None else raw.decode_name(required), modcmd, loc,
                   name, required), None


# --------------------------------------------------------------------------- read_module

# Section and Symbol are frozen dataclasses, whose __init__ sets each field with
# object.__setattr__: two and a half times the cost of filling the instance's
# __dict__ at once, for the records a tree's simulation makes by the ten thousand.
# (tests/elf/test_elfraw.py compares them with the constructors'.)
_new_object = object.__new__


def _section_records(elf: RawElf) -> tuple[Section, ...]:
    out = []
    for s in elf.sections:
        rec = _new_object(Section)
        rec.__dict__.update(index=s.index, name=s.name, type=s.type, flags=s.flags,
                            addr=s.addr, offset=s.offset, size=s.size, link=s.link,
                            info=s.info, addralign=s.addralign, entsize=s.entsize)
        out.append(rec)
    return tuple(out)


def _symbol_records(elf: RawElf, symtab: RawSection) -> tuple[Symbol, ...]:
    out = []
    for i, s in enumerate(elf.read_symbols(symtab)):
        rec = _new_object(Symbol)
        rec.__dict__.update(index=i, name=s.name, value=s.value, size=s.size,
                            bind=s.info >> 4, type=s.info & 0xF, shndx=s.shndx)
        out.append(rec)
    return tuple(out)


def _reloc_records(elf: RawElf, sec: RawSection) -> tuple[Relocation, ...]:
    new = tuple.__new__
    columns = elf.relocation_entries(sec)
    if columns is not None:             # decoded straight into Relocation's fields
        return tuple([new(Relocation, (off, t, sym, add, 0, 0)) for off, t, sym, add in columns])
    return tuple([new(Relocation, r[:6]) for r in elf.read_relocations(sec)])


def _guarded(path: str, build: Callable[[], tuple[T, ...]]) -> LazyTuple[T]:
    """A LazyTuple whose decoding errors are ModuleFormatError, like read_module's."""
    def run() -> tuple[T, ...]:
        try:
            return build()
        except ModuleFormatError:
            raise
        except _BOUNDARY as e:
            raise ModuleFormatError(f"malformed ELF file ({type(e).__name__}: {e})",
                                    path=path) from e
    return LazyTuple(run)


def _facts(elf: RawElf, symtab: RawSection) -> SymbolFacts:
    summary = elf.symbol_summary(symtab)
    return SymbolFacts(tuple(summary.undefined), frozenset(summary.exports),
                       tuple(summary.common))


def _load_module(data: bytes, path: str, target: Target | None) -> ModuleObject:
    hdr = check_header(data, path, target)
    sections = raw.parse_section_headers(data, hdr, path)
    symtab = check_sections(hdr, sections, path)
    elf = RawElf(path, data, hdr, raw.name_sections(path, data, hdr, sections))
    for s in elf.sections:      # kobj_load reads every PROGBITS section; a short read: EINVAL
        if s.type == SHT_PROGBITS and s.size and s.offset + s.size > len(data):
            raise _kobj(path, "read failed 22", f"section {s.name or s.index} ({s.size} bytes at "
                                                f"{s.offset:#x}) extends past the end of file "
                                                f"({len(data)} bytes)")
    symtab = elf.sections[symtab.index]
    facts = _facts(elf, symtab)
    relsecs: list[RelocationSection] = []
    by_target: dict[int, list[RawSection]] = {}
    for s in elf.sections:
        if s.type in (raw.SHT_REL, raw.SHT_RELA):
            by_target.setdefault(s.info, []).append(s)
            relsecs.append(RelocationSection(
                s.index, s.name, s.info, s.type == raw.SHT_RELA,
                _guarded(path, lambda s=s: _reloc_records(elf, s)),  # type: ignore[arg-type]
                frozenset(elf.relocation_types(s))))
    ptrsize = target.pointer_size if target is not None else hdr.elfclass // 8
    modinfo, modinfo_error = _read_modinfo(elf, symtab, ptrsize, by_target)
    return ModuleObject(
        path=path, elfclass=hdr.elfclass, little_endian=hdr.little_endian,
        e_machine=hdr.e_machine, e_type=hdr.e_type,
        sections=_guarded(path, lambda: _section_records(elf)),  # type: ignore[arg-type]
        symbols=_guarded(path, lambda: _symbol_records(elf, symtab)),  # type: ignore[arg-type]
        relocation_sections=tuple(relsecs), modinfo=modinfo, modinfo_error=modinfo_error,
        image=data, facts=facts)


def read_file(path: str) -> bytes:
    """The whole file at ``path`` (``os.read`` directly: half the cost of ``open()`` for
    the small files modules are).

    A FIFO, device or socket named like a module is refused, not read: opening
    a FIFO for reading would wait for a writer forever.

    Raises:
        OSError: as ``open()`` would.
        ModuleFormatError: ``path`` is not a regular file.
    """
    # O_NONBLOCK: opening a FIFO returns at once (no effect on a regular file's reads)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
            raise ModuleFormatError("not a regular file", path=path)  # (read: EISDIR)
        size = st.st_size
        first = os.read(fd, size)
        if len(first) == size:          # the usual case: one system call
            return first
        chunks = [first]
        got = len(first)
        while got < size:               # a short read (network file systems)
            chunk = os.read(fd, size - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_module(path: object, target: Target | None = None, *,
                data: bytes | None = None) -> ModuleObject:
    """Read the ``.kmod`` at ``path`` (or the bytes ``data``) as ``target``'s kernel would.

    The header checks run in ``kobj_load`` order (spec §1.1).  With ``target``
    the kernel's view applies: the header is decoded in its class and byte order
    (``EI_CLASS``/``EI_DATA`` are not looked at) and its machine, byte order and
    class are judged before the later checks (a :class:`TargetMismatchError` says
    so); without it only the target-independent checks run, and the caller can
    judge the machine later (:func:`kmodbuild.linkcheck.check_header`).
    A missing or malformed modinfo does not raise: it is described in
    ``ModuleObject.modinfo_error`` in the kernel's words.  Symbols, sections
    and relocation entries are decoded on first use; ``facts`` and each
    relocation section's ``types`` are ready at once.

    Raises:
        ModuleFormatError: the file cannot be read or would be refused by
            kobj_load (``path: linker error: ...``), or is malformed.
    """
    spath = str(path)
    try:
        if data is None:
            data = read_file(spath)
        return _load_module(data, spath, target)
    except ModuleFormatError:
        raise
    except OSError as e:
        raise ModuleFormatError(f"cannot read: {e.strerror or e}", path=spath) from e
    except _BOUNDARY as e:
        raise ModuleFormatError(f"malformed ELF file ({type(e).__name__}: {e})",
                                path=spath) from e


# --------------------------------------------------------------------------- records

#: Bumped whenever :func:`module_record`'s layout or the reader's results change.
RECORD_VERSION = 2     # 2: mi_name / mi_required bytes


def module_record(mod: ModuleObject) -> tuple[Any, ...]:
    """What the link check needs from ``mod``, as plain ``marshal``-able tuples.

    For result caches: :func:`module_from_record` turns it back into a
    :class:`ModuleObject` whose sections, symbols and relocation entries are
    read again from the file only if something asks for them.
    """
    mi = mod.modinfo
    mi_t = None
    if mi is not None:
        mc = mi.modcmd
        mi_t = (mi.version, mi.module_class, mi.name, mi.required,
                None if mc is None else (mc.section, mc.offset, mc.symbol),
                (mi.location.section, mi.location.offset, mi.location.symbol),
                mi.name_bytes, mi.required_bytes)
    f = mod.get_facts()
    return (RECORD_VERSION, mod.elfclass, mod.little_endian, mod.e_machine, mod.e_type, mi_t,
            mod.modinfo_error, (tuple(f.undefined), tuple(sorted(f.exports)), tuple(f.common)),
            tuple((rs.index, rs.name, rs.target, rs.is_rela, tuple(sorted(rs.get_types())))
                  for rs in mod.relocation_sections))


def module_from_record(path: str, record: tuple[Any, ...],
                       target: Target | None = None) -> ModuleObject | None:
    """The :class:`ModuleObject` of a :func:`module_record`, or ``None`` if the record is
    from another version.  ``image`` is empty; the lazy parts re-read ``path`` (for
    ``target``, as the record was read)."""
    if not record or record[0] != RECORD_VERSION:
        return None
    _, elfclass, le, machine, e_type, mi_t, mi_error, facts, relsecs = record
    loaded: list[ModuleObject] = []

    def full() -> ModuleObject:
        if not loaded:
            loaded.append(read_module(path, target))
        return loaded[0]

    modinfo = None
    if mi_t is not None:
        version, mclass, name, required, mc, loc, name_b, required_b = mi_t
        modinfo = ModInfo(version, mclass, name, required,
                          None if mc is None else Pointer(*mc), Pointer(*loc), name_b,
                          required_b)
    rs_objs = tuple(RelocationSection(
        index, name, target, is_rela,
        LazyTuple(lambda k=k: tuple(full().relocation_sections[k].relocations)),  # type: ignore[arg-type]
        frozenset(types)) for k, (index, name, target, is_rela, types) in enumerate(relsecs))
    undefined, exports, common = facts
    return ModuleObject(
        path=path, elfclass=elfclass, little_endian=le, e_machine=machine, e_type=e_type,
        sections=LazyTuple(lambda: tuple(full().sections)),  # type: ignore[arg-type]
        symbols=LazyTuple(lambda: tuple(full().symbols)),  # type: ignore[arg-type]
        relocation_sections=rs_objs, modinfo=modinfo, modinfo_error=mi_error, image=b"",
        facts=SymbolFacts(tuple(tuple(u) for u in undefined), frozenset(exports),
                          tuple(common)))


# --------------------------------------------------------------------------- kernels

NT_NETBSD_IDENT = 1


def read_kernel(path: object) -> KernelImage:
    """The defined global symbols of a linked kernel image (for a manifest).

    Only ``STB_GLOBAL`` definitions are listed: weak definitions cannot satisfy
    a module's references (spec §2.3).  Section and file symbols are skipped.
    ``netbsd_version`` comes from a ``NetBSD`` ident note when the image has one.

    Raises:
        ModuleFormatError: unreadable, not ELF, not a linked image, or no symbol table.
    """
    spath = str(path)
    try:
        data = read_file(spath)         # a FIFO is refused, not waited on
        elf = raw.read_elf(data, spath)
        if elf.header.e_type not in (raw.ET_EXEC, raw.ET_DYN):
            raise ModuleFormatError(
                f"not a linked kernel image (e_type {elf.header.e_type}, "
                f"{_ET_NAMES.get(elf.header.e_type, 'unknown')})", path=spath)
        symtab = elf.get_section_by_type(raw.SHT_SYMTAB)
        if symtab is None:
            raise ModuleFormatError("kernel image has no symbol table (stripped?)", path=spath)
        seen: dict[str, KernelSymbol] = {}
        for s in elf.read_symbols(symtab, elf.first_nonlocal(symtab)):
            t = s.info & 0xF
            if (s.info >> 4 != STB_GLOBAL or s.shndx == SHN_UNDEF or not s.name
                    or t in (STT_SECTION, STT_FILE) or s.name in seen):
                continue
            seen[s.name] = KernelSymbol(s.name, _KINDS.get(t, "notype"), s.size)
        version = None
        for sec in elf.iter_sections(raw.SHT_NOTE):
            for note in elf.iter_notes(sec):
                if note.name == "NetBSD" and note.type == NT_NETBSD_IDENT and len(note.desc) == 4:
                    version = int.from_bytes(note.desc, "little" if elf.little_endian else "big")
        return KernelImage(spath, elf.elfclass, elf.little_endian, elf.header.e_machine,
                           tuple(sorted(seen.values())), version)
    except ModuleFormatError:
        raise
    except OSError as e:
        raise ModuleFormatError(f"cannot read: {e.strerror or e}", path=spath) from e
    except _BOUNDARY as e:
        raise ModuleFormatError(f"malformed ELF file ({type(e).__name__}: {e})",
                                path=spath) from e


# --------------------------------------------------------------------------- pyelftools

def describe(path: object) -> list[str]:
    """A readelf-like summary of ``path`` through pyelftools (for humans, not the check).

    One line for the header, then one per section: index, name, type, flags,
    size; then whether DWARF debug info is present.

    Raises:
        ModuleFormatError: the file cannot be parsed (pyelftools errors included).
    """
    spath = str(path)
    from elftools.common.exceptions import DWARFError, ELFError
    from elftools.elf.elffile import ELFFile

    try:
        with open(spath, "rb") as f:
            ef: Any = ELFFile(f)
            out = [f"{spath}: ELF{ef.elfclass} {'LSB' if ef.little_endian else 'MSB'} "
                   f"{ef['e_type']} {ef['e_machine']}"]
            for i, sec in enumerate(ef.iter_sections()):
                out.append(f"  [{i:2}] {sec.name:<24} {sec['sh_type']:<14} "
                           f"flags={sec['sh_flags']:#x} size={sec['sh_size']}")
            out.append(f"  DWARF: {'yes' if ef.has_dwarf_info() else 'no'}")
            return out
    except OSError as e:
        raise ModuleFormatError(f"cannot read: {e.strerror or e}", path=spath) from e
    except (ELFError, DWARFError, *_BOUNDARY) as e:
        raise ModuleFormatError(f"malformed ELF file ({type(e).__name__}: {e})",
                                path=spath) from e


# --------------------------------------------------------------------------- DWARF

#: DWARF attributes kept by :func:`read_debug_info` (what ABI descriptions need).
DWARF_ATTRS = frozenset({
    "DW_AT_type", "DW_AT_byte_size", "DW_AT_encoding", "DW_AT_data_member_location",
    "DW_AT_data_bit_offset", "DW_AT_bit_offset", "DW_AT_bit_size", "DW_AT_const_value",
    "DW_AT_count", "DW_AT_upper_bound", "DW_AT_lower_bound", "DW_AT_declaration",
    "DW_AT_external", "DW_AT_prototyped", "DW_AT_specification", "DW_AT_abstract_origin",
    "DW_AT_decl_file"})
_DWARF_REF_ATTRS = frozenset({"DW_AT_type", "DW_AT_specification", "DW_AT_abstract_origin"})
_CU_REF_FORMS = frozenset({"DW_FORM_ref1", "DW_FORM_ref2", "DW_FORM_ref4", "DW_FORM_ref8",
                           "DW_FORM_ref_udata"})
#: Tags whose children are recorded (members, enumerators, parameters, subranges).
_DWARF_PARENTS = frozenset({
    "DW_TAG_structure_type", "DW_TAG_union_type", "DW_TAG_class_type",
    "DW_TAG_enumeration_type", "DW_TAG_subroutine_type", "DW_TAG_subprogram",
    "DW_TAG_array_type"})
_DWARF_CHILD_TAGS = frozenset({
    "DW_TAG_member", "DW_TAG_enumerator", "DW_TAG_formal_parameter",
    "DW_TAG_unspecified_parameters", "DW_TAG_subrange_type", "DW_TAG_structure_type",
    "DW_TAG_union_type", "DW_TAG_enumeration_type"})

#: Absolute data relocations that DWARF sections of relocatable objects use, by
#: ``e_machine``: type -> width in bytes (psABI of each architecture).  Only these
#: are applied: they carry the offsets from .debug_info into the other sections.
DWARF_RELOCS: dict[int, dict[int, int]] = {
    62: {1: 8, 10: 4, 11: 4},           # R_X86_64_64, _32, _32S
    3: {1: 4}, 6: {1: 4},               # R_386_32
    183: {257: 8, 258: 4},              # R_AARCH64_ABS64, ABS32
    40: {2: 4},                         # R_ARM_ABS32
    243: {1: 4, 2: 8},                  # R_RISCV_32, _64
    43: {3: 4, 23: 4, 32: 8, 54: 8},    # R_SPARC_32, UA32, 64, UA64
    2: {3: 4, 23: 4}, 18: {3: 4, 23: 4},
    20: {1: 4},                         # R_PPC_ADDR32
    21: {38: 8, 1: 4},                  # R_PPC64_ADDR64, ADDR32
    8: {2: 4, 18: 8},                   # R_MIPS_32, R_MIPS_64
}
#: The DWARF sections whose offsets into other debug sections must be relocated
#: before reading types in a relocatable object; no other section is needed.
_DWARF_RELOCATED = (".debug_info", ".debug_str_offsets", ".debug_line")
_DWARF_SECTIONS = (".debug_info", ".debug_abbrev", ".debug_str", ".debug_str_offsets",
                   ".debug_line_str", ".debug_addr", ".debug_loclists", ".debug_rnglists",
                   ".debug_line")
_ARCH_NAMES = {3: "x86", 6: "x86", 62: "x64", 183: "AArch64", 40: "ARM", 243: "RISC-V",
               43: "SPARC", 2: "SPARC", 18: "SPARC", 20: "PowerPC", 21: "PowerPC64",
               8: "MIPS"}


class DebugInfoEntry(NamedTuple):
    """One DWARF DIE as :func:`read_debug_info` keeps it.

    ``tag`` is the spec name (``DW_TAG_member``); ``attrs`` holds the
    attributes of :data:`DWARF_ATTRS` that are present, references already
    turned into absolute ``.debug_info`` offsets (keys of
    :attr:`DebugInfo.dies`), flags as ``True``, and ``DW_AT_decl_file`` (kept
    for structs, unions and enums only) as the file's name from the unit's
    line table; ``children`` are the offsets of
    the recorded children (members, enumerators, parameters, subranges).
    """

    tag: str
    name: str | None
    attrs: dict[str, Any]
    children: tuple[int, ...]


class DebugInfo(NamedTuple):
    """The DWARF type information of one ELF file, as plain records.

    ``dies`` maps ``.debug_info`` offsets to :class:`DebugInfoEntry`;
    ``units`` lists, per compilation unit, the offsets of its top-level DIEs
    (variables, subprograms, types).  ``extra`` holds the raw contents of
    sections named in ``read_debug_info(..., extra=...)`` that are present.
    """

    path: str
    dies: dict[int, DebugInfoEntry]
    units: tuple[tuple[int, ...], ...]
    extra: dict[str, bytes]


def _apply_dwarf_relocations(elf: RawElf, sec: RawSection, buf: bytearray) -> None:
    """Apply the absolute data relocations of ``sec`` (a DWARF section) to ``buf``.

    ``S + A``: ``S`` is the symbol's ``st_value`` (section-relative in a
    relocatable file), ``A`` the RELA addend or, for REL, the word in place.
    Other relocation types are left alone (they do not affect type reading).
    """
    widths = DWARF_RELOCS.get(elf.header.e_machine, {})
    bo = "<" if elf.little_endian else ">"
    symtab: RawSection | None = None
    values: list[int] | None = None
    structs = {4: struct.Struct(bo + "I"), 8: struct.Struct(bo + "Q")}
    #: type -> (its word, the modulus of its width)
    words = {t: (structs[w], 1 << (8 * w)) for t, w in widths.items()}
    for rs in elf.sections:
        if rs.type not in (raw.SHT_REL, raw.SHT_RELA) or rs.info != sec.index:
            continue
        if values is None:
            if not 0 < rs.link < len(elf.sections):
                raise ModuleFormatError(f"relocation section {rs.name} has sh_link {rs.link}, "
                                        f"which is not a symbol table", path=elf.path)
            symtab = elf.sections[rs.link]
            values = [s.value for s in elf.read_symbols(symtab)]
        # columns, not RawReloc objects: a module's .debug_info has hundreds of entries,
        # checked in bulk first (each one only when that finds a bad one, to name it)
        offsets, types, syms, addends = elf.relocation_columns(rs)
        if not offsets:
            continue
        last = len(buf) - 8             # the last place an 8-byte word fits
        checked = max(offsets) <= last + 4 and max(syms) < len(values)   # both unsigned
        if addends is None:
            addends = [None] * len(offsets)
        for offset, rtype, sym, addend in zip(offsets, types, syms, addends):
            word = words.get(rtype)
            if word is None:
                continue
            if not checked or (offset > last and word[0].size == 8):
                _check_dwarf_relocation(elf, sec, buf, offset, word[0].size, sym, len(values))
            if addend is None:
                addend = word[0].unpack_from(buf, offset)[0]
            word[0].pack_into(buf, offset, (values[sym] + addend) % word[1])


def _check_dwarf_relocation(elf: RawElf, sec: RawSection, buf: bytearray, offset: int,
                            width: int, sym: int, nsyms: int) -> None:
    if not 0 <= offset <= len(buf) - width:
        raise ModuleFormatError(f"relocation at {sec.name}+{offset:#x} is outside "
                                f"the section", path=elf.path)
    if not 0 <= sym < nsyms:
        raise ModuleFormatError(f"relocation at {sec.name}+{offset:#x} uses symbol "
                                f"{sym}, out of range", path=elf.path)


def _dwarf_value(attr: Any, cu_offset: int) -> Any:
    if attr.name in _DWARF_REF_ATTRS:
        if attr.form in _CU_REF_FORMS:
            return attr.value + cu_offset
        return attr.value
    if attr.form == "DW_FORM_flag_present":
        return True
    value = attr.value
    if isinstance(value, bytes):
        return raw.decode_name(value)
    if isinstance(value, list):         # an exprloc, e.g. DW_OP_plus_uconst N (DWARF 2)
        return tuple(value)
    return value


_DWARF_AGGREGATES = frozenset({"DW_TAG_structure_type", "DW_TAG_union_type",
                               "DW_TAG_class_type", "DW_TAG_enumeration_type"})


def _unit_files(dwarf: Any, cu: Any) -> dict[int, str]:
    """``DW_AT_decl_file`` index -> file name, from the unit's line table header
    (DWARF 5 counts from 0, earlier versions from 1); ``{}`` when there is none or it
    cannot be read.

    The header is read by :func:`kmodbuild.dwarfwalk.line_table_files`, as on the
    walker's path, not by pyelftools: its line program reader takes any version from 5
    up as DWARF 5 and reads as many entries as a damaged count says even when they hold
    no bytes at all (a four-byte change made ``check`` run for minutes and exhaust the
    memory)."""
    try:
        attr = cu.get_top_DIE().attributes.get("DW_AT_stmt_list")
        if attr is None:
            return {}
        sections = {name: sec.stream.getvalue() for name, sec in
                    ((".debug_line", dwarf.debug_line_sec), (".debug_str", dwarf.debug_str_sec),
                     (".debug_line_str", dwarf.debug_line_str_sec)) if sec is not None}
        unit = _DwarfUnit(sections, "<" if dwarf.config.little_endian else ">",
                          cu.header.version, cu.structs.dwarf_format // 8,
                          cu.header.address_size, cu.cu_offset)
        unit.stmt_list = attr.value
        return line_table_files(unit)
    except (Unsupported, *_BOUNDARY, AttributeError):
        return {}


def _walk_units(dwarf: Any) -> tuple[dict[int, DebugInfoEntry], tuple[tuple[int, ...], ...]]:
    """Every DIE of every unit, linearly (pyelftools' ``iter_DIEs``), kept as records."""
    dies: dict[int, DebugInfoEntry] = {}
    units: list[tuple[int, ...]] = []
    keep = DWARF_ATTRS
    parents = _DWARF_PARENTS
    child_tags = _DWARF_CHILD_TAGS
    for cu in dwarf.iter_CUs():
        cu_off = cu.cu_offset
        top: list[int] = []
        files: dict[int, str] | None = None
        # stack of (offset, tag, children list or None) for the open DIEs
        stack: list[tuple[int, str, list[int] | None]] = []
        for die in cu.iter_DIEs():
            tag = die.tag
            if tag is None:                 # end of a children list
                if stack:
                    off, _, kids = stack.pop()
                    if kids is not None and off in dies:
                        e = dies[off]
                        dies[off] = e._replace(children=tuple(kids))
                continue
            depth = len(stack)
            parent = stack[-1] if stack else None
            record = False
            if depth == 1:
                record = True
                top.append(die.offset)
            elif depth >= 2 and parent is not None and parent[2] is not None \
                    and tag in child_tags:
                record = True
                parent[2].append(die.offset)
            if record:
                attrs = {}
                name = None
                for aname, attr in die.attributes.items():
                    if aname == "DW_AT_name":
                        v = attr.value
                        name = raw.decode_name(v) if isinstance(v, bytes) else str(v)
                    elif aname == "DW_AT_decl_file":
                        if tag in _DWARF_AGGREGATES:
                            if files is None:
                                files = _unit_files(dwarf, cu)
                            attrs[aname] = files.get(attr.value, "")
                    elif aname in keep:
                        attrs[aname] = _dwarf_value(attr, cu_off)
                dies[die.offset] = DebugInfoEntry(tag, name, attrs, ())
            if die.has_children:
                stack.append((die.offset, tag, [] if record and tag in parents else None))
        units.append(tuple(top))
    return dies, tuple(units)


def read_debug_info(path: object, *, data: bytes | None = None,
                    extra: Sequence[str] = ()) -> DebugInfo | None:
    """The DWARF type information of the ELF file at ``path`` (or ``data``).

    Works on linked images (the kernel) and on relocatable objects (``.o``,
    ``.kmod``, ``.kmod.debug``) of every supported target: in a relocatable
    file the absolute data relocations of ``.debug_info``,
    ``.debug_str_offsets`` and ``.debug_line`` are applied here (pyelftools'
    own relocation handler knows only some machines), then
    :mod:`kmodbuild.dwarfwalk` decodes the DIEs -- or pyelftools, for what the
    walker does not decode.  Returns ``None`` when the file has no
    ``.debug_info``.

    Raises:
        ModuleFormatError: unreadable or malformed file or DWARF.
    """
    spath = str(path)
    try:
        if data is None:
            data = read_file(spath)
        elf = raw.read_elf(data, spath)
        found = {s.name: s for s in elf.sections if s.name in _DWARF_SECTIONS
                 and s.type != raw.SHT_NOBITS}
        extras = {name: elf.section_data(s) for name in extra
                  if (s := elf.get_section_by_name(name)) is not None
                  and s.type != raw.SHT_NOBITS}
        if ".debug_info" not in found or ".debug_abbrev" not in found:
            return None if not extras else DebugInfo(spath, {}, (), extras)
        blobs: dict[str, bytes] = {}
        for name, sec in found.items():
            buf = bytearray(elf.section_data(sec))
            if elf.header.e_type == raw.ET_REL and name in _DWARF_RELOCATED:
                _apply_dwarf_relocations(elf, sec, buf)
            blobs[name] = bytes(buf)
    except OSError as e:
        raise ModuleFormatError(f"cannot read: {e.strerror or e}", path=spath) from e
    except _BOUNDARY as e:
        raise ModuleFormatError(f"malformed DWARF debug information ({type(e).__name__}: "
                                f"{e})", path=spath) from e
    try:
        dies, units = walk_units(blobs, elf.little_endian, keep=DWARF_ATTRS,
                                 parents=_DWARF_PARENTS, child_tags=_DWARF_CHILD_TAGS,
                                 aggregates=_DWARF_AGGREGATES, ref_attrs=_DWARF_REF_ATTRS,
                                 make=DebugInfoEntry)
    except Unsupported:         # pyelftools reads it (or names what is wrong)
        dies, units = _read_with_pyelftools(elf, blobs, spath)
    return DebugInfo(spath, dies, units, extras)


def _read_with_pyelftools(elf: RawElf, blobs: dict[str, bytes], spath: str
                          ) -> tuple[dict[int, DebugInfoEntry], tuple[tuple[int, ...], ...]]:
    """:func:`read_debug_info`'s DIEs by pyelftools, from the relocated ``blobs``."""
    from elftools.common.exceptions import DWARFError, ELFError
    from elftools.dwarf.dwarfinfo import DebugSectionDescriptor, DWARFInfo, DwarfConfig
    try:
        descs = {name: DebugSectionDescriptor(io.BytesIO(b), name, 0, len(b), 0)
                 for name, b in blobs.items()}
        config = DwarfConfig(little_endian=elf.little_endian,
                             machine_arch=_ARCH_NAMES.get(elf.header.e_machine, "unknown"),
                             default_address_size=elf.elfclass // 8)
        d = descs.get
        dwarf = DWARFInfo(
            config=config, debug_info_sec=d(".debug_info"), debug_aranges_sec=None,
            debug_abbrev_sec=d(".debug_abbrev"), debug_frame_sec=None, eh_frame_sec=None,
            debug_str_sec=d(".debug_str"), debug_loc_sec=None, debug_ranges_sec=None,
            debug_line_sec=d(".debug_line"), debug_pubtypes_sec=None,
            debug_pubnames_sec=None, debug_addr_sec=d(".debug_addr"),
            debug_str_offsets_sec=d(".debug_str_offsets"),
            debug_line_str_sec=d(".debug_line_str"), debug_loclists_sec=d(".debug_loclists"),
            debug_rnglists_sec=d(".debug_rnglists"), debug_sup_sec=None,
            gnu_debugaltlink_sec=None, debug_types_sec=None)
        return _walk_units(dwarf)
    except (ELFError, DWARFError, NotImplementedError, AssertionError, AttributeError,
            *_BOUNDARY) as e:
        raise ModuleFormatError(f"malformed DWARF debug information ({type(e).__name__}: "
                                f"{e})", path=spath) from e
