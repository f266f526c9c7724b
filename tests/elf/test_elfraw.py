"""The struct-level reader against pyelftools and readelf facts, on real objects of all targets."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from kmodbuild import elfraw
from kmodbuild.elf import LazyTuple, describe, read_module, target_for
from kmodbuild.errors import ModuleFormatError
from kmodbuild.model import Relocation, Section, Symbol, SymbolFacts
from kmodbuild.target import TARGETS, get_target

TARGET_NAMES = [t.name for t in TARGETS]


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_sections_symbols_relocations_match_pyelftools(name: str,
                                                       sample_kmods: dict[str, Path]) -> None:
    path = sample_kmods[name]
    elf = elfraw.read_elf_file(str(path))
    with open(path, "rb") as f:
        ref = ELFFile(f)
        assert [s.name for s in elf.sections] == [s.name for s in ref.iter_sections()]
        assert [s.type for s in elf.sections][:1] == [elfraw.SHT_NULL]
        symtab = elf.get_section_by_type(elfraw.SHT_SYMTAB)
        assert symtab is not None
        ours = elf.read_symbols(symtab)
        theirs = list(ref.get_section(symtab.index).iter_symbols())
        assert [(s.name, s.value, s.size) for s in ours] == \
            [(s.name, s["st_value"], s["st_size"]) for s in theirs]
        first = elf.first_nonlocal(symtab)
        assert first == symtab.info
        assert elf.read_symbols(symtab, first) == ours[first:]
        assert all(s.bind == elfraw.STB_LOCAL for s in ours[:first])
        for sec in elf.sections:
            if sec.type not in (elfraw.SHT_REL, elfraw.SHT_RELA):
                continue
            rels = elf.read_relocations(sec)
            ref_rels = list(ref.get_section(sec.index).iter_relocations())
            assert [r.offset for r in rels] == [r["r_offset"] for r in ref_rels]
            assert [r.sym for r in rels] == [r["r_info_sym"] for r in ref_rels]
            # pyelftools folds the n64 type bytes into one number on MIPS: compare r_type.
            assert [r.type for r in rels] == [r["r_info_type"] & 0xFF if elf.is_mips64()
                                              else r["r_info_type"] for r in ref_rels]
            if sec.type == elfraw.SHT_RELA:
                assert [r.addend for r in rels] == [r["r_addend"] for r in ref_rels]
            else:
                assert all(r.addend is None for r in rels)
            types = {r.type for r in rels} | {t for r in rels for t in (r.type2, r.type3) if t}
            assert elf.relocation_types(sec) == types


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_read_module_records_are_the_constructors(name: str,
                                                  sample_kmods: dict[str, Path]) -> None:
    """read_module fills its Section/Symbol records without their dataclass __init__ and
    decodes relocations straight from columns (speed): the records must be the ones the
    constructors make from the raw entries -- equal, hashing alike, every field set."""
    mod = read_module(sample_kmods[name], get_target(name))
    elf = elfraw.read_elf_file(str(sample_kmods[name]))
    want_secs = tuple(Section(s.index, s.name, s.type, s.flags, s.addr, s.offset, s.size,
                              s.link, s.info, s.addralign, s.entsize) for s in elf.sections)
    assert tuple(mod.sections) == want_secs
    assert [vars(s) for s in mod.sections] == [vars(s) for s in want_secs]
    symtab = elf.get_section_by_type(elfraw.SHT_SYMTAB)
    assert symtab is not None
    want_syms = tuple(Symbol(i, s.name, s.value, s.size, s.info >> 4, s.info & 0xF, s.shndx)
                      for i, s in enumerate(elf.read_symbols(symtab)))
    assert tuple(mod.symbols) == want_syms and hash(mod.symbols[1]) == hash(want_syms[1])
    assert [vars(s) for s in mod.symbols] == [vars(s) for s in want_syms]
    assert mod.relocation_sections
    for rs in mod.relocation_sections:
        want = tuple(Relocation(*r[:6]) for r in elf.read_relocations(elf.sections[rs.index]))
        assert tuple(rs.relocations) == want
        assert [type(r) for r in rs.relocations] == [Relocation] * len(want)


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_read_module_modinfo_every_target(name: str, sample_kmods: dict[str, Path]) -> None:
    t = get_target(name)
    mod = read_module(sample_kmods[name], t)
    assert mod.modinfo_error is None
    mi = mod.modinfo
    assert mi is not None
    assert (mi.name, mi.required, mi.module_class, mi.version) == \
        ("sample", "layerfs,hello", 3, 1000000000)
    assert mi.requires == ("layerfs", "hello")
    assert mi.modcmd is not None and mi.modcmd.symbol is None
    assert mod.sections[mi.modcmd.section].flags & elfraw.SHF_EXECINSTR
    assert mod.elfclass == t.elfclass and mod.little_endian == t.little_endian
    assert target_for(mod.e_machine, mod.elfclass, mod.little_endian) == t
    # The precomputed facts agree with the full symbol records.
    assert mod.facts == SymbolFacts.from_symbols(tuple(mod.symbols))
    assert ("printf", 1) in mod.facts.undefined and ("hz", 1) in mod.facts.undefined
    assert mod.facts.exports == {"sample_counter", "sample_bump"}
    for rs in mod.relocation_sections:
        assert rs.types == rs.get_types() == frozenset(
            {r.type for r in rs.relocations}
            | {x for r in rs.relocations for x in (r.type2, r.type3) if x})
    assert isinstance(mod.symbols, LazyTuple)
    assert mod.symbols == tuple(mod.symbols) and len(mod.symbols) > 5


def test_mips64_r_info_layout_both_byte_orders() -> None:
    # r_sym is a u32 in file order, then r_ssym, r_type3, r_type2, r_type bytes (n64 ABI).
    for le in (True, False):
        bo = "<" if le else ">"
        rela = struct.pack(bo + "QIBBBBq", 0x40, 7, 0, 0x12, 0x05, 0x03, -8)
        strtab = b"\0.rela.text\0.shstrtab\0"
        shdr = struct.Struct(bo + "IIQQQQIIQQ")
        body_off = 64
        shoff = body_off + len(rela) + len(strtab)
        shoff += (-shoff) % 8
        sections = [shdr.pack(0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                    shdr.pack(1, elfraw.SHT_RELA, 0, 0, body_off, len(rela), 0, 0, 8, 24),
                    shdr.pack(12, elfraw.SHT_STRTAB, 0, 0, body_off + len(rela), len(strtab),
                              0, 0, 1, 0)]
        ident = b"\x7fELF" + bytes([2, 1 if le else 2, 1]) + bytes(9)
        ehdr = ident + struct.pack(bo + "HHIQQQIHHHHHH", elfraw.ET_REL, elfraw.EM_MIPS, 1, 0, 0,
                                   shoff, 0, 64, 0, 0, 64, len(sections), 2)
        blob = ehdr + rela + strtab
        blob += bytes(shoff - len(blob)) + b"".join(sections)
        elf = elfraw.read_elf(blob, "synthetic.o")
        (r,) = elf.read_relocations(elf.sections[1])
        assert (r.offset, r.sym, r.type, r.type2, r.type3, r.addend) == (0x40, 7, 3, 5, 0x12, -8)
        assert elf.relocation_types(elf.sections[1]) == {3, 5, 0x12}


def test_string_map_and_get_string() -> None:
    assert elfraw.string_map(b"\0abc\0de\0tail") == {0: "", 1: "abc", 5: "de"}
    assert elfraw.string_map(b"") == {}
    assert elfraw.string_map(b"\0\xc3\xa9t\xc3\xa9\0x\0") == {0: "", 1: "été", 7: "x"}


def test_describe_uses_pyelftools(sample_kmods: dict[str, Path]) -> None:
    lines = describe(sample_kmods["amd64"])
    assert "ELF64 LSB ET_REL EM_X86_64" in lines[0]
    assert any("link_set_modules" in ln for ln in lines)
    assert lines[-1] == "  DWARF: no"


def test_describe_wraps_pyelftools_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.kmod"
    bad.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(20))
    with pytest.raises(ModuleFormatError):
        describe(bad)
