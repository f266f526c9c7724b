"""``kmodbuild sim`` end to end (script, stdin, --json, --validate), validate_tree, modstat."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kmodbuild.modstat_format import format_modstat
from kmodbuild.simulator import ModStat
from kmodbuild.simvalidate import dependency_order, validate_tree

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"


def _sim(tree, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    argv = [sys.executable, "-m", "kmodbuild", "sim", "--root", str(tree.stand), "--machine",
            "amd64", "--version", str(tree.version), "--manifest", str(tree.manifest), *args]
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env,
                          cwd=tree.stand, timeout=120)


def test_cli_stdin_json(amd64_tree) -> None:
    res = _sim(amd64_tree, "--json", stdin="modload beta\nmodload xyzfs\nmodstat\n")
    assert res.returncode == 0, res.stderr
    # with --json, stdout is the JSON document alone; the console is on stderr and in it
    state = json.loads(res.stdout)
    for line in ("modload: xyzfs: Program version wrong",
                 "beta             misc     filesys  -        0      36 alpha"):
        assert line in res.stderr
        assert any(c.startswith(line) for c in state["console"])
    assert [m["name"] for m in state["loaded"]] == ["beta", "alpha"]
    assert state["ksyms"] == ["netbsd", "alpha", "beta"]
    assert state["sysctl"]["kern.module.path"] == "/stand/amd64/10.0/modules"


def test_cli_script_test_mode(amd64_tree, tmp_path: Path) -> None:
    good = tmp_path / "good.scn"
    good.write_text("modload alpha\nmodload alpha\n> modload: alpha: File exists\n"
                    "expect loaded alpha\n")
    res = _sim(amd64_tree, "--script", str(good))
    assert res.returncode == 0, res.stderr
    bad = tmp_path / "bad.scn"
    bad.write_text("modload alpha\nexpect loaded beta\n")
    res = _sim(amd64_tree, "--script", str(bad))
    assert res.returncode == 1 and "expected ['beta']" in res.stderr


def test_cli_bad_command_is_one_line(amd64_tree, tmp_path: Path) -> None:
    s = tmp_path / "x.scn"
    s.write_text("frobnicate\n")
    res = _sim(amd64_tree, "--script", str(s))
    assert res.returncode == 1
    assert "Traceback" not in res.stderr and f"{s}:1: unknown command" in res.stderr


def test_cli_unreadable_script_is_one_line(amd64_tree, tmp_path: Path) -> None:
    (tmp_path / "dir.scn").mkdir()
    (tmp_path / "bin.scn").write_bytes(b"\xff\xfemodload alpha\n")
    for name, why in (("missing.scn", "No such file or directory"),
                      ("dir.scn", "Is a directory"), ("bin.scn", "not UTF-8 text (byte 0)")):
        res = _sim(amd64_tree, "--script", str(tmp_path / name))
        assert res.returncode == 2, res.stderr
        assert res.stderr == f"kmodbuild sim: --script {tmp_path / name}: {why}\n"
        assert res.stdout == ""


def test_cli_validate_of_a_tree_that_is_not_there_fails(amd64_tree) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    argv = [sys.executable, "-m", "kmodbuild", "sim", "--root", str(amd64_tree.stand),
            "--machine", "amd64", "--version", "10.99.10", "--manifest",
            str(amd64_tree.manifest), "--validate"]
    res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120,
                         check=False)
    mdir = amd64_tree.stand / "amd64/10.99.10/modules"
    assert (res.returncode, res.stdout) == (2, "")       # not "0 modules, 0 failures"
    assert res.stderr == (f"kmodbuild sim: {mdir}: no such directory (installed here: "
                          f"amd64/{amd64_tree.version})\n")


def test_cli_validate(amd64_tree) -> None:
    res = _sim(amd64_tree, "--validate")
    assert res.returncode == 1
    assert "xyzfs: load failed: Program version wrong (EPROGMISMATCH)" in res.stdout
    assert res.stdout.strip().splitlines()[-1].startswith("amd64 10.0: ")


def test_validate_tree_clean_subset(amd64_tree) -> None:
    res = validate_tree(amd64_tree.stand, amd64_tree.target, "10.0", amd64_tree.manifest,
                        names=["gamma", "beta", "alpha", "ffs", "lfs", "bitbox"])
    assert res.ok, [str(f) for f in res.failures]
    assert res.order == ["alpha", "beta", "bitbox", "ffs", "gamma", "lfs"]
    assert sorted(res.unloaded) == sorted(res.loaded) and len(res.loaded) == 6


def test_validate_tree_reports_each_failure(amd64_tree) -> None:
    res = validate_tree(amd64_tree.stand, amd64_tree.target, "10.0", amd64_tree.manifest)
    failed = {(f.module, f.operation, f.code) for f in res.failures}
    assert ("xyzfs", "load", 75) in failed and ("undef", "load", 8) in failed
    assert ("cyc_a", "load", 11) in failed and ("notelf", "load", 8) in failed
    undef = next(f for f in res.failures if f.module == "undef")
    assert any("symbol `no_such_symbol' not found" in m for m in undef.messages)
    assert not [f for f in res.failures if f.operation == "unload"]
    assert "alpha" in res.unloaded


def test_dependency_order_breaks_cycles() -> None:
    assert dependency_order({"a": ("b",), "b": ("a",), "c": ()}) == ["b", "a", "c"]


def test_modstat_golden() -> None:
    stats = [
        ModStat("null", 2, 2, 0, 0, 0xffffffff81001000, 1234, "layerfs"),
        ModStat("layerfs", 1, 2, 2, 1, 0xffffffff81004000, 987, ""),
        ModStat("a_very_long_module_name_x", 3, 1, 0, 0, 0, 0, ""),
        ModStat("secmodel_bsd44", 5, 0, 1, -1, 0, 0, ""),
        ModStat("ffs", 2, 0, 3, 0, 0, 0, ""),
    ]
    for name, text in (("modstat_basic.txt", format_modstat(stats)),
                       ("modstat_k.txt", format_modstat(stats, show_address=True)),
                       ("modstat_name.txt", format_modstat(stats, "layerfs"))):
        path = GOLDEN / name
        if os.environ.get("KMODBUILD_UPDATE_GOLDEN"):
            path.write_text(text)
        assert text == path.read_text(), name
