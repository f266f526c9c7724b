"""The bugs a fuzzer of ``check --flavor linux`` with ``--jobs 2`` (against ``--jobs 1``)
found on damaged ``.ko``/``.ko.gz``/``.ko.xz`` files, Module.symvers and modules.order,
each pinned here.

1. A ``.ko.gz`` whose gzip header is sound but whose deflate stream is damaged raised
   ``zlib.error`` (not an ``OSError``) out of the reader: an internal error with a
   traceback, for ``--jobs 1`` and ``--jobs 2`` alike (a helper that met it stopped; the
   main process read the chunk again and met it too).  Now ``cannot decompress`` for
   that file, exit 1.  (The same for a damaged ``.ko.zst`` read by the ``zstandard``
   package: its ``ZstdError``.)
"""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kmodbuild.errors import ModuleFormatError
from kmodbuild.linux.kofile import read_ko
from tests.conftest import REPO


def _damaged_gzip() -> bytes:
    data = bytearray(gzip.compress(b"\x7fELF" + bytes(100)))
    data[10] = 0x07                 # the first deflate block: BFINAL, reserved BTYPE 11
    return bytes(data)


def test_damaged_deflate_stream_is_a_module_format_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ko.gz"
    bad.write_bytes(_damaged_gzip())
    with pytest.raises(ModuleFormatError, match="cannot decompress: .*invalid block type"):
        read_ko(str(bad))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_damaged_deflate_stream_in_a_tree(tmp_path: Path, jobs: str) -> None:
    moddir = tmp_path / "lib" / "modules" / "6.1.0"
    # enough modules for --jobs 2 to share the reading (readers.PARALLEL_MIN_FILES)
    for i in range(60):
        p = moddir / "kernel" / f"m{i}.ko.gz"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(_damaged_gzip())
    res = subprocess.run([sys.executable, "-m", "kmodbuild", "check", "--flavor", "linux",
                          "--jobs", jobs, str(moddir)], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    lines = res.stdout.splitlines()
    assert len(lines) == 60, res.stdout
    assert all(ln.startswith(str(moddir / "kernel")) and "cannot decompress" in ln
               for ln in lines), lines


def test_damaged_zst_read_by_the_zstandard_package(tmp_path: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    data = bytearray(zstandard.ZstdCompressor().compress(b"\x7fELF" + bytes(1000)))
    data[8] ^= 0x55
    bad = tmp_path / "bad.ko.zst"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModuleFormatError, match="cannot decompress: "):
        read_ko(str(bad))
