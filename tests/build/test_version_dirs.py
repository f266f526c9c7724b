"""VERSION=MM.mm.pp (a release's patch level) builds in a directory of its own.

It installs where VERSION=MM.mm does (stand/<machine>/MM.mm: the kernel's module
path), but its objects and its stub kernel (whose netbsd.syms records MM.mm.pp) are
not MM.mm's: sharing build/<target>/MM.mm overwrote them, rebuilt everything at the
next plain build and made ``kmodbuild sim --version MM.mm`` contradict the manifest.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kmodbuild.manifest import find_build_manifest, read_manifest_header
from kmodbuild.target import NetBSDVersion, get_target
from tests.conftest import REPO, copy_tree, scons


def _kmodbuild(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "kmodbuild", *args], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=600)


def test_version_build_dir_names() -> None:
    assert NetBSDVersion.parse("10.0").build_dir == "10.0"          # existing trees stay built
    assert NetBSDVersion.parse("10.0.3").build_dir == "10.0.3"
    assert NetBSDVersion.parse("10.0.3").osrelease == "10.0"        # where it installs
    assert NetBSDVersion.parse("10.99.10").build_dir == "10.99.10"


def test_find_build_manifest_by_full_version(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)         # the lookup tries the current directory too
    t = get_target("amd64")
    stand = tmp_path / "stand"
    stand.mkdir()
    patch = tmp_path / "build" / t.key / "10.0.3" / "kernel" / "netbsd.syms"
    patch.parent.mkdir(parents=True)
    patch.write_text("x")
    assert find_build_manifest(stand, t, "10.0") is None
    assert find_build_manifest(stand, t, "10.0.3") == patch
    # the installed tree's name (stand/amd64/10.0): the one patch level built
    assert find_build_manifest(stand, t, "10.0", patch_levels=True) == patch
    plain = tmp_path / "build" / t.key / "10.0" / "kernel" / "netbsd.syms"
    plain.parent.mkdir(parents=True)
    plain.write_text("x")
    assert find_build_manifest(stand, t, "10.0", patch_levels=True) == plain


def test_a_patch_level_builds_beside_its_release(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "t")
    scons(tree, "ARCH=amd64")
    scons(tree, "ARCH=amd64", "VERSION=10.0.3")
    build = tree / "build" / "amd64-x86_64"
    assert str(read_manifest_header(build / "10.0" / "kernel" / "netbsd.syms").version) \
        == "10.0"
    assert str(read_manifest_header(build / "10.0.3" / "kernel" / "netbsd.syms").version) \
        == "10.0.3"
    raw = (build / "10.0.3" / "modules" / "hello" / "hello.kmod").read_bytes()
    assert (1000000300).to_bytes(4, "little") in raw
    installed = (tree / "stand/amd64/10.0/modules/hello/hello.kmod").read_bytes()
    assert installed == raw                                         # into stand/amd64/10.0
    # both built: the installed modules say which kernel the tree is for (it took 10.0's)
    t = get_target("amd64")
    assert find_build_manifest(tree / "stand", t, "10.0", patch_levels=True) == \
        build / "10.0.3" / "kernel" / "netbsd.syms"
    res = _kmodbuild(tree, "sim", "--root", "stand", "--arch", "amd64", "--validate")
    assert res.returncode == 0 and "amd64 10.0.3: 10 modules" in res.stdout, res.stdout
    for version in ("10.0", "10.0.3"):
        res = _kmodbuild(tree, "sim", "--root", "stand", "--arch", "amd64",
                         "--version", version, "--validate")
        assert res.returncode == 0, res.stdout + res.stderr
        assert f"amd64 {version}: 10 modules" in res.stdout
    # 10.0's objects were left alone: nothing is compiled or linked again
    out = scons(tree, "ARCH=amd64").stdout
    assert ".kmod" not in out and "kernel" not in out.replace("`", ""), out
    assert find_build_manifest(tree / "stand", t, "10.0", patch_levels=True) == \
        build / "10.0" / "kernel" / "netbsd.syms"                  # 10.0's installed again
    # the quick build of an edit simulates the kernel of the full version
    scons(tree, "ARCH=amd64", "VERSION=10.0.3")
    src = tree / "sys" / "modules" / "bitbucket" / "bitbucket.c"
    src.write_text(src.read_text() + "int bitbucket_extra;\n")
    out = scons(tree, "ARCH=amd64", "VERSION=10.0.3").stdout
    assert "[1/1] amd64 bitbucket.kmod" in out, out
    assert "simulate: amd64 10.0.3: 10 modules" in out


def test_help_documents_the_version_forms(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "t")
    out = scons(tree, "-h").stdout
    assert "MM.mm.pp" in out and "VERSION=10.0.3" in out
