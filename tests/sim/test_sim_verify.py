"""``kmodbuild sim --verify``: only modules whose SHA-256 matches the install's METALOG load.

Like veriexec with the METALOG as its fingerprint table: a module file that
changed since it was installed, or that the METALOG does not list, is refused
with EPERM before it is read; modload prints ``Operation not permitted``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kmodbuild.cli import main


@pytest.fixture
def destdir(built_tree, tmp_path: Path) -> Path:
    """A DESTDIR holding a copy of the installed amd64 tree (modules and METALOG)."""
    d = tmp_path / "destdir"
    shutil.copytree(built_tree.root / "stand" / "amd64", d / "stand" / "amd64")
    for p in d.rglob("*.kmod"):
        p.chmod(0o644)
    return d


def _sim(built_tree, destdir: Path, script: str, *opts: str, tmp_path: Path,
         capsys) -> tuple[int, list[str], str]:
    scn = tmp_path / "t.scn"
    scn.write_text(script)
    rc = main(["sim", "--root", str(destdir), "--arch", "amd64", "--version", "10.0",
               "--manifest", str(built_tree.manifest("amd64-x86_64")), "--script", str(scn),
               "--no-emulate", *opts])     # the modules' own console output is not the subject
    out = capsys.readouterr()
    return rc, out.out.splitlines(), out.err


def _tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data += b"\0" * 8              # still loads: the tail of the file is never read
    path.write_bytes(bytes(data))


def test_untouched_tree_loads(built_tree, destdir: Path, tmp_path: Path, capsys) -> None:
    rc, out, err = _sim(built_tree, destdir, "modload hello\nmodload null\n", "--verify",
                        tmp_path=tmp_path, capsys=capsys)
    assert rc == 0 and out == [], (out, err)


def test_modified_module_is_refused(built_tree, destdir: Path, tmp_path: Path,
                                    capsys) -> None:
    _tamper(destdir / "stand/amd64/10.0/modules/hello/hello.kmod")
    rc, out, _ = _sim(built_tree, destdir, "modload hello\n", tmp_path=tmp_path, capsys=capsys)
    assert rc == 0 and out == [], out              # without --verify it loads
    rc, out, _ = _sim(built_tree, destdir, "modload hello\nmodstat hello\n", "--verify",
                      tmp_path=tmp_path, capsys=capsys)
    assert out[:2] == ["veriexec: [%M/hello/hello.kmod]: SHA-256 does not match the METALOG, "
                       "not loaded", "modload: hello: Operation not permitted"], out
    assert not any(ln.startswith("hello ") for ln in out[2:])


def test_modified_dependency_is_refused(built_tree, destdir: Path, tmp_path: Path,
                                        capsys) -> None:
    _tamper(destdir / "stand/amd64/10.0/modules/layerfs/layerfs.kmod")
    rc, out, _ = _sim(built_tree, destdir, "modload null\n", "--verify", tmp_path=tmp_path,
                      capsys=capsys)
    assert "veriexec: [%M/layerfs/layerfs.kmod]: SHA-256 does not match the METALOG, " \
           "not loaded" in out
    assert out[-1] == "modload: null: Operation not permitted", out


def test_unrecorded_file_is_refused(built_tree, destdir: Path, tmp_path: Path,
                                    capsys) -> None:
    extra = destdir / "stand/amd64/10.0/modules/extra"
    extra.mkdir()
    shutil.copy(destdir / "stand/amd64/10.0/modules/hello/hello.kmod", extra / "hello.kmod")
    rc, out, _ = _sim(built_tree, destdir, "modload /stand/amd64/10.0/modules/extra/hello.kmod\n",
                      "--verify", tmp_path=tmp_path, capsys=capsys)
    assert out == ["veriexec: [%M/extra/hello.kmod]: not in the METALOG, not loaded",
                   "modload: /stand/amd64/10.0/modules/extra/hello.kmod: Operation not "
                   "permitted"], out


def test_validate_with_verify(built_tree, destdir: Path, capsys) -> None:
    _tamper(destdir / "stand/amd64/10.0/modules/ffs/ffs.kmod")
    rc = main(["sim", "--root", str(destdir), "--arch", "amd64", "--version", "10.0",
               "--manifest", str(built_tree.manifest("amd64-x86_64")), "--validate",
               "--verify", "--no-emulate"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 1
    assert "ffs: load failed: Operation not permitted (EPERM)" in out
    assert out[-1] == "amd64 10.0: 10 modules, 9 loaded, 9 unloaded, 1 failure"


def test_verify_needs_a_metalog(built_tree, destdir: Path, tmp_path: Path, capsys) -> None:
    (destdir / "stand/amd64/10.0/METALOG").unlink()
    rc, out, err = _sim(built_tree, destdir, "modload hello\n", "--verify", tmp_path=tmp_path,
                        capsys=capsys)
    assert rc == 1 and out == []
    assert err.splitlines() == [f"{destdir}/stand/amd64/10.0/METALOG: no install record to "
                                f"verify against (install with scons first)"], err
