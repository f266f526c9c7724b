"""kmodbuild.sets - reproducible module sets: ``modules-<MACHINE>-<VERSION>.tar.xz``.

Like NetBSD's ``modules.tgz`` set, an archive holds ``./stand/<MACHINE>/<VERSION>/modules/...``
-- exactly the files the install's METALOG records and the directories on the way
to them -- with sorted entries and fixed owner (root:wheel, 0:0), modes (0444
files, 0755 directories) and modification time (``SOURCE_DATE_EPOCH`` or 0; a
malformed one fails), so two builds of the same sources give byte-identical
archives.  A tree that does not verify against its METALOG (a file modified,
missing or not recorded, a symbolic link on the way, no METALOG) is refused with
one line and no set is written.  A ``SHA512`` file beside the archives lists the
digests of those one run wrote, in BSD ``cksum -a sha512`` format.
"""
from __future__ import annotations

import hashlib
import io
import lzma
import os
import stat
import tarfile
from pathlib import Path

from kmodbuild.errors import KmodError, UsageError
from kmodbuild.install import (
    NotRegularFile,
    atomic_write,
    is_temporary_name,
    open_installed,
)
from kmodbuild.metalog import Entry, entry_base, metalog_path, read_metalog, verify_log
from kmodbuild.target import NetBSDVersion, Target


def set_name(target: Target, version: NetBSDVersion) -> str:
    """``modules-amd64-10.0.tar.xz``; a non-primary target adds MACHINE_ARCH
    (``modules-evbarm-earmv7hf-10.0.tar.xz``) so shared MACHINEs do not collide."""
    mach = target.machine if target.primary else target.key
    return f"modules-{mach}-{version.osrelease}.tar.xz"


#: the largest modification time a ustar header holds (11 octal digits): 2242-03-16
MAX_MTIME = 8 ** 11 - 1


def _mtime() -> int:
    """The entries' modification time: ``SOURCE_DATE_EPOCH``, else 0.

    Raises:
        UsageError: it is set but not a whole number of seconds that fits the archive
            (reproducible-builds.org: a malformed value must fail the build).
    """
    text = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not text:
        return 0
    if not (text.isascii() and text.isdigit()) or len(text) > 20 or int(text) > MAX_MTIME:
        raise UsageError(f"SOURCE_DATE_EPOCH={text[:24]!r}: expected whole seconds since 1970, "
                         f"0 to {MAX_MTIME}")
    return int(text)


def watched_files(stand_modules: Path | str) -> list[str]:
    """The regular files under ``stand_modules`` (symbolic links not followed, an
    install's temporaries left out): what ``scons sets`` watches, so that a file put
    there by hand makes the set again -- and is refused, as the METALOG does not
    record it."""
    out: list[str] = []
    for dirpath, _, filenames in os.walk(stand_modules):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not is_temporary_name(name) and os.path.isfile(path) \
                    and not os.path.islink(path):
                out.append(path)
    return sorted(out)


def make_set(stand_modules: Path, destdir: Path) -> bytes:
    """The archive bytes for the installed ``stand_modules`` directory: the files its
    METALOG (``stand_modules/../METALOG``) records and their directories.

    Entry names are relative to ``destdir``, the target's own install root
    (``./stand/amd64/10.0/modules/...``; for a target sharing its MACHINE,
    ``DESTDIR/destdir.<MACHINE>-<MACHINE_ARCH>``).

    Raises:
        KmodError: no METALOG, or one that cannot be read or is malformed; the tree
            does not verify against it (the first problem, and how many there are);
            a recorded file outside ``stand_modules``, or one changed while it was read.
    """
    mtime = _mtime()
    stand_modules, destdir = Path(stand_modules).absolute(), Path(destdir).absolute()
    entries = _verified_entries(stand_modules, destdir)
    # every directory from ./stand down to modules/, so the archive extracts on its own
    dirs: set[Path] = {stand_modules, *(p for p in stand_modules.parents
                                        if destdir in p.parents)}
    recorded_files: list[tuple[Path, Entry]] = []
    for path, e in entries:
        if e.type == "dir":
            dirs.add(path)
        else:
            recorded_files.append((path, e))
            dirs.update(p for p in path.parents if destdir in p.parents)
    members = sorted([*((p, None) for p in dirs), *recorded_files],
                     key=lambda m: m[0].relative_to(destdir).as_posix())
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, entry in members:
            info = tarfile.TarInfo("./" + path.relative_to(destdir).as_posix())
            info.uid = info.gid = 0
            info.uname, info.gname = "root", "wheel"
            info.mtime = mtime
            if entry is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                data = _read_regular(path)
                if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
                    raise KmodError("changed while the set was made; make it again",
                                    path=path)
                info.size, info.mode = len(data), 0o444
                tar.addfile(info, io.BytesIO(data))
    return lzma.compress(raw.getvalue(), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                         preset=6)


def _verified_entries(stand_modules: Path, destdir: Path) -> list[tuple[Path, Entry]]:
    """The records of the METALOG beside ``stand_modules`` with their paths, once the
    tree verifies against it; only what lies in ``stand_modules`` or on the way to it.

    Raises:
        KmodError: see :func:`make_set`.
    """
    log = metalog_path(stand_modules.parent)
    try:
        st = log.lstat()
    except OSError:
        raise KmodError("missing: nothing records what was installed", path=log,
                        hint="install with scons first") from None
    if stat.S_ISLNK(st.st_mode):
        raise KmodError("not a regular file", path=log)
    _, findings = verify_log(log, destdir)
    if findings:
        first = min(findings, key=lambda f: f.path)
        where = (destdir if first.path == "." else destdir.joinpath(first.path[2:])
                 if first.path.startswith("./") else first.path)
        n = len(set(findings))
        raise KmodError(f"{first.what}; not packing a tree that does not verify", path=where,
                        hint=f"{n} problem{'s' if n > 1 else ''}; kmodbuild verify "
                             f"{destdir} lists {'them' if n > 1 else 'it'}")
    entries = read_metalog(log)
    base = entry_base(log, entries)
    out = []
    for e in entries:
        path = base.joinpath(e.path[2:])
        if path == destdir or (e.type == "dir" and path in stand_modules.parents):
            continue                    # ./destdir.X, ./stand ...: made from the path
        if stand_modules != path and stand_modules not in path.parents:
            raise KmodError(f"records {e.path}, which is not under "
                            f"{_rel(destdir, stand_modules)}: not packing it", path=log)
        out.append((path, e))
    return out


def _rel(destdir: Path, p: Path) -> str:
    return "./" + p.relative_to(destdir).as_posix() if destdir in p.parents else str(p)


def _read_regular(path: Path) -> bytes:
    """The contents of the regular file ``path``.  A FIFO, socket, device or symlink
    put under stand/ is refused without waiting on it (opening a FIFO blocks).

    Raises:
        KmodError: ``path: not a regular file``, or ``path: cannot read: ...``.
    """
    try:
        with open_installed(path) as f:
            return f.read()
    except NotRegularFile:
        raise KmodError("not a regular file", path=path) from None
    except OSError as e:
        raise KmodError(f"cannot read: {e.strerror or e}", path=path) from None


def write_sets(items: list[tuple[Path, Path, str]], outdir: Path) -> list[Path]:
    """Write each ``(stand_modules, destdir, name)`` set into ``outdir`` plus ``SHA512``
    (the digests of the sets written now).

    ``destdir`` is the target's own install root (``stand_modules.parents[3]``).
    Returns the archive paths.  Files are written atomically; every set is made, and
    its tree verified, before any is written.

    Raises:
        KmodError: a tree without a METALOG or that does not verify against it, a
            file under stand/ that is not a regular file or cannot be read (nothing
            is written), or ``outdir`` cannot be written.
    """
    outdir = Path(outdir)
    archives = [(outdir / name, make_set(stand_modules, destdir))
                for stand_modules, destdir, name in items]      # every one read first
    written = []
    for path, data in archives:     # `kmodbuild package` holds no lock: another may write too
        atomic_write(path, data, 0o644, remove_stale=False)
        written.append(path)
    text = "".join(f"SHA512 ({path.name}) = {hashlib.sha512(data).hexdigest()}\n"
                   for path, data in sorted(archives, key=lambda a: a[0].name))
    atomic_write(outdir / "SHA512", text.encode(), 0o644, remove_stale=False)
    return written
