"""The SCons tool in a SConstruct of one's own (README: "The SCons tool works from your own
SConstruct too"): ``env.KmodTargetEnvs()`` and ``tenv.KernelModule()`` outside KernelTree
build, check, install and simulate with the real toolchain."""
from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import REPO, scons

SCONSTRUCT = f"""\
env = Environment(tools=['kmod'], toolpath=[{str(REPO / 'site_scons' / 'site_tools')!r}],
                  KMOD_ARCH='amd64', KMOD_VERSION='10.0', KMOD_SYSDIR={str(REPO / 'sys')!r})
for tenv in env.KmodTargetEnvs():
{{body}}
"""


def _tree(tmp_path: Path, body: str, *modules: str) -> Path:
    """A tree of its own: the SConstruct above and the example modules' sources, flat."""
    for name in modules:
        for src in (REPO / "sys" / "modules" / name).glob("*.c"):
            shutil.copy2(src, tmp_path / src.name)
    (tmp_path / "SConstruct").write_text(SCONSTRUCT.format(body=body))
    return tmp_path


def _installed(tree: Path, name: str) -> Path:
    return tree / "stand" / "amd64" / "10.0" / "modules" / name / f"{name}.kmod"


def test_the_readme_example_builds_checks_installs_and_simulates(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "    tenv.KernelModule('hello', ['hello.c'])", "hello")
    res = scons(tree, "-Q")
    assert _installed(tree, "hello").is_file()
    assert "simulate: amd64 10.0: 1 modules, 1 loaded, 1 unloaded, 0 failures" in res.stdout
    assert "hello" in (tree / "stand" / "amd64" / "10.0" / "METALOG").read_text()
    again = scons(tree, "-Q")
    assert "hello.kmod" not in again.stdout, again.stdout        # nothing rebuilt


def test_modules_declared_one_by_one_see_each_other(tmp_path: Path) -> None:
    """null requires layerfs: the second module's check and the simulation take both (the
    steps after the modules are declared with the first and grow with each)."""
    body = ("    tenv.KernelModule('layerfs', ['layerfs.c'])\n"
            "    tenv.KernelModule('null', ['null.c'])")
    tree = _tree(tmp_path, body, "layerfs", "null")
    res = scons(tree, "-Q")
    assert _installed(tree, "layerfs").is_file() and _installed(tree, "null").is_file()
    assert "2 modules, 2 loaded, 2 unloaded, 0 failures" in res.stdout
    metalog = (tree / "stand" / "amd64" / "10.0" / "METALOG").read_text()
    assert "null/null.kmod" in metalog and "layerfs/layerfs.kmod" in metalog
    exports = (tree / "build" / "amd64-x86_64" / "10.0" / "modules" / "exports.json").read_text()
    assert '"layerfs"' in exports and '"null"' in exports


def test_a_module_missing_what_it_requires_fails_its_check(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "    tenv.KernelModule('null', ['null.c'])", "null")
    res = scons(tree, "-Q", check=False)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr + res.stdout
    assert "layerfs" in res.stderr and "error(s) in amd64 modules" in res.stderr
    assert not _installed(tree, "null").exists()


def test_no_kernel_to_check_against_is_one_line(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "    tenv.KernelModule('hello', ['hello.c'])", "hello")
    sconstruct = tree / "SConstruct"
    sconstruct.write_text(sconstruct.read_text().replace(
        f"KMOD_SYSDIR={str(REPO / 'sys')!r}", f"KMOD_SYSDIR={str(tmp_path)!r}"))
    res = scons(tree, "-Q", check=False)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "no kernel symbol manifest: set KMOD_MANIFEST=FILE" in res.stderr
