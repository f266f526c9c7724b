"""Install integrity on real installed trees: METALOGs that cannot be read or are cut
short, the evbarm-earmv7hf tree under DESTDIR/destdir.*, modules without a METALOG,
FIFOs under stand/, and the temporaries a killed install leaves.

Each test failed before its fix (a traceback, a hang, a false "modified", a tree not
looked at, or a leftover file)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from kmodbuild.cli import main
from kmodbuild.errors import KmodError
from kmodbuild.install import STALE_AFTER, atomic_write, install_file
from kmodbuild.metalog import (
    file_entry,
    files,
    parse,
    recorded_hashes,
    render,
    sha256_of,
    verify,
)
from tests.unit.conftest import ARMV7

REPO = Path(__file__).resolve().parents[2]
V = "stand/amd64/10.0"


def _cli(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out.splitlines(), out.err.splitlines()


def _run(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``kmodbuild ARGV`` in a process of its own: a hang fails the test, it does not
    hang the suite."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "kmodbuild", *argv], check=False,
                          capture_output=True, text=True, env=env, timeout=timeout)


# --------------------------------------------------------------------------- 1. unreadable

def test_verify_of_a_metalog_that_is_a_directory_is_one_line(dest: Path, capsys) -> None:
    log = dest / V / "METALOG"
    log.unlink()
    log.mkdir()
    rc, out, err = _cli(capsys, "verify", str(dest))
    assert rc == 1 and out == []
    assert err == [f"{log}: cannot read: Is a directory"], err


# --------------------------------------------------------------------------- 2. malformed

def _first_file_line(log: Path) -> int:
    """The number of the METALOG's first file record (directories come before it)."""
    return next(i for i, ln in enumerate(log.read_text().splitlines(), 1) if " type=file " in ln)


def test_verify_refuses_a_truncated_metalog(dest: Path, capsys) -> None:
    log = dest / V / "METALOG"
    n = _first_file_line(log)
    text = log.read_text()
    log.write_text(text[:text.index(" sha256=", text.index(" type=file "))])   # cut in line n
    rc, out, err = _cli(capsys, "verify", str(dest))
    assert rc == 1 and out == []
    assert len(err) == 1 and err[0].startswith(f"{log}:{n}: malformed METALOG line"), err
    assert "Traceback" not in err[0]


def test_verify_refuses_a_bad_digest(dest: Path, capsys) -> None:
    log = dest / V / "METALOG"
    n = _first_file_line(log)
    lines = log.read_text().splitlines(keepends=True)
    lines[n - 1] = lines[n - 1].split(" sha256=")[0] + " sha256=zz\n"
    log.write_text("".join(lines))
    rc, out, err = _cli(capsys, "verify", str(dest))
    assert (rc, out) == (1, [])
    assert err == [f"{log}:{n}: malformed METALOG line (sha256 must be 64 hex digits)"], err


GOOD = "./stand/amd64/10.0/modules/a/a.kmod type=file mode=0444 size=3 sha256=" + "ab" * 32


def _bad(old: str, new: str, why: str, id: str) -> object:
    """A case: GOOD with ``old`` replaced by ``new`` is refused because ``why``."""
    return pytest.param(GOOD.replace(old, new) if old else GOOD + new, why, id=id)


@pytest.mark.parametrize("line, why", [
    _bad("ab" * 32, "ab" * 31, "sha256 must be 64 hex", "short-sha256"),
    _bad("ab" * 32, "zz" * 32, "sha256 must be 64 hex", "non-hex-sha256"),
    _bad("size=3", "size=3k", "size must be a whole number", "size-suffix"),
    _bad("size=3", "size=-3", "size must be a whole number", "negative-size"),
    _bad("mode=0444", "mode=0999", "mode must be octal", "mode-not-octal"),
    _bad("mode=0444", "mode=17777", "mode must be octal", "mode-too-big"),
    _bad(" size=3", "", "no size=", "no-size"),
    _bad(" type=file", "", "no type=", "no-type"),
    _bad("type=file", "type=link", "type must be file", "type-link"),
    _bad("", " size=3", "size= given twice", "size-twice"),
    _bad("", " uid=0", "unknown keyword 'uid'", "unknown-keyword"),
    _bad("", " junk", "expected keyword=value", "no-equals"),
    _bad("./stand", "./../stand", "the path must be", "dotdot-path"),
    _bad("./stand", ".//etc", "the path must be", "absolute-path"),
    _bad("./stand", "stand", "the path must be", "no-dot-slash"),
])
def test_parse_names_the_line_and_the_problem(line: str, why: str) -> None:
    text = "#mtree v2.0\n# comment\n" + line + "\n"
    with pytest.raises(KmodError) as e:
        parse(text, Path("M"))
    assert str(e.value).startswith("M:3: malformed METALOG line (" + why), str(e.value)


def test_parse_refuses_a_last_line_without_newline_and_a_path_twice() -> None:
    with pytest.raises(KmodError, match=r"^M:2: malformed METALOG line \(cut short"):
        parse("#mtree v2.0\n" + GOOD, Path("M"))
    with pytest.raises(KmodError, match=r"^M:3: malformed .*recorded on line 2 too\)$"):
        parse(f"#mtree v2.0\n{GOOD}\n{GOOD}\n", Path("M"))


def test_parse_accepts_everything_render_writes(tmp_path: Path) -> None:
    mods = tmp_path / "stand/amd64/10.0/modules"
    for name, mode in (("a", 0o444), ("b w\\x", 0o644), ("t\tab", 0o4755), ("e", 0o400)):
        (mods / name).mkdir(parents=True)
        f = mods / name / f"{name}.kmod"
        f.write_bytes(name.encode() * 3)
        os.chmod(f, mode)
    (mods / "e" / "e.kmod").chmod(0o400)
    entries = [file_entry(tmp_path, p) for p in mods.rglob("*.kmod")]
    assert files(parse(render(entries), Path("M"))) == sorted(entries, key=lambda e: e.path)
    assert parse(render([]), Path("M")) == []


def test_the_real_metalogs_parse(dest: Path) -> None:
    count, findings = verify(dest)
    assert findings == [] and count >= 8 * 5


# --------------------------------------------------------------------------- 3. destdir.*

def test_verify_of_destdir_checks_the_evbarm_earmv7hf_tree(dest: Path, capsys) -> None:
    count_all, findings = verify(dest)
    assert findings == []
    arm = dest / ARMV7 / "stand/evbarm/10.0"
    count_arm, findings = verify(dest / ARMV7)
    assert findings == [] and 0 < count_arm < count_all
    assert count_all == sum(len(files(parse(p.read_text(), p)))
                            for p in [*dest.glob("stand/*/*/METALOG"),
                                      *dest.glob("destdir.*/stand/*/*/METALOG")])
    hello = arm / "modules/hello/hello.kmod"
    hello.chmod(0o644)
    hello.write_bytes(hello.read_bytes() + b"\0")
    (arm / "modules/hello/extra").write_bytes(b"x")
    rc, out, err = _cli(capsys, "verify", str(dest))
    assert rc == 1 and err == []
    assert out == [f"./{ARMV7}/stand/evbarm/10.0/modules/hello/extra: unexpected",
                   (f"./{ARMV7}/stand/evbarm/10.0/modules/hello/hello.kmod: modified "
                    "(contents differ)"),
                   f"{count_all} files recorded, 2 problem(s)"], out
    # the tree on its own: paths relative to it, no false missing/unexpected
    rc, out, err = _cli(capsys, "verify", str(dest / ARMV7))
    assert rc == 1 and err == []
    assert out == ["./stand/evbarm/10.0/modules/hello/extra: unexpected",
                   "./stand/evbarm/10.0/modules/hello/hello.kmod: modified (contents differ)",
                   f"{count_arm} files recorded, 2 problem(s)"], out


def test_verify_of_the_evbarm_earmv7hf_tree_from_inside_it(
        dest: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(dest / ARMV7)
    rc, out, err = _cli(capsys, "verify")
    assert rc == 0 and err == [] and out[-1].endswith(" files recorded, 0 problem(s)"), out


def test_sim_verify_hashes_of_the_evbarm_earmv7hf_tree_name_its_files(dest: Path) -> None:
    """``sim --verify`` reads the same METALOG: its paths are relative to the top DESTDIR
    (they named DESTDIR/destdir.X/destdir.X/..., so every module was "not in the METALOG")."""
    mods = dest / ARMV7 / "stand/evbarm/10.0/modules"
    hashes = recorded_hashes(mods)
    assert hashes and set(hashes) == {str(p) for p in mods.rglob("*.kmod")}
    assert hashes[str(mods / "hello/hello.kmod")] == sha256_of(mods / "hello/hello.kmod")


# --------------------------------------------------------------------------- 4. no METALOG

def test_modules_without_a_metalog_are_reported(dest: Path, capsys) -> None:
    (dest / "stand/riscv/10.0/METALOG").unlink()
    rc, out, err = _cli(capsys, "verify", str(dest))
    assert rc == 1 and err == []
    assert out[0] == "./stand/riscv/10.0: modules installed but no METALOG", out
    assert out[-1].endswith(" files recorded, 1 problem(s)")
    rc, out, _ = _cli(capsys, "verify", "--format", "json", str(dest))
    assert rc == 1 and '"kind": "no-metalog"' in "\n".join(out)


def test_no_metalog_at_all_is_still_a_usage_error(tmp_path: Path, capsys) -> None:
    mods = tmp_path / "stand/riscv/10.0/modules/x"
    mods.mkdir(parents=True)
    (mods / "x.kmod").write_bytes(b"x")
    rc, _, err = _cli(capsys, "verify", str(tmp_path))
    assert rc == 2 and "no stand/<MACHINE>/<VERSION>/METALOG found" in err[0]


# --------------------------------------------------------------------------- 5. FIFOs

def test_package_refuses_a_fifo_under_stand_without_hanging(dest: Path, tmp_path: Path) -> None:
    fifo = dest / V / "modules/hello/f2"
    os.mkfifo(fifo)
    res = _run("package", "--destdir", str(dest), "-o", str(tmp_path / "sets"))
    assert res.returncode == 1, res
    # not recorded in the METALOG: refused by the verification, never opened
    assert res.stderr.splitlines() == [
        f"{fifo}: unexpected; not packing a tree that does not verify (1 problem; "
        f"kmodbuild verify {dest} lists it)"], res.stderr
    assert not (tmp_path / "sets").exists()          # nothing half-written


def test_verify_reports_a_fifo_without_opening_it(dest: Path) -> None:
    os.mkfifo(dest / V / "modules/hello/f2")
    hello = dest / V / "modules/null/null.kmod"
    hello.unlink()
    os.mkfifo(hello)                                 # a recorded file replaced by a FIFO
    res = _run("verify", str(dest))
    assert res.returncode == 1 and res.stderr == "", res
    assert res.stdout.splitlines()[:2] == [
        f"./{V}/modules/hello/f2: unexpected",
        f"./{V}/modules/null/null.kmod: modified (not a regular file)"], res.stdout


# --------------------------------------------------------------------------- 6. temporaries

def _stale(dest: Path) -> Path:
    """A temporary as a killed :func:`atomic_write` of ``dest`` leaves it."""
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.write(fd, b"half a modu")
    os.close(fd)
    old = time.time() - STALE_AFTER - 5          # killed a while ago
    os.utime(name, (old, old))
    return Path(name)


def test_a_young_temporary_may_be_a_live_write_and_stays(tmp_path: Path) -> None:
    """Two trees' builds may install into one DESTDIR at once (the lock is per tree):
    a temporary younger than STALE_AFTER is left alone."""
    d = tmp_path / "d"
    src = tmp_path / "m.kmod"
    src.write_bytes(b"one")
    out = install_file(src, d, "stand/amd64/10.0/modules/m/m.kmod")
    fd, live = tempfile.mkstemp(prefix=".m.kmod.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    src.write_bytes(b"two")
    install_file(src, d, "stand/amd64/10.0/modules/m/m.kmod")
    assert Path(live).exists()


@pytest.mark.parametrize("same", [False, True], ids=["new-contents", "unchanged"])
def test_install_removes_stale_temporaries_of_that_file(tmp_path: Path, same: bool) -> None:
    d = tmp_path / "d"
    rel = "stand/amd64/10.0/modules/m/m.kmod"
    src = tmp_path / "m.kmod"
    src.write_bytes(b"one")
    out = install_file(src, d, rel)
    stale = [_stale(out), _stale(out)]
    keep = [out.parent / ".m.kmod.abcdefghi.tmp",     # not the writer's pattern
            out.parent / ".m.kmod.abcdefgh.tmp.x",
            out.parent / ".mm.kmod.abcdefgh.tmp",     # another file's temporary
            out.parent / "m.kmod.abcdefgh.tmp"]
    for k in keep:
        k.write_bytes(b"k")
    (out.parent / ".m.kmod.dir_____.tmp").mkdir()     # not a regular file
    os.symlink("m.kmod", out.parent / ".m.kmod.link____.tmp")
    if not same:
        src.write_bytes(b"two")
    install_file(src, d, rel)
    assert not any(p.exists() for p in stale)
    assert all(k.exists() for k in keep)
    assert (out.parent / ".m.kmod.dir_____.tmp").is_dir()
    assert os.path.islink(out.parent / ".m.kmod.link____.tmp")
    assert out.read_bytes() == src.read_bytes()


def test_writing_a_metalog_removes_its_stale_temporaries(tmp_path: Path) -> None:
    log = tmp_path / "stand/amd64/10.0/METALOG"
    atomic_write(log, b"#mtree v2.0\n", 0o644)
    stale = _stale(log)
    other = _stale(tmp_path / "stand/amd64/10.0/modules.dep")
    atomic_write(log, render([]).encode(), 0o644)
    assert not stale.exists() and other.exists()


def test_reinstall_after_a_killed_install_verifies_clean(dest: Path) -> None:
    """What a SIGKILL leaves (a temporary beside the module and beside METALOG) is
    gone after the next install, so verify finds nothing unexpected."""
    mods = dest / V / "modules"
    hello = mods / "hello/hello.kmod"
    leftovers = [_stale(hello), _stale(dest / V / "METALOG")]
    assert [f.kind for f in verify(dest)[1]] == ["stale-temporary"]   # under modules/
    src = dest.parent / "hello.kmod"
    src.write_bytes(hello.read_bytes() + b"\0")
    install_file(src, dest, f"{V}/modules/hello/hello.kmod")
    atomic_write(dest / V / "METALOG",
                 render([file_entry(dest, p) for p in sorted(mods.rglob("*.kmod"))]).encode(),
                 0o644)
    assert not any(p.exists() for p in leftovers)
    assert verify(dest)[1] == []


# --------------------------------------------------------------------------- 6. package spellings

def test_package_takes_the_destdir_spellings_verify_and_sim_take(
        dest: Path, tmp_path: Path, capsys) -> None:
    """``package --destdir destdir.evbarm-earmv7hf`` added the per-target prefix a second
    time (DESTDIR/destdir.X/destdir.X/stand/...: "no installed modules here"), although
    ``verify destdir.evbarm-earmv7hf`` works; ``--destdir stand`` is what sim --root takes."""
    def pack(destdir: Path, arch: str, out: str) -> tuple[int, list[str], list[str]]:
        return _cli(capsys, "package", "--destdir", str(destdir), "--arch", arch,
                    "--version", "10.0", "-o", str(tmp_path / out))
    arm = "modules-evbarm-earmv7hf-10.0.tar.xz"
    assert pack(dest, "evbarm-earmv7hf", "top")[0] == 0
    rc, out, err = pack(dest / ARMV7, "evbarm-earmv7hf", "own")
    assert rc == 0 and err == [], err
    assert (tmp_path / "own" / arm).read_bytes() == (tmp_path / "top" / arm).read_bytes()
    assert pack(dest, "amd64", "top")[0] == 0
    rc, out, err = pack(dest / "stand", "amd64", "stand")
    assert rc == 0 and err == [], err
    assert (tmp_path / "stand/modules-amd64-10.0.tar.xz").read_bytes() == \
        (tmp_path / "top/modules-amd64-10.0.tar.xz").read_bytes()
    # the evbarm-earmv7hf tree holds stand/evbarm too, but not evbarm-aarch64's modules
    rc, out, err = pack(dest / ARMV7, "evbarm-aarch64", "wrong")
    assert rc == 2 and "the tree of evbarm-earmv7hf, not of evbarm-aarch64" in err[0], err
    assert not (tmp_path / "wrong").exists()


def test_the_evbarm_earmv7hf_metalog_is_relative_to_its_own_destdir(dest: Path) -> None:
    """As build.sh's METALOG in each per-target DESTDIR: ``./stand/...`` inside
    destdir.evbarm-earmv7hf/ (it recorded ``./destdir.evbarm-earmv7hf/stand/...``)."""
    log = dest / ARMV7 / "stand/evbarm/10.0/METALOG"
    paths = [e.path for e in parse(log.read_text(), log)]
    assert paths and all(p == "./stand" or p.startswith("./stand/") for p in paths), paths[:3]
    assert file_entry(dest, dest / ARMV7 / "stand/evbarm/10.0/modules/hello/hello.kmod").path \
        == "./stand/evbarm/10.0/modules/hello/hello.kmod"
    assert verify(dest)[1] == [] and verify(dest / ARMV7)[1] == []
    # a METALOG an older kmodbuild wrote (relative to the top DESTDIR) still verifies
    old = "".join(ln.replace("./stand", f"./{ARMV7}/stand", 1) if ln.startswith("./") else ln
                  for ln in log.read_text().splitlines(keepends=True))
    log.chmod(0o644)
    log.write_text(old)
    assert verify(dest)[1] == [] and verify(dest / ARMV7)[1] == []
    mods = log.parent / "modules"
    assert set(recorded_hashes(mods)) == {str(p) for p in mods.rglob("*.kmod")}
