"""Module names with ``/``, ``..``, spaces or over 31 characters, everywhere a name goes.

* the template generator (``kmodbuild new``) refuses them and writes nothing;
* the build (an SConscript calling ``KernelModule`` with one) stops with one
  line, exit status != 0, and installs nothing under stand/;
* the installer never writes outside DESTDIR, whatever the name makes of the path;
* the simulator, as NetBSD: autoload refuses ``/``, ``@`` and ``.`` with EPERM
  (kern_module.c ``module_autoload``); for modload a name with ``/`` is a
  path (modload(8) passes it to the kernel as it is), anything else is looked
  up as ``<module_base>/NAME/NAME.kmod``; a name of 32 bytes or more is
  EINVAL at step 4 of ``module_do_load``.  And whatever the path, the
  simulator never reads a host file outside its stand root (``..``,
  symlinks, absolute paths); an ``mi_required`` entry is never a path.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kmodbuild.cli import main
from kmodbuild.errors import InstallError, ModuleNameError
from kmodbuild.install import install_file, validate_module_name
from kmodbuild.kobj import EINVAL, ENOENT, EPERM
from kmodbuild.manifest import load_manifest
from kmodbuild.simulator import (MODULE_CLASS_MISC, KernelConfig, SimKernel,
                                 symbols_from_manifest)
from kmodbuild.target import NetBSDVersion, get_target
from tests.conftest import copy_tree, scons

REPO = Path(__file__).resolve().parents[2]
BAD = ["a/b", "..", "../escape", "x..y", "has space", "a" * 32]
AMD64 = get_target("amd64")


def _files(top: Path) -> list[str]:
    return sorted(str(p.relative_to(top)) for p in top.rglob("*"))


# --------------------------------------------------------------------------- kmodbuild new

@pytest.mark.parametrize("name", BAD)
def test_template_generator_refuses(name: str, tmp_path: Path, capsys) -> None:
    try:
        import kmodbuild.cmd_new  # noqa: F401
        import kmodbuild.skeleton  # noqa: F401
    except ImportError as e:
        pytest.skip(f"kmodbuild new is not available yet ({e})")
    shutil.copytree(REPO / "sys", tmp_path / "src" / "sys")
    before = _files(tmp_path)
    rc = main(["new", name, "--class", "misc", "--tree", str(tmp_path / "src/sys/modules")])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert len(err.splitlines()) == 1 and "invalid module name" in err, err
    assert _files(tmp_path) == before


# --------------------------------------------------------------------------- the build

@pytest.mark.parametrize("name", ["a/b", "..", "has space", "a" * 32])
def test_build_refuses(name: str, tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "tree")
    d = tree / "sys" / "modules" / "badname"
    d.mkdir()
    shutil.copy(REPO / "sys" / "modules" / "hello" / "hello.c", d / "badname.c")
    (d / "SConscript").write_text(f"Import('env')\nenv.KernelModule({name!r}, ['badname.c'])\n")
    res = scons(tree, "ARCH=amd64", "VERSION=10.0", check=False, timeout=300)
    assert res.returncode != 0
    errors = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.startswith("scons: ***")]
    assert len(errors) == 1, res.stdout + res.stderr
    assert "sys/modules/badname/SConscript" in errors[0] and "invalid module name" in errors[0]
    assert "Traceback" not in res.stderr
    stand = tree / "stand"
    assert not stand.exists() or not [p for p in stand.rglob("*") if p.is_file()]


# --------------------------------------------------------------------------- the installer

@pytest.mark.parametrize("name", BAD)
def test_installer_stays_in_destdir(name: str, tmp_path: Path) -> None:
    with pytest.raises(ModuleNameError):
        validate_module_name(name)
    src = tmp_path / "src.kmod"
    src.write_bytes(b"\x7fELF module")
    dest = tmp_path / "deep" / "destdir"
    dest.mkdir(parents=True)
    outside_before = [p for p in _files(tmp_path) if not p.startswith("deep/destdir")]
    rel = f"stand/amd64/10.0/modules/{name}/{name}.kmod"
    try:
        out = install_file(src, dest, rel)
    except InstallError as e:
        assert "outside DESTDIR" in str(e)
    else:
        assert out.resolve().is_relative_to(dest.resolve())
    assert [p for p in _files(tmp_path) if not p.startswith("deep/destdir")] == outside_before


def test_installer_refuses_a_symlinked_module_directory(tmp_path: Path) -> None:
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    (dest / "stand/amd64/10.0/modules").mkdir(parents=True)
    outside.mkdir()
    os.symlink(outside, dest / "stand/amd64/10.0/modules/hello")
    src = tmp_path / "hello.kmod"
    src.write_bytes(b"\x7fELF")
    with pytest.raises(InstallError, match="symlink"):
        install_file(src, dest, "stand/amd64/10.0/modules/hello/hello.kmod")
    assert not any(outside.iterdir())


# --------------------------------------------------------------------------- the simulator

@pytest.fixture
def sim(built_tree, tmp_path: Path):
    """An amd64 10.0 kernel over a copy of the built stand tree, cwd = the stand root;
    ``outside/evil.kmod`` (a valid module, hello) lies beside the stand root."""
    stand = tmp_path / "stand"
    shutil.copytree(built_tree.root / "stand" / "amd64", stand / "amd64", symlinks=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(stand / "amd64/10.0/modules/hello/hello.kmod", outside / "evil.kmod")
    manifest = load_manifest(built_tree.manifest("amd64-x86_64"))
    config = KernelConfig(AMD64, NetBSDVersion.parse("10.0"),
                          symbols=symbols_from_manifest(manifest))
    kernel = SimKernel(config, stand, cwd=stand)
    kernel.paths = {"stand": stand, "outside": outside, "tmp": tmp_path}  # type: ignore[attr-defined]
    return kernel


@pytest.mark.parametrize("name", ["a/b", "a@b", "a.b", "..", "../outside/evil", "/x"])
def test_autoload_refuses_slash_at_dot(sim, name: str) -> None:
    assert sim.module_autoload(name, MODULE_CLASS_MISC) == EPERM
    assert sim.loaded_names() == []


@pytest.mark.parametrize("name", ["has space", "a" * 32, "..", "x..y"])
def test_modload_by_bad_name_finds_nothing(sim, name: str) -> None:
    assert sim.modctl_load(name) == ENOENT
    assert sim.loaded_names() == []


def test_modload_path_with_dotdot_is_a_path(sim) -> None:
    """``a/../b`` is a path, as namei sees it: ENOENT while ``a`` does not exist."""
    stand = sim.paths["stand"]
    shutil.copy(stand / "amd64/10.0/modules/hello/hello.kmod", stand / "b.kmod")
    assert sim.modctl_load("a/../b.kmod") == ENOENT
    (stand / "a").mkdir()
    assert sim.modctl_load("a/../b.kmod") == 0
    assert sim.loaded_names() == ["hello"]


@pytest.mark.parametrize("path", ["/stand/../outside/evil.kmod", "../outside/evil.kmod",
                                  "amd64/../../outside/evil.kmod", "{outside}/evil.kmod"])
def test_modload_never_leaves_the_stand_root(sim, path: str) -> None:
    path = path.format(outside=sim.paths["outside"])
    assert (sim.paths["outside"] / "evil.kmod").is_file()
    assert sim.modctl_load(path) == ENOENT
    assert sim.loaded_names() == []


def test_symlinks_out_of_the_stand_root_are_not_followed(sim) -> None:
    mdir = sim.paths["stand"] / "amd64/10.0/modules"
    os.symlink(sim.paths["outside"], mdir / "evil")                   # a directory link
    (mdir / "evil2").mkdir()
    os.symlink(sim.paths["outside"] / "evil.kmod", mdir / "evil2" / "evil2.kmod")  # a file
    assert sim.modctl_load("evil") == ENOENT
    assert sim.modctl_load("evil2") == ENOENT
    assert sim.modctl_load("/stand/amd64/10.0/modules/evil/evil.kmod") == ENOENT
    # a link that stays inside the stand root is followed
    (mdir / "hello2").mkdir()
    os.symlink(mdir / "hello" / "hello.kmod", mdir / "hello2" / "hello2.kmod")
    assert sim.modctl_load("hello2") == 0 and sim.loaded_names() == ["hello"]


def _module(builder, name: str, required: str | None) -> Path:
    req = f'"{required}"' if required is not None else "NULL"
    src = (f"#include <sys/param.h>\n#include <sys/module.h>\n"
           f"MODULE(MODULE_CLASS_MISC, {name}, {req});\n"
           f"static int {name}_modcmd(modcmd_t cmd, void *arg) {{ return 0; }}\n")
    return builder.build("amd64", name, {f"{name}.c": src})


def test_required_path_does_not_leave_the_stand_root(sim, tmp_path: Path) -> None:
    """A dependency is loaded as an autoload (module_do_load(..., autoload=true)), so an
    ``mi_required`` entry with a '/' is never a path: ENOENT, nothing outside is opened."""
    from tests.check.conftest import KmodBuilder
    kmod = _module(KmodBuilder(tmp_path / "build"), "reqpath", "../outside/evil.kmod")
    mdir = sim.paths["stand"] / "amd64/10.0/modules"
    (mdir / "reqpath").mkdir()
    shutil.copy(kmod, mdir / "reqpath" / "reqpath.kmod")
    assert sim.modctl_load("reqpath") == ENOENT, sim.console
    assert sim.loaded_names() == []
    assert any("recursive load failed for `reqpath'" in ln for ln in sim.console), sim.console
    # the file outside was never read (else: "dependency name mismatch" after reading it)
    assert not any("mismatch" in ln for ln in sim.console), sim.console


def test_long_mi_name_is_einval(sim, tmp_path: Path) -> None:
    from tests.check.conftest import KmodBuilder
    name = "m" * 32
    kmod = _module(KmodBuilder(tmp_path / "build"), name, None)
    mdir = sim.paths["stand"] / "amd64/10.0/modules"
    (mdir / name).mkdir()
    shutil.copy(kmod, mdir / name / f"{name}.kmod")
    assert sim.modctl_load(name) == EINVAL
    assert f"WARNING: module error: module name `{name}' longer than 32" in sim.console
    assert sim.loaded_names() == []


def test_a_stand_root_reached_through_a_symlink_is_still_the_root(sim) -> None:
    """Only links below the stand root can lead out of it; the root's own path may be a
    link (``/stand -> /usr/stand``)."""
    link = sim.paths["tmp"] / "stand-link"
    os.symlink(sim.paths["stand"], link)
    kernel = SimKernel(sim.config, link, cwd=link)
    assert kernel.modctl_load("hello") == 0 and kernel.loaded_names() == ["hello"]
    os.symlink(sim.paths["outside"], link / "amd64/10.0/modules/evil")
    assert kernel.modctl_load("evil") == ENOENT
