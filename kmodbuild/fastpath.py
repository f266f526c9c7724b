"""kmodbuild.fastpath - a stamp that lets a no-op ``scons`` exit before reading the tree.

SCons's own no-op walk costs ~4 ms per module and target (SConscripts read,
command lines substituted, every object's #include list checked).  After a
successful build this module records one digest over everything the build
could depend on or produce: the command line, the environment variables the
tools read, and ``(path, size, mtime_ns, inode)`` of every file under the
source directories, the kmodbuild package, the toolchain binary, the build
directory and the installed ``stand`` directories.  The next run with the same
command line recomputes the digest first (a few thousand ``stat`` calls) and
stops at once when nothing changed.  Any difference, even a touched header,
falls back to the full SCons run, which keeps SCons's content-signature
advantage (a touched but unchanged header recompiles nothing).

When only existing ``.c`` files of some module directories changed,
:func:`plan` answers "partial": the build then declares the compile, link and
split steps of those modules only and takes every other module's ``.kmod``
as it is, while the check, index, install, METALOG and simulation steps are
declared as always (cheap to walk), so a changed export still re-checks every
module that uses it.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

STAMP_VERSION = 2
_ENV_PREFIXES = ("KMOD", "CCACHE", "DISTCC", "SOURCE_DATE_EPOCH", "SCONSFLAGS", "PATH",
                 "PYTHONPATH")
_SKIP_NAMES = {".lock", "__pycache__", ".fastpath.json"}


def _walk(root: str, out: list[tuple[str, int, int, int]]) -> None:
    try:
        it = os.scandir(root)
    except OSError:
        out.append((root, -1, -1, -1))
        return
    with it:
        for e in it:
            if e.name in _SKIP_NAMES:
                continue
            try:
                if e.is_dir(follow_symlinks=False):
                    _walk(e.path, out)
                else:
                    st = e.stat(follow_symlinks=False)
                    out.append((e.path, st.st_size, st.st_mtime_ns, st.st_ino))
            except OSError:
                out.append((e.path, -1, -1, -1))


def digest(argv: Sequence[str], roots: Iterable[str], files: Iterable[str] = ()) -> str:
    """SHA-256 over the command line, relevant environment and the state of every file.

    ``roots`` are directories walked recursively; ``files`` are single files
    (a missing one counts as a distinct state).
    """
    return _digest(argv, scan(roots, files))


def scan(roots: Iterable[str], files: Iterable[str] = ()) -> list[tuple[str, int, int, int]]:
    """``(path, size, mtime_ns, inode)`` of every file under ``roots`` and of ``files``."""
    entries: list[tuple[str, int, int, int]] = []
    for r in sorted(set(roots)):
        _walk(r, entries)
    for f in sorted(set(files)):
        try:
            st = os.stat(f)
            entries.append((f, st.st_size, st.st_mtime_ns, st.st_ino))
        except OSError:
            entries.append((f, -1, -1, -1))
    return sorted(entries)


def _digest(argv: Sequence[str], entries: list[tuple[str, int, int, int]]) -> str:
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES))
    h = hashlib.sha256()
    h.update(json.dumps([STAMP_VERSION, list(argv), env]).encode())
    for e in entries:
        h.update(f"{e[0]}\0{e[1]}\0{e[2]}\0{e[3]}\n".encode())
    return h.hexdigest()


def is_up_to_date(stamp: Path, argv: Sequence[str]) -> bool:
    """True when ``stamp`` was written for this ``argv`` and nothing it watches changed."""
    return plan(stamp, argv) == ("noop", ())


def plan(stamp: Path, argv: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """What a build with ``argv`` must do, judged from ``stamp`` alone.

    * ``("noop", ())``: nothing watched changed;
    * ``("partial", dirs)``: only existing ``.c`` files of these module
      directories changed (nothing added, removed, or outside them): the build
      may take every other module's products as they are;
    * ``("full", ())``: anything else, or no usable stamp.

    The stamp lists what it watches, so a SConstruct can call this before
    loading any tool.
    """
    try:
        data = json.loads(Path(stamp).read_text())
        roots, files = list(map(str, data["roots"])), list(map(str, data["files"]))
        old = {e[0]: tuple(e) for e in data["entries"]}
        module_root = str(data["module_root"])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return ("full", ())
    if data.get("argv") != list(argv):
        return ("full", ())
    entries = scan(roots, files)
    if data.get("digest") == _digest(argv, entries):
        return ("noop", ())
    if _digest(argv, [tuple(e) for e in data["entries"]]) != data.get("digest"):
        return ("full", ())          # the environment changed
    now = {e[0]: e for e in entries}
    if now.keys() != old.keys():
        return ("full", ())
    dirs: set[str] = set()
    prefix = module_root.rstrip("/") + "/"
    for path, entry in now.items():
        if entry == old[path]:
            continue
        rel = path[len(prefix):] if path.startswith(prefix) else ""
        parts = rel.split("/")
        if len(parts) != 2 or not parts[1].endswith(".c"):
            return ("full", ())
        dirs.add(parts[0])
    return ("partial", tuple(sorted(dirs)))


def write_stamp(stamp: Path, argv: Sequence[str], roots: Iterable[str],
                files: Iterable[str] = (), module_root: str = "",
                inputs: list[tuple[str, int, int, int]] | None = None,
                input_roots: Iterable[str] = (), input_files: Iterable[str] = (),
                extra: dict[str, Any] | None = None) -> None:
    """Record the state after a successful build (``roots`` walked, ``files`` stat'ed).

    ``module_root`` is the directory holding one directory per module
    (``sys/modules``): :func:`plan` allows a partial build for edits there.
    ``inputs`` is a :func:`scan` of ``input_roots``/``input_files`` taken when
    the build *started*: a source edited while the build ran then differs
    from the stamp, so the next run rebuilds instead of taking the fast path.
    ``extra`` is stored as it is for the build's own use (:func:`read_extra`).
    """
    input_roots, input_files = list(map(str, input_roots)), list(map(str, input_files))
    roots = sorted(set(map(str, roots)) | set(input_roots))
    files = sorted(set(map(str, files)) | set(input_files))
    if inputs is None:
        entries = scan(roots, files)
    else:
        outputs = scan([r for r in roots if r not in input_roots],
                       [f for f in files if f not in input_files])
        entries = sorted({e[0]: e for e in [*inputs, *outputs]}.values())
    text = json.dumps({"argv": list(argv), "roots": roots, "files": files,
                       "module_root": module_root, "entries": entries,
                       "digest": _digest(argv, entries), "extra": extra or {}})
    tmp = Path(f"{stamp}.tmp")
    tmp.write_text(text)
    os.replace(tmp, stamp)


def imported_files(package: str) -> set[str]:
    """Absolute paths of the files of ``package`` and its submodules imported so far
    in this process (what a build that imported them may depend on)."""
    import sys
    return {os.path.abspath(m.__file__) for n, m in list(sys.modules.items())
            if (n == package or n.startswith(package + ".")) and getattr(m, "__file__", None)}


def read_extra(stamp: Path) -> dict[str, Any]:
    """What the last successful build stored with its stamp (``{}`` if none)."""
    try:
        extra = json.loads(Path(stamp).read_text()).get("extra", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return extra if isinstance(extra, dict) else {}


def remove_stamp(stamp: Path) -> None:
    """Forget the recorded state (after a failed or partial build)."""
    try:
        os.unlink(stamp)
    except OSError:
        pass


def skip_reason(get_option: Callable[[str], object]) -> str | None:
    """Why this scons invocation may not use the fast path (None: it may)."""
    for opt in ("clean", "no_exec", "help", "interactive", "question"):
        if get_option(opt):
            return f"--{opt}"
    if os.environ.get("KMOD_FASTPATH") == "0":
        return "KMOD_FASTPATH=0"
    return None
