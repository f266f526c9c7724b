"""kmodbuild.linux.depfile - write modules.dep (no heavy imports: a cached re-check uses it)."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def write_dep_file(path: str, lines: Sequence[str]) -> bool:
    """Write modules.dep to ``path`` atomically, only if its content changed.

    A character device (``/dev/null``, a terminal) or a FIFO (``>(...)``) is
    written into, never replaced by a file -- a FIFO only when it has a reader:
    none is waited for.  Returns True when the file was (re)written.  Raises
    ``OSError``, also when ``path`` is another kind of file (a directory, a
    block device: not replaced).
    """
    import os
    import stat
    # a module whose file name is not UTF-8 is written under its name's own bytes, as
    # depmod writes it (os.listdir decodes such names with surrogateescape)
    text = "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = 0                            # (replace_file says what is wrong, if anything)
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        _write_into(path, text)
        return True
    if mode and not stat.S_ISREG(mode):
        import errno
        raise OSError(errno.EINVAL, "not a regular file; not replaced")
    from kmodbuild.atomicfile import read_regular, replace_file
    try:
        # (what became a FIFO since the stat is not waited on)
        if read_regular(path)[0] == text:
            return False
    except OSError:
        pass
    replace_file(path, (text,), prefix=".modules.dep-")
    return True


def _write_into(path: str, text: bytes) -> None:
    """Write ``text`` into the device or FIFO at ``path`` (a FIFO without a reader:
    ``OSError`` ENXIO at once)."""
    import errno
    import os
    try:
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        if e.errno == errno.ENXIO:
            raise OSError(errno.ENXIO, "a FIFO without a reader (not waited for)") from None
        raise
    try:
        os.set_blocking(fd, True)       # a reader is there: it takes what comes
        view = memoryview(text)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
