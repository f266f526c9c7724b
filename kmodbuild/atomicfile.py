"""kmodbuild.atomicfile - replace a file in one step (stdlib only, cheap to import).

Caches, ``modules.dep`` and reports are written to a temporary file in the
target's directory and renamed over it, so a reader never sees half a file and
an interrupted write leaves the old one.  (Installed modules use
:func:`kmodbuild.install.atomic_write`, which also fsyncs and refuses symlinks.)
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def replace_file(path: str, chunks: Iterable[bytes], mode: int = 0o644,
                 prefix: str = ".kmodbuild-") -> None:
    """Write ``chunks`` to ``path`` through a temporary file and a rename.

    Creates the directory if needed.  Raises ``OSError`` (the temporary file
    is removed).
    """
    import tempfile
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=directory)
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
