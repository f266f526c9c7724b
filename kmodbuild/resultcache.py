"""kmodbuild.resultcache - per-file results kept between runs, in one file written atomically.

A checker that reads thousands of files keeps what it learned from each one,
keyed by the file's path and its ``(size, mtime_ns, inode)``; the next run
stats every file and reads again only those whose key changed.  A whole-run
*summary* (the final report) can be stored beside the entries: when no file
changed and the caller's summary key (options, other inputs) is the same, the
run reuses it and reads nothing but the cache header.

File layout (all integers little-endian)::

    b"KMRCACHE" u32 FORMAT u32 header_len header u64 summary_len summary entries

``header`` is ``marshal((tag, saved_at_ns, keys, summary_key))``, ``summary``
is ``marshal(value)`` and ``entries`` ``marshal({path: value})``; the entries
are decoded only when some file did change.  Values must be marshal-able
(tuples, lists, dicts, str, bytes, int, float, bool, None).  marshal is not
meant for untrusted data: the cache is the user's own file, like ``.sconsign``.

Racy entries (git's "racily clean" problem): a file modified in the same
timestamp tick as the cache was saved could change again without its key
changing, so an entry whose ``mtime_ns`` is not older than the save time by
:data:`RACY_NS` is never trusted.

A cache that is missing, truncated, from another version or another ``tag``
is treated as empty; it never makes a run fail.
"""
from __future__ import annotations

import errno
import marshal
import os
import stat
import struct
import time
from collections.abc import Iterable, Mapping
from operator import itemgetter
from typing import Any

#: ``(st_size, st_mtime_ns, st_ino)``.
FileKey = tuple[int, int, int]

MAGIC = b"KMRCACHE"
FORMAT = 1
#: Entries modified less than this before the cache was saved are re-read.
RACY_NS = 2_000_000_000
_HEAD = struct.Struct("<8sII")
_U64 = struct.Struct("<Q")


def file_key(st: os.stat_result) -> FileKey:
    """The cache key of a file from its ``os.stat`` result."""
    return (st.st_size, st.st_mtime_ns, st.st_ino)


class ResultCache:
    """Per-file results and one summary, loaded from and saved to ``path``.

    ``tag`` names the producer and its version (say ``"linux-ko/3"``); a cache
    written under another tag is ignored, so bumping the tag invalidates it.
    """

    def __init__(self, path: str | os.PathLike[str], tag: str) -> None:
        self.path = os.fspath(path)
        self.tag = tag
        self.saved_at_ns = 0
        self.hits = 0
        self.misses = 0
        self._keys: dict[str, FileKey] = {}
        self._summary_key: object = None
        self._summary_offset = 0
        self._summary_len = 0
        self._entries: dict[str, Any] | None = None
        self._new_keys: dict[str, FileKey] = {}
        self._new_values: dict[str, Any] = {}
        self._new_summary: tuple[object, object] | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str], tag: str) -> ResultCache:
        """Open the cache at ``path``; reads only the header (the summary and
        entries are read on first use).  Never raises for a bad or missing file."""
        cache = cls(path, tag)
        try:
            mode = os.stat(cache.path).st_mode
            if not stat.S_ISREG(mode):          # a FIFO is not waited on: no cache
                return cache
            with open(cache.path, "rb") as f:
                magic, fmt, hlen = _HEAD.unpack(f.read(_HEAD.size))
                if magic != MAGIC or fmt != FORMAT:
                    return cache
                stored_tag, saved_at, keys, skey = marshal.loads(f.read(hlen))
                if stored_tag != tag or not isinstance(keys, dict):
                    return cache
                slen, = _U64.unpack(f.read(_U64.size))
                cache._summary_offset, cache._summary_len = _HEAD.size + hlen + _U64.size, slen
                cache._keys, cache.saved_at_ns, cache._summary_key = keys, saved_at, skey
        except (OSError, EOFError, ValueError, TypeError, struct.error, MemoryError):
            # (MemoryError: a damaged length claiming more than there is)
            return cls(path, tag)
        return cache

    # ---- queries -------------------------------------------------------

    @property
    def has_entries(self) -> bool:
        """True when the cache holds results (of this tag) for some files."""
        return bool(self._keys)

    def is_racy(self, key: FileKey) -> bool:
        """True when a file with ``key`` may have changed without its key changing."""
        return key[1] >= self.saved_at_ns - RACY_NS

    def unchanged(self, current: Mapping[str, FileKey]) -> bool:
        """True when ``current`` is exactly the stored set of files and keys, none racy."""
        if self._keys != current:
            return False
        newest = max(map(itemgetter(1), current.values()), default=0)
        return newest < self.saved_at_ns - RACY_NS

    def lookup(self, name: str, key: FileKey) -> Any | None:
        """The stored value for file ``name`` if its key is still ``key``, else ``None``."""
        if self._keys.get(name) != key or self.is_racy(key):
            self.misses += 1
            return None
        entries = self._load_entries()
        value = entries.get(name)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def summary(self, summary_key: object) -> Any | None:
        """The stored summary if it was saved under ``summary_key``, else ``None``.

        Only meaningful after :meth:`unchanged` returned True for the same files.
        """
        if self._summary_key != summary_key or self._summary_key is None:
            return None
        raw = self._read_part(self._summary_offset, self._summary_len)
        if raw is None:
            return None
        try:
            return marshal.loads(raw)
        except (EOFError, ValueError, TypeError, MemoryError):
            return None

    # ---- updates -------------------------------------------------------

    def store(self, name: str, key: FileKey, value: Any) -> None:
        """Remember ``value`` for file ``name`` with ``key``."""
        self._new_keys[name] = key
        self._new_values[name] = value

    def set_summary(self, summary_key: object, value: Any) -> None:
        """Remember the whole-run ``value`` under ``summary_key``."""
        self._new_summary = (summary_key, value)

    def save(self, keep: Iterable[str] | None = None) -> bool:
        """Write the cache atomically (temporary file + rename) if anything changed.

        ``keep``: the files of this run; entries of other files are dropped.
        Returns True when the file was written.  Raises ``OSError`` when the
        directory is not writable.
        """
        keys = dict(self._keys)
        keys.update(self._new_keys)
        if keep is not None:
            wanted = set(keep)
            keys = {k: v for k, v in keys.items() if k in wanted}
        if keys == self._keys and not self._new_values and self._new_summary is None:
            return False
        entries = dict(self._load_entries()) if self._keys else {}
        entries.update(self._new_values)
        entries = {k: entries[k] for k in keys if k in entries}
        keys = {k: keys[k] for k in entries}
        if self._new_summary is not None:
            skey, summary = self._new_summary
        else:
            skey, summary = None, None
        saved_at = time.time_ns()
        header = marshal.dumps((self.tag, saved_at, keys, skey))  # type: ignore[arg-type]
        sraw = marshal.dumps(summary)  # type: ignore[arg-type]
        blob = b"".join((_HEAD.pack(MAGIC, FORMAT, len(header)), header, _U64.pack(len(sraw)),
                         sraw, marshal.dumps(entries)))
        from kmodbuild.atomicfile import replace_file
        refuse_foreign(self.path)
        replace_file(self.path, (blob,), prefix=".kmodcache-")
        self._keys, self._entries, self.saved_at_ns = keys, entries, saved_at
        self._summary_key = skey
        self._summary_offset = _HEAD.size + len(header) + _U64.size
        self._summary_len = len(sraw)
        self._new_keys, self._new_values, self._new_summary = {}, {}, None
        return True

    # ---- PRIVATE -------------------------------------------------------

    def _read_part(self, offset: int, length: int | None) -> bytes | None:
        try:
            with open(self.path, "rb") as f:
                f.seek(offset)
                raw = f.read() if length is None else f.read(length)
        except OSError:
            return None
        return raw if length is None or len(raw) == length else None

    def _load_entries(self) -> dict[str, Any]:
        if self._entries is not None:
            return self._entries
        entries: dict[str, Any] = {}
        if self._keys:
            raw = self._read_part(self._summary_offset + self._summary_len, None)
            try:
                loaded = marshal.loads(raw) if raw else {}
                if isinstance(loaded, dict):
                    entries = loaded
            except (EOFError, ValueError, TypeError, MemoryError):
                entries = {}
        if not entries:
            self._keys = {}
        self._entries = entries
        return entries


#: the first bytes of kmodbuild's caches: this module's and ``--flavor linux``'s
#: (:mod:`kmodbuild.linux.treecache`), which may replace each other
CACHE_MAGICS = (MAGIC, b"KMLINUX\0")


def refuse_foreign(path: str) -> None:
    """Raise ``OSError`` when ``path`` holds something other than a kmodbuild cache
    (a kernel or a METALOG given to ``--cache`` by mistake): it is kept, not replaced.
    A FIFO or device is not opened for reading (it could block)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return
    except OSError:
        return                      # replace_file says what is wrong, if anything
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EEXIST, "not a regular file; not replaced")
        head = os.read(fd, len(MAGIC))
    finally:
        os.close(fd)
    if len(head) == len(MAGIC) and head not in CACHE_MAGICS:  # (shorter: "echo > FILE")
        raise OSError(errno.EEXIST, "the file exists and is not a kmodbuild result cache; "
                                    "not replaced")
