"""The link check on hand-built ModuleObjects (no compiler, no ELF files), plus depgraph
and the diagnostics renderings."""
from __future__ import annotations

import json

import pytest

from kmodbuild import depgraph
from kmodbuild.diagnostics import (ERROR, WARNING, CollectingReporter, Diagnostic, render_json,
                                   render_text)
from kmodbuild.errors import DependencyError, ModuleFormatError
from kmodbuild.linkcheck import RULES, check_modules
from kmodbuild.model import (SHF_ALLOC, SHF_EXECINSTR, SHN_COMMON, SHN_UNDEF, SHT_NULL,
                             SHT_PROGBITS, SHT_RELA, STB_GLOBAL, STB_LOCAL, STB_WEAK,
                             STT_FUNC, STT_NOTYPE, STT_OBJECT, ModInfo, ModuleObject, Pointer,
                             Relocation, RelocationSection, Section, Symbol)
from kmodbuild.target import NetBSDVersion, get_target

AMD64 = get_target("amd64")
V10 = NetBSDVersion.parse("10.0")
KERNEL = {"printf", "hz", "vfs_attach", "kmem_alloc", "kmem_free"}


def mod(name: str, *, needs: tuple[str, ...] = (), weak: tuple[str, ...] = (),
        exports: tuple[str, ...] = (), common: tuple[str, ...] = (),
        required: str | None = None, mi_name: str | None = "", mclass: int = 1,
        version: int = 1000000000, relocs: tuple[Relocation, ...] = (), is_rela: bool = True,
        machine: int = 62, elfclass: int = 64, little_endian: bool = True,
        modinfo_error: str | None = None, path: str | None = None) -> ModuleObject:
    """A module ``modules/<name>/<name>.kmod`` with the given symbols and modinfo."""
    sections = (Section(0, "", SHT_NULL, 0, 0, 0, 0, 0, 0, 0, 0),
                Section(1, ".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, 0, 64, 100, 0, 0,
                        16, 0),
                Section(2, ".rela.text", SHT_RELA, 0, 0, 200, 24 * len(relocs), 4, 1, 8, 24),
                Section(3, ".rodata", SHT_PROGBITS, SHF_ALLOC, 0, 300, 64, 0, 0, 8, 0))
    syms = [Symbol(0, "", 0, 0, STB_LOCAL, STT_NOTYPE, 0)]
    for n in needs:
        syms.append(Symbol(len(syms), n, 0, 0, STB_GLOBAL, STT_NOTYPE, SHN_UNDEF))
    for n in weak:
        syms.append(Symbol(len(syms), n, 0, 0, STB_WEAK, STT_NOTYPE, SHN_UNDEF))
    for n in exports:
        syms.append(Symbol(len(syms), n, 0, 8, STB_GLOBAL, STT_FUNC, 1))
    for n in common:
        syms.append(Symbol(len(syms), n, 8, 8, STB_GLOBAL, STT_OBJECT, SHN_COMMON))
    mi = None
    if modinfo_error is None:
        mi = ModInfo(version, mclass, name if mi_name == "" else mi_name, required,
                     Pointer(1, 0), Pointer(3, 0))
    return ModuleObject(path or f"modules/{name}/{name}.kmod", elfclass, little_endian, machine,
                        1, sections, tuple(syms),
                        (RelocationSection(2, ".rela.text", 1, is_rela, relocs),), mi,
                        modinfo_error, b"")


def run(*mods: ModuleObject, kernel: object = KERNEL, target: object = AMD64,
        version: NetBSDVersion | None = V10, **kw: object) -> list[str]:
    return [d.render() for d in check_modules(list(mods), kernel, target, version, **kw)]


def test_clean_set_has_no_diagnostics() -> None:
    assert run(mod("layerfs", needs=("printf",), exports=("layerfs_bypass",)),
               mod("nullfs", needs=("layerfs_bypass", "vfs_attach"), required="layerfs")) == []


def test_unknown_symbols_sorted_with_hint() -> None:
    assert run(mod("xyzfs", needs=("vfs_attachh", "zz_unknown", "printf"))) == [
        "modules/xyzfs/xyzfs.kmod: needs unknown symbol vfs_attachh (did you mean vfs_attach?)",
        "modules/xyzfs/xyzfs.kmod: needs unknown symbol zz_unknown"]


def test_every_module_reported_sorted_by_path() -> None:
    out = run(mod("b", needs=("nope_b",)), mod("a", needs=("nope_a",)))
    assert out == ["modules/a/a.kmod: needs unknown symbol nope_a",
                   "modules/b/b.kmod: needs unknown symbol nope_b"]


def test_symbol_from_module_not_required() -> None:
    out = run(mod("layerfs", exports=("layerfs_bypass",)),
              mod("nullfs", needs=("layerfs_bypass",)))
    assert out == ["modules/nullfs/nullfs.kmod: needs symbol layerfs_bypass from module "
                   "`layerfs', which it does not require (add layerfs to the requirements)"]


def test_transitive_requirement_provides() -> None:
    assert run(mod("base", exports=("base_fn",)), mod("mid", required="base"),
               mod("top", needs=("base_fn",), required="mid")) == []


def test_available_modules_provide_but_are_not_judged() -> None:
    dep = mod("layerfs", exports=("layerfs_bypass",), needs=("broken_symbol",))
    assert run(mod("nullfs", needs=("layerfs_bypass",), required="layerfs"),
               available=[dep]) == []


def test_no_manifest_skips_kernel_symbols_only() -> None:
    assert run(mod("x", needs=("anything",)), kernel=None) == []
    assert run(mod("p", exports=("f",)), mod("q", needs=("f",)), kernel=None) == [
        "modules/q/q.kmod: needs symbol f from module `p', which it does not require "
        "(add p to the requirements)"]


def test_weak_common_redefined() -> None:
    # a weak undefined symbol fails only where a relocation uses it (spec §2.2-2.3)
    out = run(mod("w", weak=("opt_hook",), common=("cvar",), exports=("hz", "__bss_start",
                                                                         "__start_link_set_x"),
                  relocs=(Relocation(0x10, 1, 1, 0),)),
              mod("v", exports=("shared",)), mod("u", exports=("shared",)))
    assert out == [
        "modules/u/u.kmod: global symbol `shared' redefined (module `v' defines it too; "
        "make it static or rename it)",
        "modules/v/v.kmod: global symbol `shared' redefined (module `u' defines it too; "
        "make it static or rename it)",
        "modules/w/w.kmod: common symbol cvar is not supported by the loader (compile with "
        "-fno-common or initialise it)",
        "modules/w/w.kmod: global symbol `hz' redefined (the kernel defines it too; make it "
        "static or rename it)",
        "modules/w/w.kmod: has undefined weak symbol opt_hook (kobj: weak symbol not "
        "supported; declare it without __weak or define it)"]


def test_relocation_types_and_format() -> None:
    relocs = (Relocation(0x10, 9, 1, 0), Relocation(0x20, 9, 1, 0), Relocation(0x30, 2, 1, 0))
    m = mod("r", needs=("hz",), relocs=relocs)
    assert run(m) == ["modules/r/r.kmod: unsupported relocation type R_X86_64_GOTPCREL (9) at "
                      ".text+0x10 against hz, and 1 more (build with -fno-pic -mcmodel=kernel)"]
    aarch64 = get_target("evbarm-aarch64")
    rel = mod("q", machine=183, is_rela=False, relocs=(Relocation(0, 283, 0, None),))
    assert run(rel, target=aarch64) == [
        "modules/q/q.kmod: REL relocations not supported (section .rela.text) "
        "(evbarm-aarch64 kernels take SHT_RELA only)"]


def test_header_against_target() -> None:
    assert run(mod("a", machine=183)) == [
        "modules/a/a.kmod: linker error: unsupported machine 183 (AArch64 object; amd64 kernels "
        "load x86-64)"]
    assert run(mod("b", little_endian=False, machine=43)) == [
        "modules/b/b.kmod: linker error: unsupported file version 16777216 (big-endian object; "
        "amd64 kernels are little-endian)"]
    assert run(mod("c", elfclass=32)) == [
        "modules/c/c.kmod: linker error: bad sizes (ELF32 object; amd64 kernels load ELF64)"]
    assert run(mod("d", machine=183), target=None) == []


@pytest.mark.parametrize("kw,line", [
    ({"modinfo_error": "`link_set_modules' section not present, error 2"},
     "`link_set_modules' section not present, error 2 (every module needs exactly one MODULE() "
     "declaration)"),
    ({"mi_name": None}, "modinfo has no name (mi_name is NULL)"),
    ({"mclass": 7}, "module `m' has invalid class 7 (use MODULE_CLASS_MISC, VFS, DRIVER, EXEC, "
                    "SECMODEL or BUFQ)"),
    ({"mclass": -1}, "module `m' has invalid class -1 (use MODULE_CLASS_MISC, VFS, DRIVER, "
                     "EXEC, SECMODEL or BUFQ)"),
    ({"version": 900000000}, "module `m' built for `900000000', system `1000000000' (built for "
                             "9.0, kernel is 10.0; rebuild it (or load with modload -f))"),
    ({"required": "m"}, "self-dependency detected for `m'"),
    ({"required": "zzz"}, "requires unknown module `zzz' (zzz/zzz.kmod not found among the "
                          "modules checked or next to them)"),
    ({"required": "a,"}, "warning: required module list `a,' has a stray comma"),
    ({"required": ",a"}, "warning: required module list `,a' has a stray comma"),
    ({"required": "a,,zzz"}, "required module list `a,,zzz' has an empty entry; the kernel "
                             "ignores zzz after it"),
    ({"required": "a\tb"}, "required module list `a\tb' contains white space (write it as "
                           "\"a,b\" without spaces)"),
])
def test_modinfo_rules(kw: dict[str, object], line: str) -> None:
    out = run(mod("m", **kw), mod("a"))  # type: ignore[arg-type]
    assert f"modules/m/m.kmod: {line}" in out


def test_version_patch_level_and_current() -> None:
    assert run(mod("m", version=1000000300)) == []
    cur = NetBSDVersion.parse("10.99.10")
    assert run(mod("m", version=1099001000), version=cur) == []
    assert len(run(mod("m", version=1099000900), version=cur)) == 1
    assert run(mod("m", version=1), version=None) == []


def test_names_and_dependency_names() -> None:
    long = "x" * 32
    out = run(mod(long))
    assert out == [f"modules/{long}/{long}.kmod: module name `{long}' longer than 32 "
                   f"(32 characters; at most 31)"]
    assert run(mod("x" * 31)) == []
    d30, d31 = "d" * 30, "e" * 31
    out = run(mod("m", required=f"{d30},{d31}"), mod(d30), mod(d31))
    assert out == [f"modules/m/m.kmod: required module name `{d30},{d31}' longer than 32 "
                   f"(`{d31}' has 31 characters; dependency names are limited to 30)"]
    out = run(mod("real", path="modules/other/other.kmod"))
    assert out == ["modules/other/other.kmod: module name `real' does not match the file name "
                   "other.kmod (as a dependency it would fail with: dependency name mismatch "
                   "(`other' != `real'))"]
    # a file not named NAME.kmod (the build's NAME.kmod.full) is named as it is
    out = run(mod("m", path="modules/m/m.kmod.full"))
    assert out == ["modules/m/m.kmod.full: module name `m' does not match the file name "
                   "m.kmod.full (as a dependency it would fail with: dependency name mismatch "
                   "(`m.kmod' != `m'))"]


def test_cycles_and_duplicates() -> None:
    out = run(mod("a", required="b"), mod("b", required="c"), mod("c", required="a"),
              mod("d", required="a"))
    assert out == [
        "modules/a/a.kmod: circular dependency detected for `a' (a -> b -> c -> a)",
        "modules/b/b.kmod: circular dependency detected for `b' (b -> c -> a -> b)",
        "modules/c/c.kmod: circular dependency detected for `c' (c -> a -> b -> c)"]
    # Only judged modules are reported; available ones only take part.
    assert run(mod("d", required="a"), available=[mod("a", required="b"),
                                                  mod("b", required="a")]) == []
    assert run(mod("a", required="b"), available=[mod("b", required="a")]) == [
        "modules/a/a.kmod: circular dependency detected for `a' (a -> b -> a)"]
    out = run(mod("dup"), mod("dup", path="modules/copy/dup.kmod"))
    assert out == ["modules/dup/dup.kmod: module with name `dup' already loaded "
                   "(modules/copy/dup.kmod has the same mi_name)"]


def test_rules_are_documented_ids() -> None:
    out = check_modules([mod("m", needs=("nope",), required="m", mclass=0)], KERNEL, AMD64, V10)
    assert {d.rule for d in out} <= set(RULES)
    assert {d.rule for d in out} == {"undefined-symbol", "self-dependency", "module-class"}


def test_render_text_and_json() -> None:
    diags = [Diagnostic(ERROR, "a.kmod", "needs unknown symbol x", "x", "did you mean y?",
                        "undefined-symbol"),
             Diagnostic(WARNING, "b.kmod", "stray comma", rule="required-syntax")]
    assert render_text(diags) == ("a.kmod: needs unknown symbol x (did you mean y?)\n"
                                  "b.kmod: warning: stray comma\n")
    assert render_text([]) == ""
    doc = json.loads(render_json(diags, 5))
    assert doc == {"version": 1, "modules": 5, "errors": 1, "warnings": 1, "diagnostics": [
        {"severity": "error", "path": "a.kmod", "rule": "undefined-symbol",
         "message": "needs unknown symbol x", "symbol": "x", "hint": "did you mean y?"},
        {"severity": "warning", "path": "b.kmod", "rule": "required-syntax",
         "message": "stray comma", "symbol": None, "hint": None}]}


def test_reporter_and_from_error() -> None:
    r = CollectingReporter()
    d = Diagnostic.from_error(ModuleFormatError("linker error: no text", path="z.kmod"),
                              "format")
    r.report(d)
    r.report(d)
    r.report(Diagnostic(ERROR, "a.kmod", "m"))
    assert [x.path for x in r.sorted()] == ["a.kmod", "z.kmod"]
    assert d.render() == "z.kmod: linker error: no text"


def test_depgraph() -> None:
    g = {"a": ["b"], "b": ["c", "a"], "c": ["a"], "d": ["d"], "e": ["a", "zzz"], "f": []}
    assert depgraph.find_cycles(g) == [["a", "b", "a"], ["a", "b", "c", "a"]]
    assert depgraph.cycle_of(g, "c") == ["c", "a", "b", "c"]
    assert depgraph.cycle_of(g, "e") is None
    assert depgraph.closure(g, "e") == {"a", "b", "c", "zzz"}
    assert depgraph.load_order({"a": ["b", "x"], "b": ["c"], "c": [], "d": ["a"]}) == \
        ["c", "b", "a", "d"]
    with pytest.raises(DependencyError) as exc:
        depgraph.load_order(g)
    assert str(exc.value) == "dependency cycle: a -> b -> a"
    deep = {f"m{i}": [f"m{i + 1}"] for i in range(5000)}
    assert depgraph.load_order(deep)[0] == "m5000" or depgraph.load_order(deep)[0] == "m4999"


def test_prepared_module_set_gives_the_same_answers_as_a_list() -> None:
    """kmodbuild.buildcheck checks each module against a ModuleSet built once; every
    rule that looks at other modules must answer as with the plain list."""
    from kmodbuild.linkcheck import ModuleSet
    pool = [mod("base", exports=("base_fn", "shared")),
            mod("lib", exports=("lib_fn", "shared"), required="base"),
            mod("dup", mi_name="lib", exports=("dup_only",)),
            mod("cyc_a", required="cyc_b", exports=("a_fn",)),
            mod("cyc_b", required="cyc_a", exports=("b_fn",)),
            mod("user", needs=("lib_fn", "base_fn", "printf"), required="lib"),
            mod("sneaky", needs=("lib_fn", "dup_only", "nowhere")),
            mod("clash", exports=("shared", "printf")),
            mod("lib2", mi_name="lib", needs=("base_fn",), exports=("lib_fn", "lib2_fn"),
                required="base", path="modules/lib2/lib2.kmod")]
    whole = ModuleSet.of(pool)
    extra = [mod("cyc_c", required="cyc_a", exports=("shared",)),
             mod("lib3", mi_name="lib", needs=("dup_only", "lib_fn"),
                 path="modules/lib3/lib3.kmod")]     # hides "lib" and its exports
    for judged in [*pool, *extra]:
        others = [m for m in pool if m.path != judged.path]
        expect = run(judged, available=others)
        assert run(judged, available=whole.without(judged.path)) == expect, judged.path
        assert run(judged, available=ModuleSet.of(others)) == expect, judged.path
    # a set without two modules (the second without() indexes again), and the index
    # left as it was by every check above (each saw it through layers of its own)
    for first, second in [(pool[0], pool[5]), (pool[1], pool[8]), (pool[3], pool[4])]:
        others = [m for m in pool if m.path not in (first.path, second.path)]
        judged = extra[1]
        assert run(judged, available=whole.without(first.path).without(second.path)) \
            == run(judged, available=others), (first.path, second.path)
    fresh = ModuleSet.of(pool)
    assert (dict(whole.by_name), dict(whole.graph), dict(whole.providers)) \
        == (dict(fresh.by_name), dict(fresh.graph), dict(fresh.providers))


def test_a_module_set_layer_reads_and_writes_like_a_dict() -> None:
    from kmodbuild.linkcheck import _Layer
    base = {"a": 1, "b": 2, "c": 3}
    layer = _Layer(base)
    layer["d"] = 4
    del layer["a"]
    layer["b"] = 20
    assert layer.pop("c") == 3 and layer.get("c") is None and "c" not in layer
    layer["c"] = 30
    assert dict(layer) == {"b": 20, "c": 30, "d": 4} and len(layer) == 3
    assert sorted(layer) == ["b", "c", "d"] and layer.setdefault("e", 5) == 5
    with pytest.raises(KeyError):
        del layer["a"]
    assert base == {"a": 1, "b": 2, "c": 3}             # never written


def test_a_long_ring_checked_one_module_at_a_time_stays_linear(monkeypatch) -> None:
    """The build checks each module alone, the others available: every cycle of the
    component traced from every member made a 300-module ring cost 17 s (cubic).  Now one
    shortest cycle per judged module, and a long cycle's path is shortened in its line."""
    n = 60
    ring = [mod(f"r{i:02d}", required=f"r{(i - 1) % n:02d}") for i in range(n)]
    calls = []
    real = depgraph._cycle_from
    monkeypatch.setattr(depgraph, "_cycle_from",
                        lambda *a: calls.append(a[1]) or real(*a))
    lines = []
    for m in ring:
        others = [x for x in ring if x is not m]
        lines += [d.render() for d in check_modules([m], KERNEL, AMD64, V10, available=others)]
    assert len(calls) == n                        # one search per module judged
    assert len(lines) == n
    assert lines[0] == (
        "modules/r00/r00.kmod: circular dependency detected for `r00' (r00 -> r59 -> r58 -> "
        "r57 -> r56 -> ... (53 more) ... -> r02 -> r01 -> r00)")
    assert all(len(ln) < 200 for ln in lines)
    short = run(mod("a", required="b"), mod("b", required="a"))
    assert short == ["modules/a/a.kmod: circular dependency detected for `a' (a -> b -> a)",
                     "modules/b/b.kmod: circular dependency detected for `b' (b -> a -> b)"]
