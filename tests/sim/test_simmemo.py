"""The build's memo of its simulation (kmodbuild.simmemo): the last answer is taken
again only where an edit changed bytes the simulation provably never read.

Real modules compiled with the project toolchain; their modcmds run under
unicorn.  A module's *holes* are code that never ran and was never read; an
edit inside them keeps the answer, any other edit (code that runs, code read as
data, a moved layout) does not.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from kmodbuild import simmemo
from kmodbuild.elf import read_module
from kmodbuild.simvalidate import validate_tree
from kmodbuild.target import NetBSDVersion, get_target
from tests.conftest import BuiltTree, copy_tree, scons
from tests.emulate.conftest import compile_module, unicorn_or_skip

TARGET = get_target("amd64")
VERSION = NetBSDVersion.parse("10.0")
KEY = "amd64-x86_64"

#: A module with a function modcmd never calls (``memotest_idle``) and one it reads
#: as data when PEEK is set (``memotest_peek``).
SOURCE = """\
#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, memotest, NULL);

int memotest_idle(int);
int memotest_peek(int);

int
memotest_idle(int x)
{
	int r = x;
	for (int k = 0; k < 9; k++)
		r = (r << 3) ^ (r >> 5);
	return r & @IDLE@;
}

int
memotest_peek(int x)
{
	int r = x;
	for (int k = 0; k < 7; k++)
		r = (r << 5) ^ (r >> 3) ^ k;
	return r * 0x7654321;
}

static int
memotest_modcmd(modcmd_t cmd, void *arg)
{
	switch (cmd) {
	case MODULE_CMD_INIT:
		if (@PEEK@ && ((const volatile unsigned char *)memotest_peek)[4] == 0x5a)
			printf("memotest: peeked\\n");
		printf("memotest: up %d\\n", @INIT@);
		return 0;
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
"""


def source(idle: int = 0x1234567, init: int = 1, peek: int = 0) -> str:
    return (SOURCE.replace("@IDLE@", hex(idle)).replace("@INIT@", str(init))
            .replace("@PEEK@", str(peek)))


class Built:
    """One variant of memotest installed alone in a stand tree, and its simulation."""

    def __init__(self, root: Path, manifest: Path, text: str, target: Any = TARGET) -> None:
        self.root, self.target = root, target
        mdir = root / "stand" / target.kmodulearchdir / VERSION.osrelease / "modules" \
            / "memotest"
        mdir.mkdir(parents=True)
        src = root / "memotest.c"
        src.write_text(text)
        self.kmod = mdir / "memotest.kmod"
        compile_module(target, src, self.kmod, root)
        self.manifest = manifest
        self.module = read_module(str(self.kmod), target)

    def simulate(self) -> tuple[simmemo.TextCoverage, object]:
        coverage = simmemo.TextCoverage()
        modules: dict[str, object] = {}

        def reader(path: str, target: object) -> object:
            return modules.setdefault(path, self.module)

        result = validate_tree(self.root / "stand", self.target, VERSION, self.manifest,
                               reader=reader, coverage=coverage)  # type: ignore[arg-type]
        assert result.ok, result.failures
        return coverage, result

    def symbol_range(self, name: str) -> tuple[int, int]:
        """The file range of function ``name``."""
        sym = next(s for s in self.module.symbols if s.name == name)
        sec = self.module.sections[sym.shndx]
        return sec.offset + sym.value, sec.offset + sym.value + sym.size


@pytest.fixture(scope="module")
def variants(built_tree: BuiltTree, tmp_path_factory: pytest.TempPathFactory):
    unicorn_or_skip()
    base = tmp_path_factory.mktemp("memo")

    made: dict[tuple[str, str], Built] = {}

    def make(name: str, target: str = "amd64", **kw: int) -> Built:
        """Variant ``name`` (the same name is the same variant: compiled once)."""
        if (target, name) not in made:
            t = get_target(target)
            made[target, name] = Built(base / target / name, built_tree.manifest(t.key),
                                       source(**kw), t)
        return made[target, name]
    return make


def test_holes_are_code_that_never_ran(variants) -> None:
    a = variants("a")
    coverage, _ = a.simulate()
    keep = simmemo.keep_mask(a.module, coverage)
    assert len(keep) == len(a.module.image)
    lo, hi = a.symbol_range("memotest_idle")
    assert keep[lo:hi].count(0) > (hi - lo) // 2       # most of it: never run, never read
    lo, hi = a.symbol_range("memotest_modcmd")
    assert keep[lo:hi].count(0) == 0                    # run: kept
    for s in a.module.sections:                         # only text has holes
        if s.size and not s.flags & 0x4 and s.type != 8:    # SHF_EXECINSTR, SHT_NOBITS
            assert keep[s.offset:s.offset + s.size].count(0) == 0, s.name
    assert keep[:64].count(0) == 0                      # the ELF header


def test_coverage_hooks_only_module_space(variants, monkeypatch) -> None:
    """The recording hooks cover the modules' 4 GiB and nothing else: on a 64-bit port
    that range ends past 2**64, and a bound that wrapped around made unicorn call the
    hooks for every block of the kernel's code and every load from the stack."""
    from kmodbuild.emulate import cpu as cpumod
    from kmodbuild.emulate import machine as mach
    ranges: list[tuple[int, int, int]] = []
    blocks: list[tuple[int, int]] = []
    hook, touch_block = cpumod.Cpu._hook, mach.Machine._touch_block

    def spy_hook(self: object, kind: int, fn: object, begin: int = 1, end: int = 0) -> int:
        ranges.append((kind, begin, end))
        return hook(self, kind, fn, begin, end)

    def spy_block(self: mach.Machine, address: int, size: int) -> None:
        blocks.append((address, self.module_base))
        touch_block(self, address, size)

    monkeypatch.setattr(cpumod.Cpu, "_hook", spy_hook)
    monkeypatch.setattr(mach.Machine, "_touch_block", spy_block)
    coverage, _ = variants("a").simulate()
    assert blocks and coverage.by_kobj                # the module's text was recorded
    assert not [hex(a) for a, base in blocks if a < base]
    assert all(begin <= end < 1 << 64 for _, begin, end in ranges if begin > 1), ranges
    assert mach._module_space_end(0xffffffff81000000) == (1 << 64) - 1
    assert mach._module_space_end(0xc1000000) == 0xc1000000 + (1 << 32) - 1


def test_an_edit_in_a_hole_keeps_the_digest_any_other_does_not(variants) -> None:
    a = variants("a2")
    coverage, _ = a.simulate()
    keep = simmemo.keep_mask(a.module, coverage)
    digest = simmemo.masked_digest(a.module.image, keep)
    idle = variants("idle", idle=0x7654321)             # never runs: the same outside holes
    assert idle.module.image != a.module.image
    assert len(idle.module.image) == len(a.module.image)
    assert simmemo.masked_digest(idle.module.image, keep) == digest
    init = variants("init", init=77)                    # runs at INIT
    assert len(init.module.image) == len(a.module.image)
    assert simmemo.masked_digest(init.module.image, keep) != digest


#: ports whose emulation records which text it ran and read (Machine.record_text)
COVERED = ["amd64", "i386", "evbarm-aarch64", "evbarm-earmv7hf", "riscv-riscv64",
           "evbppc-powerpc"]


@pytest.mark.parametrize("target", COVERED)
def test_text_read_as_data_is_kept(variants, target: str) -> None:
    """modcmd reads a byte of memotest_peek's code: a guest load from text counts as a
    read, so that byte (and its neighbours) is no hole; without that read, the bytes
    of a function nothing calls are holes, and an edit there keeps the digest while
    one of modcmd does not -- on every port that records coverage."""
    plain = variants("plain", target)
    peek = variants("peek", target, peek=1)
    for built, kept in ((plain, False), (peek, True)):
        coverage, _ = built.simulate()
        assert coverage.unsupported is None
        keep = simmemo.keep_mask(built.module, coverage)
        lo, _ = built.symbol_range("memotest_peek")
        assert (keep[lo + 4] == 0xFF) is kept
    coverage, _ = plain.simulate()
    keep = simmemo.keep_mask(plain.module, coverage)
    lo, hi = plain.symbol_range("memotest_modcmd")
    assert keep[lo:hi].count(0) == 0
    digest = simmemo.masked_digest(plain.module.image, keep)
    idle = variants("idle", target, idle=0x7654321)
    init = variants("init", target, init=77)
    for other, same in ((idle, True), (init, False)):
        if len(other.module.image) == len(plain.module.image):
            assert (simmemo.masked_digest(other.module.image, keep) == digest) is same


@pytest.mark.parametrize("target", ["sparc64", "evbmips-mips64eb"])
def test_ports_that_read_text_themselves_record_no_holes(variants, target: str) -> None:
    coverage, _ = variants("plain", target).simulate()
    assert coverage.unsupported


def test_no_holes_where_the_port_reads_text_itself(variants) -> None:
    a = variants("a3")
    coverage, _ = a.simulate()
    coverage.unsupported = "mips64: text is scanned for straight runs"
    assert simmemo.keep_mask(a.module, coverage).count(0) == 0


# --------------------------------------------------------------------------- the build

MEMO = Path("build") / KEY / "10.0" / "simulate.txt.memo"
STREAM = {"KMOD_SIMSTREAM": "1"}        # the example tree is small: stream anyway


def _edit(tree: Path, old: str, new: str) -> None:
    src = tree / "sys/modules/memotest/memotest.c"
    text = src.read_text()
    assert old in text
    src.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example tree plus memotest, built with a streamed simulation (so with a memo)."""
    unicorn_or_skip()
    root = copy_tree(tmp_path_factory.mktemp("memotree"))
    mod = root / "sys/modules/memotest"
    mod.mkdir()
    (mod / "memotest.c").write_text(source())
    (mod / "SConscript").write_text("Import('env')\nenv.KernelModule('memotest', "
                                    "['memotest.c'])\n")
    scons(root, "ARCH=amd64", env=STREAM)
    assert (root / MEMO).is_file()
    return root


def _fresh_summary(root: Path) -> str:
    return validate_tree(root / "stand", TARGET, VERSION,
                         root / "build" / KEY / "10.0/kernel/netbsd.syms").summary()


def test_the_build_reuses_the_answer_after_an_edit_of_code_that_never_runs(tree: Path) -> None:
    memo = tree / MEMO
    before = memo.stat().st_mtime_ns
    _edit(tree, hex(0x1234567), hex(0x1234765))
    out = scons(tree, "ARCH=amd64", env=STREAM).stdout            # a quick build
    assert "memotest.kmod" in out
    installed = tree / "stand/amd64/10.0/modules/memotest/memotest.kmod"
    assert installed.read_bytes() == (tree / "build" / KEY / "10.0/modules/memotest/"
                                      "memotest.kmod").read_bytes()
    assert memo.stat().st_mtime_ns == before                      # taken, not remade
    summary = _fresh_summary(tree)
    assert f"simulate: {summary}\n" in out
    assert (tree / "build" / KEY / "10.0/simulate.txt").read_text() == summary + "\n"
    # through SCons's graph (VERBOSE=1) too, where it says so
    _edit(tree, hex(0x1234765), hex(0x1234576))
    out = scons(tree, "ARCH=amd64", "VERBOSE=1", env=STREAM).stdout
    assert "simulate: the last simulation's answer holds (kmodbuild.simmemo)" in out
    assert f"simulate: {summary}\n" in out


def test_an_edit_of_code_that_runs_is_simulated(tree: Path) -> None:
    memo = tree / MEMO
    before = memo.read_text()
    _edit(tree, 'printf("memotest: up %d\\n", 1)', 'printf("memotest: up %d\\n", 2)')
    out = scons(tree, "ARCH=amd64", "VERBOSE=1", env=STREAM).stdout
    assert "simulate: the last answer does not hold: " in out
    assert "memotest.kmod changed where the simulation read it" in out
    assert "simulate: streamed" in out
    assert memo.read_text() != before                             # the new answer's memo
    assert f"simulate: {_fresh_summary(tree)}\n" in out


def test_what_else_the_memo_is_checked_against(tree: Path) -> None:
    """Each input the answer came from: the memo is refused when any differs."""
    memo = tree / MEMO
    built = {p.parent.name: str(p) for p in
             (tree / "build" / KEY / "10.0/modules").glob("*/*.kmod")}
    manifest = tree / "build" / KEY / "10.0/kernel/netbsd.syms"

    def why() -> str:
        result, reason = simmemo.reuse(memo, tree / "stand", TARGET, VERSION, manifest, built)
        assert (result is None) == bool(reason)
        return reason

    assert why() == ""
    saved = memo.read_text()
    data = json.loads(saved)
    memo.write_text(json.dumps(dict(data, identity="another")))
    assert why() == "made by another simulator"
    memo.write_text(saved)
    hello = tree / "stand/amd64/10.0/modules/hello/hello.kmod"
    kept = hello.read_bytes()
    os.chmod(hello, 0o644)
    hello.write_bytes(kept[:-1] + bytes([kept[-1] ^ 1]))
    assert "hello.kmod is not a copy of" in why()
    hello.write_bytes(kept)
    assert why() == ""                                  # compared again: a copy
    plist = tree / "stand/amd64/10.0/modules/memotest/memotest.plist"
    plist.write_text("<plist/>\n")
    assert why() == f"{plist} changed"
    plist.unlink()
    assert why() == ""
    del built["hello"]
    assert why() == "the module list changed"
    os.utime(manifest)
    assert why() == "the kernel manifest changed"


def test_kmod_simmemo_0_turns_it_off(tree: Path) -> None:
    """No reuse, and no memo is kept (the stream records nothing to make one of)."""
    _edit(tree, hex(0x1234576), hex(0x1234675))
    out = scons(tree, "ARCH=amd64", "VERBOSE=1", env={**STREAM, "KMOD_SIMMEMO": "0"}).stdout
    assert "answer holds" not in out and "simulate: streamed" in out
    assert not (tree / MEMO).exists()
    assert f"simulate: {_fresh_summary(tree)}\n" in out
