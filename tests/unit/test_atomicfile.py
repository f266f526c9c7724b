"""kmodbuild.atomicfile: whole-file replacement, no leftovers."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kmodbuild.atomicfile import replace_file


def test_replace_file_writes_creates_directory_and_sets_mode(tmp_path: Path) -> None:
    target = tmp_path / "new" / "dir" / "out.txt"
    replace_file(str(target), [b"one ", b"two\n"], mode=0o640)
    assert target.read_bytes() == b"one two\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    replace_file(str(target), [b"three\n"])
    assert target.read_bytes() == b"three\n"
    assert sorted(os.listdir(target.parent)) == ["out.txt"]      # no temporary left


def test_replace_file_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_bytes(b"old\n")

    def chunks():
        yield b"half"
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        replace_file(str(target), chunks())
    assert target.read_bytes() == b"old\n"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_replace_file_never_writes_through_a_planted_temporary(tmp_path: Path,
                                                              monkeypatch) -> None:
    # the temporary is created with O_EXCL: a name that exists is skipped, not reused
    names = iter([b"\x01" * 6, b"\x02" * 6])
    monkeypatch.setattr(os, "urandom", lambda n: next(names))
    planted = tmp_path / f".kmodbuild-{os.getpid()}-{'01' * 6}.tmp"
    planted.write_bytes(b"someone else's\n")
    replace_file(str(tmp_path / "out.txt"), [b"mine\n"])
    assert planted.read_bytes() == b"someone else's\n"
    assert (tmp_path / "out.txt").read_bytes() == b"mine\n"
