"""Bad input and odd moments on the command line: one clear line and an exit code, never a
traceback or a hang (Ctrl-C at start-up, FIFOs named like modules, a manifest of another
target, scenario errors without a line, help examples that must run, half-written
skeletons)."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kmodbuild import cli
from tests.conftest import REPO, BuiltTree

KEY = "amd64-x86_64"


def run_kmodbuild(*args: str, cwd: Path, timeout: float = 120,
                  stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m kmodbuild ARGS`` in ``cwd``; a hang fails the test instead of stalling it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "kmodbuild", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, input=stdin,
                          stdin=None if stdin is not None else subprocess.DEVNULL)


def one_line(text: str) -> str:
    """``text`` is exactly one line without a traceback; returns it."""
    assert "Traceback" not in text, text
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture(scope="module")
def tree(built_tree: BuiltTree, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the built example tree (build/, stand/, sys/ ...)."""
    dest = tmp_path_factory.mktemp("inputs") / "tree"
    shutil.copytree(built_tree.root, dest, symlinks=True)
    return dest


@pytest.fixture
def stand(tree: Path, tmp_path: Path) -> Path:
    """A copy of the tree's installed amd64 stand/ beside a link to its build/, to change."""
    root = tmp_path / "t"
    shutil.copytree(tree / "stand" / "amd64", root / "stand" / "amd64", symlinks=True)
    (root / "build").symlink_to(tree / "build")
    return root / "stand"


# --------------------------------------------------------------------------- 1. Ctrl-C

def _interrupt(*_args: object, **_kw: object) -> None:
    raise KeyboardInterrupt


def _main(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped cli.main (a traceback for the user)")


@pytest.mark.parametrize("argv", [["check", "x.kmod"], ["sim", "--validate"], ["--help"], []])
def test_ctrl_c_while_the_parser_is_built(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str],
                                          argv: list[str]) -> None:
    monkeypatch.setattr(cli, "build_parser", _interrupt)
    assert _main(argv) == 130
    assert capsys.readouterr().err == "kmodbuild: interrupted\n"


def test_ctrl_c_while_the_subcommand_is_imported(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import importlib
    real = importlib.import_module

    def import_module(name: str, *a: object) -> object:
        if name.startswith("kmodbuild.cmd_"):
            raise KeyboardInterrupt
        return real(name, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib, "import_module", import_module)
    assert _main(["manifest", "netbsd"]) == 130
    assert capsys.readouterr().err == "kmodbuild: interrupted\n"


def test_ctrl_c_on_the_linux_lean_path(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from kmodbuild.linux import command
    monkeypatch.setattr(command, "quick_parse_check", _interrupt)
    assert _main(["check", "--flavor", "linux", "x.ko"]) == 130
    assert capsys.readouterr().err == "kmodbuild: interrupted\n"


def test_a_real_sigint_before_the_command_runs(tmp_path: Path) -> None:
    # A real SIGINT, delivered while the parser is being built (deterministically: the
    # process sends it to itself from there), ends the process as any other Ctrl-C does.
    code = textwrap.dedent("""
        import os, signal, time
        from kmodbuild import cli
        real = cli.build_parser
        def build_parser(*a):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)               # the handler raises KeyboardInterrupt in here
            return real(*a)
        cli.build_parser = build_parser
        raise SystemExit(cli.main(["check", "--help"]))
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=60, cwd=tmp_path)
    assert res.returncode == 130, res.stderr
    assert res.stderr == "kmodbuild: interrupted\n"
    assert signal.SIGINT == 2   # (the unfixed CLI died by the signal: returncode -2)


# --------------------------------------------------------------------------- 2. FIFOs

def test_check_reports_a_fifo_named_kmod(stand: Path) -> None:
    mods = stand / "amd64" / "10.0" / "modules"
    os.mkfifo(mods / "hello" / "x.kmod")
    res = run_kmodbuild("check", str(mods), cwd=stand.parent, timeout=60)
    assert res.returncode == 1
    assert res.stdout == f"{mods / 'hello' / 'x.kmod'}: not a regular file\n"
    assert "Traceback" not in res.stderr
    # named on its own, too
    res = run_kmodbuild("check", str(mods / "hello" / "x.kmod"), cwd=stand.parent, timeout=60)
    assert res.returncode == 1 and "x.kmod: not a regular file" in res.stdout


def test_sim_does_not_open_fifos(stand: Path) -> None:
    mods = stand / "amd64" / "10.0" / "modules"
    (mods / "fifo").mkdir()
    os.mkfifo(mods / "fifo" / "fifo.kmod")
    os.mkfifo(mods / "hello" / "hello.plist")
    res = run_kmodbuild("sim", "--root", str(stand), "--no-emulate", "--validate",
                        cwd=stand.parent, timeout=60)
    assert "Traceback" not in res.stderr
    res = run_kmodbuild("sim", "--root", str(stand), "--no-emulate", cwd=stand.parent,
                        timeout=60, stdin="modload fifo\nmodload hello\n")
    assert res.returncode == 0, res.stderr
    assert "[%M/fifo/fifo.kmod]: linker error: not a regular file" in res.stdout
    assert "modload: fifo: Exec format error" in res.stdout
    assert "modload: hello: Invalid argument" in res.stdout      # its plist: not a file


def test_manifest_of_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "netbsd")
    res = run_kmodbuild("manifest", "netbsd", cwd=tmp_path, timeout=60)
    assert res.returncode == 2          # an input the user named: a usage error (exit 1 = findings)
    assert one_line(res.stderr) == "kmodbuild manifest: netbsd: not a regular file"


def test_manifest_output_that_is_a_fifo(tree: Path, tmp_path: Path) -> None:
    kernel = tree / "build" / KEY / "10.0" / "kernel" / "netbsd"
    os.mkfifo(tmp_path / "out.syms")
    res = run_kmodbuild("manifest", str(kernel), "-o", "out.syms", cwd=tmp_path, timeout=60)
    assert res.returncode == 1
    assert one_line(res.stderr) == "out.syms: cannot write manifest: not a regular file"


# --------------------------------------------------------------------------- 3. manifest --arch

def test_manifest_refuses_an_image_of_another_target(tree: Path, tmp_path: Path) -> None:
    kernel = tree / "build" / KEY / "10.0" / "kernel" / "netbsd"
    out = tmp_path / "out.syms"
    res = run_kmodbuild("manifest", str(kernel), "--arch", "sparc64", "--version", "9.0",
                        "-o", str(out), cwd=tmp_path)
    assert res.returncode == 2
    line = one_line(res.stderr)
    assert line.startswith(f"kmodbuild manifest: {kernel}: an image of x86-64, ELF64 "
                           "little-endian, not of sparc64 (SPARC V9, ELF64 big-endian)"), line
    assert "its target is amd64" in line
    assert not out.exists()
    # the class counts too: i386 and amd64 are both little-endian x86
    res = run_kmodbuild("manifest", str(kernel), "--arch", "i386", "-o", str(out),
                        cwd=tmp_path)
    assert res.returncode == 2 and "not of i386" in one_line(res.stderr)
    assert not out.exists()
    # the right target still works
    res = run_kmodbuild("manifest", str(kernel), "--arch", "amd64", "-o", str(out),
                        cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "# MACHINE=amd64" in out.read_text()


def test_manifest_abi_file_that_is_a_directory(tree: Path, tmp_path: Path) -> None:
    kernel = tree / "build" / KEY / "10.0" / "kernel" / "netbsd"
    res = run_kmodbuild("manifest", str(kernel), "--abi", str(tmp_path), "-o",
                        str(tmp_path / "o.syms"), cwd=tmp_path)
    assert res.returncode == 1
    assert one_line(res.stderr) == (f"{tmp_path}: cannot write the ABI descriptions (--abi): "
                                    "Is a directory")
    assert not (tmp_path / "o.syms").exists()


# --------------------------------------------------------------------------- 4. sim --manifest

@pytest.fixture
def sparc_manifest(tree: Path, tmp_path: Path) -> Path:
    text = (tree / "build" / KEY / "10.0" / "kernel" / "netbsd.syms").read_text()
    for old, new in (("MACHINE=amd64", "MACHINE=sparc64"), ("MACHINE_ARCH=x86_64",
                                                               "MACHINE_ARCH=sparc64"),
                     ("VERSION=10.0", "VERSION=9.0"),
                     ("__NetBSD_Version__=1000000000", "__NetBSD_Version__=900000000")):
        assert f"# {old}\n" in text
        text = text.replace(f"# {old}\n", f"# {new}\n", 1)
    path = tmp_path / "sparc9.syms"
    path.write_text(text)
    return path


def test_sim_refuses_a_manifest_of_another_kernel(tree: Path, sparc_manifest: Path) -> None:
    m = str(sparc_manifest)
    res = run_kmodbuild("sim", "--root", "stand", "--manifest", m, "--validate",
                        "--no-emulate", cwd=tree)
    assert res.returncode == 2
    assert one_line(res.stderr) == (
        "kmodbuild sim: stand/sparc64/9.0/modules: no such directory (installed here: "
        + ", ".join(sorted(f"{p.parent.parent.name}/{p.parent.name}"
                           for p in (tree / "stand").glob("*/*/modules")))
        + f"; sparc64 9.0 is the kernel of the manifest {m})")
    for opts, what in ((["--version", "10.0"], "--version 10.0 contradicts the manifest "
                        f"{m} (VERSION 9.0)"),
                       (["--arch", "amd64"], f"--arch amd64 contradicts the manifest {m} "
                        "(MACHINE=sparc64 MACHINE_ARCH=sparc64)"),
                       (["--machine", "amd64"],
                        f"--machine amd64 contradicts the manifest {m} "
                        "(MACHINE=sparc64 MACHINE_ARCH=sparc64)")):
        for extra in (["--validate"], []):
            res = run_kmodbuild("sim", "--root", "stand", "--manifest", m, *opts, *extra,
                                "--no-emulate", cwd=tree, stdin="modstat\n")
            assert res.returncode == 2, (opts, res.stderr)
            assert one_line(res.stderr) == f"kmodbuild sim: {what}"


def test_sim_version_against_the_build_manifest(tree: Path) -> None:
    m = f"build/{KEY}/10.0/kernel/netbsd.syms"
    # (with --validate the missing stand/amd64/10.99.10 is said first: see
    # tests/sim/test_cli_validate.py)
    res = run_kmodbuild("sim", "--root", "stand", "--manifest", m, "--version", "10.99.10",
                        "--no-emulate", cwd=tree, stdin="modstat\n")
    assert res.returncode == 2
    assert one_line(res.stderr) == (f"kmodbuild sim: --version 10.99.10 contradicts the "
                                    f"manifest {m} (VERSION 10.0)")
    res = run_kmodbuild("sim", "--root", "stand", "--manifest", m, "--validate",
                        "--no-emulate", cwd=tree)
    assert res.returncode == 0, res.stderr


# --------------------------------------------------------------------------- 5. scenarios

def test_unknown_errno_in_expect_has_file_and_line(tree: Path, tmp_path: Path) -> None:
    scn = tmp_path / "one.scn"
    scn.write_text("expect error ENOTANERRNO\n")
    res = run_kmodbuild("sim", "--root", "stand", "--version", "10.0", "--no-emulate",
                        "--script", str(scn), cwd=tree)
    assert res.returncode == 1
    assert one_line(res.stderr) == f"{scn}:1: unknown errno 'ENOTANERRNO'"
    # said when the file is read: nothing ran before it
    scn.write_text("modload hello\nmodstat\nexpect error EBOGUS\n")
    res = run_kmodbuild("sim", "--root", "stand", "--version", "10.0", "--no-emulate",
                        "--script", str(scn), cwd=tree)
    assert res.returncode == 1 and res.stdout == ""
    assert one_line(res.stderr) == f"{scn}:3: unknown errno 'EBOGUS'"


def test_parse_scenario_checks_errno_names() -> None:
    from kmodbuild.scenario import ScenarioError, parse_scenario
    with pytest.raises(ScenarioError) as e:
        parse_scenario("modstat\n\nexpect error ENOPE\n", "s.scn")
    assert str(e.value) == "s.scn:3: unknown errno 'ENOPE'"
    ok = parse_scenario("modstat\nexpect error EBUSY\nexpect error 16\nexpect error\n", "s")
    assert [c[2] for c in ok.lines[1].checks] == ["EBUSY", "16", ""]


def test_boot_cfg_that_is_not_text_or_not_a_file(tree: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.cfg").write_bytes(b"\xff\xfe\n")
    os.mkfifo(tmp_path / "fifo.cfg")
    for cfg, why in (("bad.cfg", "not UTF-8 text (byte 0)"), ("fifo.cfg", "not a regular file")):
        scn = tmp_path / "boot.scn"
        scn.write_text(f"boot cfg={cfg}\n")
        res = run_kmodbuild("sim", "--root", str(tree / "stand"), "--version", "10.0",
                            "--no-emulate", "--script", str(scn), cwd=tree, timeout=60)
        assert res.returncode == 1
        assert one_line(res.stderr) == f"{scn}:1: boot: {cfg}: {why}"


# --------------------------------------------------------------------------- 6. help

def _help(*argv: str) -> str:
    res = run_kmodbuild(*argv, "--help", cwd=REPO)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _examples(text: str) -> list[str]:
    """The command lines of a help's ``examples`` block (continuations joined, the
    explanation after a run of spaces dropped)."""
    block = text[text.index("examples"):].split("\n", 1)[1]
    block = block.split("\nRun '", 1)[0]
    block = re.sub(r"\\\n\s+", "", block)
    out = []
    for line in block.splitlines():
        line = line.strip()
        if line.startswith(("kmodbuild ", "echo ", "cd ", "scons ")):
            out.append(re.split(r"\s{3,}", line)[0])
    return out


def test_check_help_groups_and_examples() -> None:
    text = _help("check")
    general, linux = text.split("Linux modules (--flavor linux):")
    assert "--cache FILE" in general and "--cache" not in linux.split("\n\n")[0]
    assert re.search(r"--jobs N, -j N .*\n?.*--flavor linux only", linux)
    assert "sys/modules/xyzfs/xyzfs.kmod" not in text
    assert ("kmodbuild check --manifest build/amd64-x86_64/10.0/kernel/netbsd.syms "
            "build/amd64-x86_64/10.0/modules/hello/hello.kmod") in _examples(text)


def test_sim_help_builtin_says_what_is_accepted() -> None:
    assert "--builtin NAME[:CLASS[:REQUIRED]]" in _help("sim")
    assert "NAME[:CLASS[:REQUIRED]]" in (REPO / "docs" / "simulator.md").read_text()


@pytest.mark.parametrize("command", ["check", "manifest", "sim", "new", "build", None])
def test_help_examples_run_in_the_built_tree(command: str | None, tree: Path,
                                             tmp_path: Path) -> None:
    # every example of --help runs as written in a tree built with scons (ARCH=all for
    # those that say so; the fixture's is), except the Linux one (a Linux system's tree)
    work = tmp_path / "w"
    shutil.copytree(tree, work, symlinks=True)
    text = _help(command) if command else run_kmodbuild("--help", cwd=REPO).stdout
    examples = [e for e in _examples(text) if "--flavor linux" not in e]
    assert examples
    for ex in examples:
        if ex.startswith(("kmodbuild build", "cd sys && kmodbuild build")):
            ex = ex + " -Q"                       # (as written; quieter)
        ex = ex.replace("kmodbuild ", f"{shlex.quote(sys.executable)} -m kmodbuild ")
        if ex == "scons":
            ex = f"{shlex.quote(sys.executable)} -m SCons -Q"
        if "--script" in ex or " sim " in ex:
            ex += " --no-emulate"
        env = dict(os.environ, PYTHONPATH=str(REPO))
        res = subprocess.run(ex, shell=True, cwd=work, capture_output=True, text=True,
                             env=env, timeout=900, stdin=subprocess.DEVNULL)
        assert res.returncode == 0, f"{ex}\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"


def test_root_and_directory_that_are_files(tree: Path) -> None:
    res = run_kmodbuild("sim", "--root", "SConstruct", "--validate", cwd=tree)
    assert res.returncode == 2
    assert one_line(res.stderr) == "kmodbuild sim: --root SConstruct: not a directory"
    res = run_kmodbuild("build", "-C", "SConstruct", cwd=tree)
    assert res.returncode == 2
    assert one_line(res.stderr) == "kmodbuild build: -C SConstruct: not a directory"
    res = run_kmodbuild("sim", "--root", "nosuch", cwd=tree)
    assert one_line(res.stderr) == "kmodbuild sim: --root nosuch: no such directory"


# --------------------------------------------------------------------------- 9. new --force

def _new(*args: str) -> int:
    return cli.main(["new", *args, "--tree", "sys/modules"])     # (in the tree)


@pytest.fixture
def work(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the built tree's sources and amd64 build, the current directory."""
    work = tmp_path / "w"
    shutil.copytree(tree / "sys", work / "sys", symlinks=True)
    shutil.copytree(tree / "build" / KEY, work / "build" / KEY, symlinks=True)
    monkeypatch.chdir(work)
    return work


def test_new_force_is_all_or_nothing(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mdir = work / "sys" / "modules" / "abcfs"
    mdir.mkdir()
    (mdir / "abcfs.c").write_text("/* mine */\n")
    (mdir / "SConscript").mkdir()             # cannot become a file
    assert _new("abcfs", "--class", "vfs", "--force") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert one_line(err) == ("sys/modules/abcfs/SConscript: a directory; refusing to "
                             "replace it (no file of the module was written)")
    assert (mdir / "abcfs.c").read_text() == "/* mine */\n"
    assert sorted(p.name for p in mdir.iterdir()) == ["SConscript", "abcfs.c"]


def test_new_undoes_a_write_that_fails_half_way(work: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from kmodbuild import skeleton
    from kmodbuild.errors import InstallError
    real = skeleton.atomic_write
    calls: list[Path] = []

    def atomic_write(path: Path, data: bytes, mode: int = 0o444, **kw: object) -> None:
        calls.append(Path(path))
        if len(calls) == 2:                   # the SConscript: the disk is full
            raise InstallError("cannot write: No space left on device", path=path)
        real(path, data, mode, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(skeleton, "atomic_write", atomic_write)
    # a new module: nothing may remain, not even its directory
    assert _new("defs", "--class", "misc") == 1
    err = capsys.readouterr().err
    assert one_line(err) == ("sys/modules/defs/SConscript: cannot write: No space left on "
                             "device (the file written before it was removed or restored)")
    assert not (work / "sys" / "modules" / "defs").exists()
    # --force over an existing module: its files get their old contents back
    mdir = work / "sys" / "modules" / "hello"
    before = {p.name: p.read_bytes() for p in mdir.iterdir()}
    calls.clear()
    assert _new("hello", "--class", "misc", "--force") == 1
    assert "was removed or restored" in one_line(capsys.readouterr().err)
    assert {p.name: p.read_bytes() for p in mdir.iterdir()} == before


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_report_that_cannot_be_written_is_one_line(built_tree) -> None:
    """`kmodbuild check --format sarif ... > abi.sarif` on a full disk was a traceback and
    "this is a kmodbuild bug"."""
    import subprocess
    import sys
    modules = built_tree.root / "build" / "amd64-x86_64" / built_tree.version / "modules"
    with open("/dev/full", "w") as full:
        res = subprocess.run([sys.executable, "-m", "kmodbuild", "check", "--format", "sarif",
                              str(modules)], stdout=full, stderr=subprocess.PIPE, text=True,
                             timeout=120)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and "Exception ignored" not in res.stderr
    assert res.stderr.splitlines()[-1] == \
        "kmodbuild check: cannot write the output: No space left on device"


def test_validate_reports_a_fifo_module_instead_of_skipping_it(built_tree, tmp_path,
                                                              capsys) -> None:
    """A FIFO NAME/NAME.kmod under stand was left out of `sim --validate` (listed with
    is_file()): the kernel would try it and refuse it."""
    import shutil
    from kmodbuild import cli
    stand = tmp_path / "stand"
    shutil.copytree(built_tree.root / "stand" / "amd64", stand / "amd64")
    for p in stand.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    (stand / "amd64" / built_tree.version / "modules" / "fifo").mkdir()
    os.mkfifo(stand / "amd64" / built_tree.version / "modules" / "fifo" / "fifo.kmod")
    code = cli.main(["sim", "--root", str(stand), "--version", built_tree.version,
                     "--manifest", str(built_tree.manifest("amd64-x86_64")), "--validate",
                     "--no-emulate"])
    out = capsys.readouterr()
    assert code == 1
    assert "fifo: load failed" in out.out + out.err
    assert "not a regular file" in out.out + out.err
