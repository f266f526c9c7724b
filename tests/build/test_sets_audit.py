"""Sets, METALOG and verify on real builds of the example tree (audit findings).

* ``scons sets`` and ``kmodbuild package`` write the same archives, byte for byte; the
  evbarm-earmv7hf set extracts to ./stand/... (it held ./destdir.evbarm-earmv7hf/stand/...).
* A set holds exactly the files the METALOG records; a module left installed that the
  tree no longer builds makes ``scons sets`` refuse instead of packing it.
* ``SHA512`` lists the sets of the run that wrote it (it listed every archive there).
* ``scons`` removes the stale temporaries a killed install left (verify failed on them
  for ever).
* Installed directories are 0755 whatever the umask, and recorded so.

Each test failed before its fix.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from kmodbuild.metalog import entry_base, files, read_metalog, verify
from tests.conftest import REPO, copy_tree, scons

V = "10.0"
ARMV7 = "destdir.evbarm-earmv7hf"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example tree built for ARCH=all (one build for the tests of this file that
    leave it as they found it)."""
    root = copy_tree(tmp_path_factory.mktemp("sets"))
    scons(root, "ARCH=all", f"VERSION={V}", "-j2")
    return root


def _kmodbuild(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "kmodbuild", *map(str, argv)], check=False,
                          capture_output=True, text=True, env=env, timeout=300)


def _members(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return tar.getnames()


def _recorded(log: Path, root: Path) -> list[str]:
    """What a set of the tree ``log`` records should hold, named relative to ``root``
    (the target's own install root): its files and every directory from ./stand down."""
    base = entry_base(log, read_metalog(log))   # root (older METALOGs: the top DESTDIR)
    names = {"./" + (base / e.path[2:]).relative_to(root).as_posix()
             for e in files(read_metalog(log))}
    rel = log.parent.relative_to(root).parts + ("modules",)
    names |= {"./" + "/".join(rel[:i]) for i in range(1, len(rel) + 1)}
    names |= {n.rsplit("/", i)[0] for n in list(names) for i in range(1, n.count("/"))}
    return sorted(names - {"."})


def test_scons_sets_and_package_write_the_same_archives(tree: Path, tmp_path: Path) -> None:
    scons(tree, "ARCH=all", f"VERSION={V}", "sets")
    res = _kmodbuild("package", "--destdir", tree, "--arch", "all", "--version", V,
                     "-o", tmp_path / "pkg")
    assert res.returncode == 0, res.stderr
    made = sorted(p.name for p in (tree / "build/sets").iterdir())
    assert len(made) == 9 and made == sorted(p.name for p in (tmp_path / "pkg").iterdir())
    for name in made:
        assert (tree / "build/sets" / name).read_bytes() == \
            (tmp_path / "pkg" / name).read_bytes(), name
    names = _members(tree / "build/sets" / f"modules-evbarm-earmv7hf-{V}.tar.xz")
    assert names[0] == "./stand" and all(n.startswith("./stand") for n in names), names[:3]
    assert f"./stand/evbarm/{V}/modules/hello/hello.kmod" in names
    # exactly what each METALOG records
    for log in [*tree.glob(f"stand/*/{V}/METALOG"), *tree.glob(f"{ARMV7}/stand/*/{V}/METALOG")]:
        root = log.parents[3]
        mach = log.parents[1].name
        name = f"modules-{mach}-{V}.tar.xz" if root == tree else \
            f"modules-{root.name[len('destdir.'):]}-{V}.tar.xz"
        assert _members(tree / "build/sets" / name) == _recorded(log, root), name


def test_sha512_lists_the_sets_of_this_run_only(tree: Path) -> None:
    sums = tree / "build/sets/SHA512"
    scons(tree, "ARCH=all", f"VERSION={V}", "sets")
    assert len(sums.read_text().splitlines()) == 8
    scons(tree, "ARCH=amd64", f"VERSION={V}", "sets")
    archive = tree / f"build/sets/modules-amd64-{V}.tar.xz"
    assert sums.read_text() == \
        f"SHA512 ({archive.name}) = {hashlib.sha512(archive.read_bytes()).hexdigest()}\n"


def test_scons_removes_the_stale_temporaries_of_a_killed_install(tree: Path) -> None:
    """A killed install's temporary, found after its file was installed again, stayed
    for ever: verify failed on it after every successful build.  Now the METALOG step
    removes it; a young one (another tree's live write, maybe) stays."""
    mods = tree / f"stand/amd64/{V}/modules"
    stale = mods / "hello/.hello.kmod.k1ll3d_x.tmp"
    stale.write_bytes(b"half a modu")
    old = time.time() - 300
    os.utime(stale, (old, old))
    young = mods / "null/.null.kmod.l1v3_abc.tmp"
    young.write_bytes(b"being written")
    try:
        found = {f.path: str(f) for f in verify(tree)[1]}
        assert found == {
            f"./stand/amd64/{V}/modules/hello/{stale.name}":
                f"./stand/amd64/{V}/modules/hello/{stale.name}: stale temporary of an "
                "interrupted install; run scons",
            f"./stand/amd64/{V}/modules/null/{young.name}":
                f"./stand/amd64/{V}/modules/null/{young.name}: unexpected (temporary of an "
                "install in progress or just interrupted)"}
        scons(tree, "ARCH=all", f"VERSION={V}", "-j2")
        assert not stale.exists() and young.exists()
    finally:
        stale.unlink(missing_ok=True)
        young.unlink(missing_ok=True)
    assert verify(tree)[1] == []


def test_a_module_the_tree_no_longer_builds_is_refused_not_packed(tmp_path: Path) -> None:
    """README: "two builds of the same sources give byte-identical sets" -- a module
    left installed (as make install leaves it) was packed too."""
    a = copy_tree(tmp_path / "a")
    scons(a, "ARCH=amd64")
    shutil.rmtree(a / "sys/modules/hello")
    left = a / f"stand/amd64/{V}/modules/hello/hello.kmod"
    line = f"{left}: unexpected; not packing a tree that does not verify"
    res = scons(a, "ARCH=amd64", "sets", check=False)
    err = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(err) == 1 and line in err[0], res.stderr
    assert not (a / f"build/sets/modules-amd64-{V}.tar.xz").exists()
    res = _kmodbuild("package", "--destdir", a, "-o", tmp_path / "pkg")
    assert res.returncode == 1 and res.stderr.splitlines()[0].startswith(line), res.stderr
    assert len(res.stderr.splitlines()) == 1 and not (tmp_path / "pkg").exists()
    shutil.rmtree(left.parent)
    scons(a, "ARCH=amd64", "sets")
    b = copy_tree(tmp_path / "b")                  # the same sources, built afresh
    shutil.rmtree(b / "sys/modules/hello")
    scons(b, "ARCH=amd64", "sets")
    set_a = (a / f"build/sets/modules-amd64-{V}.tar.xz").read_bytes()
    assert set_a == (b / f"build/sets/modules-amd64-{V}.tar.xz").read_bytes()


def test_installed_directories_are_0755_whatever_the_umask(tmp_path: Path) -> None:
    """Under umask 077 stand/... was 0700 (SCons makes the directories of a target
    with the umask), while the set says 0755."""
    t = copy_tree(tmp_path / "t")
    old = os.umask(0o077)
    try:
        scons(t, "ARCH=amd64")
    finally:
        os.umask(old)
    hello = t / f"stand/amd64/{V}/modules/hello"
    for d in (hello, *hello.parents[:4]):
        assert (d.stat().st_mode & 0o7777) == 0o755, d
    assert (hello / "hello.kmod").stat().st_mode & 0o7777 == 0o444
    log = (t / f"stand/amd64/{V}/METALOG").read_text().splitlines()
    assert f"./stand/amd64/{V}/modules/hello type=dir mode=0755" in log
    assert "./stand type=dir mode=0755" in log
    assert verify(t)[1] == []
    hello.chmod(0o700)
    assert [str(f) for f in verify(t)[1]] == [
        f"./stand/amd64/{V}/modules/hello: modified (mode 0700, expected 0755)"]
