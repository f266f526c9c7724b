"""kmodbuild.metalog - mtree-style records of an installed tree, and verifying them.

After an install, ``$DESTDIR/stand/<MACHINE>/<VERSION>/METALOG`` lists every
installed file, one line each, sorted, in NetBSD's METALOG (mtree) syntax::

    ./stand/amd64/10.0/modules/hello/hello.kmod type=file mode=0444 size=1600 sha256=9f...

Paths are relative to DESTDIR.  :func:`verify` compares a tree with its
METALOGs and reports modified, missing and unexpected files.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from kmodbuild.errors import KmodError, UsageError

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


def parse(text: str, path: Path) -> list[Entry]:
    """Parse a METALOG written by :func:`render`.

    Raises:
        KmodError: ``path:line: message`` for a malformed line.
    """
    out: list[Entry] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        kw = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        try:
            if kw.get("type") != "file" or not parts[0].startswith("./"):
                raise ValueError
            out.append(Entry(_unescape(parts[0]), int(kw["mode"], 8), int(kw["size"]),
                             kw["sha256"]))
        except (ValueError, KeyError):
            raise KmodError("malformed METALOG line", path=path, line=lineno) from None
    return out


def metalog_path(stand_version_dir: Path) -> Path:
    """``.../stand/<MACHINE>/<VERSION>/METALOG`` for the ``.../modules`` directory's parent."""
    return stand_version_dir / METALOG_NAME


def record_tree(destdir: Path, modules_dir: Path) -> str:
    """METALOG text for every file under ``modules_dir`` (a stand/.../modules directory)."""
    files = sorted(p for p in modules_dir.rglob("*") if p.is_file() and not p.is_symlink()
                   and not p.name.startswith("."))
    return render([file_entry(destdir, p) for p in files])


@dataclass(frozen=True)
class Finding:
    """One verification problem: ``kind`` is modified, missing or unexpected."""

    kind: str
    path: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.kind}" + (f" ({self.detail})" if self.detail else "")


def verify(destdir: Path) -> tuple[int, list[Finding]]:
    """Check every ``stand/*/*/METALOG`` under ``destdir`` against the files.

    Returns (number of files recorded, findings sorted by path).

    Raises:
        UsageError: ``destdir`` is not a directory holding a METALOG (not an install root).
        KmodError: a METALOG is malformed.
    """
    destdir = Path(destdir)
    if not destdir.is_dir():
        raise UsageError("no such directory (pass the DESTDIR holding stand/)", path=destdir)
    logs = sorted(destdir.glob("stand/*/*/" + METALOG_NAME))
    if not logs:
        raise UsageError("no stand/<MACHINE>/<VERSION>/METALOG found; install with scons first",
                         path=destdir)
    findings: list[Finding] = []
    count = 0
    for log in logs:
        entries = parse(log.read_text(errors="replace"), log)
        count += len(entries)
        recorded = {e.path for e in entries}
        for e in entries:
            p = destdir / e.path[2:]
            if not p.is_file() or p.is_symlink():
                findings.append(Finding("missing", e.path))
                continue
            now = file_entry(destdir, p)
            if now.sha256 != e.sha256 or now.size != e.size:
                findings.append(Finding("modified", e.path, "contents differ"))
            elif now.mode != e.mode:
                findings.append(Finding("modified", e.path,
                                        f"mode {now.mode:04o}, expected {e.mode:04o}"))
        for p in sorted((log.parent / "modules").rglob("*")):
            if p.is_dir() and not p.is_symlink():
                continue
            rel = "./" + p.relative_to(destdir).as_posix()
            if rel not in recorded:
                findings.append(Finding("unexpected", rel))
    return count, sorted(findings, key=lambda f: (f.path, f.kind))


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
    destdir = modules_dir.parents[3] if len(modules_dir.parents) >= 4 else modules_dir
    return {os.path.normpath(destdir / e.path[2:]): e.sha256
            for e in parse(log.read_text(errors="replace"), log)}
