"""kmodbuild.linux.treecache - the Linux check's result cache: one file, read in parts.

Two levels, in one file written atomically:

* a **whole-run summary**: the report of the last run, stored with the
  *signature* of everything it depended on -- ``(size, mtime_ns, inode,
  ctime_ns)`` of every module file, of every directory searched (a file
  added to, removed from or renamed in a directory changes the directory's
  mtime), of each ``modules.order`` and of Module.symvers -- and the options
  (:func:`summary_key`).  :func:`reuse` checks all of it with one ``stat``
  per file and directory (no directory listing, no module opened, on two
  processes when there are many) and returns the stored report.  It imports
  nothing but :mod:`os` and :mod:`marshal`, so that the shell can call it
  before loading the checker.
* **per-file facts** keyed by absolute path and the same key, for the run
  after a change: only modules whose key changed are read again
  (:class:`TreeCache`).

File layout (integers little-endian)::

    b"KMLINUX\\0" u32 FORMAT
    u32 n, marshal((tag, saved_at_ns, summary_key))       header
    u32 n, marshal((names, keys))                          signature
    u32 n, marshal(summary), u32 n, marshal(details)       the report and the rest
    then until the end, per chunk of facts:
        u32 n, marshal([cache name, ...])  u32 n, marshal([(key, facts tuple), ...])

A summary is stored only when no signature entry was modified less than
:data:`RACY_NS` before the cache was written (git's "racily clean" rule: a
later change in the same timestamp tick would keep the key).  The ctime is
compared but not aged: it cannot be set back, so a tree made a moment ago
(tests) would otherwise never be trusted; it catches in-place copies that
keep size and mtime (``cp -p``), and chmod.

A missing, truncated, foreign or damaged cache (a part of another shape than the
one stored), or one that is not a regular file (a FIFO is not waited on), is an
empty cache; it never makes a run fail.  marshal is not for untrusted data: the cache is the user's own
file, like ``.sconsign``.
"""
from __future__ import annotations

import errno
import marshal
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from typing import Any

#: ``(st_size, st_mtime_ns, st_ino, st_ctime_ns)``; ``None`` for a missing file.
Key = tuple[int, int, int, int]
#: Paths and their keys, in groups ``(base directory, paths relative to it, keys,
#: {directory: fingerprint of its listing})`` (base ``""``: absolute paths) --
#: :func:`make_signature`.
Signature = list[tuple[str, list[str], list["Key | None"], dict[str, "str | None"]]]

MAGIC = b"KMLINUX\0"
FORMAT = 2
#: Version of what the cache holds; bump when the reader, the rules or the reports change.
TAG = "kmodbuild-linux/3"
#: Files modified less than this before the cache was written are not trusted.
RACY_NS = 2_000_000_000
#: Below this many entries the signature is checked in one process.
PARALLEL_STAT_MIN = 1500


def key_of(st: os.stat_result) -> Key:
    """The cache key of a file or directory from its ``os.stat``."""
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def stat_key(path: str) -> Key | None:
    """:func:`key_of` ``path`` (following symbolic links), ``None`` when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def summary_key(tag: str, paths: Sequence[str], symvers: str | None) -> tuple[object, ...]:
    """What the report depends on besides files: the arguments, and where they lead from
    the current directory (reports name paths as given)."""
    return (tag, tuple((p, os.path.abspath(p)) for p in paths),
            (symvers, os.path.abspath(symvers)) if symvers else None)


# --------------------------------------------------------------------------- reading

def _loads(raw: bytes | None) -> Any:
    """``marshal.loads(raw)`` (``None`` for ``None``); a damaged part is a ``ValueError``
    -- also one whose lengths claim more memory than there is (``MemoryError``: marshal
    makes a list of the length it reads before its items)."""
    if raw is None:
        return None
    try:
        return marshal.loads(raw)
    except (ValueError, EOFError, TypeError, MemoryError):
        raise ValueError("damaged cache part") from None


def _u32(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos:pos + 4], "little")


class _File:
    """The cache file, read part by part with ``pread`` (the entries only when needed)."""

    def __init__(self, path: str) -> None:
        # a FIFO given as --cache is not waited on (O_NONBLOCK), and not read
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        st = os.fstat(self.fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(self.fd)
            raise OSError(errno.EINVAL, "not a regular file")
        self.size = st.st_size
        self.buf = os.pread(self.fd, 65536, 0)
        self.pos = 12

    def close(self) -> None:
        os.close(self.fd)

    def part(self) -> bytes | None:
        """The next length-prefixed part, ``None`` at the end or when truncated."""
        pos = self.pos
        if pos + 4 > self.size:
            return None
        if pos + 4 > len(self.buf):
            self.buf += os.pread(self.fd, pos + 4 - len(self.buf), len(self.buf))
        n = _u32(self.buf, pos)
        end = pos + 4 + n
        if end > self.size:
            return None
        if end > len(self.buf):
            self.buf += os.pread(self.fd, end - len(self.buf), len(self.buf))
            if end > len(self.buf):
                return None
        self.pos = end
        return self.buf[pos + 4:end]

    def rest(self) -> bytes:
        tail = self.buf[self.pos:]
        if len(self.buf) < self.size:
            tail += os.pread(self.fd, self.size - len(self.buf), len(self.buf))
        self.pos = self.size
        return tail


def _open(path: str, tag: str) -> tuple[_File, tuple[Any, ...]] | None:
    """The cache at ``path`` and its header, if it is one of ``tag``."""
    try:
        f = _File(path)
    except (OSError, ValueError):
        return None
    try:
        if f.buf[:8] != MAGIC or _u32(f.buf, 8) != FORMAT:
            raise ValueError
        raw = f.part()
        header = _loads(raw)
        if not isinstance(header, tuple) or len(header) != 3 or header[0] != tag:
            raise ValueError
        return f, header
    except (OSError, ValueError, EOFError, TypeError):
        f.close()
        return None


def make_signature(names: Sequence[str], keys: Sequence[Key | None],
                   roots: Sequence[str] = (),
                   listings: Mapping[str, str | None] | None = None) -> Signature:
    """The signature of absolute paths ``names`` with their ``keys``: grouped by the
    ``roots`` (absolute directories) they are under, as paths relative to them --
    shorter, and quicker to stat through a directory descriptor.

    ``listings`` gives the directories among ``names`` with the fingerprint of
    their listing (:func:`kmodbuild.linux.scan.dir_fingerprint`): when such a
    directory's key moved -- say the cache file or modules.dep was written in
    it -- it is listed again, and it still holds if the walk would find the
    same there.
    """
    listings = listings or {}
    groups: dict[str, tuple[list[str], list[Key | None], dict[str, str | None]]] = {
        r: ([], [], {}) for r in roots}
    loose: tuple[list[str], list[Key | None], dict[str, str | None]] = ([], [], {})
    prefixes = sorted(((r.rstrip("/") + "/", r) for r in roots), reverse=True)
    for name, key in zip(names, keys):
        group, rel = loose, name
        for prefix, root in prefixes:
            if name.startswith(prefix) or name == root:
                group, rel = groups[root], name[len(prefix):] or "."
                break
        group[0].append(rel)
        group[1].append(key)
        if name in listings:
            group[2][rel] = listings[name]
    return [("", *loose), *((r, *g) for r, g in groups.items())]


def signature_holds(signature: Signature) -> bool:
    """True when every path of ``signature`` still has its key (one ``stat`` each; a
    directory whose key moved is listed again, see :func:`make_signature`).

    Many paths are checked on two processes when forking is possible: the
    child takes the second half and answers with its exit status.
    """
    if not _signature_ok(signature):
        return False                            # a damaged cache
    fds: list[int] = []
    try:
        tasks: list[Task] = []
        by_fd = os.stat in os.supports_dir_fd
        for base, names, keys, listings in signature:
            if len(names) != len(keys):
                return False
            fd = None
            if base and by_fd:
                try:
                    fd = os.open(base, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
                except OSError:
                    return False
                fds.append(fd)
                paths = names
            else:
                paths = [os.path.join(base, name) for name in names] if base else names
            tasks.extend(zip([fd] * len(names), paths, keys,
                             [(base, listings)] * len(names), names))
        return _split_holds(tasks)
    except (OSError, ValueError, TypeError):
        return False
    finally:
        for fd in fds:
            os.close(fd)


def _signature_ok(signature: object) -> bool:
    """True when ``signature`` has the shape :func:`make_signature` gives."""
    if not isinstance(signature, list):
        return False
    for group in signature:
        if not (isinstance(group, tuple) and len(group) == 4 and type(group[0]) is str
                and _strs(group[1]) and isinstance(group[2], list)
                and isinstance(group[3], dict)):
            return False
        if not all(k is None or _key_ok(k) for k in group[2]):
            return False
        if not all(type(d) is str and (f is None or type(f) is str)
                   for d, f in group[3].items()):
            return False
    return True


#: One path to check: ``(directory descriptor or None, path to stat, key,
#: (base, listings) of its group, name in its group)``.
Task = tuple["int | None", str, "Key | None", tuple[str, "dict[str, str | None]"], str]


def _split_holds(tasks: list[Task]) -> bool:
    n = len(tasks)
    child = 0
    half = n
    if n >= PARALLEL_STAT_MIN and hasattr(os, "fork") and (os.cpu_count() or 1) > 1:
        half = n // 2
        try:
            child = os.fork()
        except OSError:
            child, half = 0, n
        if child == 0 and half != n:             # the child: the second half
            code = 1
            try:
                code = 0 if _holds(tasks, half, n) else 1
            finally:
                os._exit(code)
    ok = _holds(tasks, 0, half)
    if child:
        if not ok:
            try:
                os.kill(child, 9)               # SIGKILL: its answer is not needed
            except OSError:
                pass
            os.waitpid(child, 0)
            return False
        _, status = os.waitpid(child, 0)
        ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    return ok


def _holds(tasks: list[Task], lo: int, hi: int) -> bool:
    st = os.stat
    for k in range(lo, hi):
        fd, path, key, (base, listings), name = tasks[k]
        try:
            s = st(path, dir_fd=fd)
            now: Key | None = (s.st_size, s.st_mtime_ns, s.st_ino, s.st_ctime_ns)
        except (OSError, ValueError):
            now = None
        if now == key:
            continue
        if name not in listings:
            return False
        # A directory whose key moved still holds if the walk finds the same in it.
        from kmodbuild.linux.scan import dir_fingerprint
        if dir_fingerprint(os.path.join(base, name) if base else name) != listings[name]:
            return False
    return True


def reuse(path: str, tag: str, key: object, details: bool = True) -> dict[str, Any] | None:
    """The stored summary if the cache at ``path`` has one for ``key`` and nothing in
    its signature changed; else ``None``.  Never raises for a bad cache.

    The summary is stored in two parts: what a re-check prints (``reports``,
    ``notes``, ``errors``) and, read only with ``details``, the rest
    (``resolution``, ``diagnostics``, ``modules``, and ``dep_lines`` when they were made).
    """
    opened = _open(path, tag)
    if opened is None:
        return None
    f, header = opened
    try:
        if header[2] != key:
            return None
        raw = f.part()
        if raw is None or not signature_holds(_loads(raw)):
            return None
        raw = f.part()
        summary = _loads(raw)
        if not _summary_ok(summary):
            return None
        if details:
            raw = f.part()
            more = _loads(raw)
            if not _details_ok(more):
                return None
            summary.update(more)
        return summary
    except (OSError, ValueError, EOFError, TypeError):
        return None
    finally:
        f.close()


def _strs(value: object) -> bool:
    return isinstance(value, list) and all(type(x) is str for x in value)


def _summary_ok(summary: object) -> bool:
    """True when ``summary`` has the shape :func:`kmodbuild.linux.check.check_linux`
    stores (a damaged cache whose header still holds must not reach the printer)."""
    if not isinstance(summary, dict):
        return False
    reports, notes = summary.get("reports"), summary.get("notes")
    return (isinstance(reports, dict) and all(type(k) is str and type(v) is str
                                              for k, v in reports.items())
            and _strs(notes) and type(summary.get("errors")) is bool)


def _details_ok(details: object) -> bool:
    """True when the details part of a summary (diagnostics, modules, dependency graph,
    modules.dep lines) has the shape that is stored: a modules.dep is made from them."""
    if not isinstance(details, dict):
        return False
    diagnostics, modules = details.get("diagnostics"), details.get("modules")
    if not isinstance(diagnostics, list) or not isinstance(modules, list):
        return False
    for d in diagnostics:
        if not (isinstance(d, tuple) and len(d) == 6 and d[0] in ("error", "warning")
                and all(type(x) is str for x in (d[1], d[2], d[5]))
                and all(x is None or type(x) is str for x in (d[3], d[4]))):
            return False
    if not all(isinstance(m, tuple) and len(m) == 2 and type(m[0]) is str
               and type(m[1]) is str for m in modules):
        return False
    if "dep_lines" in details and not _strs(details["dep_lines"]):
        return False
    graph = details.get("resolution")
    if not (isinstance(graph, (tuple, list)) and len(graph) == 3
            and all(isinstance(part, list) and len(part) == len(modules) for part in graph)):
        return False
    deps, sort_index, in_cycle = graph
    n = len(modules)
    return (all(type(x) is int for x in sort_index)
            and all(type(x) is bool for x in in_cycle)
            and all(isinstance(ds, list) and all(type(d) is int and 0 <= d < n for d in ds)
                    for ds in deps))


def cached_report(cache: str, paths: Sequence[str], symvers: str | None, report_format: str,
                  dep_lines: bool = False) -> tuple[str, list[str], list[str], bool] | None:
    """The report of an unchanged re-check of ``paths`` straight from the cache at
    ``cache``, or ``None``.

    Returns ``(the report in report_format, modules.dep lines (only if asked
    for, else empty), notes, errors found)`` when nothing the last run depended
    on changed and it rendered this format (the summary
    :func:`kmodbuild.linux.check.check_linux` stores).
    """
    summary = reuse(cache, TAG, summary_key(TAG, paths, symvers), details=dep_lines)
    if summary is None:
        return None
    report = summary["reports"].get(report_format)
    if report is None:
        return None
    return (report, stored_dep_lines(summary) if dep_lines else [], summary["notes"],
            summary["errors"])


def stored_dep_lines(summary: dict[str, Any]) -> list[str]:
    """The modules.dep lines of a stored summary (with its details): as the last run
    made them if it wrote modules.dep, else made from the stored dependency graph."""
    lines = summary.get("dep_lines")
    if lines is not None:
        return list(lines)
    from kmodbuild.linux.depmod import dep_lines_of
    return dep_lines_of(summary["resolution"], [rel for _, rel in summary["modules"]])


def _key_ok(key: object) -> bool:
    return isinstance(key, tuple) and len(key) == 4 and all(type(x) is int for x in key)


#: The types of a stored :class:`~kmodbuild.linux.facts.KoFacts` tuple, field by field
#: (``None``: that or ``None``).
_FACT_TYPES = (int, int, str, bytes, str, str, bytes, tuple, int, None, None, None, None)


def _blob_ok(names: str, crcs: bytes) -> bool:
    """One 8-byte CRC per NUL-joined name (:func:`kmodbuild.linux.facts.pack_crcs`; a
    lone empty name is an empty string too)."""
    return len(crcs) == 8 * (names.count("\0") + 1) or (not names and not crcs)


def _facts_ok(facts: object) -> bool:
    """True when ``facts`` is a stored facts tuple the checker can use (a damaged cache
    entry is read again, not trusted)."""
    if not (isinstance(facts, tuple) and len(facts) == len(_FACT_TYPES)):
        return False
    for value, kind in zip(facts, _FACT_TYPES):
        if kind is None:
            if value is not None and type(value) is not str:
                return False
        elif type(value) is not kind:
            return False
    n_deps = len(facts[6]) // 8
    return (_blob_ok(facts[2], facts[3]) and _blob_ok(facts[5], facts[6])
            and all(type(w) is int and 0 <= w < n_deps for w in facts[7])
            and 0 <= facts[8] <= n_deps)


class TreeCache:
    """The per-file facts of a cache file (for runs where something changed), and the
    writer of the next one.

    ``lookup(name, key)`` gives a module's stored facts tuple when its key is
    unchanged (and was not racy when stored); :meth:`save` writes a new
    cache file from chunks of facts as the readers produced them.
    """

    def __init__(self, path: str, tag: str) -> None:
        self.path, self.tag = path, tag
        self.saved_at_ns = 0
        self._raw: list[bytes] = []
        self._entries: dict[str, tuple[Key, tuple[Any, ...]]] | None = None

    @classmethod
    def load(cls, path: str, tag: str) -> TreeCache:
        """Open the cache at ``path`` (its entries are decoded on first lookup)."""
        cache = cls(path, tag)
        opened = _open(path, tag)
        if opened is None:
            return cache
        f, header = opened
        try:
            cache.saved_at_ns = header[1]
            if f.part() is None or f.part() is None or f.part() is None:
                return cache                    # signature, summary, details
            rest = f.rest()
        except OSError:
            return cache
        finally:
            f.close()
        pos = 0
        parts = []
        while pos + 4 <= len(rest):
            n = _u32(rest, pos)
            if pos + 4 + n > len(rest):
                break
            parts.append(rest[pos + 4:pos + 4 + n])
            pos += 4 + n
        cache._raw = parts[:len(parts) & ~1]
        return cache

    @property
    def has_entries(self) -> bool:
        """True when the file held per-file facts."""
        return bool(self._raw) or bool(self._entries)

    def _load(self) -> dict[str, tuple[Key, tuple[Any, ...]]]:
        if self._entries is None:
            entries: dict[str, tuple[Key, tuple[Any, ...]]] = {}
            oldest = self.saved_at_ns - RACY_NS
            raw = self._raw
            for k in range(0, len(raw), 2):
                try:
                    names = _loads(raw[k])
                    values = _loads(raw[k + 1])
                    for name, (key, facts) in zip(names, values):
                        if _key_ok(key) and key[1] < oldest and _facts_ok(facts):
                            entries[name] = (key, facts)
                except (ValueError, EOFError, TypeError):
                    continue
            self._entries, self._raw = entries, []
        return self._entries

    def lookup(self, name: str, key: Key | None) -> tuple[Any, ...] | None:
        """The stored facts of file ``name`` if its key is still ``key``."""
        if key is None:
            return None
        got = self._load().get(name)
        return got[1] if got is not None and got[0] == key else None

    def save(self, signature: Signature | None, skey: object,
             summary: tuple[dict[str, Any], dict[str, Any]] | None,
             chunks: Iterable[tuple[Sequence[str], bytes]], kept: Iterable[str] = ()) -> None:
        """Write the cache atomically: ``signature`` (or ``None``: no summary),
        the summary under ``skey``, the facts ``chunks`` (cache names, marshal
        blob of ``[(key, facts)]``) and the old entries of the files ``kept``.

        Raises ``OSError`` when the directory is not writable.
        """
        import time
        saved_at = time.time_ns()
        if signature is not None:
            newest = max((k[1] for _, _, keys, _ in signature for k in keys if k is not None),
                         default=0)
            if newest >= saved_at - RACY_NS:
                signature = None
        if signature is None or summary is None:
            skey, summary, signature = None, ({}, {}), []
        parts = [marshal.dumps((self.tag, saved_at, skey)),  # type: ignore[arg-type]
                 marshal.dumps(signature), marshal.dumps(summary[0]),  # type: ignore[arg-type]
                 marshal.dumps(summary[1])]
        old = self._load() if self.has_entries else {}
        kept_names = [n for n in kept if n in old]
        if kept_names:
            parts += [marshal.dumps(kept_names), marshal.dumps([old[n] for n in kept_names])]
        for names, blob in chunks:
            parts += [marshal.dumps(list(names)), blob]
        from kmodbuild.atomicfile import replace_file
        from kmodbuild.resultcache import refuse_foreign
        refuse_foreign(self.path)           # a kernel given as --cache is kept

        def framed() -> Iterator[bytes]:
            yield MAGIC + FORMAT.to_bytes(4, "little")
            for p in parts:
                yield len(p).to_bytes(4, "little")
                yield p
        replace_file(self.path, framed(), prefix=".kmodcache-")
