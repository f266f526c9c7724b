"""The direct DWARF walker against pyelftools: the same records from real objects of every
target, DWARF 4 and 5, 32- and 64-bit DWARF, module objects, probe objects and kernels."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import kmodbuild.elf as kelf
from kmodbuild import abiprobe, dwarfwalk
from kmodbuild.elf import DWARF_ATTRS, read_debug_info
from kmodbuild.errors import ModuleFormatError
from kmodbuild.target import TARGETS, get_target
from kmodbuild.toolchain import make_toolchain
from tests.conftest import BuiltTree

HEADER = """\
struct list { struct list *next, **prev; };
union word { unsigned long l; unsigned char b[sizeof(long)]; struct { short lo, hi; } h; };
enum state { IDLE, BUSY = 7, GONE = -1 };
typedef int (*handler_t)(void *, const char *, ...);
struct dev {
    const char *name;
    volatile unsigned int flags : 3, mode : 11;
    signed char tag;
    _Bool on;
    struct list link;
    union word w;
    enum state st;
    handler_t ops[4];
    int matrix[2][3];
    struct { int a; long b; } inner;
    union { void *p; long n; };
    void (*cb)(struct dev *restrict, int);
    const volatile long double *ld;
    char tail[];
} __attribute__((aligned(16)));
extern struct dev devices[8];
extern const int ndevices;
int attach(struct dev *, handler_t, enum state);
void detach(struct dev *d, ...);
"""
SOURCE = """\
#include "walk.h"
static int count;
int attach(struct dev *d, handler_t h, enum state s)
{
    int vla[ndevices + 1];
    vla[0] = h(d, d->name);
    d->st = s;
    count++;
    return vla[0] + devices[0].matrix[1][2] + (int)d->w.h.hi;
}
"""


def compile_c(tmp: Path, target, extra: list[str], name: str = "walk") -> Path:
    tc = make_toolchain(target)
    (tmp / "walk.h").write_text(HEADER)
    src = tmp / f"{name}.c"
    src.write_text(SOURCE)
    obj = tmp / f"{name}.o"
    subprocess.run([*tc.cc, *tc.cflags, "-g", "-gno-column-info", *extra, "-c", str(src),
                    "-o", str(obj)], check=True, capture_output=True, timeout=120, cwd=tmp)
    return obj


def both_ways(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """read_debug_info with the walker (pyelftools forbidden), then with pyelftools."""
    def no_pyelftools(dwarf):
        raise AssertionError("the walker gave up: pyelftools was used")

    with monkeypatch.context() as m:
        m.setattr(kelf, "_walk_units", no_pyelftools)
        fast = read_debug_info(path)

    def unsupported(*args, **kwargs):
        raise dwarfwalk.Unsupported("forced")

    with monkeypatch.context() as m:
        m.setattr(kelf, "walk_units", unsupported)
        slow = read_debug_info(path)
    return fast, slow


def assert_same(fast, slow) -> None:
    assert fast is not None and slow is not None
    assert fast.units == slow.units
    assert fast.dies.keys() == slow.dies.keys()
    for off, entry in slow.dies.items():
        assert fast.dies[off] == entry, hex(off)
    assert len(fast.dies) > 20          # the snippet's types are there


@pytest.mark.parametrize("dwarf", ["-gdwarf-4", "-gdwarf-5"])
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_the_walker_reads_what_pyelftools_reads(target, dwarf: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    obj = compile_c(tmp_path, target, [dwarf])
    fast, slow = both_ways(obj, monkeypatch)
    assert_same(fast, slow)
    # aggregates carry their header's name, from the line table (v4 and v5 layouts)
    files = {e.attrs.get("DW_AT_decl_file") for e in fast.dies.values()
             if e.tag == "DW_TAG_structure_type" and e.name == "dev"}
    assert files == {"walk.h"} or any(f and f.endswith("walk.h") for f in files)


@pytest.mark.parametrize("target", [t for t in TARGETS if t.pointer_size == 8],
                         ids=lambda t: t.name)
def test_64_bit_dwarf(target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    obj = compile_c(tmp_path, target, ["-gdwarf-5", "-gdwarf64"])
    assert_same(*both_ways(obj, monkeypatch))


def test_probe_objects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe's object (nodebug source, one variable per symbol) as the build reads it."""
    target = get_target("amd64")
    tc = make_toolchain(target)
    (tmp_path / "walk.h").write_text(HEADER)
    src = tmp_path / "walk.c"
    src.write_text(SOURCE)
    text, _ = abiprobe.probe_source(src, ["attach", "devices", "ndevices", "detach"])
    probe = tmp_path / "probe.c"
    probe.write_text(text)
    obj = tmp_path / "probe.o"
    subprocess.run([*tc.cc, *tc.cflags, "-g", "-gdwarf-4", *abiprobe.PROBE_FLAGS,
                    *abiprobe.CLANG_PROBE_FLAGS, "-c", str(probe), "-o", str(obj)],
                   check=True, capture_output=True, timeout=120, cwd=tmp_path)
    assert_same(*both_ways(obj, monkeypatch))


@pytest.mark.skipif(shutil.which("gcc") is None, reason="host gcc not installed")
def test_gcc_objects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "walk.h").write_text(HEADER)
    (tmp_path / "walk.c").write_text(SOURCE)
    for flags in (["-gdwarf-4"], ["-gdwarf-5"], ["-gdwarf-2", "-gstrict-dwarf"]):
        obj = tmp_path / "gcc.o"
        subprocess.run(["gcc", "-O2", "-g", *flags, "-c", "walk.c", "-o", str(obj)],
                       check=True, capture_output=True, timeout=120, cwd=tmp_path)
        assert_same(*both_ways(obj, monkeypatch))


def test_built_modules_and_kernels(built_tree: BuiltTree,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Linked images (the stub kernel) and partial links (NAME.kmod.debug) of every target."""
    seen = 0
    for kernel in sorted((built_tree.root / "build").glob("*/*/kernel/netbsd")):
        assert_same(*both_ways(kernel, monkeypatch))
        seen += 1
    debug = sorted((built_tree.root / "build").glob("*/*/modules/*/*.kmod.debug"))[:6]
    for path in debug:
        assert_same(*both_ways(path, monkeypatch))
    assert seen == len(TARGETS) and debug


def test_unsupported_input_falls_back_to_pyelftools(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit the walker does not decode (here: DWARF version 6) goes to pyelftools, which
    names the problem; the answer is one ModuleFormatError, never a traceback."""
    obj = compile_c(tmp_path, get_target("amd64"), ["-gdwarf-4"])
    from kmodbuild import elfraw
    elf = elfraw.read_elf_file(str(obj))
    sec = elf.get_section_by_name(".debug_info")
    data = bytearray(obj.read_bytes())
    data[sec.offset + 4:sec.offset + 6] = (6).to_bytes(2, "little")
    bad = tmp_path / "v6.o"
    bad.write_bytes(bytes(data))
    calls = []
    real = kelf._walk_units
    monkeypatch.setattr(kelf, "_walk_units", lambda dwarf: calls.append(1) or real(dwarf))
    with pytest.raises(ModuleFormatError) as e:
        read_debug_info(bad)
    assert calls and "v6.o" in str(e.value)


def test_truncated_debug_info_is_one_clear_error(tmp_path: Path) -> None:
    obj = compile_c(tmp_path, get_target("amd64"), ["-gdwarf-4"])
    from kmodbuild import elfraw
    elf = elfraw.read_elf_file(str(obj))
    sec = elf.get_section_by_name(".debug_info")
    data = bytearray(obj.read_bytes())
    # the first unit claims to be longer than the section
    data[sec.offset:sec.offset + 4] = (sec.size * 4).to_bytes(4, "little")
    bad = tmp_path / "long.o"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModuleFormatError) as e:
        read_debug_info(bad)
    assert "long.o" in str(e.value) and "DWARF" in str(e.value)


def test_name_tables_agree_with_pyelftools() -> None:
    from elftools.dwarf.enums import ENUM_DW_AT, ENUM_DW_TAG
    tags = {v: k for k, v in ENUM_DW_TAG.items()}
    for code, name in dwarfwalk.TAG_NAMES.items():
        assert tags[code] == name
    for code, name in dwarfwalk.ATTR_NAMES.items():
        assert ENUM_DW_AT[name] == code
    assert DWARF_ATTRS <= set(dwarfwalk.ATTR_NAMES.values())


def test_damaged_dwarf_gives_records_or_one_error(tmp_path: Path) -> None:
    """Random byte changes in .debug_info, .debug_abbrev and .debug_line of a real object:
    every read returns records or raises ModuleFormatError naming the file, never
    anything else (the walker hands what it cannot decode to pyelftools)."""
    import random

    from kmodbuild import elfraw
    obj = compile_c(tmp_path, get_target("amd64"), ["-gdwarf-4"])
    data = obj.read_bytes()
    elf = elfraw.read_elf_file(str(obj))
    spans = [(s.offset, s.size) for s in elf.sections
             if s.name in (".debug_info", ".debug_abbrev", ".debug_line")]
    rng = random.Random(20261205)
    bad = tmp_path / "bad.o"
    outcomes = {"records": 0, "error": 0}
    for _ in range(300):
        buf = bytearray(data)
        off, size = rng.choice(spans)
        for _ in range(rng.randint(1, 4)):
            buf[off + rng.randrange(size)] = rng.randrange(256)
        bad.write_bytes(bytes(buf))
        try:
            read_debug_info(bad)
            outcomes["records"] += 1
        except ModuleFormatError as e:
            assert "bad.o" in str(e)
            outcomes["error"] += 1
    assert outcomes["records"] and outcomes["error"]
