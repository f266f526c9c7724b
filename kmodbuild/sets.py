"""kmodbuild.sets - reproducible module sets: ``modules-<MACHINE>-<VERSION>.tar.xz``.

Like NetBSD's ``modules.tgz`` set, an archive holds ``./stand/<MACHINE>/<VERSION>/modules/...``
with sorted entries and fixed owner (root:wheel, 0:0), modes (0444 files, 0755
directories) and modification time (``SOURCE_DATE_EPOCH`` or 0; a malformed one
fails), so two builds of the same sources give byte-identical archives.  A
``SHA512`` file beside the archives lists their digests in BSD ``cksum -a
sha512`` format.
"""
from __future__ import annotations

import hashlib
import io
import lzma
import os
import tarfile
from pathlib import Path

from kmodbuild.errors import KmodError, UsageError
from kmodbuild.install import NotRegularFile, atomic_write, open_installed
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
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_MTIME:
        raise UsageError(f"SOURCE_DATE_EPOCH={text!r}: expected whole seconds since 1970, "
                         f"0 to {MAX_MTIME}")
    return int(text)


def _members(stand_modules: Path) -> list[Path]:
    """What a set packs below ``stand_modules``: its directories and files, not
    symbolic links, not hidden files (an install's temporary file); sorted."""
    return [q for q in sorted(stand_modules.rglob("*"))
            if not q.is_symlink() and not (q.name.startswith(".") and q.is_file())]


def packed_files(stand_modules: Path | str) -> list[str]:
    """The files a set of ``stand_modules`` holds (none when it does not exist): what
    the set depends on."""
    return [str(q) for q in _members(Path(stand_modules)) if q.is_file()]


def make_set(stand_modules: Path, destdir: Path) -> bytes:
    """The archive bytes for the installed ``stand_modules`` directory.

    Entry names are relative to ``destdir`` (``./stand/amd64/10.0/modules/...``).
    """
    mtime = _mtime()
    stand_modules = Path(stand_modules)
    paths = [*([] if stand_modules.is_symlink() else [stand_modules]),
             *_members(stand_modules)]
    # every parent from ./stand down, so the archive extracts on its own
    parents: list[Path] = []
    p = stand_modules.parent
    while p != destdir and destdir in p.parents:
        parents.append(p)
        p = p.parent
    entries = sorted(set(parents) | set(paths),
                     key=lambda q: q.relative_to(destdir).as_posix())
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in entries:
            info = tarfile.TarInfo("./" + path.relative_to(destdir).as_posix())
            info.uid = info.gid = 0
            info.uname, info.gname = "root", "wheel"
            info.mtime = mtime
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                data = _read_regular(path)
                info.size, info.mode = len(data), 0o444
                tar.addfile(info, io.BytesIO(data))
    return lzma.compress(raw.getvalue(), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                         preset=6)


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
    """Write each ``(stand_modules, destdir, name)`` set into ``outdir`` plus ``SHA512``.

    Returns the archive paths.  Files are written atomically.

    Raises:
        KmodError: a file under stand/ that is not a regular file or cannot be read
            (nothing is written), or ``outdir`` cannot be written.
    """
    outdir = Path(outdir)
    archives = [(outdir / name, make_set(stand_modules, destdir))
                for stand_modules, destdir, name in items]      # every one read first
    written = []
    for path, data in archives:     # `kmodbuild package` holds no lock: another may write too
        atomic_write(path, data, 0o644, remove_stale=False)
        written.append(path)
    sums = sorted(p for p in outdir.glob("modules-*.tar.xz"))
    text = "".join(f"SHA512 ({p.name}) = {hashlib.sha512(_read_regular(p)).hexdigest()}\n"
                   for p in sums)
    atomic_write(outdir / "SHA512", text.encode(), 0o644, remove_stale=False)
    return written
