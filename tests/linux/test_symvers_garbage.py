"""A ``--symvers`` file that is no Module.symvers at all is refused with one line; a
Module.symvers with some bad lines is read as depmod reads it (the bad lines skipped)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kmodbuild.cli import main
from kmodbuild.errors import ManifestError
from kmodbuild.linux.readers import load_kernel
from kmodbuild.linux.symvers import parse_symvers, read_symvers
from tests.linux.conftest import KoBuilder, KoSpec

REPO = Path(__file__).resolve().parents[2]
GARBAGE = {
    "text": "garbage here\nnot a symvers at all\n",
    "empty": "",
    "two fields": "0x1\tfoo\n0x2\tbar\n",
    "no CRC": "kfn\tvmlinux\tEXPORT_SYMBOL\nzz\tkfn\tvmlinux\n",
    "binary": "\x7fELF\x02\x01\x01\x00\x00\x00\n\x00\x00",
}


@pytest.fixture
def moddir(ko_builder: KoBuilder, tmp_path: Path) -> Path:
    d = tmp_path / "lib" / "modules" / "1.0"
    ko_builder(d / "kernel" / "user.ko", KoSpec(imports=["kfn"], versions=[("kfn", 0x98)]))
    return d


@pytest.mark.parametrize("content", GARBAGE.values(), ids=GARBAGE.keys())
def test_read_symvers_refuses_a_file_without_rows(tmp_path: Path, content: str) -> None:
    path = tmp_path / "Module.symvers"
    path.write_text(content)
    with pytest.raises(ManifestError) as e:
        read_symvers(path)
    assert str(e.value) == f"{path}: not a Module.symvers (no CRC lines)"
    assert load_kernel(str(path))[0] is None
    assert load_kernel(str(path))[3] == "not a Module.symvers (no CRC lines)"


def test_bad_lines_among_rows_are_skipped_as_depmod_does(tmp_path: Path) -> None:
    path = tmp_path / "Module.symvers"
    path.write_text("garbage\n0x98\tkfn\tvmlinux\tE\n\nmore garbage here\n")
    assert read_symvers(path).vmlinux == {"kfn": 0x98}
    # an external module's Module.symvers lists only its own exports: still one
    path.write_text("0x12\tmine\t/home/me/mod\tEXPORT_SYMBOL\n")
    assert read_symvers(path).vmlinux == {}
    assert load_kernel(str(path))[0] == {}
    # a vmlinux row with a bad CRC is depmod's "Invalid symbol version", not garbage
    assert parse_symvers("0xZZ\tkfn\tvmlinux\tE\n").invalid == [(1, "0xZZ")]


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_check_refuses_garbage_symvers(moddir: Path, tmp_path: Path, jobs: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    symvers = tmp_path / "garbage.symvers"
    symvers.write_text(GARBAGE["text"])
    # the lean path (cli runs it before the parser), and argparse's (--format=json
    # is not a quick-parser spelling), with and without the helper processes
    for argv in (["--symvers", str(symvers), "--jobs", jobs, str(moddir)],
                 ["--symvers", str(symvers), "--jobs", jobs, "--format=json", "--write-dep",
                  str(tmp_path / "dep"), str(moddir)]):
        assert main(["check", "--flavor", "linux", *argv]) == 2     # input, not a finding
        out, err = capsys.readouterr()
        assert out == ""
        assert err == f"kmodbuild check: {symvers}: not a Module.symvers (no CRC lines)\n"
    # the same file with one row: checked as before (kfn resolves)
    symvers.write_text(GARBAGE["text"] + "0x98\tkfn\tvmlinux\tEXPORT_SYMBOL\n")
    assert main(["check", "--flavor", "linux", "--symvers", str(symvers), "--jobs", jobs,
                 str(moddir)]) == 0


def test_python_m_kmodbuild_linux_refuses_it_too(moddir: Path, tmp_path: Path) -> None:
    symvers = tmp_path / "garbage.symvers"
    symvers.write_text(GARBAGE["no CRC"])
    cache = tmp_path / "cache"
    res = subprocess.run([sys.executable, "-m", "kmodbuild.linux", "--symvers", str(symvers),
                          "--cache", str(cache), str(moddir)], capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert res.returncode == 2
    assert res.stderr.endswith(f"{symvers}: not a Module.symvers (no CRC lines)\n")
    assert res.stderr.count("\n") == 1


def test_a_fifo_as_symvers_is_refused_not_waited_on(moddir: Path, tmp_path: Path) -> None:
    import os
    fifo = tmp_path / "Module.symvers"
    os.mkfifo(fifo)
    for jobs in ("1", "2"):
        res = subprocess.run([sys.executable, "-m", "kmodbuild", "check", "--flavor", "linux",
                              "--symvers", str(fifo), "--jobs", jobs, str(moddir)],
                             capture_output=True, text=True, timeout=60, cwd=REPO)
        assert res.returncode == 2
        assert res.stderr == f"kmodbuild check: {fifo}: not a regular file\n"
    with pytest.raises(ManifestError, match="not a regular file"):
        read_symvers(fifo)


def test_a_fifo_named_ko_in_a_tree_is_refused_not_waited_on(tmp_path) -> None:
    """check --flavor linux DIR with a FIFO x.ko in it waited for a writer forever."""
    import os
    import subprocess
    import sys
    (tmp_path / "kernel").mkdir()
    os.mkfifo(tmp_path / "kernel" / "x.ko")
    res = subprocess.run([sys.executable, "-m", "kmodbuild", "check", "--flavor", "linux",
                          str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert f"{tmp_path / 'kernel' / 'x.ko'}: not a valid kernel module: not a regular file" \
        in res.stdout
