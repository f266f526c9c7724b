"""The simulator on the example tree the build makes (tests/conftest.py ``built_tree``).

Validates the installed amd64 tree the way the default ``scons`` run does and
plays the null/layerfs dependency and ffs boot scenarios on the real modules.
"""
from __future__ import annotations

from kmodbuild.scenario import Session, parse_scenario, run_scenario
from kmodbuild.simulator import KernelConfig, SimKernel, symbols_from_manifest
from kmodbuild.simvalidate import stand_root, validate_tree
from kmodbuild.manifest import load_manifest
from kmodbuild.target import NetBSDVersion, get_target

SCENARIO = """\
modload null
modstat
> NAME             CLASS    SOURCE   FLAG  REFS    SIZE REQUIRES 
>~ layerfs          misc     filesys  a        1 +[0-9]+ -
>~ null             vfs      filesys  -        0 +[0-9]+ layerfs
expect loaded null layerfs
modunload layerfs
> modunload: layerfs: Device busy
expect error EBUSY
modunload null layerfs
mount -t ffs
expect loaded ffs
boot root=ffs
> no file system for wd0a (dev 0x0)
> supported file systems:
> cannot mount root, error = 79
expect error EFTYPE
bootcfg load=ffs
boot root=ffs
> Loading /stand/amd64/10.0/modules/ffs/ffs.kmod
> kern.module.path=/stand/amd64/10.0/modules
expect loaded ffs
"""


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
    result = run_scenario(parse_scenario(SCENARIO, "<example>"), session)
    assert result.ok, "\n".join(result.problems)
