"""kmodbuild.linux.scan - find the modules of a tree, in depmod's order.

:func:`find_modules` walks directories as depmod's ``depmod_modules_search``
does (every ``.ko``, ``.ko.xz``, ``.ko.zst`` and ``.ko.gz``, skipping
entries named ``build`` and ``source``, following symbolic links) and orders
the result as ``depmod_modules_sort``: the modules listed in the root's
``modules.order`` first, in that order (a compressed module matches its
``.ko`` line), the others after them -- by path here, where depmod's order is
its hash table's.  modules.order lines are taken as depmod takes them: without
their newline and nothing else, looked up by the module's path without its
compression suffix, and not at all when depmod finds the file corrupted.  Two
files with the same module name: depmod keeps one -- under ``updates/`` if
there is one, else the first its walk meets (directory order, depth first);
so do we, with a warning.

The walk also records the key of every directory it lists, taken before
listing it (:mod:`kmodbuild.linux.treecache`: a file added or removed later
changes it), so that a cached re-check can tell that the tree is the same
without walking it.  Reading the modules is :mod:`kmodbuild.linux.readers`.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

from kmodbuild.errors import UsageError
from kmodbuild.linux.names import module_suffix, uncompressed_relpath
from kmodbuild.linux.treecache import Key, key_of, stat_key

#: Directory entries depmod never descends into (the kernel build tree links).
SKIPPED_NAMES = ("build", "source")

_new = tuple.__new__


class KoModule(NamedTuple):
    """One module file found.

    Attributes:
        path: the path to open and to name in reports.
        relpath: the path written in modules.dep (relative to its root).
        cache_name: the absolute path, the result cache's key.
        key: its :data:`~kmodbuild.linux.treecache.Key` when found, if stat was asked for.
    """

    path: str
    relpath: str
    cache_name: str
    key: Key | None


class ScanResult(NamedTuple):
    """Modules in depmod's order, the other inputs the result depends on, and warnings.

    ``inputs`` maps each ``modules.order`` read to its key; ``dirs`` maps the
    absolute path of every directory searched to its key (taken before it was
    listed) and the fingerprint of its listing (:func:`dir_fingerprint`);
    ``duplicates`` lists ``(ignored path, kept path)``; ``unreadable`` lists
    ``(path, reason)`` of the module names found whose file cannot be reached (a
    dangling symbolic link, a loop): depmod reports them and leaves them out.
    """

    modules: list[KoModule]
    inputs: dict[str, Key | None]
    duplicates: list[tuple[str, str]]
    dirs: dict[str, tuple[Key | None, str | None]]
    unreadable: tuple[tuple[str, str], ...] = ()


def _scan_dir(top: str) -> tuple[list[tuple[os.DirEntry[str], bool, bool]], str] | None:
    """What the walk takes from one directory: ``(entry, is a directory, is a symbolic
    link)`` of each module file and subdirectory, and the *fingerprint* of that
    listing (what a re-check compares when the directory's key moved: the walk
    would find the same things exactly when it is the same).  ``None`` when the
    directory cannot be listed (the walk skips it)."""
    try:
        with os.scandir(top) as it:
            entries = list(it)
    except OSError:
        return None
    picked = []
    marks = []
    for e in entries:
        name = e.name
        if name in SKIPPED_NAMES:
            continue
        try:
            is_dir = e.is_dir()
        except OSError:                  # a symbolic link loop, say
            is_dir = False
        if is_dir:
            link = e.is_symlink()
            picked.append((e, True, link))
            marks.append(("l" if link else "d") + name)
        elif name.endswith(".ko") or module_suffix(name):
            picked.append((e, False, False))
            marks.append("f" + name)
    marks.sort()
    return picked, "\0".join(marks)


def dir_fingerprint(path: str) -> str | None:
    """The fingerprint of directory ``path`` as the walk takes it (see :func:`_scan_dir`)."""
    got = _scan_dir(path)
    return None if got is None else got[1]


def _walk(top: str, absdir: str, prefix: str, seen: set[str],
          out: list[tuple[str, os.DirEntry[str]]],
          dirs: dict[str, tuple[Key | None, str | None]],
          unreadable: list[tuple[str, str]]) -> None:
    """Collect ``(relpath, entry)`` of module files under ``top`` (depmod_modules_search_dir),
    and ``(path, reason)`` of those behind a symbolic link that leads nowhere."""
    key = stat_key(top)                  # before listing: a later change shows
    got = _scan_dir(top)
    dirs[absdir] = (key, None if got is None else got[1])
    if got is None:
        return
    for e, is_dir, link in got[0]:
        name = e.name
        if not is_dir:
            if e.is_symlink():
                try:
                    e.stat()
                except OSError as err:   # depmod: "fstatat(...)" error, not a module
                    unreadable.append((e.path, f"cannot read: {err.strerror or err}"))
                    continue
            out.append((prefix + name, e))
            continue
        if link:
            real = os.path.realpath(e.path)
            if real in seen:
                continue
            seen.add(real)
        _walk(e.path, f"{absdir.rstrip('/')}/{name}", prefix + name + "/", seen, out, dirs,
              unreadable)


#: depmod reads modules.order with ``fgets(line, PATH_MAX)``.
_ORDER_LINE_MAX = 4096 - 1


def _read_order(root: str) -> tuple[list[str], Key | None]:
    """The lines of ``root``'s modules.order as ``depmod_modules_sort`` takes them: each
    without its newline and nothing else (a line with a trailing blank or ``\r``
    names no module); none at all when depmod finds the file corrupted -- a line
    missing its newline, the last one or one longer than its buffer, or cut by a NUL --
    and then orders nothing."""
    path = os.path.join(root, "modules.order")
    try:
        # a FIFO is not waited on and orders nothing, as a directory
        from kmodbuild.atomicfile import read_regular
        got, st = read_regular(path)
    except OSError:
        return [], None
    key = key_of(st)
    if got is None:
        return [], key
    data = got
    lines = data.split(b"\n")
    if lines.pop():
        return [], key                    # the last line misses its newline
    if not lines:
        return [], key
    if b"\0" not in data and max(map(len, lines)) < _ORDER_LINE_MAX:
        # the usual file: decoded at once ("\n" is never part of a UTF-8 sequence)
        return data[:-1].decode("utf-8", "surrogateescape").split("\n"), key
    for line in lines:
        if len(line) >= _ORDER_LINE_MAX or (line[:1] != b"\0" and b"\0" in line):
            return [], key
    return [line.decode("utf-8", "surrogateescape") for line in lines], key


def find_modules(paths: Sequence[str], stat: bool = True) -> ScanResult:
    """Every module named by ``paths`` (files, or directories searched), in depmod's order.

    A directory is a module root: relative paths in modules.dep are relative
    to it and its ``modules.order`` orders its modules.  A file is taken as
    given, its path as written being its modules.dep path.  With ``stat``
    each module's cache key is filled in (one ``stat`` per file).

    Raises:
        UsageError: a path does not exist or is not a module file.
    """
    groups: list[list[tuple[int, str, KoModule]]] = []    # per path, in the order found
    unreadable: list[tuple[str, str]] = []
    inputs: dict[str, Key | None] = {}
    dirs: dict[str, tuple[Key | None, str | None]] = {}
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
            before = len(unreadable)
            _walk(root, absroot, "", {os.path.realpath(root)}, entries, dirs, unreadable)
            if not entries and len(unreadable) == before:
                raise UsageError(f"{p}: no kernel modules (.ko, .ko.xz, .ko.zst, .ko.gz) in "
                                 "this directory")
            mods: list[tuple[int, str, KoModule]] = []
            for rel, entry in entries:
                key = None
                if stat:
                    try:
                        key = key_of(entry.stat())
                    except OSError:
                        pass            # read (and reported) like the others
                # depmod looks modules.order lines up by the path without compression
                r = rank.get(rel if rel[-3:] == ".ko" else uncompressed_relpath(rel), unlisted)
                # (tuple.__new__: the NamedTuple's own __new__ is a Python function)
                mods.append((r, rel, _new(KoModule, (f"{base}/{rel}", rel, f"{absroot}/{rel}",
                                                     key))))
            groups.append(mods)
        elif os.path.isfile(p):
            if module_suffix(p) is None:
                raise UsageError(f"{p}: not a kernel module (.ko, .ko.xz, .ko.zst or .ko.gz)")
            groups.append([(0, "", KoModule(p, os.path.normpath(p), os.path.abspath(p),
                                            stat_key(p) if stat else None))])
        elif os.path.exists(p):
            raise UsageError(f"{p}: not a regular file or a directory")
        else:
            raise UsageError(f"{p}: no such file or directory")
    # Duplicate names are settled in the order the files were found (depmod's walk:
    # directory order, depth first), then each root's modules take modules.order's order.
    kept, duplicates = _dedupe([m for g in groups for _, _, m in g])
    found = [m for g in groups for _, _, m in sorted(g) if kept is None or id(m) in kept]
    return ScanResult(found, inputs, duplicates, dirs, tuple(unreadable))


def _dedupe(found: list[KoModule]) -> tuple[set[int] | None, list[tuple[str, str]]]:
    """Which of ``found`` (in the order found) depmod keeps when names repeat: the ids
    of the kept ones (``None``: all) and ``(ignored path, kept path)`` pairs."""
    names = [m.relpath.rpartition("/")[2].split(".", 1)[0].replace("-", "_") for m in found]
    if len(set(names)) == len(names):
        return None, []
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
    return {id(m) for m, k in zip(found, keep) if k}, duplicates


