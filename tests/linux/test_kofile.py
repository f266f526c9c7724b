"""kmodbuild.linux.kofile on real objects compiled with zig: what depmod reads from a .ko."""
from __future__ import annotations

import gzip
import lzma
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from kmodbuild.errors import ModuleFormatError
from kmodbuild.linux import koelf, quickelf
from kmodbuild.linux.kofile import CRC_INVALID, KoFacts, read_ko, read_ko_bytes
from kmodbuild.linux.names import modname_from_path, module_suffix, uncompressed_relpath
from tests.linux.conftest import KoBuilder, KoSpec

#: (zig target, ELF class, little-endian): 64/32-bit, both byte orders.
TARGETS = [("x86_64-linux-gnu", 64, True), ("i386-linux-gnu", 32, True),
           ("s390x-linux-gnu", 64, False), ("powerpc-linux-gnu", 32, False)]

DEMO = KoSpec(exports={"demo_add": 0x12345678, "demo_sub": 0x9ABCDEF0},
              imports=["base_fn", "other_fn"], weak=["maybe_fn"],
              versions=[("module_layout", 0xDEADBEEF), ("other_fn", 0x22222222),
                        ("base_fn", 0x11111111), ("maybe_fn", 0x33333333)],
              modinfo=["license=GPL", "depends=base,other", "name=demo",
                       "vermagic=6.1.0-56-amd64 SMP preempt mod_unload modversions "])


@pytest.mark.parametrize("target,elfclass,little", TARGETS, ids=[t[0] for t in TARGETS])
def test_reads_exports_versions_and_modinfo(ko_builder: KoBuilder, tmp_path: Path, target: str,
                                            elfclass: int, little: bool) -> None:
    f = read_ko(str(ko_builder(tmp_path / "demo.ko", DEMO, target)))
    assert f.error is None
    assert f.elfclass == elfclass
    assert f.export_source == "crc"
    assert dict(zip(f.exports, f.export_crcs)) == {"demo_add": 0x12345678,
                                                   "demo_sub": 0x9ABCDEF0}
    # Undefined symbols in symbol-table order with their __versions CRC, then
    # the __versions entries no undefined symbol matched (module_layout).
    und = dict(zip(f.deps[:f.n_undefined], f.dep_crcs[:f.n_undefined]))
    assert und == {"base_fn": 0x11111111, "other_fn": 0x22222222, "maybe_fn": 0x33333333}
    assert f.deps[f.n_undefined:] == ["module_layout"]
    assert f.dep_crcs[f.n_undefined:] == [0xDEADBEEF]
    assert [f.deps[i] for i in f.weak] == ["maybe_fn"]
    assert (f.modinfo_name, f.depends) == ("demo", "base,other")
    assert f.vermagic == "6.1.0-56-amd64 SMP preempt mod_unload modversions "


def test_absolute_crc_symbols(ko_builder: KoBuilder, tmp_path: Path) -> None:
    # Kernels before 5.19: __crc_<sym> is an SHN_ABS symbol whose value is the CRC.
    f = read_ko(str(ko_builder(tmp_path / "a.ko", KoSpec(exports={"x": 0xCAFE, "y": 7},
                                                          crc_style="abs"))))
    assert (f.export_source, dict(zip(f.exports, f.export_crcs))) == ("crc", {"x": 0xCAFE, "y": 7})


def test_no_crcs_falls_back_to_ksymtab_strings(ko_builder: KoBuilder, tmp_path: Path) -> None:
    # Without modversions libkmod lists every string of __ksymtab_strings, CRC 0 --
    # namespace strings included, a quirk we keep for parity.
    spec = KoSpec(exports={"a": None, "b": None}, crc_style="none", namespaces=["MY_NS"])
    f = read_ko(str(ko_builder(tmp_path / "n.ko", spec)))
    assert f.export_source == "ksymtab_strings"
    assert f.exports == ["a", "b", "MY_NS"]
    assert f.export_crcs == [0, 0, 0]


def test_last_resort_ksymtab_symbols(ko_builder: KoBuilder, tmp_path: Path) -> None:
    # Neither __crc_ symbols nor __ksymtab_strings: kmodbuild (not depmod) reads
    # the __ksymtab_<name> symbols.
    spec = KoSpec(exports={"p": None, "q": None}, crc_style="none", ksymtab_labels_only=True)
    f = read_ko(str(ko_builder(tmp_path / "k.ko", spec)))
    assert (f.export_source, f.exports, f.export_crcs) == ("symtab", ["p", "q"], [0, 0])


def test_no_versions_means_crc_zero(ko_builder: KoBuilder, tmp_path: Path) -> None:
    f = read_ko(str(ko_builder(tmp_path / "v.ko", KoSpec(imports=["p", "q"]))))
    assert f.deps == ["p", "q"] and f.dep_crcs == [0, 0] and f.n_undefined == 2


def test_duplicate_versions_entry_is_a_dependency_too(ko_builder: KoBuilder,
                                                      tmp_path: Path) -> None:
    # kmod_elf_crc_find takes the first entry; the second is never visited.
    spec = KoSpec(imports=["p"], versions=[("p", 1), ("p", 2), ("module_layout", 3)])
    f = read_ko(str(ko_builder(tmp_path / "d.ko", spec)))
    assert list(zip(f.deps, f.dep_crcs)) == [("p", 1), ("p", 2), ("module_layout", 3)]



def test_versions_names_end_at_their_nul(ko_builder: KoBuilder, tmp_path: Path) -> None:
    # libkmod reads each __versions name as a C string: "a\0b" is "a", an all-NUL
    # name is "".  Together the two keep the number of names and their total
    # length that a whitespace split of the whole section would give, so the
    # decoders must not take that split for proof (both once did).
    spec = KoSpec(imports=["a"], versions=[("a\\0b", 5), ("", 6), ("module_layout", 7)])
    data = ko_builder(tmp_path / "n.ko", spec).read_bytes()
    fast, general = _both(data)
    assert isinstance(general, KoFacts)
    assert list(zip(general.deps, general.dep_crcs)) == [("a", 5), ("", 6), ("module_layout", 7)]
    assert fast is None or fast[0] == general


def test_versions_names_with_white_space(ko_builder: KoBuilder, tmp_path: Path) -> None:
    # A name holding a byte str.split() takes for white space (a space, a tab, \x85,
    # \xa0...) would be cut in two by the fast decoder's split; it must leave such a
    # file to the general decoder, which reads the C string whole.
    for n, odd in enumerate(["a b", "a\\tb", "a\\205b", "a\\240b", "a\\034b"]):  # C octal
        spec = KoSpec(imports=["x"], versions=[("x", 1), (odd, 5), ("module_layout", 7)])
        data = ko_builder(tmp_path / f"w{n}.ko", spec).read_bytes()
        fast, general = _both(data)
        assert isinstance(general, KoFacts)
        assert len(general.deps) == 3 and general.dep_crcs[1] == 5, odd
        assert fast is None or fast[0] == general, odd


def _section_headers(data: bytes) -> tuple[int, list[tuple[int, ...]], bytes]:
    """(e_shoff, section headers, section name table) of a 64-bit little-endian file."""
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shnum, shstrndx = struct.unpack_from("<HH", data, 0x3C)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + 64 * i) for i in range(shnum)]
    names = data[headers[shstrndx][4]:headers[shstrndx][4] + headers[shstrndx][5]]
    return shoff, headers, names


def _retarget_name(data: bytes, symbol: str, into: str, at: int) -> bytes:
    """``data`` (64-bit little-endian) with ``symbol``'s st_name pointing ``at`` characters
    into ``into``'s name: the tail sharing a linker may do in .strtab."""
    _, headers, _ = _section_headers(data)
    symtab = next(h for h in headers if h[1] == 2)                   # SHT_SYMTAB
    strtab = headers[symtab[6]]                                      # sh_link
    names = data[strtab[4]:strtab[4] + strtab[5]]
    offsets = {}
    for k in range(symtab[5] // 24):
        st_name, = struct.unpack_from("<I", data, symtab[4] + 24 * k)
        offsets[names[st_name:names.index(b"\0", st_name)].decode()] = (k, st_name)
    k, _ = offsets[symbol]
    patched = bytearray(data)
    struct.pack_into("<I", patched, symtab[4] + 24 * k, offsets[into][1] + at)
    return bytes(patched)


def test_prefixes_found_where_they_overlap(ko_builder: KoBuilder, tmp_path: Path) -> None:
    # "__crc__crc_x" holds "__crc_" at 0 and at 5: a search resuming after each match
    # missed the second, and with it an export whose name the linker shared that way.
    spec = KoSpec(exports={"_crc_x": 0x11, "x": 0x22})
    data = ko_builder(tmp_path / "o.ko", spec).read_bytes()
    data = _retarget_name(data, "__crc_x", "__crc__crc_x", 5)
    fast, general = _both(data)
    assert isinstance(general, KoFacts)
    assert sorted(zip(general.exports, general.export_crcs)) == [("_crc_x", 0x11), ("x", 0x22)]
    assert fast is None or fast[0] == general


def test_symbol_zero_name_offset_is_not_read(ko_builder: KoBuilder, tmp_path: Path) -> None:
    # kmod_elf_get_symbols checks the name offsets of symbols 1.. against .strtab (one
    # outside sends it to __ksymtab_strings); symbol 0 is never read.
    data = bytearray(ko_builder(tmp_path / "z.ko", DEMO).read_bytes())
    _, headers, _ = _section_headers(bytes(data))
    symtab = next(h for h in headers if h[1] == 2)                   # SHT_SYMTAB
    struct.pack_into("<I", data, symtab[4], 0x7FFFFFFF)               # symbol 0's st_name
    fast, general = _both(bytes(data))
    assert isinstance(general, KoFacts)
    assert general.export_source == "crc"
    assert dict(zip(general.exports, general.export_crcs)) == {"demo_add": 0x12345678,
                                                                "demo_sub": 0x9ABCDEF0}
    assert fast is None or fast[0] == general


def test_a_section_outside_the_file_is_passed_over(ko_builder: KoBuilder,
                                                   tmp_path: Path) -> None:
    # elf_get_section_info fails for it, and kmod_elf_get_section goes on as if it were
    # not there: a .modinfo whose sh_size runs past the end costs the module its
    # .modinfo, not its symbols (found by fuzzing against depmod).
    good = ko_builder(tmp_path / "g.ko", DEMO).read_bytes()
    shoff, headers, names = _section_headers(good)
    k = next(i for i, h in enumerate(headers) if names[h[0]:].startswith(b".modinfo\0"))
    bad = bytearray(good)
    struct.pack_into("<Q", bad, shoff + 64 * k + 32, 1 << 30)                 # sh_size
    fast, general = _both(bytes(bad))
    want = read_ko_bytes(good, "g.ko")
    assert isinstance(general, KoFacts) and general.error is None
    assert general._replace(modinfo_name=None, vermagic=None, depends=None) == \
        want._replace(modinfo_name=None, vermagic=None, depends=None)
    assert (general.modinfo_name, general.vermagic, general.depends) == (None, None, None)
    assert fast is None or fast[0] == general


def test_a_section_name_table_without_its_nul_is_refused(ko_builder: KoBuilder,
                                                         tmp_path: Path) -> None:
    data = bytearray(ko_builder(tmp_path / "s.ko", DEMO).read_bytes())
    _, headers, _ = _section_headers(bytes(data))
    shstrndx, = struct.unpack_from("<H", data, 0x3E)
    end = headers[shstrndx][4] + headers[shstrndx][5] - 1
    data[end] = ord("x")                     # kmod_elf_new: "does not ends with \0"
    fast, general = _both(bytes(data))
    assert fast is None
    assert general == "the section name table does not end with NUL"


def test_names_run_on_past_their_section_as_c_strings(ko_builder: KoBuilder,
                                                      tmp_path: Path) -> None:
    # libkmod reads names as C strings in the file: one that the end of .strtab cuts
    # (sh_size two short, so that its last letter and NUL lie just outside) is still
    # read whole; so is a __versions name that fills its 56 bytes (found by fuzzing
    # against depmod).
    long = "v" * 56                                   # no room for its NUL
    spec = KoSpec(imports=["zzz_last_fn"], versions=[(long, 7), ("zzz_last_fn", 9)])
    good = ko_builder(tmp_path / "c.ko", spec).read_bytes()
    shoff, headers, names = _section_headers(good)
    k = next(i for i, h in enumerate(headers) if names[h[0]:].startswith(b".strtab\0"))
    strtab = good[headers[k][4]:headers[k][4] + headers[k][5]]
    assert strtab.endswith(b"zzz_last_fn\0")
    cut = bytearray(good)
    struct.pack_into("<Q", cut, shoff + 64 * k + 32, headers[k][5] - 2)      # sh_size
    for data in (good, bytes(cut)):
        fast, general = _both(data)
        assert isinstance(general, KoFacts)
        # the long name runs on into the next entry's CRC (9: "\t", then NULs)
        assert list(zip(general.deps, general.dep_crcs)) == [("zzz_last_fn", 9),
                                                             (long + "\t", 7)]
        assert fast is None or fast[0] == general

def test_module_without_anything(ko_builder: KoBuilder, tmp_path: Path) -> None:
    f = read_ko(str(ko_builder(tmp_path / "e.ko", KoSpec(modinfo=()))))
    assert (f.exports, f.export_source, f.deps) == ([], "", [])
    assert (f.modinfo_name, f.vermagic, f.depends) == (None, None, None)


@pytest.mark.parametrize("suffix", [".ko.xz", ".ko.gz", ".ko.zst"])
def test_compressed_modules(ko_builder: KoBuilder, tmp_path: Path, suffix: str) -> None:
    plain = ko_builder(tmp_path / "demo.ko", DEMO)
    data = plain.read_bytes()
    packed = tmp_path / f"demo{suffix}"
    if suffix == ".ko.xz":
        packed.write_bytes(lzma.compress(data, check=lzma.CHECK_CRC32))
    elif suffix == ".ko.gz":
        packed.write_bytes(gzip.compress(data))
    else:
        if shutil.which("zstd") is None:
            try:
                import zstandard  # noqa: F401
            except ImportError:
                pytest.skip("neither the zstd program nor the zstandard package is available")
            import zstandard
            packed.write_bytes(zstandard.ZstdCompressor().compress(data))
        else:
            subprocess.run(["zstd", "-q", "-o", str(packed), str(plain)], check=True)
    assert read_ko(str(packed)) == read_ko(str(plain))


def test_zst_without_any_decompressor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    bad = tmp_path / "x.ko.zst"
    bad.write_bytes(b"\x28\xb5\x2f\xfd")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(ModuleFormatError, match="zstandard Python package .* or the zstd program"):
        read_ko(str(bad))


@pytest.mark.parametrize("mutate,message", [
    (lambda d: b"\0ELF" + d[4:], "not an ELF object"),
    (lambda d: d[:40], "truncated ELF header|past the end"),
    (lambda d: d[:-10], "past the end of file"),
    (lambda d: d[:4] + b"\x07" + d[5:], "unsupported ELF class"),
])
def test_malformed_files_raise_module_format_error(ko_builder: KoBuilder, tmp_path: Path,
                                                   mutate: object, message: str) -> None:
    data = ko_builder(tmp_path / "m.ko", DEMO).read_bytes()
    bad = tmp_path / "bad.ko"
    bad.write_bytes(mutate(data))  # type: ignore[operator]
    with pytest.raises(ModuleFormatError, match=message):
        read_ko(str(bad))


def test_garbage_never_escapes_as_another_exception(ko_builder: KoBuilder,
                                                    tmp_path: Path) -> None:
    # Byte-patch every section header field in turn: the reader may succeed or
    # raise ModuleFormatError, nothing else.
    data = bytearray(ko_builder(tmp_path / "m.ko", DEMO).read_bytes())
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shnum, = struct.unpack_from("<H", data, 0x3C)
    for i in range(shnum):
        for field_off in (0, 4, 24, 32, 40, 44):
            patched = bytearray(data)
            struct.pack_into("<I", patched, shoff + i * 64 + field_off, 0xFFFFFFF0)
            try:
                facts = read_ko_bytes(bytes(patched), "patched.ko")
            except ModuleFormatError:
                continue
            assert isinstance(facts, KoFacts)


def test_crc_outside_its_section_is_invalid(ko_builder: KoBuilder, tmp_path: Path) -> None:
    data = bytearray(ko_builder(tmp_path / "m.ko", DEMO).read_bytes())
    # Point __crc_demo_add's st_value past the end of __kcrctab (kmod_elf_resolve_crc -> -1).
    facts = read_ko_bytes(bytes(data), "m.ko")
    assert facts.export_crcs[0] == 0x12345678
    name_pos = data.find(b"\0__crc_demo_add\0") + 1
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shnum, = struct.unpack_from("<H", data, 0x3C)
    for i in range(shnum):
        sh_type, = struct.unpack_from("<I", data, shoff + i * 64 + 4)
        if sh_type == 2:            # SHT_SYMTAB
            off, size = struct.unpack_from("<QQ", data, shoff + i * 64 + 24)
            strtab_link, = struct.unpack_from("<I", data, shoff + i * 64 + 40)
            str_off, = struct.unpack_from("<Q", data, shoff + strtab_link * 64 + 24)
            for k in range(size // 24):
                st_name, = struct.unpack_from("<I", data, off + k * 24)
                if str_off + st_name == name_pos:
                    struct.pack_into("<Q", data, off + k * 24 + 8, 4096)
    assert read_ko_bytes(bytes(data), "m.ko").export_crcs[0] == CRC_INVALID


def test_names() -> None:
    assert module_suffix("a.ko") == ".ko" and module_suffix("a.ko.zst") == ".ko.zst"
    assert module_suffix(".ko") is None and module_suffix("a.o") is None
    assert modname_from_path("kernel/x/snd-hda-intel.ko.xz") == "snd_hda_intel"
    assert uncompressed_relpath("kernel/a.ko.xz") == "kernel/a.ko"
    assert uncompressed_relpath("kernel/a.ko") == "kernel/a.ko"


# --------------------------------------------------------------------------- fast path

def _both(data: bytes) -> tuple[object, object]:
    """(fast decoder's answer or None, general decoder's facts or its error message)."""
    def read(offset: int, length: int) -> bytes:
        return data[offset:offset + length]
    try:
        fast = quickelf.fast_extract(read, len(data), "m.ko")
    except quickelf.MALFORMED:
        fast = None
    try:
        general: object = koelf.extract(read, len(data), "m.ko")
    except ModuleFormatError as e:
        general = e.message
    return fast, general


SPECS = [DEMO, KoSpec(exports={"x": 0xCAFE, "y": 7}, crc_style="abs"),
         KoSpec(imports=["p", "q"]), KoSpec(modinfo=()),
         KoSpec(imports=["p"], versions=[("p", 1), ("p", 2), ("module_layout", 3)]),
         KoSpec(exports={"a": None, "b": None}, crc_style="none", namespaces=["MY_NS"])]


@pytest.mark.parametrize("target,elfclass,little", TARGETS, ids=[t[0] for t in TARGETS])
def test_fast_decoder_agrees_with_the_general_one(ko_builder: KoBuilder, tmp_path: Path,
                                                  target: str, elfclass: int,
                                                  little: bool) -> None:
    import sys
    taken = 0
    for n, spec in enumerate(SPECS):
        data = ko_builder(tmp_path / f"m{n}.ko", spec, target).read_bytes()
        fast, general = _both(data)
        if fast is None:
            continue
        taken += 1
        facts, deps, crcs = fast  # type: ignore[misc]
        assert facts == general
        assert (deps, crcs) == (facts.deps, facts.dep_crcs)
    # The fast path takes the host's byte order and leaves the rest to the general one.
    if little == (sys.byteorder == "little"):
        assert taken >= 4
    else:
        assert taken == 0


def test_fast_decoder_on_damaged_files(ko_builder: KoBuilder, tmp_path: Path) -> None:
    # Every section header field and every ELF header byte patched in turn: where
    # the fast decoder answers, it gives the general decoder's answer.
    data = bytearray(ko_builder(tmp_path / "m.ko", DEMO).read_bytes())
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shnum, = struct.unpack_from("<H", data, 0x3C)
    variants = []
    for i in range(shnum):
        for field_off in (0, 4, 24, 32, 40, 44):
            for value in (0xFFFFFFF0, 1, 0):
                patched = bytearray(data)
                struct.pack_into("<I", patched, shoff + i * 64 + field_off, value)
                variants.append(bytes(patched))
    for k in range(4, 64):
        patched = bytearray(data)
        patched[k] ^= 0x41
        variants.append(bytes(patched))
    variants += [bytes(data[:n]) for n in (0, 3, 40, 63, len(data) // 2, len(data) - 1)]
    agreed = 0
    for v in variants:
        fast, general = _both(v)
        if fast is not None:
            assert fast[0] == general  # type: ignore[index]
            agreed += 1
    assert agreed > 50
