"""kmodbuild.model - plain records describing a kernel module file.

These are what :mod:`kmodbuild.elf` produces and what the linker check and the
simulator consume.  They hold numbers with their ELF spec meanings; no ELF
library is needed to use them, so the analysis layers stay pure and unit tests
can build them by hand.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

# ELF constants used across the core (spec names, numeric values).
SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_NOBITS, SHT_REL = 0, 1, 2, 3, 4, 8, 9
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE = 0, 1, 2, 3, 4
SHN_UNDEF, SHN_ABS, SHN_COMMON = 0, 0xFFF1, 0xFFF2

# modclass_t (spec §1.4)
MODULE_CLASS_NAMES = {0: "any", 1: "misc", 2: "vfs", 3: "driver", 4: "exec", 5: "secmodel",
                      6: "bufq"}
MODULE_CLASS_MAX = 7


@dataclass(frozen=True)
class Section:
    """One section header (fields keep their ELF names, without the ``sh_`` prefix)."""

    index: int
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int


@dataclass(frozen=True)
class Symbol:
    """One symbol table entry; ``bind``/``type`` are STB_*/STT_* numbers."""

    index: int
    name: str
    value: int
    size: int
    bind: int
    type: int
    shndx: int

    @property
    def is_undefined(self) -> bool:
        return self.shndx == SHN_UNDEF


class Relocation(NamedTuple):
    """One relocation: place ``offset`` in the target section, type, symbol index.

    ``addend`` is ``r_addend`` for RELA and ``None`` for REL (the addend is then
    the value stored at the place).  For MIPS n64 ``type`` is ``r_type`` and
    ``type2``/``type3`` carry the composed types (0 when unused).  A named tuple,
    not a dataclass like the other records: a tree's simulation makes hundreds of
    thousands of them, and a frozen dataclass costs five times as much to create.
    """

    offset: int
    type: int
    sym: int
    addend: int | None
    type2: int = 0
    type3: int = 0


@dataclass(frozen=True)
class RelocationSection:
    """A SHT_REL/SHT_RELA section applying to section ``target`` (its ``sh_info``)."""

    index: int
    name: str
    target: int
    is_rela: bool
    relocations: tuple[Relocation, ...]
    #: Every relocation type used (incl. MIPS ``type2``/``type3``), when the reader
    #: computed it cheaply; ``None`` means "scan ``relocations``".  See :meth:`get_types`.
    types: frozenset[int] | None = field(default=None, compare=False)

    def get_types(self) -> frozenset[int]:
        """The set of relocation types used in this section."""
        if self.types is not None:
            return self.types
        out = {r.type for r in self.relocations}
        out.update(t for r in self.relocations for t in (r.type2, r.type3) if t)
        return frozenset(out)


@dataclass(frozen=True)
class Pointer:
    """A resolved pointer field: ``(section index, offset)`` inside the module, or ``symbol``
    when it points to an undefined (external) symbol."""

    section: int
    offset: int
    symbol: str | None = None


@dataclass(frozen=True)
class ModInfo:
    """The module's ``modinfo_t`` (spec §1.3), read through ``link_set_modules``.

    ``name``/``required`` are ``None`` when the pointer is NULL (or cannot be
    followed); ``modcmd`` is where ``mi_modcmd`` points.  ``name`` and ``required``
    are text for messages (control characters and invalid UTF-8 escaped, ``\\x09``);
    ``name_bytes``/``required_bytes`` are the bytes the kernel reads, which its length
    and white-space rules measure (spec §1.5, §3.3 step 4) -- ``None`` when not known
    (a record made by hand: then the text is measured).
    """

    version: int
    module_class: int
    name: str | None
    required: str | None
    modcmd: Pointer | None
    location: Pointer          # where the modinfo record itself lives
    name_bytes: bytes | None = None
    required_bytes: bytes | None = None

    @property
    def raw_name(self) -> bytes | None:
        """``mi_name`` as the kernel reads it (the text encoded when the bytes are unknown)."""
        if self.name_bytes is not None or self.name is None:
            return self.name_bytes
        return self.name.encode()

    @property
    def raw_required(self) -> bytes | None:
        """``mi_required`` as the kernel reads it (the text encoded when the bytes are
        unknown)."""
        if self.required_bytes is not None or self.required is None:
            return self.required_bytes
        return self.required.encode()

    @property
    def requires(self) -> tuple[str, ...]:
        """``mi_required`` parsed like kern_module.c (spec §1.5): an empty token stops."""
        return parse_required(self.required)


def parse_required(text: str | None) -> tuple[str, ...]:
    """Split ``mi_required`` exactly as module_do_load() does (spec §1.5).

    One leading comma of each token is skipped; an empty token ends the list;
    white space is kept (so ``"a, b"`` asks for ``" b"``).
    """
    if not text:
        return ()
    return tuple(_split_required(text, ","))


def parse_required_bytes(raw: bytes | None) -> tuple[bytes, ...]:
    """:func:`parse_required` on the bytes the kernel reads (whose tokens it measures)."""
    if not raw:
        return ()
    return tuple(_split_required(raw, b","))


def _split_required(text: Any, comma: Any) -> list[Any]:
    out: list[Any] = []
    i = 0
    n = len(text)
    while i < n:
        if text[i:i + 1] == comma:
            i += 1
        j = text.find(comma, i)
        if j < 0:
            j = n
        token = text[i:j]
        if not token:
            break
        out.append(token)
        i = j
    return out


@dataclass(frozen=True)
class SymbolFacts:
    """What the link check needs from a symbol table, precomputed by the reader.

    ``undefined``: ``(name, bind)`` of every named undefined non-local symbol,
    in table order; ``exports``: names of defined STB_GLOBAL symbols;
    ``common``: names of SHN_COMMON symbols.
    """

    undefined: tuple[tuple[str, int], ...]
    exports: frozenset[str]
    common: tuple[str, ...]

    @classmethod
    def from_symbols(cls, symbols: "tuple[Symbol, ...]") -> "SymbolFacts":
        """Compute the facts from full :class:`Symbol` records."""
        return cls(tuple((s.name, s.bind) for s in symbols
                         if s.shndx == SHN_UNDEF and s.bind != STB_LOCAL and s.name),
                   frozenset(s.name for s in symbols
                             if s.bind == STB_GLOBAL and s.shndx != SHN_UNDEF and s.name),
                   tuple(s.name for s in symbols if s.shndx == SHN_COMMON and s.name))


@dataclass(frozen=True)
class ModuleObject:
    """Everything the check and the simulator need from one ``.kmod`` file.

    ``image`` is the whole file (section contents are slices of it).
    ``modinfo_error`` says why modinfo could not be read (the kernel's wording),
    with ``modinfo`` then ``None``.
    """

    path: str
    elfclass: int
    little_endian: bool
    e_machine: int
    e_type: int
    sections: tuple[Section, ...]
    symbols: tuple[Symbol, ...]
    relocation_sections: tuple[RelocationSection, ...]
    modinfo: ModInfo | None
    modinfo_error: str | None
    image: bytes = field(repr=False)
    #: Precomputed :class:`SymbolFacts` (the ELF reader fills it in); see :meth:`get_facts`.
    facts: SymbolFacts | None = field(default=None, repr=False, compare=False)
    #: Whether the kernel's linker takes the object itself, when known without ``image``
    #: (a result cache's record): ``("ok",)`` or ``("error", message, cause)``; ``None``:
    #: ask :func:`kmodbuild.linkcheck.link_verdict`.
    link_verdict: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)

    def get_facts(self) -> SymbolFacts:
        """Undefined/exported/common symbol summary (computed from ``symbols`` if not given)."""
        if self.facts is not None:
            return self.facts
        return SymbolFacts.from_symbols(self.symbols)

    def section_data(self, index: int) -> bytes:
        """Contents of section ``index`` (zeros for NOBITS)."""
        s = self.sections[index]
        if s.type == SHT_NOBITS:
            return bytes(s.size)
        return self.image[s.offset:s.offset + s.size]

    def get_section_by_name(self, name: str) -> Section | None:
        """The first section called ``name``, or ``None``."""
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def iter_defined_globals(self) -> list[Symbol]:
        """Defined STB_GLOBAL symbols with a name (what the module exports)."""
        return [s for s in self.symbols
                if s.bind == STB_GLOBAL and s.shndx != SHN_UNDEF and s.name]

    def iter_undefined(self) -> list[Symbol]:
        """Undefined non-local named symbols (what the module needs)."""
        return [s for s in self.symbols
                if s.shndx == SHN_UNDEF and s.bind != STB_LOCAL and s.name]
