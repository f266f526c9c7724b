"""kmodbuild.linux.forkpool - map a function over items in forked children, results as they come.

A lean stand-in for ``multiprocessing.Pool.imap_unordered`` on POSIX systems:
on the small machines a check runs on, importing multiprocessing and starting
and stopping a pool cost 25-60 ms -- a tenth of a whole check.  Here each
child is a plain ``os.fork()`` that inherits everything already imported and
computed (the kernel's symbol table, for one), works through its share of the
items (child ``w`` takes items ``w, w + n, ...``) and writes each result,
pickled and length-prefixed, to its pipe; the parent reads the pipes as
results arrive.

Robustness: a child that dies, or raises, simply stops sending; the items it
did not deliver are computed in the parent at the end, where an exception is
an ordinary exception.  :func:`available` says whether this platform forks.
"""
from __future__ import annotations

import os
import pickle
import select
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_LEN = struct.Struct("<Q")


def available() -> bool:
    """True when processes can be forked here."""
    return hasattr(os, "fork")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class ForkMap(Generic[T, R]):
    """``fn`` over ``items`` in ``workers`` forked children; iterate for ``(index, result)``.

    The children start at construction; iterating collects the results in
    the order they are done.  Call :meth:`terminate` (or finish iterating) to
    reap the children.
    """

    def __init__(self, fn: Callable[[T], R], items: Sequence[T], workers: int) -> None:
        self.fn, self.items = fn, items
        self._children: dict[int, int] = {}          # read fd -> pid
        for w in range(max(1, min(workers, len(items)))):
            rfd, wfd = os.pipe()
            pid = os.fork()
            if pid == 0:                              # the child
                code = 1
                try:
                    os.close(rfd)
                    for k in range(w, len(items), workers):
                        payload = pickle.dumps((k, fn(items[k])), pickle.HIGHEST_PROTOCOL)
                        _write_all(wfd, _LEN.pack(len(payload)) + payload)
                    code = 0
                finally:
                    os._exit(code)
            os.close(wfd)
            self._children[rfd] = pid

    def __iter__(self) -> Iterator[tuple[int, R]]:
        done: set[int] = set()
        buffers = {fd: bytearray() for fd in self._children}
        try:
            while buffers:
                ready, _, _ = select.select(list(buffers), [], [])
                for fd in ready:
                    chunk = os.read(fd, 1 << 20)
                    buf = buffers[fd]
                    if not chunk:                     # the child is done (or dead)
                        del buffers[fd]
                        continue
                    buf += chunk
                    while len(buf) >= _LEN.size:
                        size, = _LEN.unpack_from(buf)
                        if len(buf) < _LEN.size + size:
                            break
                        k, result = pickle.loads(buf[_LEN.size:_LEN.size + size])
                        del buf[:_LEN.size + size]
                        done.add(k)
                        yield k, result
        except BaseException:
            self.terminate()
            raise
        self._reap()
        for k in range(len(self.items)):              # whatever a failed child left
            if k not in done:
                yield k, self.fn(self.items[k])

    def terminate(self) -> None:
        """Stop and reap every child (those still running are killed)."""
        self._reap(kill=True)

    def _reap(self, kill: bool = False) -> None:
        import signal
        for fd, pid in self._children.items():
            try:
                os.close(fd)
            except OSError:
                pass
            try:
                if kill and os.waitpid(pid, os.WNOHANG)[0] == 0:
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self._children = {}
