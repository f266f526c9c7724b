"""kmodbuild.linux.readers - read module files on all cores: this process and forked helpers.

A check spends most of its time decoding modules, so every core reads: this
process and ``jobs - 1`` helpers, plain ``os.fork()`` children (no
multiprocessing: importing it and starting a pool costs a tenth of a check).
The helpers are forked *before* the module tree is walked, and use that time
to parse Module.symvers (helper 0 hands the table to this process, so that
nobody waits for it); then everyone takes chunks from one queue until it is
empty.  The machinery is small:

* the queue is a pipe holding 4-byte chunk numbers, written at once; a read
  of 4 bytes is atomic, so processes take chunks as they become free and a
  busy machine balances itself;
* the paths to read cross in shared memory (an anonymous ``mmap`` made
  before forking), published before the first chunk number is;
* each helper sends one message per chunk down its own pipe: the *light*
  facts this process needs (exports, ``.modinfo``, each module's residue
  against the kernel table: :func:`kmodbuild.linux.depmod.residue_of`) and,
  as an opaque marshal blob, the full facts for the result cache, which this
  process writes out without decoding them.

A helper that dies or fails simply stops sending; the chunks it did not
deliver are read here at the end, where an error is an ordinary exception.
Where there is no ``fork``, everything is read in this process.
"""
from __future__ import annotations

import gc
import marshal
import os

from kmodbuild.linux.treecache import Key, key_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from typing import Any

    from kmodbuild.linux.depmod import Residue

#: Below this many files, reading in one process is faster than sharing the work.
PARALLEL_MIN_FILES = 48
#: Chunks per reading process: enough to balance big and small modules.
CHUNKS_PER_JOB = 16
#: The smallest chunk (the last ones: processes finish within a few ms of each other).
MIN_CHUNK = 16
#: Shared memory reserved for the paths (only what is written is ever allocated).
SHARED_BYTES = 64 << 20
#: Pipe capacity asked for (Linux F_SETPIPE_SZ; the unprivileged maximum by default).
PIPE_BYTES = 1 << 20

#: What one chunk gives: ``[(key, light facts tuple, residue)]`` and the marshal
#: blob of ``[(key, facts tuple)]`` for the cache.
Chunk = tuple["list[tuple[Key | None, tuple[Any, ...], Residue | None]]", bytes]
#: Module.symvers as read by a helper: ``(vmlinux, invalid rows, key, error)``.
KernelMessage = tuple["dict[str, int] | None", "list[tuple[int, str]]", "Key | None",
                      "str | None"]

_HEADER = 16        # kind (1), pad (3), chunk (4), light length (4), blob length (4)


def default_jobs() -> int:
    """The number of CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def fork_available() -> bool:
    """True when helpers can be forked here."""
    return hasattr(os, "fork")


def read_chunk(paths: Sequence[str], kernel: Mapping[str, int] | None,
               keep_facts: bool = True) -> Chunk:
    """Read ``paths``: for each ``(key, light facts, residue)``, and the cache blob
    (``b""`` unless ``keep_facts``).

    The light facts are the :class:`~kmodbuild.linux.facts.KoFacts` tuple
    without its dependency symbols (``dep_blob``, ``dep_crc_blob`` empty):
    the residue is what is left of them after the ``kernel`` table.
    """
    from kmodbuild.errors import ModuleFormatError
    from kmodbuild.linux import kofile
    from kmodbuild.linux.depmod import dotted, kernel_residue, residue_of
    from kmodbuild.linux.facts import KoFacts
    light = []
    entries = []
    for facts, st, deps, crcs in kofile.read_many(paths):
        key = key_of(st) if st is not None else None
        if isinstance(facts, ModuleFormatError):
            facts = KoFacts.broken(facts.message)
        residue = (residue_of(deps, crcs, kernel, dotted(facts.dep_blob))
                   if deps is not None and crcs is not None else kernel_residue(facts, kernel))
        t = tuple(facts)
        if keep_facts:
            entries.append((key, t))
        light.append((key, (*t[:5], "", b"", *t[7:]), residue))
    return light, marshal.dumps(entries) if keep_facts else b""


def load_kernel(symvers: str) -> KernelMessage:
    """Parse Module.symvers: ``(vmlinux, invalid rows, key, None)`` or, when it cannot
    be read, ``(None, [], None, message)``."""
    from kmodbuild.errors import ManifestError
    from kmodbuild.linux.symvers import NOT_SYMVERS, has_rows, parse_symvers, read_text
    try:
        text, st = read_text(symvers)       # (a FIFO is refused, not waited on)
        key = key_of(st)
    except OSError as e:
        return None, [], None, ManifestError(f"cannot read Module.symvers: {e.strerror or e}",
                                             path=symvers).message
    except ManifestError as e:
        return None, [], None, e.message
    parsed = parse_symvers(text, symvers)
    if not has_rows(parsed):        # depmod skips bad lines; a file of nothing else is refused
        return None, [], None, ManifestError(NOT_SYMVERS, path=symvers).message
    return parsed.vmlinux, parsed.invalid, key, None


def plan_chunks(n: int, readers: int) -> list[list[int]]:
    """The positions of ``n`` paths in each chunk, for ``readers`` reading processes.

    Positions are dealt out by a stride first (big modules cluster in a few
    directories), then cut into chunks that shrink as the work runs out
    (guided self-scheduling: a quarter of what is left per reader, at most
    twice the average of equal chunks, at least :data:`MIN_CHUNK`), so that
    the last chunks are small and no process waits long for another's.
    Both sides compute it from ``n`` and ``readers`` alone.
    """
    if n <= 0:
        return []
    stride = max(1, min(n, readers * CHUNKS_PER_JOB))
    mixed = [j for k in range(stride) for j in range(k, n, stride)]
    cap = max(MIN_CHUNK, -(-2 * n // stride))
    chunks = []
    pos = 0
    while pos < n:
        size = min(cap, max(MIN_CHUNK, -(-(n - pos) // (4 * readers))))
        chunks.append(mixed[pos:pos + size])
        pos += size
    return chunks


class Helpers:
    """``count`` forked helper processes, started now; see the module docstring.

    Use as a context manager (or call :meth:`close`): leaving stops and reaps them.
    """

    def __init__(self, count: int, symvers: str | None, keep_facts: bool = True) -> None:
        import mmap
        self.symvers = symvers
        self.keep_facts = keep_facts
        self.shared = mmap.mmap(-1, SHARED_BYTES)
        self.queue_r, self.queue_w = os.pipe()
        self.procs: list[tuple[int, int]] = []            # (pid, result pipe)
        self._buffers: dict[int, bytearray] = {}
        self._pending: list[tuple[int, bytes, bytes]] = []   # results read, not yet taken
        self._kernel: KernelMessage | None = None
        self._published: int | None = None                # chunks handed out (publish)
        self._plan: list[list[int]] = []                   # positions of each chunk
        for w in range(count):
            # (a big --jobs runs out of descriptors or processes: those started do the work)
            try:
                res_r, res_w = os.pipe()
            except OSError:
                break
            _grow_pipe(res_w)
            try:
                pid = os.fork()
            except OSError:
                os.close(res_r)
                os.close(res_w)
                break
            if pid == 0:                                  # the helper
                code = 1
                try:
                    os.close(self.queue_w)
                    os.close(res_r)
                    for _, fd in self.procs:
                        os.close(fd)
                    code = self._serve(w, res_w)
                finally:
                    os._exit(code)
            os.close(res_w)
            self.procs.append((pid, res_r))
            self._buffers[res_r] = bytearray()

    def __enter__(self) -> Helpers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- in the helper ---------------------------------------------------

    def _serve(self, index: int, out: int) -> int:
        gc.disable()                # the reader makes no cycles; collections cost
        table = None
        if self.symvers is not None:
            msg = load_kernel(self.symvers)
            if index == 0:
                _send(out, b"K", 0, marshal.dumps(msg), b"")
            if msg[0] is not None:
                from kmodbuild.linux.symvers import kernel_table
                table = kernel_table(msg[0])
        paths: list[str] | None = None
        plan: list[list[int]] = []
        while True:
            got = os.read(self.queue_r, 4)
            if len(got) < 4:
                return 0
            k = int.from_bytes(got, "little")
            if paths is None:
                readers = int.from_bytes(self.shared[0:4], "little")
                size = int.from_bytes(self.shared[4:12], "little")
                blob = self.shared[12:12 + size].decode("utf-8", "surrogateescape")
                paths = blob.split("\0") if blob else []
                plan = plan_chunks(len(paths), readers)
            light, cache_blob = read_chunk([paths[j] for j in plan[k]], table,
                                           self.keep_facts)
            _send(out, b"C", k, marshal.dumps(light), cache_blob)

    # ---- in this process -------------------------------------------------

    def kernel(self) -> KernelMessage | None:
        """Module.symvers as helper 0 read it (``None`` if it did not say: read it here)."""
        if self._kernel is None and self.procs and self.symvers is not None:
            fd = self.procs[0][1]
            while self._kernel is None:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                self._buffers[fd] += chunk
                self._parse(fd)
        return self._kernel

    def publish(self, paths: Sequence[str]) -> int:
        """Hand ``paths`` to the helpers, which start reading them at once; returns the
        number of chunks (0: too few or too many paths to share, all read here).  Called
        by :meth:`run` unless called before it with the same paths (so that the helpers
        read while this process takes Module.symvers from helper 0)."""
        if self._published is not None:
            return self._published
        n = len(paths)
        readers = len(self.procs) + 1
        self._plan = plan_chunks(n, readers)
        nchunks = len(self._plan)
        blob = "\0".join(paths).encode("utf-8", "surrogateescape")
        if not self.procs or n < PARALLEL_MIN_FILES or 12 + len(blob) > SHARED_BYTES:
            nchunks = 0
        else:
            self.shared[0:4] = readers.to_bytes(4, "little")
            self.shared[4:12] = len(blob).to_bytes(8, "little")
            self.shared[12:12 + len(blob)] = blob
            os.write(self.queue_w, b"".join(k.to_bytes(4, "little") for k in range(nchunks)))
        self._stop_queue()
        self._published = nchunks
        return nchunks

    def run(self, paths: Sequence[str], table: Mapping[str, int] | None
            ) -> Iterator[tuple[Sequence[int], Chunk]]:
        """Read ``paths`` here and in the helpers; yields ``(positions in paths, chunk)``
        as chunks are done, every position exactly once."""
        n = len(paths)
        nchunks = self.publish(paths)
        if not nchunks:
            if n:
                yield range(n), read_chunk(paths, table, self.keep_facts)
            return
        plan = self._plan
        done: set[int] = set()
        for fd in self._buffers:
            os.set_blocking(fd, False)
        # Take chunks until the queue is empty, collecting the helpers' work between them.
        while True:
            got = os.read(self.queue_r, 4)
            if len(got) < 4:
                break
            k = int.from_bytes(got, "little")
            done.add(k)
            yield plan[k], read_chunk([paths[j] for j in plan[k]], table, self.keep_facts)
            for k, light, cache_blob in self._collect(block=False):
                done.add(k)
                yield plan[k], (marshal.loads(light), cache_blob)
        for k, light, cache_blob in self._collect(block=True):
            done.add(k)
            yield plan[k], (marshal.loads(light), cache_blob)
        self.close()
        for k in range(nchunks):            # whatever a failed helper left
            if k not in done:
                yield plan[k], read_chunk([paths[j] for j in plan[k]], table, self.keep_facts)

    def close(self) -> None:
        """Stop the helpers (killing those still busy) and reap them."""
        self._stop_queue()
        if self.queue_r >= 0:
            os.close(self.queue_r)
            self.queue_r = -1
        for pid, fd in self.procs:
            try:
                os.close(fd)
            except OSError:
                pass
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == 0:
                    os.kill(pid, 9)                     # SIGKILL
                    os.waitpid(pid, 0)
            except (ChildProcessError, ProcessLookupError):
                pass
        self.procs = []
        self._buffers = {}
        if not self.shared.closed:
            self.shared.close()

    def _stop_queue(self) -> None:
        if self.queue_w >= 0:
            os.close(self.queue_w)
            self.queue_w = -1

    def _collect(self, block: bool) -> Iterator[tuple[int, bytes, bytes]]:
        """Chunk results from the helpers: those ready now, or all until they finish."""
        import select
        open_fds = [fd for _, fd in self.procs if fd in self._buffers]
        while True:
            pending, self._pending = self._pending, []
            yield from pending
            if not open_fds:
                return
            ready, _, _ = select.select(open_fds, [], [], None if block else 0)
            if not ready:
                return
            for fd in ready:
                try:
                    chunk = os.read(fd, 1 << 20)
                except BlockingIOError:
                    continue
                if not chunk:
                    open_fds.remove(fd)
                    del self._buffers[fd]
                    continue
                self._buffers[fd] += chunk
                self._parse(fd)

    def _parse(self, fd: int) -> None:
        """Take the complete messages out of ``fd``'s buffer."""
        buf = self._buffers[fd]
        pos = 0
        while len(buf) - pos >= _HEADER:
            k = int.from_bytes(buf[pos + 4:pos + 8], "little")
            a = int.from_bytes(buf[pos + 8:pos + 12], "little")
            b = int.from_bytes(buf[pos + 12:pos + 16], "little")
            end = pos + _HEADER + a + b
            if len(buf) < end:
                break
            light = bytes(buf[pos + _HEADER:pos + _HEADER + a])
            if buf[pos] == 0x4B:                          # b"K"
                self._kernel = marshal.loads(light)
            else:
                self._pending.append((k, light, bytes(buf[pos + _HEADER + a:end])))
            pos = end
        if pos:
            del buf[:pos]


def _grow_pipe(fd: int) -> None:
    try:
        import fcntl
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # type: ignore[attr-defined]
    except (ImportError, AttributeError, OSError):
        pass


def _send(fd: int, kind: bytes, k: int, light: bytes, blob: bytes) -> None:
    data = memoryview(b"".join((kind, b"\0\0\0", k.to_bytes(4, "little"),
                                len(light).to_bytes(4, "little"),
                                len(blob).to_bytes(4, "little"), light, blob)))
    while data:
        data = data[os.write(fd, data):]
