"""kmodbuild.kapi._kernel - what a kernel API hook works with: guest memory, the kernel
context, registrations, and the hook/data registries.

A hook is a Python function registered with :func:`kfunc` under the C
prototype it implements (copied from its header, which the drift test checks);
it receives a :class:`Kernel` and the arguments already fetched by the
calling convention, and returns the C return value.  Data symbols (``hz``,
``sysent``...) are registered with :func:`kdata` and initialised in emulated
memory when the kernel image is built.  Nothing here imports the emulator:
it injects the raw memory access, the heap and the guest-call function.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, NoReturn, Protocol

from kmodbuild.kapi._proto import Prototype, parse_prototype
from kmodbuild.kapi._struct import Layout, Struct
from kmodbuild.target import Target


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0)) if c != 9}


def printable(text: str) -> str:
    """``text`` with control characters shown as ``\\xNN``: what a module prints reaches
    the user's terminal, which must not receive escape sequences from it."""
    return text.translate(_CONTROL)


class GuestFault(Exception):
    """A hook touched guest memory that is not there (``access`` is read or write;
    ``what`` the kind of address: ``unmapped``, ``read-only``)."""

    def __init__(self, address: int, access: str = "read", what: str = "unmapped") -> None:
        super().__init__(f"{access} of {what} address {address:#x}")
        self.address = address
        self.access = access
        self.what = what


class Panic(Exception):
    """``panic()``: the kernel gives up; the emulator stops the modcmd and reports it."""


class RegisterPair(NamedTuple):
    """What a hook returns in two 64-bit values: the first where a 64-bit value is
    returned, the second in the next two argument registers (ARM EABI's
    ``__aeabi_uldivmod``: ``{r0:r1, r2:r3}``)."""

    first: int
    second: int


class HookBudget(Exception):
    """The kernel functions one modcmd called moved more bytes than :data:`HOOK_BYTES`
    (an endless loop of ``memset`` calls, a size no real call would have): the hooks'
    share of the instruction budget, which counts only the module's own instructions --
    a loop of ten instructions around a 32 MiB ``memset`` ran for good."""


#: What the kernel functions one modcmd calls may read, write and format in all.
HOOK_BYTES = 64 << 20
#: A large copy goes in pieces of this size: a size past the mapping faults at the
#: first piece that is not there, before gigabytes are allocated for it.
_CHUNK = 1 << 20
_PAGE = 4096


class RawMemory(Protocol):
    """Byte access to the emulated address space (raises :class:`GuestFault`)."""

    def read(self, address: int, size: int) -> bytes: ...

    def write(self, address: int, data: bytes) -> None: ...


class HeapLike(Protocol):
    """The kernel heap (``kmem``): see :class:`kmodbuild.emulate.heap.Heap`."""

    def alloc(self, size: int, owner: str, caller: str, zero: bool) -> int: ...

    def free(self, address: int, size: int) -> str | None: ...


class GuestMemory:
    """Typed access to guest memory in the target's byte order and word size."""

    def __init__(self, raw: RawMemory, target: Target) -> None:
        self.raw = raw
        self.order: Literal["little", "big"] = "little" if target.little_endian else "big"
        self.psize = target.pointer_size
        #: bytes moved by the hooks of the modcmd running, and their limit while one runs
        #: (None: the kernel's own reads after it -- leak and registration checks)
        self.moved = 0
        self.limit: int | None = None

    def charge(self, size: int) -> None:
        """Count ``size`` bytes of a hook's work (raises :class:`HookBudget` past
        :attr:`limit`)."""
        self.moved += max(size, 0)
        if self.limit is not None and self.moved > self.limit:
            self.limit = None                   # said once
            raise HookBudget(f"the modcmd's kernel calls moved more than "
                             f"{HOOK_BYTES >> 20} MiB (an endless loop?)")

    def read(self, address: int, size: int) -> bytes:
        """``size`` raw bytes, a piece at a time: a size past the mapping faults where it
        leaves it, before the rest is asked for."""
        if size <= _CHUNK:
            self.charge(size)
            return self.raw.read(address, size)
        out = bytearray()
        for off in range(0, size, _CHUNK):
            n = min(_CHUNK, size - off)
            self.charge(n)
            out += self._piece(address + off, n, lambda a, m: self.raw.read(a, m))
        return bytes(out)

    def write(self, address: int, data: bytes) -> None:
        """Store raw bytes."""
        self.charge(len(data))
        self.raw.write(address, data)

    def fill(self, address: int, byte: int, size: int) -> None:
        """``memset``: ``size`` bytes of ``byte``, in pieces (never ``size`` bytes at once)."""
        piece = bytes([byte & 0xFF]) * min(size, _CHUNK)
        for off in range(0, size, _CHUNK):
            n = min(_CHUNK, size - off)
            self.charge(n)
            self._piece(address + off, n, lambda a, m: self.raw.write(a, piece[:m]))

    @staticmethod
    def _piece(address: int, size: int, access: Callable[[int, int], Any]) -> Any:
        """``access(address, size)``; when it faults, the fault is said at the first page
        of the piece that is not there (the piece's start may well be mapped)."""
        try:
            return access(address, size)
        except GuestFault as fault:
            if size <= _PAGE:
                raise
            first = fault
        for off in range(0, size, _PAGE):
            access(address + off, min(_PAGE, size - off))
        raise first                         # (no page faulted alone: as it was said)

    def uint(self, address: int, size: int) -> int:
        """An unsigned integer of ``size`` bytes."""
        return int.from_bytes(self.raw.read(address, size), self.order)

    def sint(self, address: int, size: int) -> int:
        """A signed integer of ``size`` bytes."""
        return int.from_bytes(self.raw.read(address, size), self.order, signed=True)

    def put(self, address: int, size: int, value: int) -> None:
        """Store ``value`` (any sign) in ``size`` bytes."""
        self.raw.write(address, (value & ((1 << (8 * size)) - 1)).to_bytes(size, self.order))

    def ptr(self, address: int) -> int:
        """A pointer."""
        return self.uint(address, self.psize)

    def put_ptr(self, address: int, value: int) -> None:
        """Store a pointer."""
        self.put(address, self.psize, value)

    def cstring(self, address: int, limit: int | None = None) -> str:
        """The NUL-terminated string at ``address`` (at most ``limit`` bytes; without one,
        as long as it is: the hooks' byte budget stops a string that never ends, a fault
        one that runs off its mapping).  Read in pieces that do not cross a page: a string
        ending just before an unmapped page is read without a fault."""
        out = bytearray()
        while limit is None or len(out) < limit:
            at = address + len(out)
            piece = min(64, _PAGE - at % _PAGE)
            if limit is not None:
                piece = min(piece, limit - len(out))
            self.charge(piece)
            chunk = self.raw.read(at, piece)
            end = chunk.find(b"\0")
            if end >= 0:
                out += chunk[:end]
                break
            out += chunk
        return out.decode("latin-1")

    def get(self, base: int, layout: Layout, member: str) -> int:
        """A scalar member of the structure at ``base``."""
        f = layout[member]
        if f.kind in ("i8", "i16", "i32", "i64", "word"):
            return self.sint(base + f.offset, f.size)
        return self.uint(base + f.offset, f.size)

    def set(self, base: int, layout: Layout, member: str, value: int) -> None:
        """Store a scalar member of the structure at ``base``."""
        f = layout[member]
        self.put(base + f.offset, f.size, value)


@dataclass
class Registration:
    """Something a module handed the kernel: a ``kind`` (``vfs``, ``cdevsw``, ``syscall``,
    ``execsw``, ``secmodel``, ``bufq``, ``kauth``, ``emulation``...), the guest object
    ``key``, a ``name``, the module that did it (``owner``), and the guest addresses the
    kernel keeps using (``addrs``)."""

    kind: str
    key: int
    name: str
    owner: str
    addrs: tuple[int, ...] = ()
    detail: str = ""


class Registry:
    """The kernel's tables of registrations, in registration order."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, int], Registration] = {}

    def add(self, reg: Registration) -> None:
        """Record ``reg`` (replacing one with the same kind and key)."""
        self._items[(reg.kind, reg.key)] = reg

    def remove(self, kind: str, key: int) -> Registration | None:
        """Drop and return the registration of ``kind``/``key``."""
        return self._items.pop((kind, key), None)

    def get(self, kind: str, key: int) -> Registration | None:
        """The registration of ``kind``/``key``, or None."""
        return self._items.get((kind, key))

    def of_kind(self, kind: str) -> list[Registration]:
        """Registrations of ``kind``, newest first."""
        return [r for (k, _), r in reversed(self._items.items()) if k == kind]

    def pointing_into(self, ranges: Iterable[tuple[int, int]]) -> list[Registration]:
        """Registrations whose key or kept addresses lie in one of ``[start, end)``."""
        spans = list(ranges)
        return [r for r in self._items.values()
                if any(s <= a < e for a in (r.key, *r.addrs) for s, e in spans)]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._items.values()))


class Kernel:
    """The simulated kernel a hook runs in.

    Attributes:
        target: the :class:`~kmodbuild.target.Target`.
        mem: :class:`GuestMemory`.
        heap: the kernel heap (kmem), tracking owners for leak reports.
        symbols: kernel symbol name -> address.
        registry: the :class:`Registry`.
        current: name of the module whose modcmd is running ("" when none).
        sim: the :class:`~kmodbuild.simulator.SimKernel` (None in bare tests).
        caller: where the running hook was called from, as ``module+off (sym+off)``.
    """

    def __init__(self, target: Target, raw: RawMemory, heap: HeapLike, symbols: dict[str, int],
                 call: Callable[[int, tuple[int, ...]], int],
                 valist: Callable[[int], Any] | None = None, sim: Any = None) -> None:
        self.target = target
        self.mem = GuestMemory(raw, target)
        self.heap = heap
        self.symbols = symbols
        self.registry = Registry()
        self.current = ""
        self.module: Any = None           # the simulator's Module whose modcmd runs
        self.sim = sim
        self._caller: str | None = ""
        #: works out :attr:`caller` the first time a hook asks (set by the emulator)
        self.caller_of: Callable[[], str] | None = None
        self._call = call
        self._valist = valist
        self._partial: dict[str, str] = {}
        self.console: list[str] = []      # lines for the simulator console, in order
        self.msgbuf: list[str] = []       # every line printed (dmesg)
        self.states: dict[str, Any] = {}
        self.word_bits = 8 * target.pointer_size

    @property
    def caller(self) -> str:
        """Where the running hook was called from, worked out on first use: most hooks
        never ask (an allocation records it for leak reports), and symbolizing every
        call cost 5 % of a tree's simulation."""
        c = self._caller
        if c is None:
            c = self._caller = self.caller_of() if self.caller_of is not None else ""
        return c

    def enter_hook(self) -> str | None:
        """A hook starts: its :attr:`caller` is worked out when asked for.  Returns what
        :meth:`leave_hook` puts back (the caller of the hook this one runs inside)."""
        outer, self._caller = self._caller, None
        return outer

    def leave_hook(self, outer: str | None) -> None:
        self._caller = outer

    # ---- symbols, layouts, calls
    def sym(self, name: str) -> int:
        """Address of kernel symbol ``name`` (0 when the kernel has none)."""
        return self.symbols.get(name, 0)

    def layout(self, struct: Struct) -> Layout:
        """``struct``'s layout on this target."""
        return struct.layout(self.target)

    def call(self, function: int, *args: int, ret: str = "word") -> int:
        """Call guest function ``function`` (a pointer a module gave us) with ``args``;
        its return value read as ``ret`` (``i32`` for an int, ``word`` for a pointer)."""
        raw = self._call(function, args)
        if ret == "i32":
            raw &= 0xFFFFFFFF
            return raw - (1 << 32) if raw >> 31 else raw
        return raw & ((1 << self.word_bits) - 1)

    def va_list(self, ap: int) -> Any:
        """An argument source (``next(kind)``) walking the ``va_list`` value ``ap``."""
        if self._valist is None:
            self.panic("va_list is not supported here")
        return self._valist(ap)

    def state(self, key: str, factory: Callable[[], Any]) -> Any:
        """Per-kernel state of one header module, made by ``factory`` on first use."""
        if key not in self.states:
            self.states[key] = factory()
        return self.states[key]

    # ---- memory
    def alloc(self, size: int, zero: bool = True, owner: str | None = None) -> int:
        """Kernel heap memory for a kernel-owned object (not counted against a module)."""
        return self.heap.alloc(size, owner or "netbsd", self.caller, zero)

    def free(self, address: int, size: int) -> None:
        """Free what :meth:`alloc` returned.

        Raises:
            Panic: not an allocated block, or a different size.
        """
        problem = self.heap.free(address, size)
        if problem:
            self.panic(problem)

    # ---- console
    def output(self, text: str, shown: bool = True, channel: str = "console") -> None:
        """Kernel printf output: complete lines go to the message buffer and, if ``shown``,
        to the console; a partial line waits for its newline (or :meth:`flush`)."""
        buf = self._partial.get(channel, "") + text
        *lines, rest = buf.split("\n")
        self._partial[channel] = rest
        for line in lines:
            line = printable(line)
            self.msgbuf.append(line)
            if shown:
                self.console.append(line)

    def flush(self) -> None:
        """End every partial output line (the console shows what was printed)."""
        for channel, rest in list(self._partial.items()):
            if rest:
                self.msgbuf.append(printable(rest))
                self.console.append(printable(rest))
            self._partial[channel] = ""

    def note(self, line: str) -> None:
        """A simulator line about the kernel's state (``mknod ...``), shown on the console."""
        self.console.append(printable(line))

    def take_console(self) -> list[str]:
        """Return and clear the console lines so far."""
        out, self.console = self.console, []
        return out

    def panic(self, message: str) -> NoReturn:
        """``panic(message)``: stop the running modcmd.

        Raises:
            Panic: always.
        """
        raise Panic(message)


# --------------------------------------------------------------------------- registries

@dataclass(frozen=True)
class KFunc:
    """A hook: the kernel function ``proto.name``, declared in ``header``."""

    proto: Prototype
    header: str
    impl: Callable[..., Any]

    @property
    def name(self) -> str:
        return self.proto.name


@dataclass(frozen=True)
class KData:
    """A kernel data symbol and its initialiser ``init(kernel, address, size)``."""

    name: str
    header: str
    decl: str
    init: Callable[[Kernel, int, int], None]


HOOKS: dict[str, KFunc] = {}
DATA: dict[str, KData] = {}
#: registration kind -> what the kernel does to drop one a module left behind
FORGET: dict[str, Callable[[Kernel, Registration], None]] = {}


def _header_of(fn: Callable[..., Any]) -> str:
    return str(getattr(sys.modules[fn.__module__], "HEADER"))


def kfunc(decl: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the hook of the C function ``decl``.

    The decorated module must define ``HEADER`` (``sys/sys/mount.h``).

    Raises:
        ValueError: ``decl`` is not a prototype, or the name already has a hook.
    """
    proto = parse_prototype(decl)

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if proto.name in HOOKS:
            raise ValueError(f"kernel function {proto.name} has two hooks")
        HOOKS[proto.name] = KFunc(proto, _header_of(fn), fn)
        return fn
    return deco


def kdata(decl: str) -> Callable[[Callable[[Kernel, int, int], None]],
                                 Callable[[Kernel, int, int], None]]:
    """Register the decorated ``init(kernel, address, size)`` for the data symbol of
    ``decl`` (``extern int hz``): its name is the declaration's last identifier."""
    name = decl.replace("[", " ").replace("]", " ").replace("*", " ").split()[-1]

    def deco(fn: Callable[[Kernel, int, int], None]) -> Callable[[Kernel, int, int], None]:
        if name in DATA:
            raise ValueError(f"kernel data {name} registered twice")
        DATA[name] = KData(name, _header_of(fn), decl, fn)
        return fn
    return deco



def kforget(kind: str) -> Callable[[Callable[[Kernel, Registration], None]],
                                   Callable[[Kernel, Registration], None]]:
    """Register how to drop a ``kind`` registration whose module unloaded without undoing
    it (so the simulation goes on; the leftover itself is reported)."""
    def deco(fn: Callable[[Kernel, Registration], None]) -> Callable[[Kernel, Registration],
                                                                     None]:
        FORGET[kind] = fn
        return fn
    return deco


def forget(k: Kernel, reg: Registration) -> None:
    """Drop ``reg`` from the kernel's tables (see :func:`kforget`)."""
    fn = FORGET.get(reg.kind)
    if fn is not None:
        fn(k, reg)
    k.registry.remove(reg.kind, reg.key)
