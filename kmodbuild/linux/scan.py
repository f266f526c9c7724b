"""kmodbuild.linux.scan - find the modules of a tree, in depmod's order, and read them on all cores.

:func:`find_modules` walks directories as depmod's ``depmod_modules_search``
does (every ``.ko``, ``.ko.xz``, ``.ko.zst`` and ``.ko.gz``, skipping
entries named ``build`` and ``source``, following symbolic links) and orders
the result as ``depmod_modules_sort``: the modules listed in the root's
``modules.order`` first, in that order (a compressed module matches its
``.ko`` line), the others after them -- by path here, where depmod's order is
its hash table's.  Two files with the same module name: depmod keeps one
(``updates/`` wins); so do we, with a warning.

:class:`Reading` reads files with a process pool over chunks of files while
the caller goes on (it parses Module.symvers meanwhile);
:func:`kmodbuild.linux.kofile.read_ko_stat` is the work of one file.
"""
from __future__ import annotations

import gc
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from kmodbuild.errors import ModuleFormatError, UsageError
from kmodbuild.linux.names import module_suffix, uncompressed_relpath
from kmodbuild.resultcache import FileKey, file_key

if TYPE_CHECKING:
    from kmodbuild.linux.kofile import KoFacts

#: Directory entries depmod never descends into (the kernel build tree links).
SKIPPED_NAMES = ("build", "source")
#: Below this many files, reading in one process is faster than starting a pool.
PARALLEL_MIN_FILES = 48
#: Chunks per worker: small enough to balance big and small modules.
CHUNKS_PER_JOB = 6


class KoModule(NamedTuple):
    """One module file found.

    Attributes:
        path: the path to open and to name in reports.
        relpath: the path written in modules.dep (relative to its root).
        cache_name: the absolute path, the result cache's key.
        key: ``(size, mtime_ns, inode)`` when found, if stat was asked for.
    """

    path: str
    relpath: str
    cache_name: str
    key: FileKey | None


class ScanResult(NamedTuple):
    """Modules in depmod's order, the extra inputs the order came from, and warnings.

    ``inputs`` maps each ``modules.order`` read to its key (part of the cache's
    summary key); ``duplicates`` lists ``(ignored path, kept path)``.
    """

    modules: list[KoModule]
    inputs: dict[str, FileKey | None]
    duplicates: list[tuple[str, str]]


def _walk(top: str, prefix: str, seen: set[str], out: list[tuple[str, os.DirEntry[str]]]) -> None:
    """Collect ``(relpath, entry)`` of module files under ``top`` (depmod_modules_search_dir)."""
    try:
        with os.scandir(top) as it:
            entries = list(it)
    except OSError:
        return
    for e in entries:
        name = e.name
        if name in SKIPPED_NAMES:
            continue
        try:
            is_dir = e.is_dir()
        except OSError:
            continue
        if not is_dir:
            if name.endswith(".ko") or module_suffix(name):
                out.append((prefix + name, e))
            continue
        if e.is_symlink():
            real = os.path.realpath(e.path)
            if real in seen:
                continue
            seen.add(real)
        _walk(e.path, prefix + name + "/", seen, out)


def _read_order(root: str) -> tuple[list[str], FileKey | None]:
    path = os.path.join(root, "modules.order")
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            key = file_key(os.fstat(f.fileno()))
            return [line.strip() for line in f if line.strip()], key
    except OSError:
        return [], None


def find_modules(paths: Sequence[str], stat: bool = True) -> ScanResult:
    """Every module named by ``paths`` (files, or directories searched), in depmod's order.

    A directory is a module root: relative paths in modules.dep are relative
    to it and its ``modules.order`` orders its modules.  A file is taken as
    given, its path as written being its modules.dep path.  With ``stat``
    each module's cache key is filled in (one ``stat`` per file).

    Raises:
        UsageError: a path does not exist or is not a module file.
    """
    found: list[KoModule] = []
    inputs: dict[str, FileKey | None] = {}
    for p in paths:
        if os.path.isdir(p):
            root = p.rstrip("/") or "/"
            absroot = os.path.abspath(root)
            base = "" if root == "/" else root
            order, order_key = _read_order(root)
            inputs[os.path.join(absroot, "modules.order")] = order_key
            rank = {line: i for i, line in enumerate(order)}
            unlisted = len(order)
            entries: list[tuple[str, os.DirEntry[str]]] = []
            _walk(root, "", {os.path.realpath(root)}, entries)
            if not entries:
                raise UsageError(f"{p}: no kernel modules (.ko, .ko.xz, .ko.zst, .ko.gz) in "
                                 "this directory")
            mods: list[tuple[int, str, KoModule]] = []
            for rel, entry in entries:
                key = None
                if stat:
                    try:
                        key = file_key(entry.stat())
                    except OSError:
                        continue
                r = rank.get(rel)
                if r is None:
                    r = rank.get(uncompressed_relpath(rel), unlisted)
                mods.append((r, rel, KoModule(f"{base}/{rel}", rel, f"{absroot}/{rel}", key)))
            mods.sort()
            found.extend(m for _, _, m in mods)
        elif os.path.isfile(p):
            if module_suffix(p) is None:
                raise UsageError(f"{p}: not a kernel module (.ko, .ko.xz, .ko.zst or .ko.gz)")
            found.append(KoModule(p, os.path.normpath(p), os.path.abspath(p),
                                  file_key(os.stat(p)) if stat else None))
        else:
            raise UsageError(f"{p}: no such file or directory")
    return _dedupe(found, inputs)


def _dedupe(found: list[KoModule], inputs: dict[str, FileKey | None]) -> ScanResult:
    names = [m.relpath.rpartition("/")[2].split(".", 1)[0].replace("-", "_") for m in found]
    if len(set(names)) == len(names):
        return ScanResult(found, inputs, [])
    by_name: dict[str, int] = {}
    keep = [True] * len(found)
    duplicates: list[tuple[str, str]] = []
    for i, (m, name) in enumerate(zip(found, names)):
        j = by_name.get(name)
        if j is None:
            by_name[name] = i
            continue
        if found[j].cache_name == m.cache_name:
            keep[i] = False
            continue
        # depmod's default search order puts updates/ before the built-in tree.
        if m.relpath.startswith("updates/") and not found[j].relpath.startswith("updates/"):
            keep[j] = False
            by_name[name] = i
            duplicates.append((found[j].path, m.path))
        else:
            keep[i] = False
            duplicates.append((m.path, found[j].path))
    return ScanResult([m for m, k in zip(found, keep) if k], inputs, duplicates)


# --------------------------------------------------------------------------- reading

def read_one(path: str) -> tuple[KoFacts, FileKey | None]:
    """One file's facts and cache key; a broken file gives :meth:`KoFacts.broken` facts."""
    from kmodbuild.linux.kofile import KoFacts, read_ko_stat
    try:
        facts, st = read_ko_stat(path)
        return facts, file_key(st)
    except ModuleFormatError as e:
        try:
            key: FileKey | None = file_key(os.stat(path))
        except OSError:
            key = None
        return KoFacts.broken(e.message), key


def _read_chunk(paths: Sequence[str]) -> list[tuple[tuple[Any, ...], FileKey | None]]:
    from kmodbuild.linux.kofile import KoFacts, read_ko_many
    out: list[tuple[tuple[Any, ...], FileKey | None]] = []
    for path, (facts, st) in zip(paths, read_ko_many(paths)):
        key = file_key(st) if st is not None else None
        if isinstance(facts, ModuleFormatError):
            facts = KoFacts.broken(facts.message)
        out.append((tuple(facts), key))
    return out


def default_jobs() -> int:
    """The number of CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Reading:
    """Reading ``paths`` in the background with ``jobs`` processes (0: all CPUs).

    Start it, do other work, then call :meth:`result`.  Broken files give
    :meth:`KoFacts.broken` facts; nothing raises for them.  Small batches (or
    ``jobs == 1``) are read in this process, inside :meth:`result`.
    """

    def __init__(self, paths: Sequence[str], jobs: int = 0) -> None:
        self.paths = list(paths)
        jobs = jobs or default_jobs()
        self._pool: Any = None
        self._async: Any = None
        self._nchunks = 0
        if jobs > 1 and len(self.paths) >= PARALLEL_MIN_FILES:
            import multiprocessing
            self._nchunks = min(len(self.paths), jobs * CHUNKS_PER_JOB)
            # Strided chunks: big modules cluster in a few directories.
            chunks = [self.paths[k::self._nchunks] for k in range(self._nchunks)]
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
            gc_was_enabled = gc.isenabled()
            gc.disable()        # inherited by forked workers: the reader makes no cycles
            try:
                self._pool = ctx.Pool(min(jobs, self._nchunks))
            finally:
                if gc_was_enabled:
                    gc.enable()
            self._async = self._pool.map_async(_read_chunk, chunks, chunksize=1)

    def result(self) -> list[tuple[KoFacts, FileKey | None]]:
        """Each path's facts and key, in order (waits for the workers)."""
        from kmodbuild.linux.kofile import KoFacts
        make = KoFacts._make
        if self._pool is None:
            gc_was_enabled = gc.isenabled()
            gc.disable()
            try:
                return [(make(t), key) for t, key in _read_chunk(self.paths)]
            finally:
                if gc_was_enabled:
                    gc.enable()
        try:
            results = self._async.get()
        finally:
            self._pool.close()
            self._pool.join()
        out: list[Any] = [None] * len(self.paths)
        for k, chunk in enumerate(results):
            out[k::self._nchunks] = [(make(t), key) for t, key in chunk]
        return out


def read_many(paths: Sequence[str], jobs: int = 0) -> list[KoFacts]:
    """Read ``paths`` (in order) with ``jobs`` processes (0: all CPUs); facts only."""
    return [f for f, _ in Reading(paths, jobs).result()]
