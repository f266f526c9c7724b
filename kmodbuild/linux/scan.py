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
the caller goes on (it parses Module.symvers and resolves the chunks already
done meanwhile); :func:`kmodbuild.linux.kofile.read_ko_many` is a chunk's work.
"""
from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from kmodbuild.errors import ModuleFormatError, UsageError
from kmodbuild.linux.names import module_suffix, uncompressed_relpath
from kmodbuild.resultcache import FileKey, file_key

if TYPE_CHECKING:
    from kmodbuild.linux.facts import KoFacts

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

#: The kernel's symbol table in a reader process (set by the pool initializer:
#: each reader checks its modules against it, see depmod.kernel_residue).
_worker_kernel: Mapping[str, int] | None = None


def _init_worker(kernel: Mapping[str, int] | None) -> None:
    global _worker_kernel
    _worker_kernel = kernel


def _read_chunk(paths: Sequence[str], kernel: Mapping[str, int] | None | bool = False
                ) -> list[tuple[tuple[Any, ...], FileKey | None, Any]]:
    """Read ``paths``; each result is ``(facts tuple, key, residue)``.  The residue
    is computed against ``kernel`` (False: not computed, the parent will)."""
    from kmodbuild.linux.depmod import kernel_residue
    from kmodbuild.linux.facts import KoFacts
    from kmodbuild.linux.kofile import read_ko_many
    out: list[tuple[tuple[Any, ...], FileKey | None, Any]] = []
    for path, (facts, st) in zip(paths, read_ko_many(paths)):
        key = file_key(st) if st is not None else None
        if isinstance(facts, ModuleFormatError):
            facts = KoFacts.broken(facts.message)
        residue = (True if kernel is False
                   else kernel_residue(facts, kernel))  # type: ignore[arg-type]
        out.append((tuple(facts), key, residue))
    return out


def default_jobs() -> int:
    """The number of CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Reading:
    """Reading ``paths`` in the background with ``jobs`` processes (0: all CPUs).

    Start it, do other work, then consume :meth:`chunks` (results as they
    arrive, so that the caller can work on them while the rest is read) or
    :meth:`result`.  Broken files give :meth:`KoFacts.broken` facts; nothing
    raises for them.  Small batches (or ``jobs == 1``) are read in this
    process, while iterating.
    """

    def __init__(self, paths: Sequence[str], jobs: int = 0,
                 kernel: Mapping[str, int] | None | bool = False) -> None:
        self.paths = list(paths)
        self.kernel = kernel
        jobs = jobs or default_jobs()
        self._workers: Any = None
        self._nchunks = 0
        if jobs <= 1 or len(self.paths) < PARALLEL_MIN_FILES:
            return
        # Imported before forking, so that no reader imports them again.
        import kmodbuild.linux.depmod
        import kmodbuild.linux.kofile  # noqa: F401
        self._nchunks = min(len(self.paths), jobs * CHUNKS_PER_JOB)
        # Strided chunks: big modules cluster in a few directories.
        chunks = [self.paths[k::self._nchunks] for k in range(self._nchunks)]
        gc_was_enabled = gc.isenabled()
        gc.disable()            # inherited by the readers: the reader makes no cycles
        try:
            from kmodbuild.linux import forkpool
            if forkpool.available():
                # The readers inherit the kernel table through fork.
                self._workers = iter(forkpool.ForkMap(partial(_read_chunk, kernel=kernel),
                                                      chunks, jobs))
            else:
                import multiprocessing
                pool = multiprocessing.Pool(min(jobs, self._nchunks), _init_worker,
                                            (None if kernel is False else kernel,))
                self._workers = _pool_results(pool, list(enumerate(chunks)))
        finally:
            if gc_was_enabled:
                gc.enable()

    def chunks(self) -> Iterator[tuple[range, list[tuple[KoFacts, FileKey | None, Any]]]]:
        """``(positions in paths, [(facts, key, residue), ...])`` for each chunk as it
        is done; ``residue`` is :func:`kmodbuild.linux.depmod.kernel_residue` against
        the ``kernel`` given (True when none was given: not computed)."""
        from kmodbuild.linux.facts import KoFacts
        make = KoFacts._make
        if self._workers is None:
            gc_was_enabled = gc.isenabled()
            gc.disable()
            try:
                done = [(make(t), key, r) for t, key, r in _read_chunk(self.paths, self.kernel)]
            finally:
                if gc_was_enabled:
                    gc.enable()
            yield range(len(self.paths)), done
            return
        workers, self._workers = self._workers, None
        for k, chunk in workers:
            yield range(k, len(self.paths), self._nchunks), [(make(t), key, r)
                                                             for t, key, r in chunk]

    def terminate(self) -> None:
        """Stop the readers without waiting for their results."""
        if self._workers is not None:
            self._workers.close()       # a generator: its cleanup stops the processes
            self._workers = None

    def result(self) -> list[tuple[KoFacts, FileKey | None]]:
        """Each path's facts and key, in order (waits for the workers)."""
        out: list[Any] = [None] * len(self.paths)
        for positions, chunk in self.chunks():
            for i, (facts, key, _) in zip(positions, chunk):
                out[i] = (facts, key)
        return out


def _read_numbered_chunk(job: tuple[int, Sequence[str]]
                         ) -> tuple[int, list[tuple[tuple[Any, ...], FileKey | None, Any]]]:
    return job[0], _read_chunk(job[1], _worker_kernel if _worker_kernel is not None else False)


def _pool_results(pool: Any, jobs: list[tuple[int, Sequence[str]]]
                  ) -> Iterator[tuple[int, list[tuple[tuple[Any, ...], FileKey | None, Any]]]]:
    """multiprocessing fallback (no fork): the pool's results as they come, then its end."""
    try:
        yield from pool.imap_unordered(_read_numbered_chunk, jobs)
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.close()
        pool.join()
