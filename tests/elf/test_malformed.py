"""Malformed input: byte-patched real modules must give one clear ModuleFormatError line.

Every corruption class of spec §1.1 (the kobj_load checks, in order) plus
out-of-range offsets; and a mutation sweep proving that nothing but
ModuleFormatError ever escapes the reader.
"""
from __future__ import annotations

import random
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from kmodbuild import elfraw
from kmodbuild.elf import TargetMismatchError, error_rule, read_kernel, read_module
from kmodbuild.errors import ModuleFormatError
from kmodbuild.target import Target, get_target

AMD64 = get_target("amd64")


class Patch:
    """A real ELF file as a bytearray with field-level setters (header, section headers)."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.elf = elfraw.read_elf(data, "x")
        bo = "<" if self.elf.little_endian else ">"
        self.bo = bo
        self.shdr = struct.Struct(bo + ("IIIIIIIIII" if self.elf.elfclass == 32
                                        else "IIQQQQIIQQ"))

    # e_ident and header fields by (offset, format) for ELF64
    _EH64 = {"e_type": (16, "H"), "e_machine": (18, "H"), "e_version": (20, "I"),
             "e_shoff": (40, "Q"), "e_shentsize": (58, "H"), "e_shnum": (60, "H"),
             "e_shstrndx": (62, "H")}
    _EH32 = {"e_type": (16, "H"), "e_machine": (18, "H"), "e_version": (20, "I"),
             "e_shoff": (32, "I"), "e_shentsize": (46, "H"), "e_shnum": (48, "H"),
             "e_shstrndx": (50, "H")}
    _SH = ("name", "type", "flags", "addr", "offset", "size", "link", "info", "addralign",
           "entsize")

    def header(self, field: str, value: int) -> "Patch":
        off, fmt = (self._EH64 if self.elf.elfclass == 64 else self._EH32)[field]
        struct.pack_into(self.bo + fmt, self.data, off, value)
        return self

    def section(self, index: int, field: str, value: int) -> "Patch":
        at = self.elf.header.e_shoff + index * self.shdr.size
        fields = list(self.shdr.unpack_from(self.data, at))
        fields[self._SH.index(field)] = value
        self.shdr.pack_into(self.data, at, *fields)
        return self

    def index_of(self, name: str) -> int:
        sec = self.elf.get_section_by_name(name)
        assert sec is not None, name
        return sec.index

    def bytes(self) -> bytes:
        return bytes(self.data)


def _symtab(p: Patch) -> int:
    sec = p.elf.get_section_by_type(elfraw.SHT_SYMTAB)
    assert sec is not None
    return sec.index


def _two_symtabs(p: Patch) -> Patch:
    return p.section(p.index_of(".rodata"), "type", elfraw.SHT_SYMTAB)


def _no_text(p: Patch) -> Patch:
    for s in p.elf.sections:
        if s.flags & elfraw.SHF_EXECINSTR:
            p.section(s.index, "flags", s.flags & ~elfraw.SHF_EXECINSTR)
    return p


def _no_contents(p: Patch) -> Patch:
    for s in p.elf.sections:
        if s.type in (elfraw.SHT_PROGBITS, elfraw.SHT_NOBITS):
            p.section(s.index, "type", elfraw.SHT_NOTE)
    return p


def _bad_name_offset(p: Patch) -> Patch:
    # Point the first non-local symbol's st_name far outside .strtab.
    sym = p.elf.sections[_symtab(p)]
    at = sym.offset + sym.info * 24
    struct.pack_into(p.bo + "I", p.data, at, 0x7FFFFFF0)
    return p


def _bad_reloc_symbol(p: Patch) -> Patch:
    # The link_set_modules relocation names a symbol index past the table.
    rs = p.elf.get_section_by_name(".relalink_set_modules")
    assert rs is not None
    struct.pack_into(p.bo + "Q", p.data, rs.offset + 8, (0xFFFF << 32) | 1)
    return p


CASES: list[tuple[str, Callable[[Patch], Patch], str, str | None]] = [
    ("ei-version", lambda p: (p.data.__setitem__(6, 2), p)[1],
     "linker error: unsupported file version 2", None),
    ("e-version", lambda p: p.header("e_version", 7),
     "linker error: unsupported file version 7", None),
    ("et-exec", lambda p: p.header("e_type", elfraw.ET_EXEC),
     "linker error: unsupported file type 2",
     "ET_EXEC; a module must be a relocatable object made with ld -r"),
    ("et-dyn", lambda p: p.header("e_type", elfraw.ET_DYN),
     "linker error: unsupported file type 3",
     "ET_DYN; a module must be a relocatable object made with ld -r"),
    ("wrong-machine", lambda p: p.header("e_machine", 183),
     "linker error: unsupported machine 183", "AArch64 object; amd64 kernels load x86-64"),
    ("shentsize", lambda p: p.header("e_shentsize", 40),
     "linker error: bad sizes", "e_shentsize 40, expected 64"),
    ("shnum-zero", lambda p: p.header("e_shnum", 0),
     "linker error: bad sizes", "no section header table"),
    ("shnum-huge", lambda p: p.header("e_shnum", 40000),
     "linker error: bad sizes", "40000 sections, at most 32768"),
    ("shoff-zero", lambda p: p.header("e_shoff", 0),
     "linker error: bad sizes", "no section header table"),
    ("shoff-past-eof", lambda p: p.header("e_shoff", 1 << 40),
     "section header table at 0x10000000000 is past the end of file", None),
    ("no-contents", _no_contents, "linker error: file has no contents", None),
    ("two-symtabs", _two_symtabs, "linker error: file has no valid symbol table",
     "2 SHT_SYMTAB sections, the loader needs exactly one"),
    ("no-symtab", lambda p: p.section(_symtab(p), "type", elfraw.SHT_PROGBITS),
     "linker error: file has no valid symbol table",
     "0 SHT_SYMTAB sections, the loader needs exactly one"),
    ("symtab-link", lambda p: p.section(_symtab(p), "link", 0),
     "linker error: file has invalid symbol strings", None),
    ("symtab-link-range", lambda p: p.section(_symtab(p), "link", 999),
     "linker error: file has invalid symbol strings", None),
    ("symtab-empty", lambda p: p.section(_symtab(p), "size", 0),
     "linker error: no symbol table", None),
    ("strtab-empty", lambda p: p.section(p.index_of(".strtab"), "size", 0),
     "linker error: no symbol strings", None),
    ("shstrndx", lambda p: p.header("e_shstrndx", 200), "linker error: bad shstrndx", None),
    ("no-text", _no_text, "linker error: no text", None),
    ("symtab-past-eof", lambda p: p.section(_symtab(p), "offset", 1 << 33), "", None),
    ("strtab-past-eof", lambda p: p.section(p.index_of(".strtab"), "offset", 1 << 33), "", None),
    ("symbol-name-offset", _bad_name_offset, "string offset 2147483632 is outside section "
     ".strtab", None),
    ("reloc-symbol-index", _bad_reloc_symbol, "symbol index 65535 out of range", None),
]


@pytest.mark.parametrize("what,patch,message,hint", CASES, ids=[c[0] for c in CASES])
def test_patched(what: str, patch: Callable[[Patch], Patch], message: str, hint: str | None,
                 sample_kmods: dict[str, Path]) -> None:
    data = patch(Patch(sample_kmods["amd64"].read_bytes())).bytes()
    with pytest.raises(ModuleFormatError) as exc:
        read_module("bad.kmod", AMD64, data=data)
    err = exc.value
    assert err.path == "bad.kmod"
    assert err.message.startswith(message), err.message
    if hint is not None:
        assert err.hint == hint
    text = str(err)
    assert text.startswith("bad.kmod: ") and "\n" not in text


@pytest.mark.parametrize("data,message,target", [
    (b"", "linker error: not an ELF object", AMD64),
    (b"MZ\x90\x00" + bytes(100), "linker error: not an ELF object", AMD64),
    (b"\x7fELF", "not an ELF object", AMD64),
    (b"\x7fELF\x02\x01\x01" + bytes(30), "truncated ELF header (37 bytes)", AMD64),
    # without a target the reader needs EI_CLASS and EI_DATA to decode the file at all
    (b"\x7fELF\x03\x01\x01" + bytes(60), "unsupported ELF class 3", None),
    (b"\x7fELF\x02\x07\x01" + bytes(60), "unsupported ELF data encoding 7", None),
    # the amd64 kernel never looks at them: it reads its own Elf64_Ehdr (spec §1.1)
    (b"\x7fELF\x03\x01\x01" + bytes(60), "linker error: unsupported file version 0", AMD64),
    (b"\x7fELF\x02\x07\x01" + bytes(60), "linker error: unsupported file version 0", AMD64),
])
def test_not_elf(data: bytes, message: str, target: Target | None) -> None:
    with pytest.raises(ModuleFormatError) as exc:
        read_module("x.kmod", target, data=data)
    assert exc.value.message.endswith(message)


@pytest.mark.parametrize("index,value", [(4, 3), (4, 0), (4, 1), (5, 7), (5, 2)],
                         ids=["class-3", "class-0", "class-32", "data-7", "data-msb"])
def test_the_kernel_never_looks_at_ei_class_or_ei_data(index: int, value: int,
                                                       sample_kmods: dict[str, Path]) -> None:
    """kobj_load reads the header as its own Elf_Ehdr (spec §1.1: EI_CLASS is never
    checked): an amd64 module with a damaged EI_CLASS or EI_DATA still loads on amd64."""
    data = bytearray(sample_kmods["amd64"].read_bytes())
    data[index] = value
    good = read_module(sample_kmods["amd64"], AMD64)
    mod = read_module("odd.kmod", AMD64, data=bytes(data))
    assert (mod.elfclass, mod.little_endian, mod.e_machine) == (64, True, 62)
    assert mod.modinfo == good.modinfo
    assert [s.name for s in mod.symbols] == [s.name for s in good.symbols]
    if (index, value) in ((4, 3), (4, 0), (5, 7)):      # without a target: unreadable
        with pytest.raises(ModuleFormatError) as exc:
            read_module("odd.kmod", data=bytes(data))
        assert "unsupported ELF" in exc.value.message


def test_the_target_decides_how_the_header_is_read(sample_kmods: dict[str, Path]) -> None:
    """A big-endian module whose EI_DATA is damaged still fails amd64's check 2 (its
    e_version is 0x01000000 in amd64's byte order), as a machine problem."""
    data = bytearray(sample_kmods["sparc64"].read_bytes())
    data[5] = 9
    with pytest.raises(TargetMismatchError) as exc:
        read_module("be.kmod", AMD64, data=bytes(data))
    assert exc.value.message == "linker error: unsupported file version 16777216"
    assert exc.value.hint == "big-endian object; amd64 kernels are little-endian"
    assert error_rule(exc.value) == "machine"


def test_truncated_real_module(sample_kmods: dict[str, Path]) -> None:
    data = sample_kmods["amd64"].read_bytes()
    for cut in (16, 40, 63, 64, 200, len(data) // 2, len(data) - 1):
        with pytest.raises(ModuleFormatError):
            read_module("cut.kmod", AMD64, data=data[:cut])


def test_wrong_byte_order_and_class_for_target(sample_kmods: dict[str, Path]) -> None:
    with pytest.raises(TargetMismatchError) as exc:
        read_module(sample_kmods["sparc64"], AMD64)
    assert exc.value.message == "linker error: unsupported file version 16777216"
    assert exc.value.hint == "big-endian object; amd64 kernels are little-endian"
    with pytest.raises(TargetMismatchError) as exc:
        read_module(sample_kmods["i386"], AMD64)
    assert exc.value.message == "linker error: unsupported machine 3"
    # an ELF32 object that claims x86-64: amd64's check 5 (e_shentsize read from its
    # Elf64_Ehdr) fails, and EI_CLASS says why
    data = bytearray(sample_kmods["i386"].read_bytes())
    struct.pack_into("<H", data, 18, 62)
    with pytest.raises(TargetMismatchError) as exc:
        read_module("x32.kmod", AMD64, data=bytes(data))
    assert (exc.value.message, exc.value.hint) == (
        "linker error: bad sizes", "ELF32 object; amd64 kernels load ELF64")
    # Without a target only the target-independent checks run.
    assert read_module(sample_kmods["sparc64"]).e_machine == 43


def test_target_checks_come_before_the_later_ones(sample_kmods: dict[str, Path]) -> None:
    """kobj_load's check 4 (machine) comes before check 8 (shstrndx): an i386 module with
    a bad e_shstrndx is an i386 module to the amd64 kernel (spec §1.1)."""
    data = Patch(sample_kmods["i386"].read_bytes()).header("e_shstrndx", 99).bytes()
    with pytest.raises(TargetMismatchError) as exc:
        read_module("i386.kmod", AMD64, data=data)
    assert exc.value.message == "linker error: unsupported machine 3"
    with pytest.raises(ModuleFormatError) as exc:
        read_module("i386.kmod", get_target("i386"), data=data)
    assert exc.value.message == "linker error: bad shstrndx"
    assert error_rule(exc.value) == "format"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModuleFormatError) as exc:
        read_module(tmp_path / "nope.kmod")
    assert exc.value.message.startswith("cannot read: ")
    with pytest.raises(ModuleFormatError):
        read_kernel(tmp_path / "nope")


def test_read_kernel_refuses_relocatable(sample_kmods: dict[str, Path]) -> None:
    with pytest.raises(ModuleFormatError) as exc:
        read_kernel(sample_kmods["amd64"])
    assert "not a linked kernel image (e_type 1, ET_REL)" in str(exc.value)


@pytest.mark.parametrize("name", ["amd64", "i386", "sparc64", "evbmips-mips64eb"])
def test_mutation_sweep_only_module_format_errors(name: str,
                                                  sample_kmods: dict[str, Path]) -> None:
    """Random byte and word corruption: either a module or a ModuleFormatError, never a crash."""
    data = sample_kmods[name].read_bytes()
    target = get_target(name)
    rng = random.Random(1234)
    hot = [o for o in range(0, 64)]
    elf = elfraw.read_elf(data, "x")
    hot += [elf.header.e_shoff + i for i in range(len(elf.sections) * 64)
            if elf.header.e_shoff + i < len(data)]
    for s in elf.sections:
        if s.type in (elfraw.SHT_SYMTAB, elfraw.SHT_RELA, elfraw.SHT_REL):
            hot += list(range(s.offset, min(s.offset + s.size, len(data))))
    for _ in range(400):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            at = rng.choice(hot)
            buf[at] = rng.choice((0, 0xFF, rng.randrange(256)))
        try:
            mod = read_module("fuzz.kmod", target, data=bytes(buf))
        except ModuleFormatError as e:
            assert str(e).startswith("fuzz.kmod: ")
            continue
        # A surviving module must also survive full decoding of its lazy parts.
        try:
            _ = [len(mod.symbols), len(mod.sections)]
            _ = [len(rs.relocations) for rs in mod.relocation_sections]
        except ModuleFormatError:
            pass
