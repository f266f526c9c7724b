"""kmodbuild.metalog - mtree-style records of an installed tree, and verifying them.

After an install, ``$DESTDIR/stand/<MACHINE>/<VERSION>/METALOG`` lists every
installed file, one line each, sorted, in NetBSD's METALOG (mtree) syntax::

    ./stand/amd64/10.0/modules/hello type=dir mode=0755
    ./stand/amd64/10.0/modules/hello/hello.kmod type=file mode=0444 size=1600 sha256=9f...

and every directory on the way to them (``./stand`` down), mode 0755 as the
installer makes them (:func:`kmodbuild.install.make_dirs`).
Paths are relative to the target's own DESTDIR, as build.sh's METALOGs are -- for a
target sharing its MACHINE, installed under ``DESTDIR/destdir.<MACHINE>-<MACHINE_ARCH>/``,
relative to that directory (``./stand/evbarm/10.0/...``; older kmodbuild wrote them
relative to the top DESTDIR, ``./destdir.evbarm-earmv7hf/stand/...``, which is read too).  :func:`verify` compares a
tree with its METALOGs and reports modified, missing and unexpected files
(a symbolic link on the way to a recorded file, the stale temporary of an
interrupted install), and modules installed without a METALOG;
:func:`verify_log` does it for one METALOG (what ``kmodbuild package`` checks
before it packs a set).
"""
from __future__ import annotations

import hashlib
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from kmodbuild.errors import KmodError, UsageError
from kmodbuild.install import (
    DIR_MODE,
    is_stale,
    is_temporary_name,
    open_installed,
    symlink_in_path,
)

METALOG_NAME = "METALOG"
_HEADER = "#mtree v2.0\n# kmodbuild install record: path type mode size sha256\n"


@dataclass(frozen=True)
class Entry:
    """One record: ``path`` is DESTDIR-relative with a leading ``./``; ``type`` is
    ``file`` or ``dir`` (a directory has no size or digest)."""

    path: str
    mode: int
    size: int = 0
    sha256: str = ""
    type: str = "file"

    def line(self) -> str:
        if self.type == "dir":
            return f"{_escape(self.path)} type=dir mode={self.mode:04o}"
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
    """Record ``path`` (inside ``destdir``) as it is on disk now, relative to its own
    install root: ``destdir``, or for a target sharing its MACHINE,
    ``destdir/destdir.<MACHINE>-<MACHINE_ARCH>`` (as build.sh's per-target DESTDIR
    records ``./stand/...``)."""
    data = path.read_bytes()
    st = path.stat()
    parts = path.relative_to(destdir).parts
    if len(parts) > 2 and parts[0].startswith("destdir.") and parts[1] == "stand":
        parts = parts[1:]
    rel = "./" + "/".join(parts)
    return Entry(rel, st.st_mode & 0o7777, len(data), hashlib.sha256(data).hexdigest())


def render(entries: list[Entry]) -> str:
    """The METALOG text for ``entries`` and every directory on the way to them, from
    the first component of their paths down (``type=dir mode=0755``, as the installer
    makes them), sorted by path."""
    records = {e.path: e for e in entries}
    for e in entries:
        parts = e.path[2:].split("/")
        for i in range(1, len(parts)):
            d = "./" + "/".join(parts[:i])
            records.setdefault(d, Entry(d, DIR_MODE, type="dir"))
    return _HEADER + "".join(records[k].line() + "\n" for k in sorted(records))


def files(entries: list[Entry]) -> list[Entry]:
    """The file records of ``entries`` (not the directories)."""
    return [e for e in entries if e.type == "file"]


_HEX = frozenset("0123456789abcdefABCDEF")
_KEYWORDS = ("type", "mode", "size", "sha256")


def parse(text: str, path: Path) -> list[Entry]:
    """Parse a METALOG written by :func:`render`.

    Every record must be complete: a ``./`` path without ``..``, then ``type=file``,
    ``mode=`` (octal), ``size=`` (decimal) and ``sha256=`` (64 hex digits), or
    ``type=dir`` and ``mode=`` alone, each once, and a newline at its end (a METALOG
    cut short ends in the middle of a line).

    Raises:
        KmodError: ``path:line: malformed METALOG line (why)``.
    """
    if not text.strip():
        # what the build writes always has its header: nothing at all is a file cut
        # short (every installed file would otherwise be reported as unexpected)
        raise KmodError("empty METALOG", path=path,
                        hint="not even its #mtree header: the file is truncated")
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
    if "\0" in name:
        _malformed(path, lineno, "the path holds a NUL byte")
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
    kind = kw.get("type", "file")
    for key in _KEYWORDS if kind == "file" else _KEYWORDS[:2]:
        if key not in kw:
            _malformed(path, lineno, f"no {key}=")
    if kind not in ("file", "dir"):
        _malformed(path, lineno, "type must be file or dir")
    mode = kw["mode"]
    if not mode or len(mode) > 5 or any(c not in "01234567" for c in mode) \
            or int(mode, 8) > 0o7777:
        _malformed(path, lineno, "mode must be octal, at most 7777")
    if kind == "dir":
        if "size" in kw or "sha256" in kw:
            _malformed(path, lineno, "a directory has no size= or sha256=")
        return Entry(name, int(mode, 8), type="dir")
    size, digest = kw["size"], kw["sha256"]
    if not size.isascii() or not size.isdigit() or len(size) > 20:
        _malformed(path, lineno, "size must be a whole number of bytes (at most 20 digits)")
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
        from kmodbuild.atomicfile import read_regular
        data, st = read_regular(log)        # a FIFO in its place is refused, not waited on
    except OSError as e:
        raise KmodError(f"cannot read: {e.strerror or e}", path=log) from None
    if data is None:
        why = "Is a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise KmodError(f"cannot read: {why}", path=log)
    return parse(data.decode("utf-8", errors="replace"), log)


def entry_base(log: Path, entries: list[Entry]) -> Path:
    """The directory the paths in METALOG ``log`` are relative to.

    That is the DESTDIR holding ``stand/`` (for a target sharing its MACHINE,
    ``DESTDIR/destdir.<MACHINE>-<MACHINE_ARCH>``) -- except in the METALOG of such a
    target that an older kmodbuild wrote, relative to the top DESTDIR
    (``./destdir.evbarm-earmv7hf/stand/...``).  Always an absolute path.
    """
    root = Path(log).absolute().parents[3]      # root/stand/MACHINE/VERSION/METALOG
    if root.name.startswith("destdir.") and (
            not entries or (entries[0].path + "/").startswith(f"./{root.name}/")):
        return root.parent
    return root


def metalog_path(stand_version_dir: Path) -> Path:
    """``.../stand/<MACHINE>/<VERSION>/METALOG`` for the ``.../modules`` directory's parent."""
    return stand_version_dir / METALOG_NAME


def record_tree(destdir: Path, modules_dir: Path) -> str:
    """METALOG text for every file under ``modules_dir`` (a stand/.../modules directory)."""
    found = sorted(p for p in modules_dir.rglob("*") if p.is_file() and not p.is_symlink()
                   and not p.name.startswith("."))
    return render([file_entry(destdir, p) for p in found])


#: what a finding of each kind says (``kind`` itself is what ``--format json`` gives)
_KIND_TEXT = {"no-metalog": "modules installed but no METALOG",
              "stale-temporary": "stale temporary of an interrupted install; run scons"}


@dataclass(frozen=True)
class Finding:
    """One verification problem: ``kind`` is modified, missing, unexpected, unreadable,
    stale-temporary (what a killed install left, older than
    :data:`kmodbuild.install.STALE_AFTER`) or no-metalog (a stand/MACHINE/VERSION
    directory holding modules but no METALOG)."""

    kind: str
    path: str
    detail: str = ""

    @property
    def what(self) -> str:
        """What is wrong, without the path: ``modified (contents differ)``."""
        return _KIND_TEXT.get(self.kind, self.kind) + (f" ({self.detail})" if self.detail
                                                         else "")

    def __str__(self) -> str:
        return f"{self.path}: {self.what}"


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
        rel = p.relative_to(destdir).as_posix()
    except ValueError:
        return recorded or p.as_posix()
    return "." if rel == "." else "./" + rel


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
    if not os.path.isdir(destdir):      # False, not OSError, for a name too long
        raise UsageError("no such directory (pass the DESTDIR holding stand/)", path=destdir)
    roots = _install_roots(destdir)
    logs = [log for root in roots for log in sorted(root.glob("stand/*/*/" + METALOG_NAME))]
    if not logs:
        from kmodbuild.install import tree_top_hint
        hint = None if (destdir / "stand").exists() else tree_top_hint(destdir)
        raise UsageError("no stand/<MACHINE>/<VERSION>/METALOG found" +
                         ("" if hint else "; install with scons first"),
                         path=destdir, hint=hint)
    top = destdir.absolute()            # entry_base is absolute
    findings: list[Finding] = []
    for root in roots:
        for vdir in sorted(root.glob("stand/*/*")):
            if vdir.is_dir() and not os.path.lexists(vdir / METALOG_NAME) \
                    and _holds_files(vdir / "modules"):
                findings.append(Finding("no-metalog", _rel(top, vdir.absolute())))
    count = 0
    for log in logs:
        n, found = verify_log(log, top)
        count += n
        findings += found
    # every METALOG of a DESTDIR records ./stand: a problem with it is said once
    return count, sorted(dict.fromkeys(findings), key=lambda f: (f.path, f.kind))


def verify_log(log: Path, top: Path | None = None) -> tuple[int, list[Finding]]:
    """Check the files one METALOG records, and the files beside them in its
    ``modules`` directory that it does not record.

    Returns (number of files recorded, findings).  Paths in findings are relative to
    ``top`` (default: the directory its paths are relative to, :func:`entry_base`).
    Each recorded path is looked at from that directory down without following a
    symbolic link (``NAME: modified (symlink in path: X)``); an unrecorded symbolic
    link is ``unexpected (symlink)`` and not followed; a temporary a killed install
    left is ``stale-temporary`` once it is older than STALE_AFTER.

    Raises:
        KmodError: the METALOG cannot be read or is malformed.
    """
    log = Path(log).absolute()
    entries = read_metalog(log)
    base = entry_base(log, entries)
    top = base if top is None else Path(top).absolute()
    links: dict[Path, bool] = {}
    findings: list[Finding] = []
    recorded = {base.joinpath(e.path[2:]) for e in entries}
    for e in entries:
        p = base.joinpath(e.path[2:])
        rel = _rel(top, p, e.path)
        link = symlink_in_path(base, Path(e.path[2:]).parent, links)
        if link is not None:
            findings.append(Finding("modified", rel, f"symlink in path: {_rel(top, link)}"))
            continue
        problem = _check_entry(e, p)
        if problem is not None:
            findings.append(Finding(problem[0], rel, problem[1]))
    root = log.parents[3]               # root/stand/MACHINE/VERSION/METALOG
    modules = log.parent / "modules"
    link = symlink_in_path(root, modules.relative_to(root), links)
    if link is not None:                # what it holds is reported above
        if link not in recorded:        # else: "modified (symlink)" above
            findings.append(Finding("unexpected", _rel(top, link), "symlink"))
    else:
        now = time.time()
        for p, st in _unrecorded(modules, recorded, findings, top):
            findings.append(_unrecorded_finding(_rel(top, p), p.name, st, now))
    return len(files(entries)), findings


def _check_entry(e: Entry, p: Path) -> tuple[str, str] | None:
    """(kind, detail) of what is wrong with the recorded ``e`` at ``p``, or None."""
    try:
        st = p.lstat()
    except OSError:
        return ("missing", "")
    if stat.S_ISLNK(st.st_mode):
        return ("modified", "symlink")
    if e.type == "dir":
        if not stat.S_ISDIR(st.st_mode):
            return ("modified", "not a directory")
    elif not stat.S_ISREG(st.st_mode):
        return ("modified", "not a regular file")
    else:
        try:
            digest, size = _digest(p)
        except OSError as err:
            return ("unreadable", err.strerror or str(err))
        if digest != e.sha256 or size != e.size:
            return ("modified", "contents differ")
    if stat.S_IMODE(st.st_mode) != e.mode:
        return ("modified", f"mode {stat.S_IMODE(st.st_mode):04o}, expected {e.mode:04o}")
    return None


def _unrecorded(modules: Path, recorded: set[Path], findings: list[Finding],
                top: Path) -> list[tuple[Path, os.stat_result]]:
    """Everything under ``modules`` but its directories that is not ``recorded``, with its
    ``lstat``, sorted; symbolic links are not followed.  A directory that cannot be
    listed is an ``unreadable`` finding."""
    out: list[tuple[Path, os.stat_result]] = []
    stack = [modules]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                found = list(it)
        except FileNotFoundError:
            continue
        except OSError as err:
            findings.append(Finding("unreadable", _rel(top, d), err.strerror or str(err)))
            continue
        for entry in found:
            p = d / entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue                # gone meanwhile
            if stat.S_ISDIR(st.st_mode):
                stack.append(p)
            elif p not in recorded:
                out.append((p, st))
    return sorted(out, key=lambda x: x[0])


def _unrecorded_finding(rel: str, name: str, st: os.stat_result, now: float) -> Finding:
    if stat.S_ISLNK(st.st_mode):
        return Finding("unexpected", rel, "symlink")
    if stat.S_ISREG(st.st_mode) and is_temporary_name(name):
        if is_stale(st, now):
            return Finding("stale-temporary", rel)
        return Finding("unexpected", rel, "temporary of an install in progress or just "
                                          "interrupted")
    return Finding("unexpected", rel)


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
    return {os.path.normpath(base / e.path[2:]): e.sha256 for e in files(entries)}
