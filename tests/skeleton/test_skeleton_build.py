"""``kmodbuild new`` end to end with the real toolchain: every class's skeleton, rendered
into a copy of the tree, builds for all eight targets, passes the build's check gate and
``kmodbuild check`` with no warning, compiles cleanly with NetBSD's kernel warning flags,
and passes its own scenario in the simulator on every target."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kmodbuild import cli
from kmodbuild.target import TARGETS, NetBSDVersion, get_target, stand_dir
from kmodbuild.toolchain import make_toolchain
from tests.conftest import REPO, copy_tree, scons
from tests.skeleton.conftest import GOLDEN, GOLDEN_NAMES

VERSION = "10.0"

#: A library user: requires a generated module and an example with its own requirement.
REQUIRER = ("xyzuser", "exec", "xyzlib,null")
#: The example modules kept in the copy (the requirement closure of REQUIRER); the others
#: are removed to keep the build short.
KEEP_EXAMPLES = {"null", "layerfs"}

#: NetBSD's kernel warnings (bsd.sys.mk/bsd.kmodule.mk), as errors.
STRICT_FLAGS = ("-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-sign-compare",
                "-Wmissing-prototypes", "-Wstrict-prototypes", "-Wold-style-definition",
                "-Wpointer-arith", "-Wshadow", "-Wcast-qual", "-Wwrite-strings", "-Wswitch",
                "-Wformat=2", "-Wmissing-variable-declarations", "-Werror")


class Generated:
    """The tree with every skeleton, built for ARCH=all."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules = root / "sys" / "modules"
        self.names = [*GOLDEN_NAMES.values(), REQUIRER[0]]

    def stand(self, target_name: str) -> Path:
        t = get_target(target_name)
        return stand_dir(self.root, t, NetBSDVersion.parse(VERSION)).parents[2]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    root = copy_tree(tmp_path_factory.mktemp("newtree"))
    for sconscript in (root / "sys" / "modules").glob("*/SConscript"):
        if sconscript.parent.name not in KEEP_EXAMPLES:
            shutil.rmtree(sconscript.parent)
    tree = str(root / "sys" / "modules")
    for cls, name in GOLDEN_NAMES.items():
        assert cli.main(["new", name, "--class", cls, "--tree", tree]) == 0
    name, cls, requires = REQUIRER
    assert cli.main(["new", name, "--class", cls, "--requires", requires, "--tree", tree]) == 0
    scons(root, "ARCH=all", f"VERSION={VERSION}", "-j2")
    return Generated(root)


def test_generated_sources_are_the_golden_ones(generated: Generated) -> None:
    for cls, name in GOLDEN_NAMES.items():
        for golden in (GOLDEN / cls).iterdir():
            assert (generated.modules / name / golden.name).read_text() == golden.read_text()


@pytest.mark.parametrize("target", [t.name for t in TARGETS])
def test_builds_and_passes_the_check_gate(generated: Generated, target: str) -> None:
    t = get_target(target)
    out = generated.root / "build" / t.key / VERSION
    assert json.loads((out / "check-report.json").read_text()) == {"errors": 0, "warnings": 0}
    installed = stand_dir(generated.root, t, NetBSDVersion.parse(VERSION))
    for name in generated.names:
        assert (out / "modules" / name / f"{name}.kmod").is_file()
        assert (installed / name / f"{name}.kmod").is_file()
    summary = (out / "simulate.txt").read_text()
    assert " 0 failures" in summary


@pytest.mark.parametrize("target", [t.name for t in TARGETS])
def test_kmodbuild_check_no_warnings(generated: Generated, target: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    t = get_target(target)
    out = generated.root / "build" / t.key / VERSION
    kmods = [str(out / "modules" / n / f"{n}.kmod") for n in generated.names]
    # the requirements a check needs are found next to the given modules
    rc = cli.main(["check", "--format", "json", "--arch", target, "--version", VERSION,
                   "--manifest", str(out / "kernel" / "netbsd.syms"), *kmods])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0, report
    assert (report["modules"], report["errors"], report["warnings"]) == (len(kmods), 0, 0)
    assert report["diagnostics"] == []


@pytest.mark.parametrize("target", [t.name for t in TARGETS])
def test_own_scenarios_pass(generated: Generated, target: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    stand = generated.stand(target)
    for name in generated.names:
        scn = generated.modules / name / f"{name}.scn"
        rc = cli.main(["sim", "--root", str(stand), "--arch", target, "--version", VERSION,
                       "--script", str(scn)])
        err = capsys.readouterr().err
        assert rc == 0, err
        assert err.strip().startswith(f"{scn}: ok ("), err


def test_scenario_command_line(generated: Generated, tmp_path: Path) -> None:
    """The command the scenario's header gives, run from the top of the tree; a wrong
    expectation makes it fail, so the scenario really is a test."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    argv = [sys.executable, "-m", "kmodbuild", "sim", "--root", "stand", "--machine", "amd64",
            "--version", VERSION, "--script"]
    res = subprocess.run([*argv, "sys/modules/xyzfs/xyzfs.scn"], cwd=generated.root, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "sys/modules/xyzfs/xyzfs.scn: ok (6 steps)" in res.stderr
    bad = tmp_path / "bad.scn"
    bad.write_text((generated.modules / "xyzuser" / "xyzuser.scn").read_text()
                   .replace("compat_xyz", "").replace("xyzlib,null", "null,xyzlib"))
    res = subprocess.run([*argv, str(bad)], cwd=generated.root, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "FAILED" in res.stderr


@pytest.mark.parametrize("target", ["amd64", "evbppc-powerpc"])
def test_strict_kernel_warnings(generated: Generated, target: str, tmp_path: Path) -> None:
    """Every skeleton compiles with -Werror and NetBSD's kernel warning flags."""
    t = get_target(target)
    tc = make_toolchain(t)
    sysdir = generated.root / "sys"
    flags = ["-isystem", str(sysdir), "-isystem", str(sysdir / "arch"),
             f"-D__NetBSD_Version__={NetBSDVersion.parse(VERSION).number}", *STRICT_FLAGS]
    sources = [str(generated.modules / n / f"{n}.c") for n in generated.names]
    argv = [*tc.cc, *tc.cflags, *flags, "-c", *sources]
    res = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""


def test_second_build_is_up_to_date(generated: Generated) -> None:
    res = scons(generated.root, "ARCH=all", f"VERSION={VERSION}", "-q", check=False)
    assert res.returncode == 0, res.stdout[-2000:]
