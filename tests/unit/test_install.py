"""Install safety: names, symlinks, atomic replacement (SIGKILL at random points), METALOG, sets."""
from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from kmodbuild.errors import InstallError, KmodError, ModuleNameError
from kmodbuild.install import install_file, safe_dest, validate_module_name
from kmodbuild.metalog import file_entry, files, parse, render, verify
from kmodbuild.sets import make_set, write_sets

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["a/b", "..", "x..y", "has space", "a" * 32, "", "9lives",
                                  "tab\there", "dash-name"])
def test_bad_module_names_are_refused(name: str) -> None:
    with pytest.raises(ModuleNameError):
        validate_module_name(name)


def test_good_names() -> None:
    assert validate_module_name("a" * 31) == "a" * 31
    assert validate_module_name("compat_linux32") == "compat_linux32"
    with pytest.raises(ModuleNameError, match="at most 30"):
        validate_module_name("b" * 31, what="required module name", limit=30)


def test_installer_never_follows_a_symlink_out_of_destdir(tmp_path: Path) -> None:
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    (dest / "stand").mkdir(parents=True)
    outside.mkdir()
    os.symlink(outside, dest / "stand" / "amd64")
    src = tmp_path / "m.kmod"
    src.write_bytes(b"\x7fELF")
    with pytest.raises(InstallError, match="symlink"):
        install_file(src, dest, "stand/amd64/10.0/modules/m/m.kmod")
    assert not any(outside.iterdir())
    with pytest.raises(InstallError, match="outside DESTDIR"):
        safe_dest(dest, "../escape.kmod")
    # a symlink planted at the file itself is refused too
    (dest / "stand" / "i386").mkdir()
    os.symlink(outside / "x", dest / "stand" / "i386" / "m.kmod")
    with pytest.raises(InstallError, match="symlink"):
        install_file(src, dest, "stand/i386/m.kmod")


def test_install_is_mode_0444_and_idempotent(tmp_path: Path) -> None:
    src = tmp_path / "m.kmod"
    src.write_bytes(b"one")
    out = install_file(src, tmp_path / "d", "stand/amd64/10.0/modules/m/m.kmod")
    assert stat.S_IMODE(out.stat().st_mode) == 0o444 and out.read_bytes() == b"one"
    ino = out.stat().st_ino
    install_file(src, tmp_path / "d", "stand/amd64/10.0/modules/m/m.kmod")
    assert out.stat().st_ino == ino            # unchanged file not rewritten
    src.write_bytes(b"two")
    install_file(src, tmp_path / "d", "stand/amd64/10.0/modules/m/m.kmod")
    assert out.read_bytes() == b"two"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


_INSTALLER = """
import sys
from pathlib import Path
from kmodbuild.install import install_file
src, dest, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
print("ready", flush=True)
for i in range(n):
    install_file(src / f"m{i}.kmod", dest, f"stand/amd64/10.0/modules/m{i}/m{i}.kmod")
"""


def test_sigkill_during_install_leaves_old_or_new_never_partial(tmp_path: Path) -> None:
    """Kill the installer at random points until it was killed 50 times (at most 300
    rounds: a fast or a loaded machine changes how often it finishes first); every file
    is old or new, byte for byte."""
    n, size = 12, 256 * 1024
    rng = random.Random(1234)
    old_dir, new_dir, dest = tmp_path / "old", tmp_path / "new", tmp_path / "dest"
    old_dir.mkdir()
    new_dir.mkdir()
    old, new = {}, {}
    for i in range(n):
        old[i] = bytes([i]) * size
        new[i] = rng.randbytes(size + i)
        (old_dir / f"m{i}.kmod").write_bytes(old[i])
        (new_dir / f"m{i}.kmod").write_bytes(new[i])
    env = dict(os.environ, PYTHONPATH=str(REPO))
    kills = 0
    for round_ in range(300):
        if kills >= 50:
            break
        src = old_dir if round_ % 2 == 0 else new_dir
        proc = subprocess.Popen([sys.executable, "-c", _INSTALLER, str(src), str(dest), str(n)],
                                stdout=subprocess.PIPE, env=env)
        assert proc.stdout is not None
        proc.stdout.readline()
        time.sleep(rng.uniform(0, 0.03))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        for i in range(n):
            f = dest / f"stand/amd64/10.0/modules/m{i}/m{i}.kmod"
            if f.exists():
                assert f.read_bytes() in (old[i], new[i]), f"round {round_}: partial {f}"
    assert kills >= 50


def test_metalog_round_trip_and_verify(tmp_path: Path) -> None:
    d = tmp_path
    mods = d / "stand/amd64/10.0/modules"
    for name in ("a", "b w"):
        (mods / name).mkdir(parents=True)
        (mods / name / f"{name}.kmod").write_bytes(name.encode())
        os.chmod(mods / name / f"{name}.kmod", 0o444)
    entries = [file_entry(d, p) for p in sorted(mods.rglob("*.kmod"))]
    text = render(entries)
    assert "b\\040w" in text                     # mtree escapes white space
    assert files(parse(text, Path("METALOG"))) == sorted(entries, key=lambda e: e.path)
    (d / "stand/amd64/10.0/METALOG").write_text(text)
    assert verify(d) == (2, [])
    os.chmod(mods / "a/a.kmod", 0o644)
    _, findings = verify(d)
    assert [str(f) for f in findings] == [
        "./stand/amd64/10.0/modules/a/a.kmod: modified (mode 0644, expected 0444)"]


def test_metalog_parse_errors_name_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(KmodError, match=r"^M:3: malformed METALOG line \(no size=\)$"):
        parse("#mtree\n./a type=file mode=0444 size=1 sha256=" + "0" * 64
              + "\n./b type=file mode=zz\n", Path("M"))


def _install_hello(tmp_path: Path) -> tuple[Path, Path]:
    """DESTDIR with hello.kmod installed and recorded in its METALOG: (DESTDIR, modules)."""
    d = tmp_path / "dest"
    src = tmp_path / "hello.kmod"
    src.write_bytes(b"module bytes")
    hello = install_file(src, d, "stand/amd64/10.0/modules/hello/hello.kmod")
    (d / "stand/amd64/10.0/METALOG").write_text(render([file_entry(d, hello)]))
    return d, d / "stand/amd64/10.0/modules"


def test_sets_are_reproducible(tmp_path: Path) -> None:
    d, mods = _install_hello(tmp_path)
    one = make_set(mods, d)
    os.utime(mods / "hello/hello.kmod", (12345, 12345))
    assert make_set(mods, d) == one
    out = write_sets([(mods, d, "modules-amd64-10.0.tar.xz")], tmp_path / "sets")
    with tarfile.open(out[0]) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["./stand", "./stand/amd64", "./stand/amd64/10.0",
                                         "./stand/amd64/10.0/modules",
                                         "./stand/amd64/10.0/modules/hello",
                                         "./stand/amd64/10.0/modules/hello/hello.kmod"]
    assert all(m.uid == 0 and m.gname == "wheel" and m.mtime == 0 for m in members)
    assert (tmp_path / "sets/SHA512").read_text().startswith(
        "SHA512 (modules-amd64-10.0.tar.xz) = ")


def test_sets_take_source_date_epoch_and_refuse_a_malformed_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d, mods = _install_hello(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    out = write_sets([(mods, d, "modules-amd64-10.0.tar.xz")], tmp_path / "sets")
    with tarfile.open(out[0]) as tar:
        assert {m.mtime for m in tar.getmembers()} == {1700000000}
    # reproducible-builds.org: a malformed value fails instead of becoming 0 (and "²" or
    # Arabic-Indic digits, which str.isdigit() takes)
    for bad in ("abc", "-5", "1.5", str(8 ** 11), "\u00b2", "\u0661\u0662\u0663"):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", bad)
        with pytest.raises(KmodError, match=rf"^SOURCE_DATE_EPOCH='{bad}': expected whole "
                                            r"seconds since 1970, 0 to 8589934591$"):
            make_set(mods, d)


def test_verify_of_a_directory_that_is_not_an_install_root_is_a_usage_error(
        tmp_path: Path, capsys) -> None:
    """README's exit-code table: verify exits 2 on a usage error (it said 1, "files
    differ", for a DESTDIR that does not exist)."""
    from kmodbuild import cli
    assert cli.main(["verify", str(tmp_path / "nosuch")]) == 2
    assert "nosuch: no such directory" in capsys.readouterr().err
    assert cli.main(["verify", str(tmp_path)]) == 2
    assert "no stand/<MACHINE>/<VERSION>/METALOG found" in capsys.readouterr().err
