"""The in-kernel linker: relocation arithmetic of all eight ports checked against ld.lld.

Each module is placed by :func:`kmodbuild.kobj.kobj_load` and affixed; the
same object is then linked by ``ld.lld`` with every section at the address
kobj chose and the kernel symbols at the simulated kernel's addresses.  The
relocated bytes must be identical.  Plus the overflow/alignment checks of
spec §2.4 and the bookkeeping helpers.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kmodbuild import kobj as K
from kmodbuild.elf import read_module
from kmodbuild.elfraw import read_elf_file
from kmodbuild.errors import LoadError
from kmodbuild.kobj_machdep import SUPPORTED_TYPES
from kmodbuild.model import SHF_ALLOC, SHT_PROGBITS
from kmodbuild.target import TARGETS, Target, get_target
from kmodbuild.toolchain import make_toolchain, zig_path

SOURCE = r"""
typedef struct modinfo { unsigned v; int c; int (*m)(int, void *); const char *n;
                         const char *r; } const modinfo_t;
extern int printf(const char *, ...);
extern int kernel_counter;
extern int kernel_table[16];
int foo_exported = 5;
static int foo_static = 3;
static const char *const names[] = { "a", "b", "c" };
int foo_helper(int x) { return x * 3 + foo_static + kernel_table[x & 15]; }
static int foo_modcmd(int cmd, void *arg) {
    if (cmd == 0) { printf("hello %d %s\n", kernel_counter++, names[foo_exported & 1]);
                    foo_exported += foo_static;
                    return foo_helper(foo_exported); }
    return cmd == 1 ? 0 : 25;
}
static const modinfo_t foo_modinfo = { 1000000000, 1, foo_modcmd, "foo", "bar,baz" };
static void const *const __link_set_modules_sym_foo_modinfo
    __attribute__((section("link_set_modules"), used)) = &foo_modinfo;
"""
KSYMS = [("printf", 64), ("kernel_counter", 4), ("kernel_table", 64)]


def _build(tmp: Path, target: Target) -> Path:
    src = tmp / "foo.c"
    src.write_text(SOURCE)
    tc = make_toolchain(target)
    obj, kmod = tmp / f"foo-{target.name}.o", tmp / f"foo-{target.name}.kmod"
    for argv in (tc.compile_argv("foo.c", str(obj)), tc.link_argv(str(kmod), [str(obj)])):
        subprocess.run(argv, cwd=tmp, check=True, capture_output=True)
    return kmod


def _load(kmod: Path, target: Target, layout: K.AddressLayout | None = None):
    layout = layout or K.layout_for(target)
    mm, ks, con = K.ModuleMap(layout.module_base, layout.page_size), K.Ksyms(), []
    ksym = K.kernel_symbol_table(KSYMS, layout.kernel_base)
    ks.add("netbsd", ksym)
    ko = K.kobj_load(read_module(kmod, target), target, "foo", mm, ks, con)
    K.kobj_affix(ko, "foo", mm, ks)
    return ko, ksym, con


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_relocations_match_lld(tmp_path: Path, target: Target) -> None:
    kmod = _build(tmp_path, target)
    ko, ksym, _ = _load(kmod, target)
    mo = ko.module
    placed = [p for p in ko.progtab
              if mo.sections[p.sec].flags & SHF_ALLOC and mo.sections[p.sec].type == SHT_PROGBITS]
    script = tmp_path / "place.ld"
    script.write_text("SECTIONS {\n" + "".join(f"  {p.name} {p.addr:#x} : {{ *({p.name}) }}\n"
                                             for p in placed) + "}\n")
    out = tmp_path / "linked"
    argv = [zig_path(), "ld.lld", "-static", "--no-relax", "-e", "0", "-T", str(script),
            "-o", str(out), str(kmod), *(f"--defsym={k}={v:#x}" for k, v in ksym.items())]
    subprocess.run(argv, check=True, capture_output=True)
    linked = read_elf_file(str(out))
    for p in placed:
        sec = linked.get_section_by_name(p.name)
        assert sec is not None and sec.addr == p.addr, p.name
        assert linked.section_data(sec) == ko.read_bytes(p.addr, p.size), \
            f"{target.name}: {p.name} differs from ld.lld"
    # modinfo read through the relocated pointers, as module_fetch_info() does
    ptr = ko.rd(ko.find_section("link_set_modules")[0], target.pointer_size)
    name_off = 16 if target.pointer_size == 8 else 12
    assert ko.read_cstring(ko.rd(ptr + name_off, target.pointer_size)) == "foo"
    assert ko.rd(ptr + 8, target.pointer_size) == ko.symbol_address("foo_modcmd")


def test_aarch64_call26_too_far(tmp_path: Path) -> None:
    target = get_target("evbarm-aarch64")
    kmod = _build(tmp_path, target)
    far = K.AddressLayout(0xFFFFC00000000000, 0xFFFFC00000000000 + (1 << 30))
    with pytest.raises(LoadError) as e:
        _load(kmod, target, far)
    assert e.value.code == K.ENOEXEC
    con = "\n".join(e.value.args)
    assert "unresolved rela relocation" in con


def test_aarch64_too_far_message(tmp_path: Path) -> None:
    target = get_target("evbarm-aarch64")
    kmod = _build(tmp_path, target)
    layout = K.AddressLayout(0xFFFFC00000000000, 0xFFFFC00000000000 + (1 << 30))
    mm, ks, con = K.ModuleMap(layout.module_base, 4096), K.Ksyms(), []
    ks.add("netbsd", K.kernel_symbol_table(KSYMS, layout.kernel_base))
    ko = K.kobj_load(read_module(kmod, target), target, "foo", mm, ks, con)
    with pytest.raises(LoadError):
        K.kobj_affix(ko, "foo", mm, ks)
    assert any("too far from" in c and "for 26bit word" in c for c in con), con
    assert ks.order == ["netbsd"] and not ko.regions      # the whole object was destroyed


def test_arm_branch_too_far(tmp_path: Path) -> None:
    target = get_target("evbarm-earmv7hf")
    kmod = _build(tmp_path, target)
    layout = K.AddressLayout(0x80100000, 0x80100000 + (64 << 20))
    mm, ks, con = K.ModuleMap(layout.module_base, 4096), K.Ksyms(), []
    ks.add("netbsd", K.kernel_symbol_table(KSYMS, layout.kernel_base))
    ko = K.kobj_load(read_module(kmod, target), target, "foo", mm, ks, con)
    with pytest.raises(LoadError):
        K.kobj_affix(ko, "foo", mm, ks)
    assert any(c.startswith("Relocation ") and " too far @ " in c for c in con), con


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_supported_types_are_the_targets_accepted(target: Target) -> None:
    assert SUPPORTED_TYPES[target.machine_arch] == target.accepted_relocs


def test_ksyms_first_table_wins_and_removal() -> None:
    ks = K.Ksyms()
    ks.add("netbsd", {"printf": 1})
    ks.add("a", {"f": 2, "printf": 9})
    ks.add("b", {"f": 3})
    assert ks.lookup("printf") == 1 and ks.lookup("f") == 2 and ks.owner("f") == "a"
    ks.remove("a")
    assert ks.lookup("f") == 3 and ks.order == ["netbsd", "b"] and ks.lookup("x") is None


def test_module_map_rounds_and_reuses_pages() -> None:
    mm = K.ModuleMap(0x1000, 4096)
    a, b = mm.alloc(1), mm.alloc(5000)
    assert (a, b) == (0x1000, 0x2000)
    mm.free(a, 1)
    assert mm.alloc(100) == 0x1000
    mm.free(b, 5000)
    assert mm.alloc(8192) == 0x2000


@pytest.mark.parametrize("path,expected", [
    ("/stand/amd64/10.0/modules/foo/foo.kmod", "%M/foo/foo.kmod"),
    ("foo", "foo"),
    ("/home/user/src/some/deep/dir/xyzfs.kmod", "%M/.../some/deep/dir/xyzfs.kmod"),
])
def test_kobj_setname(path: str, expected: str) -> None:
    assert K.kobj_setname(path, "/stand/amd64/10.0/modules") == expected



def test_amd64_table_path_matches_entry_by_entry(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """kobj_machdep._amd64_table (the fast way through a relocation table) patches the
    same bytes and prints the same messages as _amd64 applied entry by entry, also
    when the load fails."""
    target = get_target("amd64")
    kmod = _build(tmp_path, target)
    table = dict(K.KOBJ_RELOC_TABLE)
    assert "x86_64" in table

    def load(ksyms: list[tuple[str, int]]) -> tuple[dict[str, bytes] | str, list[str]]:
        layout = K.layout_for(target)
        mm, ks, console = K.ModuleMap(layout.module_base, layout.page_size), K.Ksyms(), []
        ks.add("netbsd", K.kernel_symbol_table(ksyms, layout.kernel_base))
        try:
            ko = K.kobj_load(read_module(kmod, target), target, "foo", mm, ks, console)
            K.kobj_affix(ko, "foo", mm, ks)
        except LoadError as e:
            return str(e), console
        return {kind: bytes(reg.mem) for kind, reg in ko.regions.items()}, console

    for ksyms in (KSYMS, KSYMS[:1]):            # all kernel symbols; two missing
        fast = load(ksyms)
        monkeypatch.setattr(K, "KOBJ_RELOC_TABLE", {})
        slow = load(ksyms)
        monkeypatch.setattr(K, "KOBJ_RELOC_TABLE", table)
        assert fast == slow
    assert isinstance(load(KSYMS)[0], dict) and isinstance(load(KSYMS[:1])[0], str)
