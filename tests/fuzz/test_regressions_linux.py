"""The bugs a fuzzer of ``check --flavor linux`` with ``--jobs 2`` (against ``--jobs 1``)
found on damaged ``.ko``/``.ko.gz``/``.ko.xz`` files, Module.symvers and modules.order,
each pinned here.

1. A ``.ko.gz`` whose gzip header is sound but whose deflate stream is damaged raised
   ``zlib.error`` (not an ``OSError``) out of the reader: an internal error with a
   traceback, for ``--jobs 1`` and ``--jobs 2`` alike (a helper that met it stopped; the
   main process read the chunk again and met it too).  Now ``cannot decompress`` for
   that file, exit 1.  (The same for a damaged ``.ko.zst`` read by the ``zstandard``
   package: its ``ZstdError``.)
2. Decompression was unbounded: a 4 MiB ``.ko.gz`` of 4 GiB of zeros ran the check out
   of memory (a ``MemoryError`` traceback under a 3 GiB limit; the machine's memory
   without one).  Now a module that would decompress to more than 1 GiB is refused, one
   line, taken 16 MiB at a time (peak 1.1 GB instead of 2.9 GB for that file).
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


# --------------------------------------------------------------------------- 2: bombs

def _zeros(n: int) -> bytes:
    return b"\x7fELF" + bytes(n - 4)


def _packed(suffix: str, data: bytes) -> bytes:
    import lzma
    if suffix == ".ko.xz":
        return lzma.compress(data)
    if suffix == ".ko.gz":
        return gzip.compress(data)
    import shutil
    if shutil.which("zstd") is None:
        pytest.skip("no zstd program")
    return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True,
                          check=True).stdout


@pytest.mark.parametrize("suffix", [".ko.xz", ".ko.gz", ".ko.zst"])
def test_decompression_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  suffix: str) -> None:
    """A few MiB of gzip or xz can hold gigabytes of zeros: a 4 MiB .ko.gz ran ``check``
    out of memory (MemoryError traceback under a 3 GiB limit).  Decompression stops past
    MAX_DECOMPRESSED (1 GiB; 1 MiB here)."""
    from kmodbuild.linux import kofile
    monkeypatch.setattr(kofile, "MAX_DECOMPRESSED", 1 << 20)
    if suffix == ".ko.zst":
        monkeypatch.setitem(sys.modules, "zstandard", None)      # the zstd program's path
    bomb = tmp_path / f"bomb{suffix}"
    bomb.write_bytes(_packed(suffix, _zeros(3 << 20)))
    with pytest.raises(ModuleFormatError, match=r"cannot decompress: more than 1 MiB "
                                                r"\(not a kernel module\)"):
        read_ko(str(bomb))
    fits = tmp_path / f"fits{suffix}"                          # exactly the limit: read
    fits.write_bytes(_packed(suffix, _zeros(1 << 20)))
    with pytest.raises(ModuleFormatError, match="ELF"):        # (zeros: no ELF header)
        read_ko(str(fits))


def test_bounded_decompression_reads_what_the_standard_library_reads() -> None:
    """Concatenated members and streams, NUL padding between gzip members, trailing
    garbage after an xz stream: the same bytes as gzip.decompress and lzma.decompress."""
    import lzma
    from kmodbuild.linux.kofile import _gz_decompress, _xz_decompress
    a, b = b"first " * 1000, b"second" * 3000
    gz = gzip.compress(a) + b"\0\0\0" + gzip.compress(b)
    assert _gz_decompress("x.ko.gz", gz) == gzip.decompress(gz) == a + b
    assert _gz_decompress("x.ko.gz", b"") == gzip.decompress(b"") == b""
    xz = lzma.compress(a) + lzma.compress(b) + b"junk"
    assert _xz_decompress("x.ko.xz", xz) == lzma.decompress(xz) == a + b
    for bad in (gzip.compress(a)[:-3], lzma.compress(a)[:-3]):
        with pytest.raises((EOFError, lzma.LZMAError)):
            (_gz_decompress if bad[:2] == b"\x1f\x8b" else _xz_decompress)("x", bad)


def test_bounded_decompression_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output is taken 16 MiB at a time (a bomb holds MAX_DECOMPRESSED, not twice that):
    the same bytes with tiny pieces."""
    import lzma
    import random
    from kmodbuild.linux import kofile
    monkeypatch.setattr(kofile, "_PIECE", 1000)
    rng = random.Random(5)
    a = bytes(rng.getrandbits(8) for _ in range(30000)) + bytes(50000)
    gz = gzip.compress(a) + gzip.compress(a[:777])
    assert kofile._gz_decompress("x.ko.gz", gz) == a + a[:777]
    xz = lzma.compress(a) + lzma.compress(a[:777]) + b"no stream" * 9
    assert kofile._xz_decompress("x.ko.xz", xz) == lzma.decompress(xz) == a + a[:777]
    with pytest.raises(EOFError):
        kofile._gz_decompress("x.ko.gz", gzip.compress(a)[:-20])
    for cut in (lzma.compress(a)[:-20], lzma.compress(a) + lzma.compress(a)[:50]):
        with pytest.raises(lzma.LZMAError):
            lzma.decompress(cut)
        with pytest.raises(lzma.LZMAError):
            kofile._xz_decompress("x.ko.xz", cut)
