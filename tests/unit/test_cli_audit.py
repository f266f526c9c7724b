"""Findings of the CLI audit: ``sim --json`` prints one JSON document and nothing else on
standard output, conflicting ``sim`` options are usage errors, an unreadable input the
user named exits 2 (never 1, which means findings), ``verify --format json`` always
prints its report, an unwritable ``check --cache`` is a warning, and an unknown option
after a subcommand is reported with that subcommand's usage."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kmodbuild.cli import main
from tests.conftest import REPO, BuiltTree

KEY = "amd64-x86_64"


def _cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def stand(built_tree: BuiltTree) -> Path:
    return built_tree.root / "stand"


def _sim(built_tree: BuiltTree, *args: str | Path) -> list[str | Path]:
    return ["sim", "--root", built_tree.root / "stand", "--version", "10.0",
            "--manifest", built_tree.manifest(KEY), "--no-emulate", *args]


# --------------------------------------------------------------------------- 1. sim --json

def test_sim_json_stdout_is_one_document(built_tree: BuiltTree, capsys) -> None:
    """sim --help's own example piped into json.tool: the console goes to stderr."""
    rc, out, err = _cli(capsys, *_sim(built_tree, "--script",
                                      REPO / "sys" / "modules" / "example.scn", "--json"))
    assert rc == 0, err
    doc = json.loads(out)               # the whole of stdout: no console line before it
    assert doc["schema"] == 1
    assert doc["version"] == "10.0"     # the kernel's, as before the schema key
    assert doc["status"] == 0 and doc["error"] is None
    assert doc["console"] and any(line.startswith("NAME ") for line in doc["console"])
    assert "NAME " in err               # the modstat table is still shown, on stderr


def test_sim_json_printed_when_the_script_fails(built_tree: BuiltTree, tmp_path: Path,
                                                 capsys) -> None:
    script = tmp_path / "bad.scn"
    script.write_text("modload hello\nbogus command\n")
    rc, out, err = _cli(capsys, *_sim(built_tree, "--script", script, "--json"))
    assert rc == 1                      # unchanged by --json
    doc = json.loads(out)
    assert doc["status"] == 1
    assert doc["error"].startswith(f"{script}:2: ")
    assert f"{script}:2: " in err and "Traceback" not in err


def test_sim_validate_json(built_tree: BuiltTree, capsys) -> None:
    rc, out, err = _cli(capsys, *_sim(built_tree, "--validate", "--json"))
    doc = json.loads(out)
    assert doc["schema"] == 1 and doc["version"] == "10.0"
    assert doc["ok"] is (rc == 0) and doc["summary"].startswith("amd64 10.0: ")
    assert doc["order"]


# --------------------------------------------------------------------------- 2. sim conflicts

@pytest.mark.parametrize("extra, words", [
    (("--validate", "--script", "x.scn"), "--validate"),
    (("--machine", "i386", "--arch", "amd64", "--validate"), "--machine i386 contradicts"),
])
def test_sim_conflicting_options(built_tree: BuiltTree, capsys, extra, words) -> None:
    rc, out, err = _cli(capsys, *_sim(built_tree, *extra))
    assert rc == 2 and out == ""
    assert words in _one_line(err)


def test_sim_machine_agreeing_with_arch(built_tree: BuiltTree, capsys) -> None:
    rc, out, err = _cli(capsys, *_sim(built_tree, "--machine", "amd64", "--arch", "amd64",
                                      "--validate"))
    assert rc == 0, err


# --------------------------------------------------------------------------- 3. inputs: exit 2

def test_check_unreadable_manifest_is_usage(stand: Path, capsys) -> None:
    rc, out, err = _cli(capsys, "check", "--manifest", "/nonexistent/netbsd.syms",
                        "--format", "sarif", stand / "amd64" / "10.0" / "modules")
    assert rc == 2 and out == ""
    assert "/nonexistent/netbsd.syms" in _one_line(err)


def test_check_malformed_manifest_is_usage(stand: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.syms"
    bad.write_text("garbage\n")
    for cache in ((), ("--cache", str(tmp_path / "cache"))):
        rc, out, err = _cli(capsys, "check", *cache, "--manifest", bad,
                            stand / "amd64" / "10.0" / "modules")
        assert rc == 2 and out == ""
        assert f"{bad}:1: " in _one_line(err)


def test_manifest_missing_kernel_is_usage(tmp_path: Path, capsys) -> None:
    rc, out, err = _cli(capsys, "manifest", tmp_path / "nonexistent")
    assert rc == 2 and out == ""
    assert str(tmp_path / "nonexistent") in _one_line(err)
    notelf = tmp_path / "netbsd"
    notelf.write_text("not a kernel\n")
    rc, out, err = _cli(capsys, "manifest", notelf)
    assert rc == 2 and "not an ELF" in _one_line(err)


def test_sim_missing_manifest_is_usage(built_tree: BuiltTree, capsys) -> None:
    rc, out, err = _cli(capsys, "sim", "--root", built_tree.root / "stand", "--manifest",
                        "/nonexistent/netbsd.syms", "--validate")
    assert rc == 2 and out == ""
    assert "/nonexistent/netbsd.syms" in _one_line(err)


def test_package_missing_destdir_is_usage(tmp_path: Path, capsys) -> None:
    rc, out, err = _cli(capsys, "package", "--destdir", tmp_path / "nonexistent",
                        "-o", tmp_path / "sets")
    assert rc == 2 and out == ""
    assert "--destdir" in _one_line(err)
    assert not (tmp_path / "sets").exists()


# --------------------------------------------------------------------------- 4. verify json

def test_package_output_dash_is_refused(stand: Path, tmp_path: Path, capsys,
                                        monkeypatch) -> None:
    """-o - would make a directory named '-': the sets are files, -o their directory."""
    monkeypatch.chdir(tmp_path)
    rc, out, err = _cli(capsys, "package", "--destdir", stand.parent, "-o", "-")
    assert rc == 2 and "-o names the directory" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "-").exists()


def test_verify_json_malformed_metalog_prints_report(stand: Path, tmp_path: Path,
                                                     capsys) -> None:
    dest = tmp_path / "dest"
    shutil.copytree(stand / "amd64", dest / "stand" / "amd64", symlinks=True)
    metalog = dest / "stand" / "amd64" / "10.0" / "METALOG"
    lines = metalog.read_text().count("\n")
    with metalog.open("a") as f:
        f.write("garbage line\n")
    rc, out, err = _cli(capsys, "verify", "--format", "json", dest)
    assert rc == 1
    doc = json.loads(out)
    assert doc["problems"] == 1
    (finding,) = doc["findings"]
    assert finding["kind"] == "malformed"
    assert finding["path"] == "./stand/amd64/10.0/METALOG"
    assert finding["detail"].startswith(f"line {lines + 1}: malformed METALOG line")
    assert "malformed METALOG line" in _one_line(err)


# --------------------------------------------------------------------------- 5. check --cache

def test_check_unwritable_cache_warns_and_reports(stand: Path, tmp_path: Path,
                                                  capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    rc, out, err = _cli(capsys, "check", "--cache", blocker / "cache", "--format", "json",
                        stand / "amd64" / "10.0" / "modules")
    assert rc in (0, 1), err
    doc = json.loads(out)
    assert doc["modules"] > 0
    assert f"cannot write the cache {blocker / 'cache'}" in err


# --------------------------------------------------------------------------- 6. usage

def test_unknown_option_after_subcommand_shows_its_usage(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["check", "--bogus", "x"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: kmodbuild check ")
    assert "kmodbuild check: error: unrecognized arguments: --bogus" in err


def test_sim_script_dash_reads_standard_input(built_tree: BuiltTree, capsys,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``--script -`` said "-: No such file or directory"; it is standard input, as
    ``manifest -o -`` is standard output."""
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO("modload hello\nexpect loaded hello\n"
                                                 "modunload hello\nexpect loaded\n"))
    rc, out, err = _cli(capsys, *_sim(built_tree, "--script", "-"))
    assert "No such file" not in err
    assert err.splitlines()[-1] == "<stdin>: ok (3 steps)" and rc == 0, err
    monkeypatch.setattr("sys.stdin", io.StringIO("modload hello\nexpect loaded\n"))
    rc, out, err = _cli(capsys, *_sim(built_tree, "--script", "-"))
    assert "<stdin>:2: loaded modules are ['hello'], expected []" in err and rc == 1, err


# --------------------------------------------------------------------------- spellings

def test_the_install_root_and_the_json_format_are_spelt_alike(built_tree: BuiltTree,
                                                              capsys) -> None:
    """``--destdir`` names the install root in package, verify and sim (sim's --root
    and verify's positional DESTDIR stay), ``--format json`` asks sim for JSON as it
    asks check, verify and abi-diff; two different DESTDIRs or two formats are usage
    errors in one line."""
    root = built_tree.root
    base = ["sim", "--version", "10.0", "--manifest", built_tree.manifest(KEY),
            "--no-emulate", "--validate"]
    rc, out, err = _cli(capsys, *base, "--destdir", root, "--format", "json")
    assert rc == 0, err
    assert json.loads(out)["schema"] == 1
    rc, root_out, _ = _cli(capsys, *base, "--root", root / "stand", "--json")
    assert rc == 0 and json.loads(root_out) == json.loads(out)
    rc, _, err = _cli(capsys, *base, "--root", root, "--json", "--format", "text")
    assert rc == 2 and "--format text and --json" in _one_line(err)
    rc, by_option, err = _cli(capsys, "verify", "--destdir", root, "--format", "json")
    assert rc == 0, err
    rc, positional, _ = _cli(capsys, "verify", root, "--format", "json")
    assert rc == 0 and positional == by_option
    rc, _, err = _cli(capsys, "verify", root, "--destdir", root / "stand")
    assert rc == 2 and "two DESTDIRs" in _one_line(err)


def test_commands_run_inside_a_tree_say_where_its_top_is(built_tree: BuiltTree, capsys,
                                                         monkeypatch) -> None:
    """verify, package and sim run from a module's directory told the user to install a
    tree that was installed: they name the tree's top instead."""
    monkeypatch.chdir(built_tree.root / "sys" / "modules" / "hello")
    where = f"this is inside the tree {built_tree.root}: run there, or pass it as DESTDIR"
    for argv in (["verify"], ["package", "-o", str(built_tree.root / "unused")],
                 ["sim", "--validate", "--no-emulate"]):
        rc, out, err = _cli(capsys, *argv)
        assert rc in (1, 2) and out == "", (argv, out)
        line = _one_line(err)
        assert line.endswith(f"({where})") and "run scons" not in line, line
