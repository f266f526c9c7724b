"""kmodbuild.metalog - mtree-style records of an installed tree, and verifying them.

After an install, ``$DESTDIR/stand/<MACHINE>/<VERSION>/METALOG`` lists every
installed file, one line each, sorted, in NetBSD's METALOG (mtree) syntax::

    ./stand/amd64/10.0/modules/hello/hello.kmod type=file mode=0444 size=1600 sha256=9f...

Paths are relative to DESTDIR -- for a target sharing its MACHINE, installed
under ``DESTDIR/destdir.<MACHINE>-<MACHINE_ARCH>/``, relative to the top DESTDIR
(``./destdir.evbarm-earmv7hf/stand/evbarm/10.0/...``).  :func:`verify` compares a
tree with its METALOGs and reports modified, missing and unexpected files, and
modules installed without a METALOG.
"""
from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from kmodbuild.errors import KmodError, UsageError
from kmodbuild.install import open_installed

METALOG_NAME = "METALOG"
_HEADER = "#mtree v2.0\n# kmodbuild install record: path type mode size sha256\n"


@dataclass(frozen=True)
class Entry:
    """One file record: ``path`` is DESTDIR-relative with a leading ``./``."""

    path: str
    mode: int
    size: int
    sha256: str

    def line(self) -> str:
        return (f"{_escape(self.path)} type=file mode={self.mode:04o} size={self.size} "
                f"sha256={self.sha256}")


def _escape(path: str) -> str:
    # mtree(5) escapes white space and backslashes as octal
    return "".join(f"\\{ord(c):03o}" if c.isspace() or c == "\\" else c for c in path)


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        octal = text[i + 1:i + 4]
        if text[i] == "\\" and len(octal) == 3 and all(c in "01234567" for c in octal):
            out.append(chr(int(octal, 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def file_entry(destdir: Path, path: Path) -> Entry:
    """Record ``path`` (inside ``destdir``) as it is on disk now."""
    data = path.read_bytes()
    st = path.stat()
    rel = "./" + path.relative_to(destdir).as_posix()
    return Entry(rel, st.st_mode & 0o7777, len(data), hashlib.sha256(data).hexdigest())


def render(entries: list[Entry]) -> str:
    """The METALOG text for ``entries`` (sorted by path)."""
    return _HEADER + "".join(e.line() + "\n" for e in sorted(entries, key=lambda e: e.path))


_HEX = frozenset("0123456789abcdefABCDEF")
_KEYWORDS = ("type", "mode", "size", "sha256")


def parse(text: str, path: Path) -> list[Entry]:
    """Parse a METALOG written by :func:`render`.

    Every record must be complete: a ``./`` path without ``..``, then ``type=file``,
    ``mode=`` (octal), ``size=`` (decimal) and ``sha256=`` (64 hex digits), each once,
    and a newline at its end (a METALOG cut short ends in the middle of a line).

    Raises:
        KmodError: ``path:line: malformed METALOG line (why)``.
    """
    out: list[Entry] = []
    seen: dict[str, int] = {}
    lines = text.split("\n")
    last = len(lines)                   # text.split leaves "" after a final newline
    for lineno, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        if lineno == last:
            _malformed(path, lineno, "cut short: no newline at its end; the METALOG is truncated")
        entry = _parse_line(line, path, lineno)
        if entry.path in seen:
            _malformed(path, lineno, f"the path is recorded on line {seen[entry.path]} too")
        seen[entry.path] = lineno
        out.append(entry)
    return out


def _malformed(path: Path, lineno: int, why: str) -> None:
    raise KmodError("malformed METALOG line", path=path, line=lineno, hint=why)


def _parse_line(line: str, path: Path, lineno: int) -> Entry:
    parts = line.split()
    name = _unescape(parts[0])
    if not name.startswith("./") or any(c in ("", ".", "..") for c in name[2:].split("/")):
        _malformed(path, lineno, "the path must be ./ and a relative path without . or ..")
    kw: dict[str, str] = {}
    for part in parts[1:]:
        key, eq, value = part.partition("=")
        if not eq or key not in _KEYWORDS:
            _malformed(path, lineno, f"unknown keyword {key[:20]!r}" if eq
                       else f"expected keyword=value, not {part[:20]!r}")
        if key in kw:
            _malformed(path, lineno, f"{key}= given twice")
        kw[key] = value
    for key in _KEYWORDS:
        if key not in kw:
            _malformed(path, lineno, f"no {key}=")
    if kw["type"] != "file":
        _malformed(path, lineno, "type must be file")
    mode, size, digest = kw["mode"], kw["size"], kw["sha256"]
    if not mode or len(mode) > 5 or any(c not in "01234567" for c in mode) \
            or int(mode, 8) > 0o7777:
        _malformed(path, lineno, "mode must be octal, at most 7777")
    if not size.isascii() or not size.isdigit():
        _malformed(path, lineno, "size must be a whole number of bytes")
    if len(digest) != 64 or not set(digest) <= _HEX:
        _malformed(path, lineno, "sha256 must be 64 hex digits")
    return Entry(name, int(mode, 8), int(size), digest.lower())


def read_metalog(log: Path) -> list[Entry]:
    """The entries of the METALOG file ``log``.

    Raises:
        KmodError: ``log: cannot read: <strerror>`` (a directory, no permission, ...), or
            a malformed line.
    """
    try:
        text = Path(log).read_text(errors="replace")
    except OSError as e:
        raise KmodError(f"cannot read: {e.strerror or e}", path=log) from None
    return parse(text, log)


def entry_base(log: Path, entries: list[Entry]) -> Path:
    """The directory the paths in METALOG ``log`` are relative to.

    That is the DESTDIR holding ``stand/`` -- except for a target that shares its
    MACHINE with the primary one: scons installs it under
    ``DESTDIR/destdir.<MACHINE>-<MACHINE_ARCH>/stand/...`` but records its files
    relative to the top DESTDIR (``./destdir.evbarm-earmv7hf/stand/...``).
    Always an absolute path.
    """
    root = Path(log).absolute().parents[3]      # root/stand/MACHINE/VERSION/METALOG
    if root.name.startswith("destdir.") and (
            not entries or entries[0].path.startswith(f"./{root.name}/")):
        return root.parent
    return root


def metalog_path(stand_version_dir: Path) -> Path:
    """``.../stand/<MACHINE>/<VERSION>/METALOG`` for the ``.../modules`` directory's parent."""
    return stand_version_dir / METALOG_NAME


def record_tree(destdir: Path, modules_dir: Path) -> str:
    """METALOG text for every file under ``modules_dir`` (a stand/.../modules directory)."""
    files = sorted(p for p in modules_dir.rglob("*") if p.is_file() and not p.is_symlink()
                   and not p.name.startswith("."))
    return render([file_entry(destdir, p) for p in files])


#: what a finding of each kind says (``kind`` itself is what ``--format json`` gives)
_KIND_TEXT = {"no-metalog": "modules installed but no METALOG"}


@dataclass(frozen=True)
class Finding:
    """One verification problem: ``kind`` is modified, missing, unexpected, unreadable or
    no-metalog (a stand/MACHINE/VERSION directory holding modules but no METALOG)."""

    kind: str
    path: str
    detail: str = ""

    def __str__(self) -> str:
        return (f"{self.path}: {_KIND_TEXT.get(self.kind, self.kind)}"
                + (f" ({self.detail})" if self.detail else ""))


def _install_roots(destdir: Path) -> list[Path]:
    """``destdir`` and the trees of targets sharing a MACHINE (``destdir/destdir.*``)."""
    return [destdir, *sorted(p for p in destdir.glob("destdir.*")
                             if p.is_dir() and not p.is_symlink())]


def _holds_files(modules: Path) -> bool:
    return any(not p.is_dir() or p.is_symlink() for p in modules.rglob("*"))


def _rel(destdir: Path, p: Path, recorded: str = "") -> str:
    """``p`` as ``./path`` relative to ``destdir``; ``recorded`` (the METALOG's own
    spelling) for a recorded file outside it."""
    try:
        return "./" + p.relative_to(destdir).as_posix()
    except ValueError:
        return recorded or p.as_posix()


def verify(destdir: Path) -> tuple[int, list[Finding]]:
    """Check every ``stand/*/*/METALOG`` under ``destdir`` (and under the
    ``destdir.*/`` trees of targets sharing a MACHINE) against the files.

    Returns (number of files recorded, findings sorted by path).  Paths in findings
    are relative to ``destdir``.  Files are never opened unless they are regular files
    (a FIFO is not waited on).  A ``stand/MACHINE/VERSION`` directory with modules but
    no METALOG (an install that was interrupted) is a ``no-metalog`` finding.

    Raises:
        UsageError: ``destdir`` is not a directory holding a METALOG (not an install root).
        KmodError: a METALOG cannot be read or is malformed.
    """
    destdir = Path(destdir)
    if not destdir.is_dir():
        raise UsageError("no such directory (pass the DESTDIR holding stand/)", path=destdir)
    roots = _install_roots(destdir)
    logs = [log for root in roots for log in sorted(root.glob("stand/*/*/" + METALOG_NAME))]
    if not logs:
        raise UsageError("no stand/<MACHINE>/<VERSION>/METALOG found; install with scons first",
                         path=destdir)
    top = destdir.absolute()            # entry_base is absolute
    findings: list[Finding] = []
    for root in roots:
        for vdir in sorted(root.glob("stand/*/*")):
            if vdir.is_dir() and not os.path.lexists(vdir / METALOG_NAME) \
                    and _holds_files(vdir / "modules"):
                findings.append(Finding("no-metalog", _rel(top, vdir.absolute())))
    count = 0
    for log in logs:
        entries = read_metalog(log)
        base = entry_base(log, entries)
        count += len(entries)
        recorded = {base / e.path[2:] for e in entries}
        for e in entries:
            p = base / e.path[2:]
            rel = _rel(top, p, e.path)
            try:
                st = p.lstat()
            except OSError:
                findings.append(Finding("missing", rel))
                continue
            if not stat.S_ISREG(st.st_mode):
                findings.append(Finding("modified", rel, "not a regular file"))
                continue
            try:
                digest, size = _digest(p)
            except OSError as err:
                findings.append(Finding("unreadable", rel, err.strerror or str(err)))
                continue
            if digest != e.sha256 or size != e.size:
                findings.append(Finding("modified", rel, "contents differ"))
            elif st.st_mode & 0o7777 != e.mode:
                findings.append(Finding("modified", rel,
                                        f"mode {st.st_mode & 0o7777:04o}, expected {e.mode:04o}"))
        for p in sorted((log.parent / "modules").rglob("*")):
            if p.is_dir() and not p.is_symlink():
                continue
            if p.absolute() not in recorded:
                findings.append(Finding("unexpected", _rel(top, p.absolute())))
    return count, sorted(findings, key=lambda f: (f.path, f.kind))


def _digest(path: Path) -> tuple[str, int]:
    """(sha256, size) of the regular file ``path``; never blocks on a FIFO or device
    put there meanwhile, never follows a symlink.  Raises ``OSError``."""
    with open_installed(path) as f:
        h, size = hashlib.sha256(), 0
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def sha256_of(path: Path) -> str:
    """SHA-256 of a file's contents, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def recorded_hashes(modules_dir: Path) -> dict[str, str]:
    """Map of absolute file path → recorded sha256 from the METALOG beside ``modules_dir``.

    Used by the simulator's ``--verify`` to refuse modules that changed since
    install.  Empty when there is no METALOG.
    """
    modules_dir = Path(modules_dir)
    log = modules_dir.parent / METALOG_NAME
    if not log.is_file():
        return {}
    if len(modules_dir.parents) < 4:    # not DESTDIR/stand/MACHINE/VERSION/modules
        return {}
    entries = read_metalog(log)
    base = entry_base(log, entries)
    return {os.path.normpath(base / e.path[2:]): e.sha256 for e in entries}
