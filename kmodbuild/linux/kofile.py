"""kmodbuild.linux.kofile - read Linux kernel module files: plain, compressed, many at once.

One ``.ko`` (or ``.ko.xz``, ``.ko.zst``, ``.ko.gz``) yields a :class:`KoFacts`
(:mod:`kmodbuild.linux.facts`), decoded by :mod:`kmodbuild.linux.koelf` with
depmod's rules.  A plain ``.ko`` is read with ``os.pread``: its tail (the
section header table of an ``ld -r`` output, ``.shstrtab`` and the relocation
sections around it) in one read, then the few sections needed, neighbours
together.  :func:`read_ko_many` also tells the kernel what it will read next
(``POSIX_FADV_WILLNEED``), so that a cold page cache costs overlapping disk
reads instead of one after the other.  Compressed modules are decompressed
in memory (``.xz``/``.gz``: standard library; ``.zst``: the ``zstandard``
package, else the ``zstd`` program).
"""
from __future__ import annotations

import os
import stat
from collections.abc import Sequence

from kmodbuild.errors import ModuleFormatError
from kmodbuild.linux.facts import KoFacts, pack_crcs, unpack_crcs
from kmodbuild.linux.names import module_suffix
from kmodbuild.linux.quickelf import CRC_INVALID, MALFORMED, Reader, fast_extract

#: a FIFO named like a module is opened without waiting for a writer (and then refused);
#: O_NONBLOCK changes nothing for a regular file's reads
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)

__all__ = ["CRC_INVALID", "KoFacts", "Outcome", "Read", "pack_crcs", "read_ko", "read_ko_bytes",
           "read_ko_many", "read_ko_stat", "read_many", "unpack_crcs"]

#: Bytes read from the end of the file in one go: the section header table,
#: ``.shstrtab`` and often ``.strtab`` and ``.symtab`` sit there.
TAIL_BYTES = 32768


#: The most a compressed module may decompress to.  Debian's biggest module is some
#: 30 MiB; a few MiB of gzip or xz can hold gigabytes of zeros, which were
#: decompressed whole (a ``MemoryError``, or the machine's memory).
MAX_DECOMPRESSED = 1 << 30


def _fail(path: str, message: str) -> ModuleFormatError:
    return ModuleFormatError(message, path=path)


def _too_big(path: str) -> ModuleFormatError:
    return _fail(path, f"cannot decompress: more than {MAX_DECOMPRESSED >> 20} MiB "
                       "(not a kernel module)")


#: Output taken from a decompressor at a time (a bomb costs MAX_DECOMPRESSED, not twice).
_PIECE = 16 << 20


def _xz_decompress(path: str, data: bytes) -> bytes:
    """``lzma.decompress(data)`` (concatenated streams too; bytes after a stream that
    are no stream are ignored, as there), refusing more than :data:`MAX_DECOMPRESSED`
    bytes before making them."""
    import lzma
    out: list[bytes] = []
    total = 0
    while True:
        d = lzma.LZMADecompressor()
        stream: list[bytes] = []
        try:
            res = d.decompress(data, max_length=_PIECE)
            while True:
                total += len(res)
                if total > MAX_DECOMPRESSED:
                    raise _too_big(path)
                stream.append(res)
                if d.eof or d.needs_input:
                    break
                res = d.decompress(b"", max_length=_PIECE)
        except lzma.LZMAError:
            if out:             # what follows the first stream is not one: ignored
                return b"".join(out)
            raise
        if not d.eof:
            raise lzma.LZMAError("Compressed data ended before the end-of-stream marker was "
                                 "reached")
        out += stream
        data = d.unused_data
        if not data:
            return b"".join(out)


def _gz_decompress(path: str, data: bytes) -> bytes:
    """``gzip.decompress(data)`` (members one after another too, NUL padding between
    them), refusing more than :data:`MAX_DECOMPRESSED` bytes before making them."""
    import zlib
    if not data:                # (gzip.decompress(b"") is b"")
        return b""
    out: list[bytes] = []
    total = 0
    while True:
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)   # gzip: its CRC and size checked
        buf = data
        while not d.eof:
            res = d.decompress(buf, _PIECE)
            buf = d.unconsumed_tail
            total += len(res)
            if total > MAX_DECOMPRESSED:
                raise _too_big(path)
            out.append(res)
            if not res and not buf:
                raise EOFError("Compressed file ended before the end-of-stream marker was "
                               "reached")
        data = d.unused_data.lstrip(b"\0")
        if not data:
            return b"".join(out)


def _zstd_decompress(path: str, data: bytes) -> bytes:
    import shutil
    import subprocess
    try:
        import zstandard  # type: ignore[import-not-found]  # optional, faster than zstd(1)
    except ImportError:
        zstd = shutil.which("zstd")
        if zstd is None:
            raise _fail(path, "cannot decompress a .zst module: install the zstandard Python "
                              "package (pip install zstandard) or the zstd program") from None
        import tempfile
        with tempfile.TemporaryFile() as src, tempfile.TemporaryFile() as err:
            src.write(data)
            src.seek(0)
            proc = subprocess.Popen([zstd, "-dcq"], stdin=src, stdout=subprocess.PIPE,
                                    stderr=err)
            assert proc.stdout is not None
            out = _read_at_most(proc.stdout)
            if out is None:
                proc.kill()
            proc.stdout.close()
            code = proc.wait()
            if out is None:
                raise _too_big(path)
            err.seek(0)
            msg = err.read().decode(errors="replace").strip().splitlines()
        if code != 0:
            raise _fail(path, f"zstd failed: {msg[-1] if msg else code}") from None
        return out
    import io
    try:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as r:
            got = _read_at_most(r)
    except zstandard.ZstdError as e:
        raise _fail(path, f"cannot decompress: {e}") from None
    if got is None:
        raise _too_big(path)
    return got


def _read_at_most(stream: object) -> bytes | None:
    """All of ``stream`` (``read(n)``), or ``None`` past :data:`MAX_DECOMPRESSED` bytes."""
    out: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(1 << 20)  # type: ignore[attr-defined]
        if not chunk:
            return b"".join(out)
        total += len(chunk)
        if total > MAX_DECOMPRESSED:
            return None
        out.append(chunk)


def _decompress_file(path: str, suffix: str) -> tuple[bytes, os.stat_result]:
    """The decompressed module at ``path`` and its ``fstat`` (a FIFO or a device is
    refused, not waited on)."""
    import lzma
    import zlib
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as e:
        raise _fail(path, f"cannot read: {e.strerror or e}") from e
    try:
        with open(fd, "rb") as f:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise _fail(path, "not a regular file")
            data = f.read()
    except OSError as e:
        raise _fail(path, f"cannot read: {e.strerror or e}") from e
    try:
        if suffix == ".ko.xz":
            return _xz_decompress(path, data), st
        if suffix == ".ko.gz":
            return _gz_decompress(path, data), st
        return _zstd_decompress(path, data), st
    except (lzma.LZMAError, zlib.error, OSError, EOFError, ValueError) as e:
        # (zlib.error: a damaged deflate stream inside a valid gzip header)
        raise _fail(path, f"cannot decompress: {e}") from e


def read_ko(path: str) -> KoFacts:
    """Read one module file (compressed or not).

    Raises:
        ModuleFormatError: unreadable file, undecodable compression, or an
            ELF file too broken to find its section headers.
    """
    return read_ko_stat(path)[0]


def read_ko_stat(path: str) -> tuple[KoFacts, os.stat_result]:
    """:func:`read_ko`, also returning the file's ``os.stat`` taken when it was opened.

    Raises:
        ModuleFormatError: as :func:`read_ko`.
    """
    suffix = module_suffix(path) or ".ko"
    if suffix != ".ko":
        data, st = _decompress_file(path, suffix)
        return read_ko_bytes(data, path), st
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as e:
        raise _fail(path, f"cannot read: {e.strerror or e}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _fail(path, "not a regular file")
        size = st.st_size
        start = size - TAIL_BYTES if size > TAIL_BYTES else 0
        tail = os.pread(fd, size - start, start)
        return _decode(_file_reader(fd, start, tail), size, path)[0], st
    except OSError as e:
        raise _fail(path, f"cannot read: {e.strerror or e}") from e
    finally:
        os.close(fd)


def read_ko_bytes(data: bytes, path: str) -> KoFacts:
    """Read a module already in memory (``path`` names it in messages).

    Raises:
        ModuleFormatError: as :func:`read_ko`.
    """
    return _decode(lambda offset, length: data[offset:offset + length], len(data), path)[0]


def _decode(read: Reader, size: int, path: str
            ) -> tuple[KoFacts, list[str] | None, list[int] | None]:
    """The facts of one module, and its dependency names and CRCs when the fast
    path had them at hand (else ``None``: split them from the facts).

    Raises:
        ModuleFormatError: as :func:`read_ko`.
    """
    try:
        got = fast_extract(read, size, path)
    except MALFORMED:
        got = None                  # the general path gives the exact answer or error
    if got is not None:
        return got
    from kmodbuild.linux.koelf import extract
    return extract(read, size, path), None, None


# --------------------------------------------------------------------------- batches

#: Files in flight at once in :func:`read_ko_many` (open descriptors).
BATCH_WINDOW = 32
#: Modules up to this size are announced whole to the page cache, bigger ones by their tail.
ADVISE_WHOLE_BELOW = 131072
_WILLNEED = getattr(os, "POSIX_FADV_WILLNEED", None)

Outcome = tuple["KoFacts | ModuleFormatError", "os.stat_result | None"]
#: One file read by :func:`read_many`: ``(facts or the error, stat, dependency
#: names, their CRCs)``; the two lists are ``None`` when not at hand (split them
#: from the facts).
Read = tuple["KoFacts | ModuleFormatError", "os.stat_result | None", "list[str] | None",
             "list[int] | None"]


def _advise(fd: int, offset: int, length: int) -> None:
    if _WILLNEED is not None and length > 0:
        try:
            os.posix_fadvise(fd, offset, length, _WILLNEED)
        except OSError:
            pass


def read_ko_many(paths: Sequence[str]) -> list[Outcome]:
    """Read many modules; each outcome is ``(facts or the ModuleFormatError, stat)``.

    Same results as :func:`read_ko_stat` file by file (see :func:`read_many`).
    """
    return [(facts, st) for facts, st, _, _ in read_many(paths)]


def read_many(paths: Sequence[str]) -> list[Read]:
    """Read many modules, as :func:`read_ko_stat` would one by one, but faster.

    The disk is asked for what comes next before it is needed: a window of
    files is opened and announced (``POSIX_FADV_WILLNEED``: a small module
    whole, a big one's tail), then each is read and decoded -- when the page
    cache is cold, the reads of many files overlap instead of waiting one
    after the other.  Each result also carries the module's dependency names
    and CRCs when the decoder had them as lists (see :data:`Read`).
    """
    out: list[Read] = []
    for k in range(0, len(paths), BATCH_WINDOW):
        out.extend(_read_window(paths[k:k + BATCH_WINDOW]))
    return out


def _read_window(paths: Sequence[str]) -> list[Read]:
    results: list[Read | None] = [None] * len(paths)
    opened: list[tuple[int, str, int, os.stat_result]] = []
    try:
        # Open the window and announce what will be read: a small module whole
        # (tail, symbol tables, .modinfo and __versions are most of it), a big
        # one's tail.  Then read and decode file by file, while the data is hot.
        for i, path in enumerate(paths):
            if not path.endswith(".ko"):
                results[i] = _outcome(path)
                continue
            try:
                fd = os.open(path, _OPEN_FLAGS)
            except OSError as e:
                results[i] = (_fail(path, f"cannot read: {e.strerror or e}"), None, None, None)
                continue
            try:
                st = os.fstat(fd)
            except OSError as e:
                os.close(fd)
                results[i] = (_fail(path, f"cannot read: {e.strerror or e}"), None, None, None)
                continue
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                results[i] = (_fail(path, "not a regular file"), st, None, None)
                continue
            size = st.st_size
            if size <= ADVISE_WHOLE_BELOW:
                _advise(fd, 0, size)
            else:
                _advise(fd, size - TAIL_BYTES, TAIL_BYTES)
            opened.append((i, path, fd, st))
        for i, path, fd, st in opened:
            results[i] = _read_open(fd, st, path)
    finally:
        for _, _, fd, _ in opened:
            os.close(fd)
    return results  # type: ignore[return-value]


def _read_open(fd: int, st: os.stat_result, path: str) -> Read:
    size = st.st_size
    start = size - TAIL_BYTES if size > TAIL_BYTES else 0
    try:
        facts, deps, crcs = _decode(_file_reader(fd, start, os.pread(fd, size - start, start)),
                                    size, path)
        return facts, st, deps, crcs
    except ModuleFormatError as e:
        return e, st, None, None
    except OSError as e:
        return _fail(path, f"cannot read: {e.strerror or e}"), st, None, None


def _outcome(path: str) -> Read:
    try:
        facts, st = read_ko_stat(path)
        return facts, st, None, None
    except ModuleFormatError as e:
        return e, None, None, None


def _file_reader(fd: int, start: int, tail: bytes) -> Reader:
    def read(offset: int, length: int) -> bytes:
        if offset >= start:
            return tail[offset - start:offset - start + length]
        return os.pread(fd, length, offset)
    read.held_from = start  # type: ignore[attr-defined]
    return read
