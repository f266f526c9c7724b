"""``kmodbuild check --flavor linux`` and ``python -m kmodbuild.linux`` end to end."""
from __future__ import annotations

import json
import os
import stat
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kmodbuild.cli import main
from tests.linux.conftest import KoBuilder, KoSpec, old_mtime

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tree(ko_builder: KoBuilder, tmp_path: Path) -> tuple[Path, Path]:
    moddir = tmp_path / "lib" / "modules" / "1.0"
    ko_builder(moddir / "kernel" / "lib.ko", KoSpec(exports={"lib_fn": 5}))
    ko_builder(moddir / "kernel" / "user.ko",
               KoSpec(imports=["lib_fn", "kfn", "missing_fn"],
                      versions=[("lib_fn", 5), ("kfn", 0x99), ("missing_fn", 1)]))
    (moddir / "modules.order").write_text("kernel/lib.ko\nkernel/user.ko\n")
    symvers = tmp_path / "Module.symvers"
    symvers.write_text("0x00000098\tkfn\tvmlinux\tEXPORT_SYMBOL\t\n"
                       "0x00000001\tmissing_fn\tdrivers/other\tEXPORT_SYMBOL\t\n")
    old_mtime(*moddir.rglob("*.ko"), symvers)
    return moddir, symvers


def check(*argv: str) -> list[str]:
    return ["check", "--flavor", "linux", *argv]


def test_text_report_and_exit_status(tree: tuple[Path, Path],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    moddir, symvers = tree
    assert main(check("--symvers", str(symvers), str(moddir))) == 1
    out = capsys.readouterr().out.splitlines()
    user = f"{moddir}/kernel/user.ko"
    assert out == [
        f"{user}: disagrees about version of symbol kfn (module expects 0x00000099, vmlinux "
        "has 0x00000098)",
        f"{user}: needs unknown symbol missing_fn (Module.symvers says drivers/other exports "
        "it; that module is not among those checked)"]


def test_clean_tree_exits_0_and_writes_modules_dep(tree: tuple[Path, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    moddir, symvers = tree
    symvers.write_text("0x99\tkfn\tvmlinux\tE\t\n0x1\tmissing_fn\tvmlinux\tE\t\n")
    dep = tmp_path / "modules.dep"
    assert main(check("--symvers", str(symvers), "--write-dep", str(dep), str(moddir))) == 0
    assert capsys.readouterr().out == ""
    assert dep.read_text() == "kernel/lib.ko:\nkernel/user.ko: kernel/lib.ko\n"


def test_write_dep_to_standard_output(tree: tuple[Path, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """``--write-dep -``: modules.dep on standard output (for a pipe), the report on
    standard error; no file named '-'."""
    moddir, symvers = tree
    monkeypatch.chdir(tmp_path)
    assert main(check("--symvers", str(symvers), "--write-dep", "-", str(moddir))) == 1
    got = capsys.readouterr()
    assert got.out == "kernel/lib.ko:\nkernel/user.ko: kernel/lib.ko\n"
    assert "needs unknown symbol missing_fn" in got.err
    assert not (tmp_path / "-").exists()


def test_json_report(tree: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    moddir, symvers = tree
    main(check("--symvers", str(symvers), "--format", "json", str(moddir)))
    doc = json.loads(capsys.readouterr().out)
    assert doc["modules"] == 2 and doc["errors"] == 2
    assert {d["rule"] for d in doc["diagnostics"]} == {"linux/unknown-symbol",
                                                       "linux/symbol-version"}


@pytest.mark.parametrize("fmt", ["junit", "sarif", "github"])
def test_ci_reports(tree: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
                    fmt: str) -> None:
    moddir, symvers = tree
    assert main(check("--symvers", str(symvers), "--format", fmt, str(moddir))) == 1
    out = capsys.readouterr().out
    if fmt == "junit":
        root = ET.fromstring(out)
        assert root.get("failures") == "2" and len(root.findall("testsuite")) == 2
    elif fmt == "sarif":
        assert len(json.loads(out)["runs"][0]["results"]) == 2
    else:
        assert out.count("::error file=") == 2


def test_usage_errors_exit_2(tree: tuple[Path, Path], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    moddir, symvers = tree
    assert main(check(str(tmp_path / "nowhere"))) == 2
    assert main(check("--manifest", "x.syms", str(moddir))) == 2
    assert "--manifest is for NetBSD modules" in capsys.readouterr().err


def test_unreadable_symvers_is_a_usage_error(tree: tuple[Path, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The caller's input, not a finding: exit 2, as an unreadable --manifest (exit 1 read
    as "problems found" in CI)."""
    moddir, _ = tree
    assert main(check("--symvers", str(tmp_path / "none"), str(moddir))) == 2
    err = capsys.readouterr().err
    assert "cannot read Module.symvers" in err and err.count("\n") == 1


def test_broken_module_is_reported_and_listed(tree: tuple[Path, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    moddir, symvers = tree
    (moddir / "kernel" / "junk.ko").write_bytes(b"not an elf file at all")
    dep = tmp_path / "modules.dep"
    assert main(check("--symvers", str(symvers), "--write-dep", str(dep), str(moddir))) == 1
    assert f"{moddir}/kernel/junk.ko: not a valid kernel module: not an ELF object" \
        in capsys.readouterr().out
    assert "kernel/junk.ko:\n" in dep.read_text()       # depmod lists it too


def test_links_that_lead_nowhere_are_reported_not_listed(tree: tuple[Path, Path],
                                                         tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    # depmod: "fstatat(...): No such file or directory" / "Too many levels of symbolic
    # links", and no modules.dep line; a result with such a link is never reused from the
    # cache (its target may appear while the directory stays as it was).
    moddir, symvers = tree
    (moddir / "kernel" / "dangling.ko").symlink_to("nowhere.ko")
    (moddir / "kernel" / "loop.ko").symlink_to("loop.ko")
    dep = tmp_path / "modules.dep"
    cache = tmp_path / "c.cache"
    argv = check("--symvers", str(symvers), "--write-dep", str(dep), "--cache", str(cache),
                 str(moddir))
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert f"{moddir}/kernel/dangling.ko: not a valid kernel module: cannot read: " \
        "No such file or directory" in out
    assert f"{moddir}/kernel/loop.ko: not a valid kernel module: cannot read: " \
        "Too many levels of symbolic links" in out
    assert "dangling" not in dep.read_text() and "loop" not in dep.read_text()
    shutil.copy(moddir / "kernel" / "lib.ko", moddir / "kernel" / "nowhere.ko")
    assert main(argv) == 1
    assert "kernel/dangling.ko:" in dep.read_text()

def _age(*roots: Path) -> None:
    for root in roots:
        old_mtime(root, *root.rglob("*"))


def test_lean_entry_point_and_cache(tree: tuple[Path, Path], tmp_path: Path) -> None:
    moddir, symvers = tree
    _age(moddir)
    dep = tmp_path / "modules.dep"
    env = {"PYTHONPATH": str(REPO)}

    def lean(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "kmodbuild.linux", "--symvers", str(symvers), "--cache",
                str(tmp_path / "cache"), *extra, str(moddir)]
        return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path)

    first = lean("--write-dep", str(dep))
    written = dep.read_text()
    dep.unlink()
    second = lean("--write-dep", str(dep))             # from the cache: same report, same file
    assert first.returncode == second.returncode == 1
    assert first.stdout == second.stdout and "needs unknown symbol missing_fn" in first.stdout
    assert dep.read_text() == written == "kernel/lib.ko:\nkernel/user.ko: kernel/lib.ko\n"
    # Another format, then back: each answer is a fresh run's.
    for fmt in ("json", "github", "text"):
        got = lean("--format", fmt)
        fresh = subprocess.run([sys.executable, "-m", "kmodbuild.linux", "--symvers",
                                str(symvers), "--format", fmt, str(moddir)],
                               capture_output=True, text=True, env=env, cwd=tmp_path)
        assert (got.returncode, got.stdout) == (fresh.returncode, fresh.stdout) != (0, "")
    # Spellings argparse accepts, and options the quick parser leaves to argparse.
    assert lean("-j1").stdout == first.stdout
    assert lean("--jobs=2", "--format=text").stdout == first.stdout
    assert lean("--sym", str(symvers)).stdout == first.stdout
    bad = lean("--jobs", "-1")
    assert bad.returncode == 2 and "--jobs -1" in bad.stderr


def test_cli_and_lean_entry_share_the_cache(tree: tuple[Path, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    moddir, symvers = tree
    _age(moddir)
    cache = str(tmp_path / "cache")
    assert main(check("--symvers", str(symvers), "--cache", cache, str(moddir))) == 1
    cold = capsys.readouterr().out
    from kmodbuild.linux import readers
    real = readers.read_chunk

    def no_reading(*a: object) -> object:
        raise AssertionError("a cached re-check read a module")

    readers.read_chunk = no_reading  # type: ignore[assignment]
    try:
        assert main(check("--symvers", str(symvers), "--cache", cache, str(moddir))) == 1
    finally:
        readers.read_chunk = real
    assert capsys.readouterr().out == cold


def test_stale_modinfo_depends_is_a_warning(ko_builder: KoBuilder, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    moddir = tmp_path / "m"
    ko_builder(moddir / "lib.ko", KoSpec(exports={"lib_fn": 5}))
    ko_builder(moddir / "user.ko", KoSpec(imports=["lib_fn"], versions=[("lib_fn", 5)],
                                          modinfo=["depends=ghost"]))
    assert main(check(str(moddir))) == 0            # warnings only
    out = capsys.readouterr().out
    assert (f"{moddir}/user.ko: warning: .modinfo depends=ghost differs from the modules its "
            "symbols resolve to (not provided here: ghost; not recorded: lib)") in out


def test_directory_without_modules_is_a_usage_error(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(check(str(tmp_path / "empty"))) == 2
    assert "no kernel modules" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["d"], ["a", "b"], ["--symvers", "S", "d"], ["--symvers=S", "d"], ["d", "--symvers", "S"],
    ["-j2", "d"], ["-j", "2", "d"], ["-j=2", "d"], ["--jobs=3", "d"], ["--jobs", "x", "d"],
    ["--format", "json", "d"], ["--format=sarif", "d"], ["--format", "xml", "d"],
    ["--cache", "c", "--write-dep", "w", "d"], ["a", "--cache", "c", "b"], ["--", "d"],
    ["-h"], ["--sym", "S", "d"], ["--symvers", "-x", "d"], ["--symvers"], [],
    ["--symvers", "S", "--symvers", "T", "d"], ["--cache=", "d"], ["-", "d"],
    ["--jobs", "\u00b2", "d"], ["-j\u00b2", "d"], ["--jobs=\u0663", "d"], ["-j\u0663", "d"],
])
def test_quick_parse_agrees_with_argparse(argv: list[str]) -> None:
    import argparse

    from kmodbuild.linux.command import FORMATS, add_linux_arguments, quick_parse
    p = argparse.ArgumentParser(exit_on_error=False)
    p.add_argument("paths", nargs="+")
    p.add_argument("--format", choices=FORMATS, default="text")
    add_linux_arguments(p)
    quick = quick_parse(argv)
    if quick is None:
        return                              # left to argparse
    args = p.parse_args(argv)
    assert quick == vars(args)


def test_kmodbuild_cli_takes_the_lean_path_for_plain_linux_checks(
        tree: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # kmodbuild.cli runs ``check --flavor linux`` through kmodbuild.linux.command before
    # it builds its parser, with the same output, whether or not the cache answers.
    from kmodbuild import cli
    from kmodbuild.linux.command import main as lean_main
    from kmodbuild.linux.command import quick_parse_check
    moddir, symvers = tree
    _age(moddir)
    cache = str(tmp_path / "cache")
    argv = check("--symvers", str(symvers), "--cache", cache, str(moddir))
    assert lean_main(argv[3:]) == 1
    expected = capsys.readouterr().out

    def no_parser(*a: object, **k: object) -> None:
        raise AssertionError("the parser was built")
    with monkeypatch.context() as m:
        m.setattr(cli, "build_parser", no_parser)
        for args in (argv, ["check", "--flavor=linux", *argv[3:]],
                     check("--symvers", str(symvers), str(moddir))):    # no cache
            assert cli.main(args) == 1 and capsys.readouterr().out == expected
    assert quick_parse_check(argv)
    assert not quick_parse_check(["check", *argv[3:]])                 # NetBSD flavor
    assert not quick_parse_check(["check", "--flavor", "linux", "--manifest", "x", *argv[3:]])
    assert not quick_parse_check(["sim", *argv[1:]])
    assert not quick_parse_check(["check", "--flavor", "linux", "--help"])  # argparse's


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("entry", [["kmodbuild", "check", "--flavor", "linux"],
                                   ["kmodbuild.linux"]])
def test_fifos_are_refused_not_waited_on(tree: tuple[Path, Path], tmp_path: Path,
                                         entry: list[str]) -> None:
    # Every file the check opens besides Module.symvers and plain .ko files used to be
    # opened blocking: a FIFO as --cache, --write-dep, modules.order or a compressed
    # module hung the check until something wrote to it.
    moddir, symvers = tree
    fifos = {name: tmp_path / name for name in ("cache", "modules.dep")}
    fifos["order"] = moddir / "modules.order"
    fifos["module"] = moddir / "kernel" / "pipe.ko.xz"
    fifos["order"].unlink()
    for fifo in fifos.values():
        os.mkfifo(fifo)

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", entry[0], *entry[1:], *argv],
                              capture_output=True, text=True, env={"PYTHONPATH": str(REPO)},
                              cwd=tmp_path, timeout=60)

    res = run("--jobs", "1", "--symvers", str(symvers), "--cache", str(fifos["cache"]),
              str(moddir))
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert f"{fifos['module']}: not a valid kernel module: not a regular file" in res.stdout
    assert f"cannot write the cache {fifos['cache']}: not a regular file" in res.stderr
    res = run("--symvers", str(symvers), "--write-dep", str(fifos["modules.dep"]), str(moddir))
    assert res.returncode == 2 and res.stderr == (
        f"kmodbuild check: {fifos['modules.dep']}: cannot write: a FIFO without a reader "
        "(not waited for)\n")
    res = run(str(fifos["module"]))
    assert res.returncode == 2 and res.stderr == (
        f"kmodbuild check: {fifos['module']}: not a regular file or a directory\n")
    assert all(stat.S_ISFIFO(os.lstat(f).st_mode) for f in fifos.values())    # kept


@pytest.mark.skipif(sys.platform == "darwin", reason="file names must be UTF-8 there")
@pytest.mark.parametrize("entry", [["kmodbuild", "check", "--flavor", "linux"],
                                   ["kmodbuild.linux"]])
def test_a_module_name_that_is_not_utf8(tree: tuple[Path, Path], tmp_path: Path,
                                        entry: list[str]) -> None:
    # os.listdir gives such a name with surrogateescape: modules.dep and the report used
    # to fail encoding it (UnicodeEncodeError, a traceback) -- the report only where the
    # standard streams are strict, as in every UTF-8 locale but C's.
    moddir, symvers = tree
    odd = os.path.join(os.fsencode(moddir), b"kernel", b"us\xffer.ko")
    os.rename(moddir / "kernel" / "user.ko", odd)
    dep = tmp_path / "modules.dep"
    for extra in ([], ["--cache", str(tmp_path / "cache")]):
        res = subprocess.run([sys.executable, "-m", *entry, "--jobs", "1", "--symvers",
                              str(symvers), "--write-dep", str(dep), *extra, str(moddir)],
                             capture_output=True, timeout=60, cwd=tmp_path,
                             env={"PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"})
        assert res.returncode == 1 and res.stderr == b""
        assert b"kernel/us\xffer.ko: needs unknown symbol missing_fn" in res.stdout
        assert dep.read_bytes() == b"kernel/lib.ko:\nkernel/us\xffer.ko: kernel/lib.ko\n"


@pytest.mark.parametrize("jobs", [["--jobs", "\u00b2"], ["-j\u00b2"], ["--jobs=\u2082"]])
def test_a_jobs_value_int_refuses_is_a_usage_error(tree: tuple[Path, Path], jobs: list[str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # str.isdigit() takes "²": the quick parser let it through to int(), a ValueError
    # (kmodbuild: internal error; a traceback from python -m kmodbuild.linux).
    from kmodbuild.linux.command import main as lean_main
    moddir, _ = tree
    for run in (lambda: main(check(*jobs, str(moddir))), lambda: lean_main([*jobs, str(moddir)])):
        with pytest.raises(SystemExit) as exit_:        # argparse's error
            run()
        assert exit_.value.code == 2 and "invalid int value" in capsys.readouterr().err


def test_write_dep_into_a_device_or_a_fifo_never_replaces_it(
        tree: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --write-dep /dev/null replaced the device node with a regular file (as root: the
    # system's /dev/null), by the atomic rename meant for a real modules.dep.
    moddir, symvers = tree
    null = tmp_path / "null"
    try:
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (OSError, AttributeError) as e:
        pytest.skip(f"cannot make a device node here: {e}")
    assert main(check("--symvers", str(symvers), "--write-dep", str(null), str(moddir))) == 1
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)      # a reader, there first
    try:
        assert main(check("--symvers", str(symvers), "--write-dep", str(fifo),
                          str(moddir))) == 1
        assert os.read(reader, 65536) == b"kernel/lib.ko:\nkernel/user.ko: kernel/lib.ko\n"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    capsys.readouterr()
