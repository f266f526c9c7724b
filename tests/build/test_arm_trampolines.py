"""Branch trampolines on arm (kmodbuild.armtramp), as NetBSD's arm link adds them.

Without them an arm module's calls reach +-32 MiB: with the simulator's
module_map 15 MiB from the kernel, two modules of 12 MiB each both passed the
check and the second failed to load ("Relocation ... too far"), as it would on
a kernel; a module of 40 MiB failed the check.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

from kmodbuild import armtramp
from tests.check.conftest import KmodBuilder
from tests.conftest import REPO, copy_tree, scons

HERE = Path(__file__).resolve().parent
CALLER = """\
#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, caller, NULL);

int caller_count;

static __attribute__((noinline)) size_t
caller_tail(const char *s)
{
	return strlen(s);		/* a tail call: R_ARM_JUMP24 */
}

static int
caller_modcmd(modcmd_t cmd, void *arg)
{
	printf("caller: init\\n");
	printf("caller: again\\n");
	caller_count += (int)caller_tail("abc");
	return cmd == MODULE_CMD_INIT || cmd == MODULE_CMD_FINI ? 0 : ENOTTY;
}
"""


def _elf(data: bytes):  # type: ignore[no-untyped-def]
    import io
    return ELFFile(io.BytesIO(data))


def test_trampolines_replace_branches_to_undefined_symbols(tmp_path: Path) -> None:
    kmod = KmodBuilder(tmp_path).build("evbarm-earmv7hf", "caller", {"caller.c": CALLER})
    before = kmod.read_bytes()
    after = armtramp.add_trampolines(before, str(kmod))
    elf = _elf(after)
    tramp = elf.get_section_by_name(".text.kmodtramp")
    assert tramp is not None and tramp["sh_flags"] & 0x6 == 0x6
    symtab = elf.get_section_by_name(".symtab")
    syms = list(symtab.iter_symbols())
    wraps = {s.name: s for s in syms if s.name.startswith("__wrap_")}
    assert set(wraps) == {"__wrap_printf", "__wrap_strlen"}     # one per function called
    w = wraps["__wrap_printf"]
    assert w["st_info"]["bind"] == "STB_LOCAL" and w["st_info"]["type"] == "STT_FUNC"
    assert tramp.data() == (bytes.fromhex("04f01fe5") + bytes(4)) * 2
    # locals first: sh_info is the first global
    first_global = symtab["sh_info"]
    assert all(s["st_info"]["bind"] == "STB_LOCAL" for s in syms[:first_global])
    assert all(s["st_info"]["bind"] != "STB_LOCAL" for s in syms[first_global:])
    # every branch to printf now goes to its trampoline; the trampoline's word to printf
    text_rel = elf.get_section_by_name(".rel.text")
    assert isinstance(text_rel, RelocationSection)
    branches = [(r["r_info_type"], syms[r["r_info_sym"]].name) for r in text_rel.iter_relocations()
                if r["r_info_type"] in armtramp.BRANCHES]
    # (a branch to the module's own caller_tail stays as it was)
    assert {name for _, name in branches} == {"__wrap_printf", "__wrap_strlen", "caller_tail"}
    assert (armtramp.R_ARM_JUMP24, "__wrap_strlen") in branches, branches
    # one trampoline per function, in the order the module's branches first call them
    old = _elf(before)
    old_syms = list(old.get_section_by_name(".symtab").iter_symbols())
    order: list[str] = []
    for r in old.get_section_by_name(".rel.text").iter_relocations():
        sym = old_syms[r["r_info_sym"]]
        if r["r_info_type"] in armtramp.BRANCHES and sym["st_shndx"] == "SHN_UNDEF" \
                and sym.name not in order:
            order.append(sym.name)
    assert sorted(order) == ["printf", "strlen"]
    tramp_rel = elf.get_section_by_name(".rel.text.kmodtramp")
    assert [(r["r_offset"], r["r_info_type"], syms[r["r_info_sym"]].name)
            for r in tramp_rel.iter_relocations()] == \
        [(8 * i + 4, armtramp.R_ARM_ABS32, name) for i, name in enumerate(order)]
    assert [wraps["__wrap_" + name]["st_value"] for name in order] == [0, 8]
    # the mapping symbols an assembler writes: ARM code at each trampoline, data at its word
    marks = sorted((s["st_value"], s.name) for s in syms
                   if s.name in ("$a", "$d") and s["st_shndx"] == elf.get_section_index(
                       ".text.kmodtramp"))
    assert marks == [(0, "$a"), (4, "$d"), (8, "$a"), (12, "$d")]
    # the module's other symbols are as they were (renumbered)
    added = {"$a", "$d"}
    assert [s.name for s in syms if not s.name.startswith("__wrap_")
            and not (s.name in added and s["st_shndx"] == elf.get_section_index(
                ".text.kmodtramp"))] == [s.name for s in old_syms]
    assert armtramp.add_trampolines(after) == after          # nothing left to wrap
    # not arm, or nothing to wrap: unchanged
    amd64 = KmodBuilder(tmp_path / "x").build("amd64", "caller", {"caller.c": CALLER})
    assert armtramp.add_trampolines(amd64.read_bytes()) == amd64.read_bytes()


def _module(tree: Path, name: str, pad_mib: int) -> None:
    d = tree / "sys" / "modules" / name
    d.mkdir()
    (d / f"{name}.c").write_text(
        (HERE / "tramp_mod" / "big.c").read_text().replace("big", name)
        .replace("PAD_MIB", str(pad_mib)))
    (d / "SConscript").write_text(f"Import('env')\nenv.KernelModule('{name}', ['{name}.c'])\n")


def test_big_arm_modules_load_through_their_trampolines(tmp_path: Path) -> None:
    """Two 12 MiB modules: the second one's calls to the kernel are over 32 MiB away."""
    tree = copy_tree(tmp_path / "t")
    for d in (tree / "sys" / "modules").iterdir():
        if (d / "SConscript").exists():
            shutil.rmtree(d)
    _module(tree, "bigone", 12)
    _module(tree, "bigtwo", 12)
    res = scons(tree, "ARCH=evbarm-earmv7hf", "-j2")
    assert "simulate: evbarm-earmv7hf 10.0: 2 modules, 2 loaded, 2 unloaded, 0 failures" \
        in res.stdout, res.stdout
    sim = subprocess.run([sys.executable, "-m", "kmodbuild", "sim", "--root",
                          str(tree / "destdir.evbarm-earmv7hf" / "stand"),
                          "--arch", "evbarm-earmv7hf", "--version", "10.0"],
                         input="modload bigone\nmodload bigtwo\nmodstat\n",
                         capture_output=True, text=True, cwd=tree,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert sim.returncode == 0, sim.stdout + sim.stderr
    assert "bigone: loaded, pad 1" in sim.stdout and "bigtwo: loaded, pad 1" in sim.stdout, \
        sim.stdout
