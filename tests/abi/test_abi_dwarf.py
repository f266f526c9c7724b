"""Canonical forms from real DWARF: every target, two compilers, the probe and the fallback."""
from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from kmodbuild import abi, abiprobe, elfraw
from kmodbuild.elf import read_debug_info
from kmodbuild.errors import ModuleFormatError
from kmodbuild.target import TARGETS, get_target
from kmodbuild.toolchain import make_toolchain
from tests.conftest import REPO, BuiltTree

# types come from a header: a type defined in a .c file is private (opaque) by design
HEADER = """\
struct node { int v; struct node *next; unsigned flags:3, kind:5; signed char name[8]; };
typedef struct { long a; } anon_t;
enum color { RED, GREEN = 5 };
"""
SNIPPET = """\
#include "snippet.h"
int take(struct node *n, const anon_t *a, enum color c, ...) { return n->v + (int)a->a + c; }
long counter = 3;
"""


def compile_c(tmp: Path, argv_prefix: list[str], name: str = "snippet") -> Path:
    src = tmp / f"{name}.c"
    src.write_text(SNIPPET)
    (tmp / "snippet.h").write_text(HEADER)
    obj = tmp / f"{name}.o"
    subprocess.run([*argv_prefix, "-g", "-O2", "-c", str(src), "-o", str(obj)], check=True,
                   capture_output=True, timeout=120)
    return obj


def describe(obj: Path) -> abi.AbiInfo:
    info = read_debug_info(obj)
    assert info is not None
    little = elfraw.read_elf_file(str(obj)).little_endian
    return abi.abi_from_debug_info(info, ["take", "counter"], little_endian=little)


def expected(ptr: int) -> dict[str, str]:
    bits = 8 * (2 * ptr)            # the bit-fields follow v and next
    name_at = 2 * ptr + 1
    size = (name_at + 8 + ptr - 1) // ptr * ptr
    return {
        "struct node": (f"struct node{{{size}|v@0:int32;next@{ptr}:*struct node;"
                        f"flags@b{bits}/3:uint32;kind@b{bits + 3}/5:uint32;"
                        f"name@{name_at}:schar8[8]}}"),
        "struct anon_t": f"struct anon_t{{{ptr}|a@0:int{8 * ptr}}}",
        "enum color": "enum color{4|RED=0,GREEN=5}",
        "take": "fn(*struct node,*const struct anon_t,enum color,...)->int32",
    }


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_canonical_form_on_every_target(target, tmp_path: Path) -> None:
    tc = make_toolchain(target)
    obj = compile_c(tmp_path, [*tc.cc, *tc.cflags])
    info = describe(obj)
    want = expected(target.pointer_size)
    for key in ("struct node", "struct anon_t", "enum color"):
        assert info.types[key].canonical() == want[key], key
    assert info.symbols["take"].type == want["take"]
    assert info.symbols["take"].decl == \
        "int take(struct node *, const anon_t *, enum color, ...)"
    assert (info.symbols["counter"].type, info.symbols["counter"].size) == \
        (f"int{8 * target.pointer_size}", target.pointer_size)


@pytest.mark.parametrize("arch", ["amd64", "i386"])       # RELA, REL
@pytest.mark.parametrize("damage", ["offset", "symbol"])
def test_a_bad_debug_relocation_is_named(arch: str, damage: str, tmp_path: Path) -> None:
    """The DWARF relocations are checked in bulk; a bad entry is still named."""
    target = get_target(arch)
    tc = make_toolchain(target)
    obj = compile_c(tmp_path, [*tc.cc, *tc.cflags])
    assert read_debug_info(obj) is not None
    elf = elfraw.read_elf_file(str(obj))
    info = elf.get_section_by_name(".debug_info")
    rel = next(s for s in elf.sections if s.type in (elfraw.SHT_REL, elfraw.SHT_RELA)
               and s.info == info.index)
    offsets, types, _, _ = elf.relocation_columns(rel)
    i = len(offsets) // 2
    data = bytearray(obj.read_bytes())
    wide = elf.elfclass == 64
    entry = rel.offset + i * rel.entsize
    if damage == "offset":
        struct.pack_into("<Q" if wide else "<I", data, entry, info.size + 0x40)
        want = f"relocation at .debug_info+{info.size + 0x40:#x} is outside the section"
    else:
        value = (0xFFFF << 32 | types[i]) if wide else (0xFFFF << 8 | types[i])
        struct.pack_into("<Q" if wide else "<I", data, entry + (8 if wide else 4), value)
        want = f"relocation at .debug_info+{offsets[i]:#x} uses symbol 65535, out of range"
    bad = tmp_path / "bad.o"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModuleFormatError) as e:
        read_debug_info(bad)
    assert want in str(e.value)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="host gcc not installed")
def test_gcc_and_clang_give_the_same_hashes(tmp_path: Path) -> None:
    """Compiler independence: base types by encoding and size, not by name."""
    target = get_target("amd64")
    tc = make_toolchain(target)
    clang = describe(compile_c(tmp_path, [*tc.cc, *tc.cflags], "clang"))
    gcc = describe(compile_c(tmp_path, ["gcc", "-ffreestanding", "-fno-pic", "-mno-red-zone"],
                             "gcc"))
    assert {k: t.canonical() for k, t in gcc.types.items()} == \
        {k: t.canonical() for k, t in clang.types.items()}
    assert {n: s.hash for n, s in gcc.symbols.items()} == \
        {n: s.hash for n, s in clang.symbols.items()}


def test_declarations_clang_leaves_out(tmp_path: Path) -> None:
    """Why the probe exists: at -O2 -g an extern variable the module reads and a function
    whose address it only takes get no declaration in its DWARF (docs/abi.md)."""
    tc = make_toolchain(get_target("amd64"))
    obj = tmp_path / "null.o"
    subprocess.run([*tc.cc, *tc.cflags, "-g", "-isystem", str(REPO / "sys"), "-isystem",
                    str(REPO / "sys/arch"), "-D__NetBSD_Version__=1000000000", "-c",
                    str(REPO / "sys/modules/null/null.c"), "-o", str(obj)], check=True,
                   timeout=120)
    info = read_debug_info(obj)
    assert info is not None
    top = {info.dies[o].name for u in info.units for o in u}
    assert "vfs_attach" in top                  # called: a declaration through call-site info
    assert "vfs_stdextattrctl" not in top       # address taken only: nothing
    view = abiprobe.probe_object(obj, REPO / "sys/modules/null/null.c",
                                 [*tc.cc, *tc.cflags, "-isystem", "sys", "-isystem",
                                  "sys/arch", "-D__NetBSD_Version__=1000000000"],
                                 cwd=str(REPO))
    assert "error" not in view.meta
    assert {"vfs_attach", "vfs_stdextattrctl", "printf"} <= set(view.symbols)
    assert view.symbols["vfs_stdextattrctl"].decl == \
        "int vfs_stdextattrctl(struct mount *, int, struct vnode *, int, const char *)"


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_module_views_match_the_kernel(built_tree: BuiltTree, target) -> None:
    """Modules built with the kernel's headers: every hash matches where the module saw
    the same types, and the structural comparison finds nothing anywhere."""
    kernel = abi.load_abi(built_tree.manifest(target.key).with_suffix(".abi"))
    equal = total = 0
    for kmod in sorted((built_tree.root / "build" / target.key / "10.0" / "modules")
                       .glob("*/*.kmod")):
        view = abiprobe.read_module_abi(kmod.with_name(kmod.name + ".debug"))
        assert view is not None and view.meta["source"] in ("probe", "declarations")
        used = [s for s in view.symbols if s in kernel.symbols]
        assert abi.compare(view, kernel, used) == [], kmod
        equal += sum(view.symbols[s].hash == kernel.symbols[s].hash for s in used)
        total += len(used)
    # the rest differ only by types the module never saw defined (opaque in its view)
    assert total > 50 and equal * 10 >= total * 7


def _module_objects(built_tree: BuiltTree) -> dict[str, tuple[list[tuple[Path, Path]],
                                                            list[str]]]:
    """Each built module directory's (object, source) pairs and compile prefix."""
    import json
    groups: dict[str, tuple[list[tuple[Path, Path]], list[str]]] = {}
    for e in json.loads((built_tree.root / "compile_commands.json").read_text()):
        if "/modules/" not in e["output"]:
            continue
        argv = e["arguments"]
        objs, _ = groups.setdefault(str(Path(e["output"]).parent), ([], argv[:argv.index("-c")]))
        objs.append((built_tree.root / e["output"], built_tree.root / e["file"]))
    return groups


def test_declarations_give_the_probes_answer(built_tree: BuiltTree) -> None:
    """A module whose objects declare every symbol they use (call-site information) gets
    its view from them, without a probe compile: the same symbols, hashes and types as
    the probe's on every target that has such modules; where one declaration is missing
    (an address taken, an extern variable, powerpc and mips64) the build probed."""
    used_declarations: dict[str, int] = {}
    for where, (objs, prefix) in sorted(_module_objects(built_tree).items()):
        key = where.split("/")[1]
        declared = abiprobe.declared_view(objs)
        debug = objs[0][0].parent / f"{objs[0][0].parent.name}.kmod.debug"
        built = abiprobe.read_module_abi(debug)
        assert built is not None
        if declared is None:
            assert built.meta["source"] == "probe", where
            continue
        assert built.meta["source"] == "declarations", where
        used_declarations[key] = used_declarations.get(key, 0) + 1
        probed = abiprobe.probe_objects(objs, prefix, cwd=str(built_tree.root),
                                        flags=abiprobe.CLANG_PROBE_FLAGS)
        assert "error" not in probed.meta
        assert {n: (s.kind, s.type, s.hash) for n, s in declared.symbols.items()} == \
            {n: (s.kind, s.type, s.hash) for n, s in probed.symbols.items()}, where
        assert {k: t.canonical() for k, t in declared.types.items()} == \
            {k: t.canonical() for k, t in probed.types.items()}, where
    assert set(used_declarations) == {"amd64-x86_64", "i386-i386", "evbarm-aarch64",
                                      "evbarm-earmv7hf", "riscv-riscv64", "sparc64-sparc64"}
    assert all(n >= 3 for n in used_declarations.values()), used_declarations


def test_a_missing_declaration_means_a_probe(tmp_path: Path) -> None:
    """One symbol without a declaration in the object (its address only taken) and the
    view comes from the probe; with only calls it comes from the declarations."""
    tc = make_toolchain(get_target("amd64"))
    src = tmp_path / "m.c"
    obj = tmp_path / "m.o"
    for body, source in (("return bar(1) + baz(2);", "declarations"),
                         ("int (*f)(int) = baz; return bar(1) + f(2);", "probe")):
        src.write_text(f"int bar(int);\nint baz(int);\nint use(void) {{ {body} }}\n")
        subprocess.run([*tc.cc, *tc.cflags, "-O2", "-g", "-c", str(src), "-o", str(obj)],
                       check=True, timeout=120)
        declared = abiprobe.declared_view([(obj, src)])
        assert (declared is not None) == (source == "declarations")
        full = tmp_path / "m.kmod.full"
        subprocess.run([*tc.ld, "-r", "-o", str(full), str(obj)], check=True, timeout=120)
        abiprobe.split_built_module(full, tmp_path / "m.kmod", tmp_path / "m.kmod.debug",
                                    [(obj, src)], [*tc.cc, *tc.cflags], cwd=str(tmp_path),
                                    flags=abiprobe.CLANG_PROBE_FLAGS)
        view = abiprobe.read_module_abi(tmp_path / "m.kmod.debug")
        assert view is not None and view.meta["source"] == source
        assert view.symbols["baz"].decl == "int baz(int)"
        assert set(view.symbols) == {"bar", "baz"}


def test_fallback_to_the_modules_own_dwarf(built_tree: BuiltTree, tmp_path: Path) -> None:
    """A NAME.kmod.debug without kmodbuild's section (another build system): the
    module's own declarations and types are compared."""
    from kmodbuild import debugsplit
    key = "amd64-x86_64"
    full = built_tree.kmod(key, "null").with_name("null.kmod.full")
    plain = tmp_path / "null.kmod.debug"
    plain.write_bytes(debugsplit.only_keep_debug(full.read_bytes(), str(full)))
    view = abiprobe.read_module_abi(plain, ["vfs_attach", "kmem_zalloc"])
    assert view is not None and view.meta["source"] == "dwarf"
    assert "vfs_attach" in view.symbols and "struct vfsops" in view.types
    kernel = abi.load_abi(built_tree.manifest(key).with_suffix(".abi"))
    assert abi.compare(view, kernel, ["vfs_attach", "kmem_zalloc"]) == []
    moved = abi.TypeDesc("struct vfsops", "struct", kernel.types["struct vfsops"].size, False,
                         tuple(abi.Member(m.name, {0: 8, 8: 0}.get(m.offset, m.offset), m.bits,
                                          m.type, m.decl)
                               for m in kernel.types["struct vfsops"].members))
    changed = abi.AbiInfo(dict(kernel.symbols), {**kernel.types, "struct vfsops": moved})
    changed.symbols["vfs_attach"] = abi.SymbolAbi(**{**kernel.symbols["vfs_attach"].__dict__,
                                                    "hash": "00000000"})
    diffs = abi.compare(view, changed, ["vfs_attach"])
    assert diffs and diffs[0].changes[0] == "member vfs_name moved from offset 0 to 8"


def test_probe_drops_symbols_the_source_never_declares(tmp_path: Path) -> None:
    tc = make_toolchain(get_target("amd64"))
    src = tmp_path / "m.c"
    src.write_text("int bar(int);\nint use(void) { extern int hidden(void); "
                   "return bar(1) + hidden(); }\n")
    obj = tmp_path / "m.o"
    subprocess.run([*tc.cc, *tc.cflags, "-g", "-c", str(src), "-o", str(obj)], check=True,
                   timeout=120)
    assert abiprobe.undefined_symbols(obj) == ["bar", "hidden"]
    view = abiprobe.probe_object(obj, src, [*tc.cc, *tc.cflags], cwd=str(tmp_path))
    assert "error" not in view.meta
    assert set(view.symbols) == {"bar"} and view.symbols["bar"].decl == "int bar(int)"


def test_probe_failures_are_recorded_not_raised(tmp_path: Path) -> None:
    tc = make_toolchain(get_target("amd64"))
    src = tmp_path / "m.c"
    src.write_text("int bar(int);\nint use(void) { return bar(1); }\n")
    obj = tmp_path / "m.o"
    subprocess.run([*tc.cc, *tc.cflags, "-c", str(src), "-o", str(obj)], check=True,
                   timeout=120)

    def broken(argv, cwd):
        return subprocess.CompletedProcess(argv, 1, b"", b"m.c:1:1: error: something else\n")
    view = abiprobe.probe_object(obj, src, ["cc"], cwd=str(tmp_path), runner=broken)
    assert view.symbols == {} and view.meta["error"].startswith("probe compile failed: m.c:1:1")

    def missing(argv, cwd):
        raise FileNotFoundError(argv[0])
    view = abiprobe.probe_object(obj, src, ["nocc"], cwd=str(tmp_path), runner=missing)
    assert "cannot run the compiler" in view.meta["error"]


@pytest.mark.parametrize("shared", [True, False], ids=["one-probe", "per-object"])
def test_one_probe_per_module_and_the_per_object_fallback(tmp_path: Path, shared: bool) -> None:
    """split_built_module probes all of a module's objects in one compile; sources that
    cannot share a translation unit (here a static variable defined in both with
    different types) are probed one by one, with the same result."""
    tc = make_toolchain(get_target("amd64"))
    a, b = tmp_path / "a.c", tmp_path / "b.c"
    a.write_text("int bar(int);\nstatic int state;\nint use_a(void) { return bar(state); }\n")
    b.write_text("long baz(long, char *);\n" + ("" if shared else "static char state[4];\n")
                 + "long use_b(void) { return baz(2, 0); }\n")
    objs = []
    for src in (a, b):
        obj = src.with_suffix(".o")
        subprocess.run([*tc.cc, *tc.cflags, "-g", "-c", str(src), "-o", str(obj)], check=True,
                       timeout=120)
        objs.append((obj, src))
    full = tmp_path / "m.kmod.full"
    subprocess.run([*tc.ld, "-r", "-o", str(full), *(str(o) for o, _ in objs)], check=True,
                   timeout=120)
    calls: list[list[str]] = []

    def counting(argv, cwd):
        calls.append(list(argv))
        return abiprobe._run(argv, cwd)
    abiprobe.split_built_module(full, tmp_path / "m.kmod", tmp_path / "m.kmod.debug", objs,
                                [*tc.cc, *tc.cflags], cwd=str(tmp_path), runner=counting,
                                flags=abiprobe.CLANG_PROBE_FLAGS, declarations=False)
    assert len(calls) == (1 if shared else 3)      # the shared try, then one per object
    view = abiprobe.read_module_abi(tmp_path / "m.kmod.debug")
    assert view is not None and "error" not in view.meta
    assert view.symbols["bar"].decl == "int bar(int)"
    assert view.symbols["baz"].decl == "long baz(long, char *)"
