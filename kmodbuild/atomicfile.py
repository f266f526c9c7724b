"""kmodbuild.atomicfile - replace a file in one step (stdlib only, cheap to import).

Caches, ``modules.dep`` and reports are written to a temporary file in the
target's directory and renamed over it, so a reader never sees half a file and
an interrupted write leaves the old one.  (Installed modules use
:func:`kmodbuild.install.atomic_write`, which also fsyncs and refuses symlinks.)
"""
from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def replace_file(path: str, chunks: Iterable[bytes], mode: int = 0o644,
                 prefix: str = ".kmodbuild-") -> None:
    """Write ``chunks`` to ``path`` through a temporary file and a rename.

    Creates the directory if needed.  Raises ``OSError`` (the temporary file
    is removed).
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = _create_temporary(directory, prefix)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_regular(path: str | os.PathLike[str]) -> tuple[bytes | None, os.stat_result]:
    """The contents of ``path`` and its ``stat``; ``None`` instead of the contents when it
    is not a regular file (a FIFO is not waited on, a directory not read).  Raises
    ``OSError`` (the descriptor is closed whatever happens)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, st
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks), st
            chunks.append(chunk)
    finally:
        os.close(fd)


def replace_if_changed(path: str, data: bytes, mode: int = 0o644) -> bool:
    """:func:`replace_file` unless ``path`` already holds exactly ``data`` (an
    unchanged file keeps its timestamp, as meson's ``write_if_changed``); True
    when it was written.  Raises ``OSError``."""
    try:
        with open(path, "rb") as f:
            if f.read() == data:
                return False
    except OSError:
        pass
    replace_file(path, [data], mode)
    return True


_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) \
    | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def _create_temporary(directory: str, prefix: str) -> tuple[int, str]:
    """``tempfile.mkstemp(prefix=prefix, dir=directory)`` without importing
    :mod:`tempfile` (5 ms of a command's start-up: it loads ``shutil`` and
    ``random``): a new file only this process can open, mode 0600."""
    for _ in range(100):
        name = os.path.join(directory, f"{prefix}{os.getpid()}-{os.urandom(6).hex()}.tmp")
        try:
            return os.open(name, _FLAGS, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temporary name in {directory}")
