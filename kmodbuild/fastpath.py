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

A watched input whose timestamp changed but whose contents did not (a
header touched, a branch checked out and back) counts as unchanged, as it
does for SCons's content signatures: the stamp keeps a digest of every input
file, and :func:`decide` compares contents only for the inputs whose
``stat`` changed.

When only existing ``.c`` files of some module directories changed,
:func:`plan` answers "partial": the build then declares the compile, link and
split steps of those modules only and takes every other module's ``.kmod``
as it is, while the check, index, install, METALOG and simulation steps are
declared as always (cheap to walk), so a changed export still re-checks every
module that uses it.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

STAMP_VERSION = 3
_ENV_PREFIXES = ("KMOD", "CCACHE", "DISTCC", "SOURCE_DATE_EPOCH", "SCONSFLAGS", "PATH",
                 "PYTHONPATH")
_SKIP_NAMES = {".lock", "__pycache__", ".fastpath.json"}
#: the stamp's temporary files (:func:`_write_json`): another run's, written meanwhile
_STAMP_TEMP = ".fastpath.json."
#: inputs up to this size are digested (sources, headers, scripts), larger ones not
MAX_HASHED = 1 << 20


#: an editor's files beside the sources: emacs's lock link and auto-save, backups, vim's
#: swap files -- not inputs: one made every build while a file was open in the editor a
#: walk of the whole graph instead of a quick build (or a no-op)
_EDITOR_FILE = re.compile(r"\.#.*|#.*#|.*~|\..*\.sw[a-p]")


def _walk(root: str, out: list[tuple[str, int, int, int]], sources: bool,
          seen: set[tuple[int, int]], links: list[tuple[str, bool, str]],
          top: str | None = None) -> None:
    """Every file under ``root`` into ``out``; each directory's identity into ``seen``; the
    symbolic links to directories into ``links`` (:func:`scan` follows them once every
    real directory is walked, so a file is listed under its own path when it has one)."""
    top = top or os.path.realpath(root)
    try:
        st = os.stat(root)
        seen.add((st.st_dev, st.st_ino))
        it = os.scandir(root)
    except OSError:
        out.append((root, -1, -1, -1))
        return
    with it:
        for e in it:
            if e.name in _SKIP_NAMES or e.name.startswith(_STAMP_TEMP) \
                    or (sources and _EDITOR_FILE.fullmatch(e.name)):
                continue
            try:
                if e.is_symlink():
                    st = os.stat(e.path)        # what it points at (dangling: OSError)
                    if e.is_dir():
                        links.append((e.path, sources, top))
                        continue
                elif e.is_dir(follow_symlinks=False):
                    _walk(e.path, out, sources, seen, links, top)
                    continue
                else:
                    st = e.stat(follow_symlinks=False)
                out.append((e.path, st.st_size, st.st_mtime_ns, st.st_ino))
            except OSError:
                out.append((e.path, -1, -1, -1))


def _follow(links: list[tuple[str, bool, str]], out: list[tuple[str, int, int, int]],
            seen: set[tuple[int, int]]) -> None:
    """Walk the linked directories (SCons and the compiler follow links: a header or a
    module directory linked into the tree from elsewhere is an input), except one walked
    already and one holding the walk's own root -- a link to the tree's top would make
    its outputs (build/, stand/) inputs that every build changes."""
    while links:
        path, sources, top = links.pop(0)
        try:
            st = os.stat(path)
        except OSError:
            out.append((path, -1, -1, -1))
            continue
        target = os.path.realpath(path)
        if (st.st_dev, st.st_ino) in seen or top == target \
                or top.startswith(target.rstrip(os.sep) + os.sep):
            continue
        _walk(path, out, sources, seen, links, top)


def digest(argv: Sequence[str], roots: Iterable[str], files: Iterable[str] = ()) -> str:
    """SHA-256 over the command line, relevant environment and the state of every file.

    ``roots`` are directories walked recursively; ``files`` are single files
    (a missing one counts as a distinct state).
    """
    return _digest(argv, scan(roots, files))


def scan(roots: Iterable[str], files: Iterable[str] = (),
         source_roots: Iterable[str] = ()) -> list[tuple[str, int, int, int]]:
    """``(path, size, mtime_ns, inode)`` of every file under ``roots`` and of ``files``;
    under those of ``roots`` also in ``source_roots``, not an editor's files."""
    entries: list[tuple[str, int, int, int]] = []
    sources = set(source_roots)
    seen: set[tuple[int, int]] = set()
    links: list[tuple[str, bool, str]] = []
    for r in sorted(set(roots)):
        _walk(r, entries, r in sources, seen, links)
    _follow(links, entries, seen)
    for f in sorted(set(files)):
        try:
            st = os.stat(f)
            entries.append((f, st.st_size, st.st_mtime_ns, st.st_ino))
        except OSError:
            entries.append((f, -1, -1, -1))
    return sorted(entries)


def moved(before: Iterable[Sequence[Any]]) -> set[str]:
    """The paths of ``before`` (a :func:`scan`) whose ``(size, mtime_ns, inode)`` differ
    now, removed ones too: files saved while a build ran, which its compiles may have
    read either way.  One ``stat`` per file, no directory walk (5 ms for 1,600 files,
    against 14 ms for a new scan); a file added meanwhile is not looked for -- the next
    run's comparison with the stamp finds it."""
    out: set[str] = set()
    for e in before:
        try:
            st = os.stat(e[0])
            now = (st.st_size, st.st_mtime_ns, st.st_ino)
        except OSError:
            now = (-1, -1, -1)
        if now != tuple(e[1:4]):
            out.add(e[0])
    return out


def _digest(argv: Sequence[str], entries: Iterable[Sequence[Any]]) -> str:
    h = hashlib.sha256()
    h.update(_env_digest(argv).encode())
    for e in entries:
        h.update(f"{e[0]}\0{e[1]}\0{e[2]}\0{e[3]}\n".encode())
    return h.hexdigest()


def emulator_origin() -> str | None:
    """unicorn's ``__init__.py`` (None: not installed): a look along ``sys.path``,
    without importing it."""
    import importlib.util
    try:
        spec = importlib.util.find_spec("unicorn")
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None and spec.origin else None


def emulator_identity() -> str:
    """Which CPU emulator the simulation would use: :func:`emulator_origin` with its
    size and mtime, or ``"none"`` -- installing, upgrading or removing it changes the
    simulation's answer (modcmd run or not), so it counts as a change of the build's
    inputs."""
    origin = emulator_origin()
    try:
        st = os.stat(origin) if origin is not None else None
    except OSError:
        st = None
    return f"{origin}:{st.st_size}:{st.st_mtime_ns}" if st is not None else "none"


def _env_digest(argv: Sequence[str]) -> str:
    """A digest of the command line, the environment variables the tools read and the
    emulator the simulation would use."""
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES))
    return hashlib.sha256(json.dumps([STAMP_VERSION, list(argv), env,
                                      emulator_identity()]).encode()).hexdigest()


def build_argv(argv: Sequence[str], top: str) -> list[str]:
    """The command line a stamp is kept for: ``argv`` without a ``-C DIR`` (``-CDIR``,
    ``--directory[=]DIR``) naming ``top``, the directory the build runs in, by an
    absolute path -- ``kmodbuild build`` runs ``scons -C TREE``, the same build as
    ``scons`` run in TREE, and the two share one stamp.  Any other ``-C`` (relative,
    another directory, more than one) stays: that command line keeps a stamp of its
    own."""
    found: list[tuple[int, int, str]] = []          # (index, words, directory)
    for i, a in enumerate(argv):
        if a in ("-C", "--directory") and i + 1 < len(argv):
            found.append((i, 2, argv[i + 1]))
        elif a.startswith("--directory="):
            found.append((i, 1, a[len("--directory="):]))
        elif a.startswith("-C") and len(a) > 2:
            found.append((i, 1, a[2:]))
    if len(found) != 1:
        return list(argv)
    i, words, directory = found[0]
    if not os.path.isabs(directory) or os.path.realpath(directory) != os.path.realpath(top):
        return list(argv)
    return [*argv[:i], *argv[i + words:]]


def is_up_to_date(stamp: Path, argv: Sequence[str]) -> bool:
    """True when ``stamp`` was written for this ``argv`` and nothing it watches changed."""
    return plan(stamp, argv) == ("noop", ())


class Decision(NamedTuple):
    """What :func:`decide` found (see :func:`plan` for ``kind`` and ``dirs``)."""
    kind: str
    dirs: tuple[str, ...] = ()
    #: the ``.c`` files whose contents changed (a partial build)
    changed: tuple[str, ...] = ()
    #: the watched inputs touched with their contents unchanged
    touched: tuple[str, ...] = ()
    #: ``(path, size, mtime_ns, inode)`` of everything watched, as :func:`scan` found it now
    entries: tuple[tuple[str, int, int, int], ...] = ()
    #: the stamp as read (``None`` when it was not usable)
    data: dict[str, Any] | None = None


def plan(stamp: Path, argv: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """What a build with ``argv`` must do, judged from ``stamp`` alone.

    * ``("noop", ())``: nothing watched changed (inputs touched with their
      contents unchanged count as unchanged);
    * ``("partial", dirs)``: only existing ``.c`` files of module directories
      changed (nothing added, removed, or outside them), each one the last build
      compiled and no compile includes; ``dirs``: the module directories
      whose modules compile them.  The build may take every other module's
      products as they are;
    * ``("full", ())``: anything else, or no usable stamp.

    The stamp lists what it watches, so a SConstruct can call this before
    loading any tool.
    """
    d = decide(stamp, argv)
    return d.kind, d.dirs


def decide(stamp: Path, argv: Sequence[str]) -> Decision:
    """:func:`plan`, with what it found (:class:`Decision`)."""
    try:
        data = json.loads(Path(stamp).read_text())
        roots, files = list(map(str, data["roots"])), list(map(str, data["files"]))
        old = {e[0]: tuple(e) for e in data["entries"]}
        module_root = str(data["module_root"])
        hashes = data.get("hashes", {})
        if not isinstance(hashes, dict):
            raise TypeError("hashes")
        input_roots = list(map(str, data.get("input_roots", ())))
        if any("\0" in p for p in (*roots, *files, *input_roots)):
            raise ValueError("NUL")
    except (OSError, ValueError, KeyError, TypeError, IndexError, RecursionError):
        # a stamp of another shape (damaged, or of another kmodbuild): build as if none
        return Decision("full")
    if data.get("argv") != list(argv) or data.get("stamp") != os.path.realpath(stamp):
        return Decision("full")         # another command line; a copy of the tree
    entries = scan(roots, files, input_roots)
    if data.get("digest") == _digest(argv, entries):
        return Decision("noop", entries=tuple(entries), data=data)
    if data.get("env") != _env_digest(argv):
        return Decision("full")          # the environment changed
    now = {e[0]: e for e in entries}
    if now.keys() != old.keys():
        return Decision("full")
    dirs: set[str] = set()
    changed: list[str] = []
    touched: list[str] = []
    prefix = module_root.rstrip("/") + "/"
    # who compiles which .c (a module may compile another directory's file), and the .c
    # files some compile #includes: those take the full walk (kmodbuild.scons_tool)
    extra = data.get("extra") if isinstance(data.get("extra"), dict) else {}
    sources = extra.get("sources")
    included = extra.get("included_c")
    if not isinstance(sources, dict) or not isinstance(included, list):
        sources, included = {}, []
    for path, entry in now.items():
        was = old[path]
        if entry == was:
            continue
        if entry[1] == was[1] and path in hashes and file_hash(path) == hashes[path]:
            touched.append(path)         # same contents: as SCons's content signatures
            continue
        rel = path[len(prefix):] if path.startswith(prefix) else ""
        parts = rel.split("/")
        users = sources.get(path)
        if len(parts) != 2 or not parts[1].endswith(".c") or not isinstance(users, list) \
                or not users or path in included:
            return Decision("full")
        dirs.update(map(str, users))
        changed.append(path)
    return Decision("partial" if dirs else "noop", tuple(sorted(dirs)), tuple(changed),
                    tuple(touched), tuple(entries), data)


def file_hash(path: str) -> str | None:
    """A digest of the file's contents (``None``: unreadable)."""
    try:
        with open(path, "rb") as f:
            return hashlib.blake2b(f.read(), digest_size=16).hexdigest()
    except OSError:
        return None


def refresh_stamp(stamp: Path, argv: Sequence[str], decision: Decision) -> None:
    """Record the new timestamps of inputs :func:`decide` found touched but unchanged
    (a ``"noop"`` decision), so that the next run does not compare their contents again."""
    data = decision.data
    if decision.kind != "noop" or not decision.touched or not data:
        return
    entries = [list(e) for e in decision.entries]
    data = {**data, "entries": entries, "digest": _digest(argv, decision.entries)}
    _write_json(stamp, data)


def _write_json(stamp: Path, data: dict[str, Any]) -> None:
    """Write the stamp through a temporary file of its own (two no-op runs at once used
    one fixed name: one renamed the other's half-written file, or found it gone -- a
    traceback); a stamp that cannot be written (a full disk, ``build/`` not writable)
    is left unwritten, its temporary removed: it only saves the next run its graph walk."""
    import tempfile
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{Path(stamp).name}.", suffix=".tmp",
                                   dir=os.path.dirname(stamp) or ".")
    except OSError:
        return
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data))
        os.replace(tmp, stamp)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def write_stamp(stamp: Path, argv: Sequence[str], roots: Iterable[str],
                files: Iterable[str] = (), module_root: str = "",
                inputs: list[tuple[str, int, int, int]] | None = None,
                input_roots: Iterable[str] = (), input_files: Iterable[str] = (),
                extra: dict[str, Any] | None = None,
                hashes: dict[str, str] | None = None,
                outputs: list[tuple[str, int, int, int]] | None = None) -> None:
    """Record the state after a successful build (``roots`` walked, ``files`` stat'ed).

    ``module_root`` is the directory holding one directory per module
    (``sys/modules``): :func:`plan` allows a partial build for edits there.
    ``inputs`` is a :func:`scan` of ``input_roots``/``input_files`` taken when
    the build *started*: a source edited while the build ran then differs
    from the stamp, so the next run rebuilds instead of taking the fast path.
    ``extra`` is stored as it is for the build's own use (:func:`read_extra`).
    ``hashes`` are the inputs' digests taken when the build began
    (:func:`input_hashes`), for :func:`decide` to tell a touched input from a
    changed one; without them every touched input counts as changed.
    ``outputs``: a :func:`scan` of the other roots and files made by the caller
    (default: scanned here).
    """
    input_roots, input_files = list(map(str, input_roots)), list(map(str, input_files))
    roots = sorted(set(map(str, roots)) | set(input_roots))
    files = sorted(set(map(str, files)) | set(input_files))
    if inputs is None:
        entries = scan(roots, files, input_roots)
    else:
        if outputs is None:
            outputs = scan([r for r in roots if r not in input_roots],
                           [f for f in files if f not in input_files])
        entries = sorted({e[0]: e for e in [*inputs, *outputs]}.values())
    # where it was written: a copy of the tree (cp -a) holds this stamp too, whose paths
    # are the original's -- it watched the original's files and its quick build built
    # and installed into the original
    _write_json(stamp, {"argv": list(argv), "stamp": os.path.realpath(stamp),
                        "roots": roots, "input_roots": input_roots,
                        "files": files,
                        "module_root": module_root, "entries": entries,
                        "digest": _digest(argv, entries), "env": _env_digest(argv),
                        "hashes": dict(hashes or {}),
                        "extra": extra or {}})


def known_hashes(stamp: Path | dict[str, Any]) -> dict[str, tuple[tuple[Any, ...], str]]:
    """``path -> (entry, digest)`` of the inputs a stamp digested (``{}`` if none), for
    :func:`input_hashes`; read before the stamp is removed (or given as read)."""
    try:
        data = stamp if isinstance(stamp, dict) else json.loads(Path(stamp).read_text())
        entries = {e[0]: tuple(e) for e in data["entries"]}
        return {p: (entries[p], h) for p, h in data.get("hashes", {}).items() if p in entries}
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError,
            RecursionError):
        return {}


def input_hashes(inputs: Iterable[tuple[str, int, int, int]],
                 known: dict[str, tuple[tuple[Any, ...], str]] | None = None) -> dict[str, str]:
    """The digests of the files :func:`scan` found (``inputs``), taken *before* the build
    reads them: a file edited after this is digested as it was, so the next run sees
    the edit.  A file whose ``(path, size, mtime_ns, inode)`` is the one ``known``
    (:func:`known_hashes`) digested keeps that digest unread.  Files larger than
    :data:`MAX_HASHED` (the compiler, 185 MB) are not digested."""
    known = known or {}
    out: dict[str, str] = {}
    for e in inputs:
        if not 0 <= e[1] <= MAX_HASHED:
            continue                    # the toolchain binary: touched counts as changed
        old = known.get(e[0])
        h = old[1] if old is not None and tuple(old[0]) == tuple(e) else file_hash(e[0])
        if h is not None:
            out[e[0]] = h
    return out


def read_extra(stamp: Path) -> dict[str, Any]:
    """What the last successful build stored with its stamp (``{}`` if none)."""
    try:
        extra = json.loads(Path(stamp).read_text()).get("extra", {})
    except (OSError, ValueError, AttributeError, RecursionError):
        return {}
    return extra if isinstance(extra, dict) else {}


def remove_stamp(stamp: Path) -> None:
    """Forget the recorded state (after a failed or partial build)."""
    try:
        os.unlink(stamp)
    except OSError:
        pass


def build_jobs(get_option: Callable[[str], object], parsed: object = None) -> int:
    """The build's job count: ``-j N`` as given (``-j1`` too, on the command line or in
    SCONSFLAGS), else every core.  SCons's default of 1 cannot be told from an explicit
    ``-j1`` by its value, only by its not being among the options ``parsed`` holds
    (SCons's parsed option values: those given are its own attributes)."""
    jobs = get_option("num_jobs")
    if not isinstance(jobs, int) or jobs < 1:
        return os.cpu_count() or 1
    if jobs != 1:
        return jobs
    try:
        given = "num_jobs" in vars(parsed)
    except TypeError:                   # no parsed options: SCons's default
        given = False
    return 1 if given else os.cpu_count() or 1


def skip_reason(get_option: Callable[[str], object]) -> str | None:
    """Why this scons invocation may not use the fast path (None: it may)."""
    for opt in ("clean", "no_exec", "help", "interactive", "question"):
        if get_option(opt):
            return f"--{opt}"
    if os.environ.get("KMOD_FASTPATH") == "0":
        return "KMOD_FASTPATH=0"
    return None
