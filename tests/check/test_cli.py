"""``kmodbuild manifest`` and ``kmodbuild check`` end to end: real kernel and module ELF
files made with zig, exit codes, JSON schema, path inference and usage errors."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from kmodbuild import cli
from kmodbuild.elf import read_kernel
from kmodbuild.manifest import load_manifest
from kmodbuild.target import get_target
from kmodbuild.toolchain import make_toolchain
from tests.check.conftest import KmodBuilder
from tests.conftest import example_modules

KERNEL_C = r"""
void printf(const char *fmt, ...) { (void)fmt; }
int hz = 100;
const char ostype[] = "NetBSD";
static int kernel_private;
__attribute__((weak)) int weak_hook(void) { return kernel_private; }
int vfs_attach(void *vfs) { return vfs != 0; }
__asm__(".section .note.netbsd.ident,\"a\",@note\n"
        ".long 7\n.long 4\n.long 1\n.asciz \"NetBSD\"\n.p2align 2\n.long 1000000000\n"
        ".previous\n");
"""

MODULE_C = r"""
#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, NAME, NULL);

static int
NAME_modcmd(modcmd_t cmd, void *arg)
{
	if (cmd == MODULE_CMD_INIT)
		printf("%d\n", hz);
	return cmd == MODULE_CMD_INIT || cmd == MODULE_CMD_FINI ? 0 : ENOTTY;
}
"""


def module_source(name: str, extra: str = "") -> dict[str, str]:
    return {f"{name}.c": MODULE_C.replace("NAME", name) + extra}


@pytest.fixture
def kernel(tmp_path: Path) -> Path:
    """A linked amd64 'kernel' (ET_EXEC) with a NetBSD ident note."""
    tc = make_toolchain(get_target("amd64"))
    src = tmp_path / "kern.c"
    src.write_text(KERNEL_C)
    obj = tmp_path / "kern.o"
    subprocess.run(tc.compile_argv(str(src), str(obj)), check=True, capture_output=True)
    out = tmp_path / "build" / "amd64-x86_64" / "10.0" / "kernel" / "netbsd"
    out.parent.mkdir(parents=True)
    subprocess.run([*tc.ld, "-e", "0", "-o", str(out), str(obj)], check=True,
                   capture_output=True)
    return out


def test_read_kernel(kernel: Path) -> None:
    img = read_kernel(kernel)
    assert img.netbsd_version == 1000000000
    assert (img.elfclass, img.little_endian, img.e_machine) == (64, True, 62)
    names = {s.name: s for s in img.symbols}
    assert set(names) == {"printf", "hz", "ostype", "vfs_attach"}
    assert names["hz"].kind == "object" and names["hz"].size == 4
    assert names["printf"].kind == "func"


def test_manifest_then_check(kernel: Path, kmod_builder: KmodBuilder,
                             capsys: pytest.CaptureFixture[str]) -> None:
    out = kernel.parent / "netbsd.syms"
    assert cli.main(["manifest", str(kernel), "-o", str(out)]) == 0
    text = out.read_text()
    assert text.splitlines()[:5] == ["# kmodbuild kernel symbol manifest v1", "# MACHINE=amd64",
                                     "# MACHINE_ARCH=x86_64", "# VERSION=10.0",
                                     "# __NetBSD_Version__=1000000000"]
    assert "hz\tobject\t4\t-" in text.splitlines()
    assert "weak_hook" not in text and "kernel_private" not in text
    mtime = out.stat().st_mtime_ns
    assert cli.main(["manifest", str(kernel), "-o", str(out)]) == 0
    assert out.stat().st_mtime_ns == mtime          # unchanged content: not rewritten
    assert out.stat().st_mode & 0o777 == 0o644     # as the build's netbsd.syms (was 0600)
    assert cli.main(["manifest", str(kernel)]) == 0
    assert capsys.readouterr().out == text
    m = load_manifest(out)
    assert set(m.symbols) == {"printf", "hz", "ostype", "vfs_attach"}

    good = kmod_builder.build("amd64", "good", module_source("good"))
    bad = kmod_builder.build("amd64", "bad", module_source(
        "bad", "int weak_hook(void);\nint bad_use(void) { return weak_hook(); }\n"))
    code = cli.main(["check", "--manifest", str(out), str(good), str(bad)])
    assert code == 1
    assert capsys.readouterr().out.splitlines() == [f"{bad}: needs unknown symbol weak_hook"]
    assert cli.main(["check", "--manifest", str(out), str(good)]) == 0
    assert capsys.readouterr().out == ""


def test_manifest_found_next_to_build_tree(kernel: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["manifest", str(kernel), "-o", str(kernel.parent / "netbsd.syms")]) == 0
    b = KmodBuilder(tmp_path / "build" / "amd64-x86_64" / "10.0")
    b.build("amd64", "typo", module_source("typo", "int vfs_atach(void *);\n"
                                                   "int typo_f(void) { return vfs_atach(0); }\n"))
    code = cli.main(["check", str(tmp_path / "build" / "amd64-x86_64" / "10.0" / "modules")])
    captured = capsys.readouterr()
    assert code == 1
    assert "using kernel symbol manifest" in captured.err
    assert captured.out.endswith(": needs unknown symbol vfs_atach (did you mean "
                                 "vfs_attach?)\n")


def test_manifest_found_for_an_installed_tree(built_tree, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # stand/<MACHINE>/<VERSION>/modules gets the manifest of the build beside it, and the
    # evbarm tree of build.sh's destdir.evbarm-earmv7hf the one of its own target
    monkeypatch.chdir(built_tree.root / "sys")          # not found through the cwd
    for where, key in (("stand/amd64/10.0/modules", "amd64-x86_64"),
                       ("stand/evbarm/10.0/modules", "evbarm-aarch64"),
                       ("destdir.evbarm-earmv7hf/stand/evbarm/10.0/modules",
                        "evbarm-earmv7hf")):
        assert cli.main(["check", str(built_tree.root / where)]) == 0, where
        err = capsys.readouterr().err
        assert err == f"kmodbuild check: using kernel symbol manifest " \
                      f"{built_tree.manifest(key)}\n", where


def test_a_tree_of_several_targets_is_checked_target_by_target(
        built_tree, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # build/ holds every target's modules: each lot against its own kernel's manifest
    # (not every module against the first one's, with a machine error each)
    assert cli.main(["check", "--format", "json", str(built_tree.root / "build")]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["modules"] == 8 * len(example_modules())
    used = [ln for ln in captured.err.splitlines() if "using kernel symbol manifest" in ln]
    assert len(used) == 8 and "evbmips-mips64eb" in captured.err
    assert cli.main(["check", "--cache", str(tmp_path / "c"),
                     str(built_tree.root / "build")]) == 2
    assert "the paths hold modules of 8 targets or versions" in capsys.readouterr().err


def test_json_report(kmod_builder: KmodBuilder, tmp_path: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:
    kmod_builder.build("amd64", "j1", module_source("j1"))
    kmod_builder.build("amd64", "j2", module_source("j2", "int nope(void);\n"
                                                          "int j2_f(void) { return nope(); }\n"))
    m = tmp_path / "k.syms"
    m.write_text("# kmodbuild kernel symbol manifest v1\n# MACHINE=amd64\n"
                 "# MACHINE_ARCH=x86_64\n# VERSION=10.0\n# __NetBSD_Version__=1000000000\n"
                 "hz\tobject\t4\t-\nprintf\tfunc\t0\t-\n")
    code = cli.main(["check", "--format", "json", "--manifest", str(m),
                     str(kmod_builder.modules_dir)])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert doc["version"] == 1 and doc["modules"] == 2
    assert doc["errors"] == 1 and doc["warnings"] == 0
    assert doc["diagnostics"] == [{
        "severity": "error", "path": str(kmod_builder.modules_dir / "j2" / "j2.kmod"),
        "rule": "undefined-symbol", "message": "needs unknown symbol nope", "symbol": "nope",
        "hint": None}]


def test_stand_tree_gives_target_and_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)         # no build/ here or beside the tree: no manifest
    stand = tmp_path / "stand" / "amd64" / "10.0"
    b = KmodBuilder(stand)
    b.build("amd64", "old", module_source("old"), version="9.0")
    b.build("amd64", "fine", module_source("fine"))
    code = cli.main(["check", str(tmp_path / "stand")])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == (f"{stand / 'modules' / 'old' / 'old.kmod'}: module `old' built for "
                            f"`900000000', system `1000000000' (built for 9.0, kernel is 10.0; "
                            f"rebuild it (or load with modload -f))\n")
    assert "no kernel symbol manifest" in captured.err
    # The same tree seen as another target: every module is for the wrong machine.
    code = cli.main(["check", "--arch", "i386", str(stand / "modules" / "fine")])
    assert code == 1
    assert "linker error: unsupported machine 62" in capsys.readouterr().out


def test_format_errors_are_reported_not_raised(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.kmod"
    junk.write_text("not elf\n")
    empty = tmp_path / "empty.kmod"
    empty.write_bytes(b"")
    assert cli.main(["check", "--arch", "amd64", str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{empty}: linker error: not an ELF object", f"{junk}: linker error: not an ELF object"]


@pytest.mark.parametrize("argv,needle", [
    (["check", "/nonexistent/x.kmod"], "/nonexistent/x.kmod: no such file or directory"),
    (["check", "--arch", "vax", "."], "unknown target 'vax'"),
    (["check", "--version", "10", "."], "invalid VERSION '10'"),
])
def test_usage_errors_exit_2(argv: list[str], needle: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    assert needle in capsys.readouterr().err


def test_empty_directory_and_contradiction(tmp_path: Path, kmod_builder: KmodBuilder,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert cli.main(["check", str(tmp_path / "empty")]) == 2
    assert "no .kmod files" in capsys.readouterr().err
    k = kmod_builder.build("amd64", "c1", module_source("c1"))
    m = tmp_path / "k.syms"
    m.write_text("# kmodbuild kernel symbol manifest v1\n# MACHINE=amd64\n"
                 "# MACHINE_ARCH=x86_64\n# VERSION=10.0\n# __NetBSD_Version__=1000000000\n")
    assert cli.main(["check", "--arch", "i386", "--manifest", str(m), str(k)]) == 2
    assert "contradicts the manifest" in capsys.readouterr().err
    bad = tmp_path / "bad.syms"
    bad.write_text("# kmodbuild kernel symbol manifest v1\n# MACHINE=amd64\n")
    assert cli.main(["check", "--manifest", str(bad), str(k)]) == 2     # not a finding
    assert capsys.readouterr().err.strip() == (f"kmodbuild check: {bad}:3: missing header line "
                                               f"'# MACHINE_ARCH=...' before the first symbol")


def test_bad_kernel_for_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "netbsd"
    f.write_text("text")
    assert cli.main(["manifest", str(f)]) == 2
    assert capsys.readouterr().err.strip() == f"kmodbuild manifest: {f}: not an ELF object"


@pytest.mark.skipif(shutil.which("readelf") is None, reason="GNU readelf not installed")
def test_kernel_symbols_agree_with_readelf(kernel: Path) -> None:
    out = subprocess.run(["readelf", "-sW", str(kernel)], capture_output=True, text=True,
                         check=True).stdout
    ref = set()
    for line in out.splitlines():
        f = line.split()
        if len(f) == 8 and f[4] == "GLOBAL" and f[6] != "UND" and f[3] in ("FUNC", "OBJECT",
                                                                            "NOTYPE"):
            ref.add(f[7])
    assert {s.name for s in read_kernel(kernel).symbols} == ref


def test_result_cache(tmp_path: Path, kmod_builder: KmodBuilder,
                      capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import time

    from kmodbuild import cmd_check

    a = kmod_builder.build("amd64", "ca", module_source("ca"))
    b = kmod_builder.build("amd64", "cb", module_source("cb", "int nope(void);\n"
                                                              "int cb_f(void) { return nope(); }\n"))
    junk = kmod_builder.modules_dir / "junk" / "junk.kmod"
    junk.parent.mkdir()
    junk.write_text("junk")
    m = tmp_path / "k.syms"
    m.write_text("# kmodbuild kernel symbol manifest v1\n# MACHINE=amd64\n"
                 "# MACHINE_ARCH=x86_64\n# VERSION=10.0\n# __NetBSD_Version__=1000000000\n"
                 "hz\tobject\t4\t-\nprintf\tfunc\t0\t-\n")
    old = time.time() - 100            # older than the cache's "racily clean" window
    for f in (a, b, junk, m):
        os.utime(f, (old, old))
    cache = tmp_path / "check.cache"
    argv = ["check", "--cache", str(cache), "--manifest", str(m), str(kmod_builder.modules_dir)]
    expected = [f"{b}: needs unknown symbol nope", f"{junk}: linker error: not an ELF object"]
    assert cli.main(argv) == 1           # cold: reads everything, fills the cache
    assert capsys.readouterr().out.splitlines() == expected
    assert cache.exists()
    real_read = cmd_check.read_module

    def no_read(*a: object, **kw: object) -> None:
        raise AssertionError("a warm run must not read modules")
    monkeypatch.setattr(cmd_check, "read_module", no_read)
    for _ in range(2):                   # warm: the stored report
        assert cli.main(argv) == 1
        assert capsys.readouterr().out.splitlines() == expected
    monkeypatch.setattr(cmd_check, "read_module", real_read)
    # A changed manifest invalidates the stored report but not the module entries.
    m.write_text(m.read_text().replace("printf", "nope\tfunc\t0\t-\nprintf"))
    os.utime(m, (old, old + 1))
    assert cli.main(argv) == 1
    cap = capsys.readouterr()
    assert cap.out.splitlines() == expected[1:], cap.err
    # A changed module is read again.
    junk.unlink()
    assert cli.main(argv) == 0
    assert capsys.readouterr().out == ""
    # A damaged cache is ignored and rewritten.
    cache.write_bytes(b"garbage")
    assert cli.main(argv) == 0
