"""kmodbuild.linux.depfile - write modules.dep (no heavy imports: a cached re-check uses it)."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def write_dep_file(path: str, lines: Sequence[str]) -> bool:
    """Write modules.dep to ``path`` atomically, only if its content changed.

    Returns True when the file was (re)written.  Raises ``OSError``, also when
    ``path`` exists and is not a regular file (a FIFO is neither waited on nor
    replaced: ``-`` is standard output).
    """
    import os
    import stat
    # a module whose file name is not UTF-8 is written under its name's own bytes, as
    # depmod writes it (os.listdir decodes such names with surrogateescape)
    text = "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        pass
    else:
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                import errno
                raise OSError(errno.EINVAL, "not a regular file; not replaced")
            if f.read() == text:
                return False
    from kmodbuild.atomicfile import replace_file
    replace_file(path, (text,), prefix=".modules.dep-")
    return True
