"""The simulator on the example tree the build makes (tests/conftest.py ``built_tree``).

Validates the installed amd64 tree the way the default ``scons`` run does and
plays sys/modules/example.scn (the null/layerfs dependency and ffs boot) on the real
modules, with and without modcmd on an emulated CPU.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from kmodbuild.scenario import Session, parse_scenario, run_scenario
from kmodbuild.simulator import KernelConfig, SimKernel, symbols_from_manifest
from kmodbuild.simvalidate import stand_root, validate_tree
from kmodbuild.manifest import load_manifest
from kmodbuild.target import NetBSDVersion, get_target

#: the scenario the docs show (docs/simulator.md, `kmodbuild sim --script`)
SCENARIO_FILE = Path(__file__).resolve().parents[2] / "sys" / "modules" / "example.scn"


def test_validate_installed_example_tree(built_tree) -> None:
    target = get_target("amd64")
    res = validate_tree(built_tree.root / "stand", target, built_tree.version,
                        built_tree.manifest(target.key))
    assert res.order, "no modules installed"
    assert res.ok, "\n".join(str(f) for f in res.failures)


def test_example_modules_scenario(built_tree) -> None:
    target = get_target("amd64")
    version = NetBSDVersion.parse(built_tree.version)
    syms = symbols_from_manifest(load_manifest(built_tree.manifest(target.key)))
    stand = stand_root(built_tree.root / "stand")
    kernel = SimKernel(KernelConfig(target, version, symbols=syms), stand)
    session = Session(kernel, lambda cfg: SimKernel(cfg, stand))
    result = run_scenario(parse_scenario(SCENARIO_FILE.read_text(), str(SCENARIO_FILE)),
                          session)
    assert result.ok, "\n".join(result.problems)


@pytest.mark.parametrize("emulate", ["--emulate", "--no-emulate"])
def test_the_documented_scenario_command(built_tree, emulate, capsys, monkeypatch) -> None:
    """docs/simulator.md's `kmodbuild sim ... --script sys/modules/example.scn`."""
    if emulate == "--emulate":
        pytest.importorskip("unicorn")
    from kmodbuild import cli
    monkeypatch.chdir(built_tree.root)
    assert cli.main(["sim", "--root", "stand", "--machine", "amd64", "--version",
                     built_tree.version, "--script", str(SCENARIO_FILE), emulate]) == 0
    assert "ok (9 steps)" in capsys.readouterr().err


def test_a_target_sharing_its_machine_is_simulated_from_its_own_tree(built_tree) -> None:
    """evbarm-earmv7hf is installed under DESTDIR/destdir.evbarm-earmv7hf/stand; given the
    DESTDIR's stand (or the DESTDIR), the simulation took stand/evbarm -- the aarch64
    modules -- and refused every one (unsupported machine 183)."""
    target = get_target("evbarm-earmv7hf")
    for root in (built_tree.root / "stand", built_tree.root):
        res = validate_tree(root, target, built_tree.version, built_tree.manifest(target.key))
        assert res.order and res.ok, "\n".join(str(f) for f in res.failures)
        assert "destdir.evbarm-earmv7hf" in str(res.module_dir)
