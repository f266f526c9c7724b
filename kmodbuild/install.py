"""kmodbuild.install - plan and perform installs into ``$DESTDIR/stand``.

Every file is written to a temporary name in its destination directory,
flushed to disk and renamed into place, so a killed install leaves either the
old file or the new one, never a partial one (and perhaps its temporary file,
``.NAME.XXXXXXXX.tmp``, which the next install of NAME, or the next METALOG
written for its directory, removes once it is stale).  Paths are resolved
without following a symlink out of DESTDIR, and the directories an install
puts a file in are mode 0755 whatever the umask (as NetBSD's mtree makes them).
"""
from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kmodbuild.errors import InstallError, ModuleNameError

#: MAXMODNAME is 32 including the NUL (spec §1.4).
MAX_MODULE_NAME = 31
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def validate_module_name(name: str, *, what: str = "module name", limit: int = MAX_MODULE_NAME) -> str:
    """Refuse names the kernel or a safe path would not accept.

    A module name becomes a directory and a file name under ``stand/``, so it
    must be a C identifier (which also rules out ``/``, ``..`` and spaces) of at
    most 31 characters (30 for a name used in ``mi_required``, spec §1.5).

    Raises:
        ModuleNameError: with the reason.
    """
    if not name:
        raise ModuleNameError(f"empty {what}")
    if "/" in name or ".." in name or any(c.isspace() for c in name):
        raise ModuleNameError(f"invalid {what} {name!r}: must not contain '/', '..' or spaces")
    if len(name) > limit:
        raise ModuleNameError(f"invalid {what} {name!r}: {len(name)} characters, at most {limit}")
    if not _NAME_RE.match(name):
        raise ModuleNameError(f"invalid {what} {name!r}: must be a C identifier")
    return name


@dataclass(frozen=True)
class InstallItem:
    """One file to install: ``src`` to ``dest`` (inside ``destdir``) with ``mode``."""

    src: Path
    dest: Path
    mode: int = 0o444


def safe_dest(destdir: Path, relpath: Path | str) -> Path:
    """Join ``relpath`` under ``destdir``, refusing any escape.

    Each existing component below DESTDIR is checked: a symlink, or a path that
    resolves outside DESTDIR, is refused.

    Raises:
        InstallError: the destination would leave DESTDIR.
    """
    root = Path(destdir).resolve()
    rel = Path(relpath)
    if rel.is_absolute() or ".." in rel.parts:
        raise InstallError(f"refusing to install outside DESTDIR: {relpath}", path=destdir)
    link = symlink_in_path(root, rel)
    if link is not None:
        raise InstallError("refusing to follow a symlink under DESTDIR", path=link)
    return root.joinpath(*rel.parts)


def symlink_in_path(root: Path, relpath: Path | str,
                    known: dict[Path, bool] | None = None) -> Path | None:
    """The first of ``root/a``, ``root/a/b``, ... ``root/relpath`` that is a symbolic
    link (``lstat`` from ``root`` down; ``root`` itself is not looked at), or None.

    What :func:`safe_dest` refuses to install through and ``kmodbuild verify``
    reports.  ``known`` caches answers per path across calls (many files share their
    directories).
    """
    cur = Path(root)
    for part in Path(relpath).parts:
        cur = cur / part
        is_link = known.get(cur) if known is not None else None
        if is_link is None:
            try:
                is_link = stat.S_ISLNK(os.lstat(cur).st_mode)
            except (FileNotFoundError, NotADirectoryError):
                is_link = False             # nothing below a missing or plain file is a link
            except (OSError, ValueError) as e:  # a name too long, a NUL byte, EACCES...
                raise InstallError(f"cannot look at it: {getattr(e, 'strerror', None) or e}",
                                   path=cur) from None
            if known is not None:
                known[cur] = is_link
        if is_link:
            return cur
    return None


#: the mode of every directory an install puts a file in (NetBSD's mtree: 0755)
DIR_MODE = 0o755


def tree_top_hint(path: Path | str) -> str | None:
    """A hint for a command run inside a module tree instead of at its top (the default
    DESTDIR ``.``, found holding no ``stand/``): where the top is -- the nearest
    directory above ``path`` with an SConstruct and a ``stand/`` -- or None."""
    here = Path(os.path.abspath(path))
    for top in here.parents:
        if (top / "SConstruct").is_file() and (top / "stand").is_dir():
            return f"this is inside the tree {top}: run there, or pass it as DESTDIR"
    return None


def make_dirs(destdir: Path, reldir: Path | str) -> None:
    """Make ``destdir/reldir`` and every directory between, mode :data:`DIR_MODE`
    whatever the umask; an existing one of another mode is set to it (as ``mtree -U``
    sets the directories of a NetBSD DESTDIR).  ``destdir`` itself is made if it is
    missing, but its mode is left alone.

    A mode that cannot be set (a directory of another owner) is left as it is:
    ``kmodbuild verify`` reports it against the METALOG's record.

    Raises:
        InstallError: a directory cannot be made (the message names it).
    """
    cur = Path(destdir)
    try:
        cur.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InstallError(f"cannot create directory: {e.strerror}", path=cur) from None
    for part in Path(reldir).parts:
        cur = cur / part
        try:
            cur.mkdir()
        except FileExistsError:
            pass
        except OSError as e:
            raise InstallError(f"cannot create directory: {e.strerror}", path=cur) from None
        try:
            st = cur.lstat()
            if stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) != DIR_MODE:
                os.chmod(cur, DIR_MODE)
        except OSError:
            pass


def atomic_write(dest: Path, data: bytes, mode: int = 0o444, *,
                 remove_stale: bool = True) -> None:
    """Write ``data`` to ``dest`` atomically (temporary file + fsync + rename).

    Then, with ``remove_stale``, removes the temporaries an earlier, killed write
    of ``dest`` left (:func:`remove_stale_temporaries`); pass False where two
    processes may write ``dest`` at once (no lock serialises them).

    Raises:
        InstallError: the file could not be written (the message names it).
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    except OSError as e:
        raise InstallError(f"cannot create directory or temporary file: {e.strerror}",
                           path=dest.parent) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        if dest.is_symlink() or dest.is_dir():
            raise InstallError("destination is a symlink or directory; refusing to replace it",
                               path=dest)
        os.replace(tmp, dest)
    except OSError as e:
        _unlink_quietly(tmp)
        raise InstallError(f"cannot write: {e.strerror}", path=dest) from None
    except BaseException:
        _unlink_quietly(tmp)
        raise
    if remove_stale:
        remove_stale_temporaries(dest)
    _fsync_dir(dest.parent)


#: a temporary older than this (seconds) is a killed write's; a younger one may be a live
#: write of another tree's build into the same DESTDIR (the build lock is per tree)
STALE_AFTER = 60

#: the random part ``tempfile.mkstemp`` puts in a name: 8 of ``[a-z0-9_]``
_MKSTEMP_RANDOM = "[a-z0-9_]{8}"


def _temporary_pattern(dest: Path) -> re.Pattern[str]:
    """The names :func:`atomic_write` gives ``dest``'s temporary files:
    ``.NAME.XXXXXXXX.tmp`` (``mkstemp(prefix=".NAME.", suffix=".tmp")``)."""
    return re.compile(rf"\.{re.escape(dest.name)}\.{_MKSTEMP_RANDOM}\.tmp")


#: the name of a temporary of any file (``.NAME.XXXXXXXX.tmp``)
_ANY_TEMPORARY = re.compile(rf"\..+\.{_MKSTEMP_RANDOM}\.tmp", re.DOTALL)


def is_temporary_name(name: str) -> bool:
    """Whether ``name`` is one :func:`atomic_write` gives its temporary files."""
    return _ANY_TEMPORARY.fullmatch(name) is not None


def is_stale(st: os.stat_result, now: float | None = None) -> bool:
    """Whether a temporary with this ``lstat`` is a killed write's (older than
    :data:`STALE_AFTER`), not possibly another build's live one."""
    return (time.time() if now is None else now) - st.st_mtime > STALE_AFTER


def remove_stale_temporaries(dest: Path) -> list[Path]:
    """Remove the temporary files of ``dest`` that a killed :func:`atomic_write` left
    beside it (``.NAME.XXXXXXXX.tmp``); returns them.

    Called after ``dest`` was written or found up to date.  Only regular files
    whose whole name is that pattern, for this ``dest``, are removed: a
    temporary of another file never matches (the random part has no dot), and
    only one older than :data:`STALE_AFTER` seconds: installs of one tree are
    serialised (``build/.lock``), but two trees may install into one DESTDIR.
    Failures are ignored: a leftover is harmless until the next install.
    """
    dest = Path(dest)
    return _remove_stale(dest.parent, _temporary_pattern(dest))


def remove_stale_temporaries_in(directory: Path) -> list[Path]:
    """Remove the stale temporaries of any file in ``directory`` (``.NAME.XXXXXXXX.tmp``
    regular files older than :data:`STALE_AFTER`): a killed install's, whatever file it
    was writing; returns them.  A younger one may be another tree's live write and
    stays.  Failures are ignored."""
    return _remove_stale(Path(directory), _ANY_TEMPORARY)


def _remove_stale(directory: Path, pattern: re.Pattern[str]) -> list[Path]:
    now = time.time()
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        try:
            if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False) \
                    and is_stale(entry.stat(follow_symlinks=False), now):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def install_file(src: Path, destdir: Path, relpath: Path | str, mode: int = 0o444) -> Path:
    """Copy ``src`` to ``destdir/relpath`` atomically unless it is already identical.

    Returns the destination path.

    Raises:
        InstallError: unreadable source, unsafe destination, write failure.
    """
    return _install(src, destdir, relpath, mode)[0]


def install_changed(src: Path, destdir: Path, relpath: Path | str, mode: int = 0o444) -> bool:
    """:func:`install_file`; True when the destination was written (it was not already
    identical, mode included).

    Raises:
        InstallError: unreadable source, unsafe destination, write failure.
    """
    return _install(src, destdir, relpath, mode)[1]


def _install(src: Path, destdir: Path, relpath: Path | str, mode: int) -> tuple[Path, bool]:
    dest = safe_dest(destdir, relpath)
    make_dirs(Path(destdir).resolve(), Path(relpath).parent)
    try:
        data = Path(src).read_bytes()
    except OSError as e:
        raise InstallError(f"cannot read: {e.strerror}", path=src) from None
    try:
        st = dest.lstat()
        unchanged = (st.st_size == len(data) and (st.st_mode & 0o7777) == mode
                     and dest.read_bytes() == data)
    except OSError:
        unchanged = False
    if not unchanged:
        atomic_write(dest, data, mode)
    else:
        remove_stale_temporaries(dest)
    return dest, not unchanged


def remove_installed(destdir: Path, relpath: Path | str) -> bool:
    """Remove ``destdir/relpath`` if present (a module that no longer passes its check).

    Returns True when a file was removed.

    Raises:
        InstallError: unsafe path, or the file cannot be removed.
    """
    dest = safe_dest(destdir, relpath)
    if not os.path.lexists(dest):
        return False
    try:
        os.unlink(dest)
    except OSError as e:
        raise InstallError(f"cannot remove: {e.strerror}", path=dest) from None
    return True


class NotRegularFile(OSError):
    """An installed path that is a FIFO, device, socket, directory or symlink."""

    def __init__(self, path: object) -> None:
        super().__init__(0, "not a regular file", str(path))


def open_installed(path: str | Path) -> BinaryIO:
    """The installed regular file ``path`` opened for reading, without waiting on a FIFO
    (opening one blocks until a writer comes) and without following a symlink.

    Raises:
        NotRegularFile: it is not a regular file.
        OSError: it cannot be opened.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        if e.errno == errno.ELOOP:          # O_NOFOLLOW on a symlink
            raise NotRegularFile(path) from None
        raise
    f = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        f.close()
        raise NotRegularFile(path)
    return f


def _unlink_quietly(path: str | Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
