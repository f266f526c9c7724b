"""``kmodbuild verify`` and ``kmodbuild package`` on damaged copies of a real install
(audit findings): package packed damaged trees and exited 0; verify followed symlinked
directories and passed; temporaries of a killed install were plain "unexpected"; SHA512
listed every archive in the output directory; directories followed the umask.

Each test failed before its fix.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import time
from pathlib import Path

import pytest

from kmodbuild.cli import main
from kmodbuild.errors import InstallError, KmodError
from kmodbuild.install import (
    STALE_AFTER,
    install_file,
    make_dirs,
    remove_stale_temporaries_in,
    safe_dest,
    symlink_in_path,
)
from kmodbuild.metalog import Entry, files, parse, read_metalog, render, verify
from kmodbuild.sets import write_sets

V = "stand/amd64/10.0"
REFUSED = "not packing a tree that does not verify"


def _cli(capsys, *argv: str | Path) -> tuple[int, list[str], list[str]]:
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out.splitlines(), out.err.splitlines()


def _outside(dest: Path, rel: str) -> Path:
    """Move ``dest/rel`` out of DESTDIR and leave a symlink to it in its place."""
    inside = dest / rel
    away = dest.parent / "elsewhere" / inside.name
    away.parent.mkdir(exist_ok=True)
    shutil.move(inside, away)
    inside.symlink_to(away)
    return inside


# --------------------------------------------------------------------------- package

def _modify(dest: Path) -> tuple[Path, str]:
    f = dest / V / "modules/hello/hello.kmod"
    f.chmod(0o644)
    f.write_bytes(f.read_bytes() + b"\0")
    f.chmod(0o444)
    return f, "modified (contents differ)"


def _delete(dest: Path) -> tuple[Path, str]:
    f = dest / V / "modules/null/null.kmod"
    f.unlink()
    return f, "missing"


def _extra(dest: Path) -> tuple[Path, str]:
    f = dest / V / "modules/extra/extra.kmod"
    f.parent.mkdir()
    shutil.copy(dest / V / "modules/hello/hello.kmod", f)
    return f, "unexpected"


def _hidden(dest: Path) -> tuple[Path, str]:
    f = dest / V / "modules/.evil/evil.kmod"
    f.parent.mkdir()
    shutil.copy(dest / V / "modules/hello/hello.kmod", f)
    return f, "unexpected"


def _symlinked_modules(dest: Path) -> tuple[Path, str]:
    return _outside(dest, f"{V}/modules"), "modified (symlink)"


def _symlinked_stand(dest: Path) -> tuple[Path, str]:
    return _outside(dest, "stand/amd64"), "modified (symlink)"


@pytest.mark.parametrize("damage", [_modify, _delete, _extra, _hidden, _symlinked_modules,
                                    _symlinked_stand],
                         ids=["modified", "deleted", "extra", "hidden-dir", "symlinked-modules",
                              "symlinked-stand-machine"])
def test_package_refuses_a_tree_that_does_not_verify(dest: Path, tmp_path: Path, capsys,
                                                     damage) -> None:
    path, what = damage(dest)
    out = tmp_path / "sets"
    rc, stdout, err = _cli(capsys, "package", "--destdir", dest, "-o", out)
    assert (rc, stdout, len(err)) == (1, [], 1), err
    assert re.fullmatch(re.escape(f"{path}: {what}; {REFUSED} (") + r"(1 problem; .* it|\d+ "
                        r"problems; .* them)\)", err[0]), err
    assert f"; kmodbuild verify {dest} lists " in err[0]
    assert not out.exists()                       # nothing written


@pytest.mark.parametrize("modules", [True, False], ids=["modules", "empty"])
def test_package_refuses_a_tree_without_a_metalog(dest: Path, tmp_path: Path, capsys,
                                                  modules: bool) -> None:
    """It packed whatever was there: an empty set for an empty modules directory."""
    log = dest / V / "METALOG"
    log.unlink()
    if not modules:
        shutil.rmtree(dest / V / "modules")
        (dest / V / "modules").mkdir()
    rc, _, err = _cli(capsys, "package", "--destdir", dest, "-o", tmp_path / "sets")
    assert rc == 1 and err == [f"{log}: missing: nothing records what was installed "
                               "(install with scons first)"], err
    assert not (tmp_path / "sets").exists()


@pytest.mark.parametrize("text", ["", "\n  \n"])
def test_an_empty_metalog_is_named_empty(dest: Path, capsys, text: str) -> None:
    """A METALOG cut to nothing: one line saying so, not every installed file reported
    as unexpected."""
    log = dest / V / "METALOG"
    log.write_text(text)
    rc, _, err = _cli(capsys, "verify", dest)
    assert rc == 1 and len(err) == 1 and "empty METALOG" in err[0] and str(log) in err[0], err
    assert render([]).strip()           # what the build writes is never empty


def test_a_set_holds_the_metalog_s_files_and_their_directories(dest: Path,
                                                               tmp_path: Path) -> None:
    (out,) = write_sets([(dest / V / "modules", dest, "modules-amd64-10.0.tar.xz")],
                        tmp_path / "sets")
    with tarfile.open(out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    recorded = files(read_metalog(dest / V / "METALOG"))
    dirs = {"./stand", "./stand/amd64", f"./{V}", f"./{V}/modules",
            *(e.path.rsplit("/", 1)[0] for e in recorded)}
    assert set(members) == {e.path for e in recorded} | dirs
    assert all(members[d].isdir() and members[d].mode == 0o755 for d in dirs)


def test_sha512_lists_the_sets_this_run_wrote(dest: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "sets"
    assert _cli(capsys, "package", "--destdir", dest, "--arch", "all", "-o", out)[0] == 0
    assert len((out / "SHA512").read_text().splitlines()) == 8
    assert _cli(capsys, "package", "--destdir", dest, "-o", out)[0] == 0
    amd64 = out / "modules-amd64-10.0.tar.xz"
    assert (out / "SHA512").read_text() == \
        f"SHA512 ({amd64.name}) = {hashlib.sha512(amd64.read_bytes()).hexdigest()}\n"


# --------------------------------------------------------------------------- verify: symlinks

@pytest.mark.parametrize("rel, first", [
    (f"{V}/modules", f"./{V}/modules: modified (symlink)"),
    ("stand/amd64", "./stand/amd64: modified (symlink)"),
    (f"{V}/modules/hello", f"./{V}/modules/hello: modified (symlink)"),
], ids=["modules", "stand-machine", "module-dir"])
def test_verify_does_not_follow_a_symlinked_directory(dest: Path, capsys, rel: str,
                                                      first: str) -> None:
    """`scons` refuses to install through these; verify passed them (exit 0), and a
    symlinked module directory was only "unexpected"."""
    _outside(dest, rel)
    rc, out, err = _cli(capsys, "verify", dest)
    assert rc == 1 and err == [], err
    assert first in out, out
    hello = f"./{V}/modules/hello/hello.kmod"
    assert f"{hello}: modified (symlink in path: ./{rel})" in out, out


def test_verify_of_an_old_metalog_names_a_symlinked_directory_unexpected(
        dest: Path, capsys) -> None:
    """A METALOG without directory records (an older kmodbuild's): the symlink itself is
    'unexpected (symlink)', each file below it 'symlink in path'."""
    log = dest / V / "METALOG"
    log.write_text("".join(ln for ln in log.read_text().splitlines(keepends=True)
                           if " type=dir " not in ln))
    _outside(dest, f"{V}/modules")
    rc, out, _ = _cli(capsys, "verify", dest)
    assert rc == 1
    assert out[:2] == [f"./{V}/modules: unexpected (symlink)",
                       f"./{V}/modules/bitbucket/bitbucket.kmod: modified "
                       f"(symlink in path: ./{V}/modules)"], out


def test_verify_names_a_symlink_placed_under_modules(dest: Path, capsys) -> None:
    (dest / V / "modules/hello/link.kmod").symlink_to("hello.kmod")
    rc, out, _ = _cli(capsys, "verify", dest)
    assert rc == 1 and out[0] == f"./{V}/modules/hello/link.kmod: unexpected (symlink)", out


def test_symlink_in_path_is_what_safe_dest_refuses(tmp_path: Path) -> None:
    (tmp_path / "stand/amd64").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "stand/amd64/10.0").symlink_to(tmp_path / "elsewhere")
    rel = "stand/amd64/10.0/modules/m/m.kmod"
    assert symlink_in_path(tmp_path, rel) == tmp_path / "stand/amd64/10.0"
    assert symlink_in_path(tmp_path, "stand/amd64") is None
    with pytest.raises(InstallError, match=r"10\.0: refusing to follow a symlink under DESTDIR$"):
        safe_dest(tmp_path, rel)


# --------------------------------------------------------------------------- temporaries

def _temporary(path: Path, age: float) -> Path:
    path.write_bytes(b"half")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_verify_names_the_temporaries_of_an_interrupted_install(dest: Path, capsys) -> None:
    mods = dest / V / "modules"
    stale = _temporary(mods / "hello/.hello.kmod.abcd_123.tmp", STALE_AFTER + 30)
    young = _temporary(mods / "null/.null.kmod.efgh_456.tmp", 0)
    rc, out, _ = _cli(capsys, "verify", dest)
    assert rc == 1
    assert out[:2] == [
        f"./{V}/modules/hello/{stale.name}: stale temporary of an interrupted install; "
        "run scons",
        f"./{V}/modules/null/{young.name}: unexpected (temporary of an install in progress "
        "or just interrupted)"], out
    rc, out, _ = _cli(capsys, "verify", "--format", "json", dest)
    assert '"kind": "stale-temporary"' in "\n".join(out)


def test_the_metalog_step_removes_stale_temporaries_only(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    stale = [_temporary(d / ".m.kmod.abcd_123.tmp", STALE_AFTER + 5),
             _temporary(d / ".other.plist.zzzzzzzz.tmp", STALE_AFTER + 5)]
    keep = [_temporary(d / ".m.kmod.young123.tmp", 0),             # a live write, maybe
            _temporary(d / "m.kmod", STALE_AFTER + 5),
            _temporary(d / ".m.kmod.abcdefghi.tmp", STALE_AFTER + 5)]  # not mkstemp's
    (d / ".m.kmod.dir_____.tmp").mkdir()
    assert sorted(remove_stale_temporaries_in(d)) == sorted(stale)
    assert all(k.exists() for k in keep) and (d / ".m.kmod.dir_____.tmp").is_dir()


# --------------------------------------------------------------------------- directories

def test_install_makes_directories_0755_whatever_the_umask(tmp_path: Path) -> None:
    src = tmp_path / "m.kmod"
    src.write_bytes(b"m")
    d = tmp_path / "d"
    d.mkdir(mode=0o700)
    (d / "stand/amd64").mkdir(parents=True)
    (d / "stand/amd64").chmod(0o700)               # made by SCons under umask 077
    old = os.umask(0o077)
    try:
        out = install_file(src, d, "stand/amd64/10.0/modules/m/m.kmod")
    finally:
        os.umask(old)
    for p in (out.parent, *out.parents[1:5]):
        assert p.stat().st_mode & 0o7777 == 0o755, p
    assert d.stat().st_mode & 0o7777 == 0o700      # DESTDIR itself is left alone
    make_dirs(d, "stand")                          # idempotent
    assert (d / "stand").stat().st_mode & 0o7777 == 0o755


def test_metalog_records_directories_and_verify_checks_them(tmp_path: Path) -> None:
    src = tmp_path / "m.kmod"
    src.write_bytes(b"m")
    d = tmp_path / "d"
    out = install_file(src, d, "stand/amd64/10.0/modules/m/m.kmod")
    text = render([Entry("./stand/amd64/10.0/modules/m/m.kmod", 0o444, 1,
                         hashlib.sha256(b"m").hexdigest())])
    assert text.splitlines()[2:] == [
        "./stand type=dir mode=0755", "./stand/amd64 type=dir mode=0755",
        "./stand/amd64/10.0 type=dir mode=0755", "./stand/amd64/10.0/modules type=dir mode=0755",
        "./stand/amd64/10.0/modules/m type=dir mode=0755",
        "./stand/amd64/10.0/modules/m/m.kmod type=file mode=0444 size=1 sha256="
        + hashlib.sha256(b"m").hexdigest()]
    assert render(parse(text, Path("M"))) == text
    (d / "stand/amd64/10.0/METALOG").write_text(text)
    assert verify(d) == (1, [])
    out.parent.chmod(0o700)
    assert [str(f) for f in verify(d)[1]] == [
        "./stand/amd64/10.0/modules/m: modified (mode 0700, expected 0755)"]
    with pytest.raises(KmodError, match=r"^M:3: malformed METALOG line \(a directory has no "):
        parse("#mtree v2.0\n\n./stand type=dir mode=0755 size=0\n", Path("M"))
