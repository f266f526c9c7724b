"""kmodbuild.kobj - NetBSD's in-kernel linker (sys/kern/subr_kobj.c 1.76), simulated.

A module file becomes a :class:`Kobj`: its PROGBITS/NOBITS sections are
copied into three page-rounded regions of a simulated ``module_map`` (text,
rodata, data; spec §2.1), its symbol values are made absolute, and its
relocations are applied with real arithmetic (:mod:`kmodbuild.kobj_machdep`)
into ``bytearray`` images, in two phases (spec §2.2):

* :func:`kobj_load`: the ``kobj_load()`` header checks (§1.1), placement, the
  "redefined" check of defined globals against ksyms, local relocations;
* :func:`kobj_affix`: rename to ``mi_name``, resolve undefined globals against
  ksyms (kernel first, then modules in affix order; STB_GLOBAL definitions
  only, §2.3), global relocations, register the symbol table with ksyms.

Kernel console output goes to a ``console`` list (never printed here).
Failures raise :class:`~kmodbuild.errors.LoadError` with NetBSD's errno.
"""
from __future__ import annotations

import struct
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import repeat
from operator import rshift
from typing import Any

from kmodbuild.errors import LoadError, ModuleFormatError
from kmodbuild.kobj_machdep import KOBJ_RELOC, KOBJ_RELOC_TABLE, SUPPORTED_TYPES
from kmodbuild.model import (SHF_EXECINSTR, SHF_WRITE, SHN_ABS, SHN_UNDEF, SHT_NOBITS,
                             SHT_PROGBITS, SHT_STRTAB, SHT_SYMTAB, STB_GLOBAL, STB_LOCAL,
                             ModuleObject, Relocation, Section)
from kmodbuild.target import Target

# --------------------------------------------------------------------------- errno
# NetBSD's sys/errno.h numbers and strerror() texts (spec §3.9), shared with
# the simulator.
EPERM, ENOENT, ENXIO, ENOEXEC, EDEADLK, ENOMEM, EBUSY, EEXIST = 1, 2, 6, 8, 11, 12, 16, 17
ENODEV, EINVAL, ENOTTY, EFBIG, EMLINK, EOPNOTSUPP = 19, 22, 25, 27, 31, 45
ENAMETOOLONG, EPROGMISMATCH, ENOSYS, EFTYPE = 63, 75, 78, 79
EACCES, EFAULT, ENOTDIR, EISDIR = 13, 14, 20, 21

#: every NetBSD errno: number, name, strerror() text (sys/errno.h, lib/libc/gen/errlist.c)
_ERRNO_TABLE = """
1 EPERM Operation not permitted
2 ENOENT No such file or directory
3 ESRCH No such process
4 EINTR Interrupted system call
5 EIO Input/output error
6 ENXIO Device not configured
7 E2BIG Argument list too long
8 ENOEXEC Exec format error
9 EBADF Bad file descriptor
10 ECHILD No child processes
11 EDEADLK Resource deadlock avoided
12 ENOMEM Cannot allocate memory
13 EACCES Permission denied
14 EFAULT Bad address
15 ENOTBLK Block device required
16 EBUSY Device busy
17 EEXIST File exists
18 EXDEV Cross-device link
19 ENODEV Operation not supported by device
20 ENOTDIR Not a directory
21 EISDIR Is a directory
22 EINVAL Invalid argument
23 ENFILE Too many open files in system
24 EMFILE Too many open files
25 ENOTTY Inappropriate ioctl for device
26 ETXTBSY Text file busy
27 EFBIG File too large
28 ENOSPC No space left on device
29 ESPIPE Illegal seek
30 EROFS Read-only file system
31 EMLINK Too many links
32 EPIPE Broken pipe
33 EDOM Numerical argument out of domain
34 ERANGE Result too large or too small
35 EAGAIN Resource temporarily unavailable
36 EINPROGRESS Operation now in progress
37 EALREADY Operation already in progress
38 ENOTSOCK Socket operation on non-socket
39 EDESTADDRREQ Destination address required
40 EMSGSIZE Message too long
41 EPROTOTYPE Protocol wrong type for socket
42 ENOPROTOOPT Protocol option not available
43 EPROTONOSUPPORT Protocol not supported
44 ESOCKTNOSUPPORT Socket type not supported
45 EOPNOTSUPP Operation not supported
46 EPFNOSUPPORT Protocol family not supported
47 EAFNOSUPPORT Address family not supported by protocol family
48 EADDRINUSE Address already in use
49 EADDRNOTAVAIL Can't assign requested address
50 ENETDOWN Network is down
51 ENETUNREACH Network is unreachable
52 ENETRESET Network dropped connection on reset
53 ECONNABORTED Software caused connection abort
54 ECONNRESET Connection reset by peer
55 ENOBUFS No buffer space available
56 EISCONN Socket is already connected
57 ENOTCONN Socket is not connected
58 ESHUTDOWN Can't send after socket shutdown
59 ETOOMANYREFS Too many references: can't splice
60 ETIMEDOUT Operation timed out
61 ECONNREFUSED Connection refused
62 ELOOP Too many levels of symbolic links
63 ENAMETOOLONG File name too long
64 EHOSTDOWN Host is down
65 EHOSTUNREACH No route to host
66 ENOTEMPTY Directory not empty
67 EPROCLIM Too many processes
68 EUSERS Too many users
69 EDQUOT Disc quota exceeded
70 ESTALE Stale NFS file handle
71 EREMOTE Too many levels of remote in path
72 EBADRPC RPC struct is bad
73 ERPCMISMATCH RPC version wrong
74 EPROGUNAVAIL RPC prog. not avail
75 EPROGMISMATCH Program version wrong
76 EPROCUNAVAIL Bad procedure for program
77 ENOLCK No locks available
78 ENOSYS Function not implemented
79 EFTYPE Inappropriate file type or format
80 EAUTH Authentication error
81 ENEEDAUTH Need authenticator
82 EIDRM Identifier removed
83 ENOMSG No message of desired type
84 EOVERFLOW Value too large to be stored in data type
85 EILSEQ Illegal byte sequence
86 ENOTSUP Not supported
87 ECANCELED Operation canceled
88 EBADMSG Bad or Corrupt message
89 ENODATA No message available
90 ENOSR No STREAM resources
91 ENOSTR Not a STREAM
92 ETIME STREAM ioctl timeout
93 ENOATTR Attribute not found
94 EMULTIHOP Multihop attempted
95 ENOLINK Link has been severed
96 EPROTO Protocol error
97 EOWNERDEAD Previous owner died
98 ENOTRECOVERABLE State not recoverable
"""
_ERRNOS = [(int(n), name, text) for n, name, text in
           (line.split(" ", 2) for line in _ERRNO_TABLE.strip().splitlines())]

STRERROR: dict[int, str] = {0: "Undefined error: 0", **{n: t for n, _, t in _ERRNOS}}

#: errno names, for scenarios (``fail xyzfs INIT EBUSY``) and reports.
ERRNO_BY_NAME: dict[str, int] = {**{name: n for n, name, _ in _ERRNOS},
                                 "EWOULDBLOCK": 35}      # sys/errno.h: EAGAIN's other name
ERRNO_NAME: dict[int, str] = {n: name for n, name, _ in _ERRNOS}


def strerror(code: int) -> str:
    """NetBSD's ``strerror(code)``."""
    return STRERROR.get(code, f"Unknown error: {code}")


# --------------------------------------------------------------------------- layout

@dataclass(frozen=True)
class AddressLayout:
    """Where the simulated kernel lives: kernel symbols from ``kernel_base``,
    ``module_map`` from ``module_base`` (chosen so every port's kernel-model
    relocations reach: amd64 modules sit in the top 2 GiB like the real
    module_map, sparc64 below 4 GiB for HI22/LO10, aarch64/arm within branch range)."""

    kernel_base: int
    module_base: int
    page_size: int = 4096


LAYOUTS: dict[str, AddressLayout] = {
    "x86_64": AddressLayout(0xFFFFFFFF80200000, 0xFFFFFFFF81000000),
    "i386": AddressLayout(0xC0100000, 0xC1000000),
    "aarch64": AddressLayout(0xFFFFC00000000000, 0xFFFFC00001000000),
    "earmv7hf": AddressLayout(0x80100000, 0x81000000),
    "riscv64": AddressLayout(0xFFFFFFC000200000, 0xFFFFFFC001000000),
    "sparc64": AddressLayout(0x01000000, 0x02000000, 8192),
    "powerpc": AddressLayout(0x00100000, 0x01000000),
    "mips64eb": AddressLayout(0xFFFFFFFF80100000, 0xFFFFFFFFC0000000),
}


def layout_for(target: Target) -> AddressLayout:
    """The default :class:`AddressLayout` of ``target``."""
    return LAYOUTS[target.machine_arch]


def merge_free(free: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """A free list of ``(address, size)`` sorted, with touching neighbours merged."""
    merged: list[tuple[int, int]] = []
    for a, s in sorted(free):
        if merged and merged[-1][0] + merged[-1][1] == a:
            merged[-1] = (merged[-1][0], merged[-1][1] + s)
        else:
            merged.append((a, s))
    return merged


class ModuleMap:
    """``module_map``: page-granular first-fit allocator of kernel virtual addresses."""

    def __init__(self, base: int, page_size: int) -> None:
        self.base = base
        self.page_size = page_size
        self._free: list[tuple[int, int]] = []   # (address, size), sorted
        self._next = base

    def round_page(self, size: int) -> int:
        """``round_page()``."""
        return (size + self.page_size - 1) & ~(self.page_size - 1)

    def alloc(self, size: int) -> int:
        """``uvm_km_alloc(module_map, round_page(size))``."""
        size = self.round_page(size)
        for i, (addr, fsize) in enumerate(self._free):
            if fsize >= size:
                if fsize == size:
                    del self._free[i]
                else:
                    self._free[i] = (addr + size, fsize - size)
                return addr
        addr = self._next
        self._next += size
        return addr

    def state(self) -> tuple[int, tuple[tuple[int, int], ...]]:
        """What decides the addresses of the next allocations: the free list and its end."""
        return self._next, tuple(self._free)

    def free(self, addr: int, size: int) -> None:
        """``uvm_km_free()``: return the pages (merged with neighbours)."""
        merged = merge_free([*self._free, (addr, self.round_page(size))])
        if merged and merged[-1][0] + merged[-1][1] == self._next:
            self._next = merged.pop()[0]
        self._free = merged


# --------------------------------------------------------------------------- ksyms

class Ksyms:
    """kern_ksyms: symbol tables in order, ``"netbsd"`` first, then modules in affix order.

    Only defined STB_GLOBAL symbols are searchable (spec §2.3: the sorted
    global band; weak definitions never satisfy another object's reference).
    """

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, int]] = {}      # insertion order = ksyms order
        self._index: dict[str, list[str]] = {}

    def add(self, name: str, symbols: dict[str, int]) -> None:
        """``ksyms_modload()`` / the kernel's own table: append ``name``'s globals."""
        self.tables[name] = symbols
        for sym in symbols:
            self._index.setdefault(sym, []).append(name)

    def remove(self, name: str) -> None:
        """``ksyms_modunload()``."""
        symbols = self.tables.pop(name, None)
        if symbols is None:
            return
        for sym in symbols:
            owners = self._index[sym]
            owners.remove(name)
            if not owners:
                del self._index[sym]

    def lookup(self, sym: str) -> int | None:
        """``ksyms_getval(NULL, sym, KSYMS_EXTERN)``: the first table's value, or None."""
        owners = self._index.get(sym)
        if not owners:
            return None
        return self.tables[owners[0]][sym]

    def owner(self, sym: str) -> str | None:
        """Which table the lookup of ``sym`` finds (for reports)."""
        owners = self._index.get(sym)
        return owners[0] if owners else None

    @property
    def order(self) -> list[str]:
        """Table names in search order."""
        return list(self.tables)


# --------------------------------------------------------------------------- kobj

REGIONS = ("text", "rodata", "data")

#: Called as ``ACCESS_WATCH(kobj, address, size)`` at each access to a loaded object's
#: memory made through :class:`Kobj` (the linker's and the kernel's own reads, such as
#: the modinfo record and its strings); :mod:`kmodbuild.simmemo` records which text
#: bytes a simulation read.  ``None``: nobody watches.
ACCESS_WATCH: Callable[[Any, int, int], None] | None = None

#: The simulator's bound on one module_map allocation: a bigger region fails as an
#: exhausted module_map does, "out of memory" with ENOMEM (real modules are a few MiB;
#: a corrupt sh_size or sh_addralign must not make the host allocate gigabytes).
MAX_ALLOC = 128 << 20

#: Control characters shown as ``?`` in strings read from module memory (one console
#: line each; the length, which the kernel's checks count, is kept).
_UNPRINTABLE = {c: "?" for c in (*range(0x20), *range(0x7F, 0xA0))}

# kobj_checksyms(): names exempt from the "redefined" check (subr_kobj.c 1.76).
_REDEFINE_EXEMPT = frozenset({"_bss_start", "__bss_start", "_bss_end__", "__bss_end__",
                              "_edata", "_end", "__end", "__end__"})
_REDEFINE_EXEMPT_PREFIXES = ("__start_link_set_", "__stop_link_set_")


@dataclass
class Region:
    """One wired allocation: ``size`` bytes used from ``base``, page-rounded ``alloc``."""

    base: int
    size: int
    alloc: int
    mem: bytearray = field(repr=False)


@dataclass(frozen=True)
class Progent:
    """``ko_progtab`` entry: a loaded section."""

    sec: int
    name: str
    addr: int
    size: int
    region: str


class Kobj:
    """A loaded kernel object (``struct kobj``).

    Attributes:
        name: ``ko_name`` (the path with the module base shown as ``%M``, then
            ``mi_name`` after affix).
        module: the parsed file.
        regions: ``text``/``rodata``/``data`` allocations with their bytes.
        progtab: loaded sections in section-header order.
        symvalue: ``st_value`` per symbol index after absolutisation/resolution.
        loaded: True once affixed.
    """

    def __init__(self, module: ModuleObject, target: Target, name: str,
                 console: list[str]) -> None:
        self.module = module
        self.target = target
        self.name = name
        self.console = console
        self.regions: dict[str, Region] = {}
        self.progtab: list[Progent] = []
        self._secbase: dict[int, tuple[int, Region]] = {}
        syms = module.symbols
        self.symvalue = [s.value for s in syms]
        self.symshndx = [s.shndx for s in syms]
        self._bind = [s.bind for s in syms]
        self.loaded = False
        self.local_pass = True
        self._deferred: list[tuple[int, Relocation]] = []
        self._hi20: dict[int, tuple[Relocation, int]] | None = None
        self._bo = "little" if target.little_endian else "big"
        self._reloc = KOBJ_RELOC[target.machine_arch]
        self._reloc_table = KOBJ_RELOC_TABLE.get(target.machine_arch)

    # ---- memory
    def _locate(self, addr: int, size: int) -> tuple[bytearray, int]:
        if ACCESS_WATCH is not None:
            ACCESS_WATCH(self, addr, size)
        for reg in self.regions.values():
            if reg.base <= addr and addr + size <= reg.base + reg.alloc:
                return reg.mem, addr - reg.base
        raise LoadError(f"address {addr:#x} outside {self.name}", EFAULT)

    def region_at(self, addr: int) -> Region | None:
        """The region holding ``addr``, or ``None``."""
        for reg in self.regions.values():
            if reg.base <= addr < reg.base + reg.alloc:
                return reg
        return None

    def rd(self, addr: int, size: int) -> int:
        """Read a ``size``-byte unsigned integer at kernel address ``addr``."""
        mem, off = self._locate(addr, size)
        return int.from_bytes(mem[off:off + size], self._bo)

    def wr(self, addr: int, size: int, value: int) -> None:
        """Store ``value`` (already reduced to ``size`` bytes) at ``addr``."""
        mem, off = self._locate(addr, size)
        mem[off:off + size] = value.to_bytes(size, self._bo)

    def read_bytes(self, addr: int, size: int) -> bytes:
        """Raw bytes at ``addr``."""
        mem, off = self._locate(addr, size)
        return bytes(mem[off:off + size])

    def read_cstring(self, addr: int, limit: int = 1024) -> str:
        """The NUL-terminated string at ``addr`` (bounded by its region)."""
        mem, off = self._locate(addr, 1)
        end = mem.find(b"\0", off, off + limit)
        if end < 0:
            end = min(len(mem), off + limit)
        if ACCESS_WATCH is not None:
            ACCESS_WATCH(self, addr, end - off + 1)
        return mem[off:end].decode("latin-1").translate(_UNPRINTABLE)

    def contains(self, addr: int) -> bool:
        """True when ``addr`` lies in one of the object's regions."""
        return any(r.base <= addr < r.base + r.alloc for r in self.regions.values())

    # ---- kernel interfaces used by kobj_machdep
    def printf(self, text: str) -> None:
        """Kernel ``printf`` (one console line)."""
        self.console.append(text)

    def error(self, func: str, text: str) -> None:
        """``kobj_error()``: ``"%s, %d: [%s]: linker error: "`` + text.

        subr_kobj.c's source line numbers are not reproduced (0 is printed).
        """
        self.console.append(f"{func}, 0: [{self.name}]: linker error: {text}")

    def is_local_symbol(self, symidx: int) -> bool:
        """STB_LOCAL test used by the two-pass logic."""
        return symidx < len(self._bind) and self._bind[symidx] == STB_LOCAL

    def sym_lookup(self, symidx: int) -> int | None:
        """``kobj_sym_lookup()`` (spec §2.3); ``None`` after printing the error."""
        n = len(self.symvalue)
        if symidx == SHN_ABS or symidx == 0:
            return self.symvalue[symidx] if symidx < n else 0
        if symidx >= n:
            self.error("kobj_sym_lookup", f"symbol index {symidx} out of range")
            return None
        if self.symshndx[symidx] != SHN_UNDEF:
            return self.symvalue[symidx]
        bind = self._bind[symidx]
        if bind == STB_LOCAL:
            self.error("kobj_sym_lookup", f"local symbol @{symidx} undefined")
            return None
        if bind == STB_GLOBAL:
            name = self.module.symbols[symidx].name
            if not name:
                self.error("kobj_sym_lookup", f"bad symbol @{symidx} name")
                return None
            if self.symvalue[symidx] == 0:
                self.error("kobj_sym_lookup", f"{name} @{symidx}: bad value")
                return None
            return self.symvalue[symidx]
        if bind == 2:
            self.error("kobj_sym_lookup", f"weak symbol @{symidx} not supported")
            return None
        self.error("kobj_sym_lookup", f"bad binding {bind:#x} for symbol @{symidx}")
        return None

    def riscv_find_hi20(self, place: int) -> tuple[Relocation, int] | None:
        """The R_RISCV_PCREL_HI20 relocation whose place is ``place`` (and that place)."""
        if self._hi20 is None:
            self._hi20 = {}
            for rs in self.module.relocation_sections:
                sb = self._secbase.get(rs.target)
                if sb is None:
                    continue
                for r in rs.relocations:
                    if r.type == 23:          # R_RISCV_PCREL_HI20
                        self._hi20[sb[0] + r.offset] = (r, sb[0] + r.offset)
        return self._hi20.get(place)

    def defer(self, relocbase: int, rel: Relocation) -> None:
        """Postpone a relocation of the local pass to the global pass."""
        self._deferred.append((relocbase, rel))

    # ---- queries
    def find_section(self, name: str) -> tuple[int, int] | None:
        """``kobj_find_section()``: (address, size) of the loaded section ``name``."""
        for p in self.progtab:
            if p.name == name:
                return p.addr, p.size
        return None

    def stat(self) -> tuple[int, int]:
        """``kobj_stat()``: text address and text size (1.76, spec §2.1)."""
        text = self.regions.get("text")
        return (text.base, text.size) if text else (0, 0)

    def exports(self) -> dict[str, int]:
        """Defined, named STB_GLOBAL symbols with their absolute values (for ksyms)."""
        out: dict[str, int] = {}
        for i, s in enumerate(self.module.symbols):
            if s.bind == STB_GLOBAL and s.shndx != SHN_UNDEF and s.name and s.name not in out:
                out[s.name] = self.symvalue[i]
        return out

    def symbol_address(self, name: str) -> int | None:
        """Absolute value of the module's own symbol ``name`` (any binding), or None."""
        for i, s in enumerate(self.module.symbols):
            if s.name == name and s.shndx != SHN_UNDEF:
                return self.symvalue[i]
        return None


def kobj_setname(name: str, module_base: str) -> str:
    """``kobj_setname()``: a common prefix with the module base becomes ``%M``;
    names longer than ``ko_name`` (32 bytes) keep their tail after ``/...``."""
    i = 0
    while i < len(name) and i < len(module_base) and name[i] == module_base[i]:
        i += 1
    prefix = "%M" if i else ""
    d = name[i:]
    dots = ""
    total = len(d) + len(prefix)
    if total >= 32:
        cut = (total - 32) + 5
        if len(d) >= cut:
            d = d[cut:]
            dots = "/..."
    return (prefix + dots + d)[:31]


# --------------------------------------------------------------------------- load

def _fail(ko: Kobj, func: str, text: str, code: int = ENOEXEC) -> LoadError:
    ko.error(func, text)
    return LoadError(f"[{ko.name}]: linker error: {text}", code)


def _region_layout(secs: Iterable[Section]) -> tuple[dict[str, int],
                                                      dict[int, tuple[str, int]]]:
    """Size the three regions (spec §2.1: exec -> text, !write -> rodata, else data):
    each region's size, and each loaded section's region and offset in it, in order."""
    sizes = dict.fromkeys(REGIONS, 0)
    placed: dict[int, tuple[str, int]] = {}
    for s in secs:
        if s.type not in (SHT_PROGBITS, SHT_NOBITS):
            continue
        kind = ("text" if s.flags & SHF_EXECINSTR else
                "rodata" if not s.flags & SHF_WRITE else "data")
        mask = max(s.addralign, 1) - 1
        at = (sizes[kind] + mask) & ~mask
        placed[s.index] = (kind, at)
        sizes[kind] = at + s.size
    return sizes, placed


def kobj_load(module: ModuleObject, target: Target, name: str, module_map: ModuleMap,
              ksyms: Ksyms, console: list[str]) -> Kobj:
    """``kobj_load()``: check, place, absolutise, check for redefinitions, relocate locally.

    ``name`` is the kobj name (see :func:`kobj_setname`).

    Raises:
        LoadError: ENOEXEC with the kernel's message (also on ``console``).
    """
    try:
        ko = Kobj(module, target, name, console)
    except ModuleFormatError as e:      # the symbol table is decoded on first use
        console.append(f"kobj_load, 0: [{name}]: linker error: {e.message}")
        raise LoadError(f"[{name}]: linker error: {e.message}", ENOEXEC) from None
    secs = module.sections
    nprog = sum(1 for s in secs if s.type in (SHT_PROGBITS, SHT_NOBITS))
    if nprog == 0:
        raise _fail(ko, "kobj_load", "file has no contents")
    symtabs = [s for s in secs if s.type == SHT_SYMTAB]
    if len(symtabs) != 1:
        raise _fail(ko, "kobj_load", "file has no valid symbol table")
    link = symtabs[0].link
    if link == SHN_UNDEF or link >= len(secs) or secs[link].type != SHT_STRTAB:
        raise _fail(ko, "kobj_load", "file has invalid symbol strings")
    if not module.symbols:
        raise _fail(ko, "kobj_load", "no symbol table")
    if secs[link].size == 0:
        raise _fail(ko, "kobj_load", "no symbol strings")

    sizes, placed = _region_layout(secs)
    kinds = [(idx, kind) for idx, (kind, _) in placed.items()]
    for idx, kind in kinds:
        s = secs[idx]
        if s.addralign == 0 and sizes[kind]:
            # kobj_load's alignmask is sh_addralign - 1 = -1: "base += -1; base &= ~-1"
            # makes the cursor 0, so the section (and those after it) would be copied to
            # address 0 -- unless nothing of its region has a byte (spec §2.1, derived)
            raise _fail(ko, "kobj_load", f"section {s.name or idx} has sh_addralign 0: "
                                         f"kobj_load would place it at address 0 (its "
                                         f"alignment mask, sh_addralign - 1, is -1)")
    if sizes["text"] == 0:
        raise _fail(ko, "kobj_load", "no text")
    if max(sizes.values()) > MAX_ALLOC:
        raise _fail(ko, "kobj_load", "out of memory", ENOMEM)
    for idx, _ in kinds:        # kobj_read_file(): a short read is EINVAL
        s = secs[idx]
        if s.type == SHT_PROGBITS and s.size and s.offset + s.size > len(module.image):
            raise _fail(ko, "kobj_load", f"read failed {EINVAL}", EINVAL)
    for kind in ("data", "rodata", "text"):            # allocation order of 1.76
        if sizes[kind]:
            alloc = module_map.round_page(sizes[kind])
            base = module_map.alloc(sizes[kind])
            ko.regions[kind] = Region(base, sizes[kind], alloc, bytearray(alloc))
    cursor = {k: r.base for k, r in ko.regions.items()}
    index_of_symbols: dict[int, list[int]] = {}
    for i, shndx in enumerate(ko.symshndx):
        index_of_symbols.setdefault(shndx, []).append(i)
    for idx, kind in kinds:
        s = secs[idx]
        if kind not in ko.regions:
            # every section of this kind is empty (e.g. only .note.GNU-stack): nothing
            # was allocated, and nothing can live there
            ko.progtab.append(Progent(idx, s.name or "<<PROGBITS>>", 0, 0, kind))
            continue
        mask = max(s.addralign, 1) - 1
        addr = (cursor[kind] + mask) & ~mask
        cursor[kind] = addr + s.size
        reg = ko.regions[kind]
        if addr + s.size > reg.base + reg.alloc:
            # an sh_addralign beyond the page size: the region was sized from offset 0, so
            # the kernel would write past its allocation; the simulator refuses instead
            kobj_unload(ko, module_map, ksyms)
            raise _fail(ko, "kobj_load", f"section {s.name or idx} (sh_addralign "
                                         f"{s.addralign:#x}) does not fit in its region")
        if s.type == SHT_PROGBITS and s.size:
            off = addr - reg.base
            reg.mem[off:off + s.size] = module.image[s.offset:s.offset + s.size]
        name_ = s.name or ("<<PROGBITS>>" if s.type == SHT_PROGBITS else "<<NOBITS>>")
        ko.progtab.append(Progent(idx, name_, addr, s.size, kind))
        ko._secbase[idx] = (addr, reg)
        for j in index_of_symbols.get(idx, ()):
            ko.symvalue[j] += addr
    _link_pass(ko, ksyms, module_map, local=True)
    return ko


def _link_pass(ko: Kobj, ksyms: Ksyms, module_map: ModuleMap, local: bool) -> None:
    """``kobj_checksyms()`` then ``kobj_relocate()`` for one pass; any failure unloads ``ko``.

    The load pass (``local``) checks redefinitions and applies local
    relocations; the affix pass resolves undefined symbols and the rest.
    """
    try:
        _checksyms(ko, ksyms, undefined=not local)
        _relocate(ko, local=local)
    except (LoadError, ModuleFormatError) as e:
        kobj_unload(ko, module_map, ksyms)
        if isinstance(e, ModuleFormatError):    # a relocation table decoded on first use
            raise _fail(ko, "kobj_relocate", e.message) from None
        if e.code == EFAULT:    # a relocation whose place lies outside the module
            raise _fail(ko, "kobj_relocate", e.message, EFAULT) from None
        raise


def _checksyms(ko: Kobj, ksyms: Ksyms, undefined: bool) -> None:
    """``kobj_checksyms()``: redefinitions (load) or resolution (affix); reports every name."""
    failed = False
    first = ""
    for i, s in enumerate(ko.module.symbols):
        if s.bind != STB_GLOBAL or not s.name:
            continue
        if undefined != (s.shndx == SHN_UNDEF):
            continue
        value = ksyms.lookup(s.name)
        if value is None:
            if undefined:
                ko.error("kobj_checksyms", f"symbol `{s.name}' not found")
                first = first or f"symbol `{s.name}' not found"
                failed = True
            continue
        if undefined:
            ko.symvalue[i] = value
            continue
        if ko.symvalue[i] == value:
            continue
        if s.name in _REDEFINE_EXEMPT or s.name.startswith(_REDEFINE_EXEMPT_PREFIXES):
            continue
        ko.error("kobj_checksyms", f"global symbol `{s.name}' redefined")
        first = first or f"global symbol `{s.name}' redefined"
        failed = True
    if failed:
        raise LoadError(f"[{ko.name}]: linker error: {first}", ENOEXEC)


def _relocate(ko: Kobj, local: bool) -> None:
    """``kobj_relocate()``: REL tables first, then RELA; one pass filtered by binding."""
    ko.local_pass = local
    secs = ko.module.sections
    nsym = len(ko.symvalue)
    for want_rela in (False, True):
        for rs in ko.module.relocation_sections:
            if rs.is_rela != want_rela:
                continue
            if rs.target >= len(secs) or secs[rs.target].type != SHT_PROGBITS:
                continue     # only tables for PROGBITS sections are read (spec §2.1)
            sb = ko._secbase.get(rs.target)
            if sb is None and secs[rs.target].size == 0:
                continue     # an empty section was not placed; nothing to patch
            if sb is None:
                raise LoadError(f"{ko.name}: lost base for sec {rs.target}", ENOEXEC)
            base = sb[0]
            if ko._reloc_table is not None:
                bad = ko._reloc_table(ko, base, rs.relocations, want_rela, local)
                if bad is not None:
                    kind = "rela" if want_rela else "rel"
                    raise _fail(ko, "kobj_relocate", f"unresolved {kind} relocation "
                                f"@{bad.offset:#x} type={bad.type} symidx={bad.sym}")
                continue
            for r in rs.relocations:
                if r.sym >= nsym:
                    continue
                if local != (ko._bind[r.sym] == STB_LOCAL):
                    continue
                if not ko._reloc(ko, base, r, want_rela, local):
                    kind = "rela" if want_rela else "rel"
                    raise _fail(ko, "kobj_relocate", f"unresolved {kind} relocation "
                                f"@{r.offset:#x} type={r.type} symidx={r.sym}")
    if not local:
        deferred, ko._deferred = ko._deferred, []
        for base, r in deferred:
            if not ko._reloc(ko, base, r, True, False):
                raise _fail(ko, "kobj_relocate", f"unresolved rela relocation "
                            f"@{r.offset:#x} type={r.type} symidx={r.sym}")


def kobj_affix(ko: Kobj, mi_name: str, module_map: ModuleMap, ksyms: Ksyms) -> None:
    """``kobj_affix()``: name, resolve undefined globals, global relocations, ksyms.

    On failure the whole object is unloaded (as the kernel does).

    Raises:
        LoadError: ENOEXEC; every missing symbol is on the console.
    """
    ko.name = mi_name
    _link_pass(ko, ksyms, module_map, local=False)
    ksyms.add(mi_name, ko.exports())
    ko.loaded = True


#: ``id()`` of each kobj unloaded in this process, oldest first: lets an observer of
#: many kobjs (kmodbuild.emulate.machine) find the freed ones without looking at every
#: kobj.  The first entry is the unload number :data:`UNLOADED_BASE` (older ones were
#: dropped to bound the list).
UNLOADED: list[int] = []
UNLOADED_BASE = 0
_UNLOADED_KEEP = 4096


def kobj_unload(ko: Kobj, module_map: ModuleMap, ksyms: Ksyms) -> None:
    """``kobj_unload()``: free the regions and drop the ksyms table."""
    global UNLOADED_BASE
    if len(UNLOADED) >= 2 * _UNLOADED_KEEP:
        del UNLOADED[:_UNLOADED_KEEP]
        UNLOADED_BASE += _UNLOADED_KEEP
    UNLOADED.append(id(ko))
    for reg in ko.regions.values():
        module_map.free(reg.base, reg.alloc)
    ko.regions = {}
    if ko.loaded:
        ksyms.remove(ko.name)
        ko.loaded = False


def kernel_image_layout(names: Iterable[tuple[str, int]], base: int,
                        functions: frozenset[str] = frozenset(),
                        page: int = 4096) -> tuple[dict[str, int], int | None]:
    """:func:`kernel_symbol_table` with the ``functions`` first: ``(table, text_end)``,
    ``text_end`` the page-aligned end of the functions (the kernel's text, read-only:
    a module writing to ``printf`` faults, as on the real kernel, instead of breaking
    every module loaded after it), None without ``functions``."""
    names = list(names)
    if not functions:
        return kernel_symbol_table(names, base), None
    text = [n for n in names if n[0] in functions]
    table = kernel_symbol_table(text, base)
    end = max((table[n] + ((max(s, 1) + 15) & ~15) for n, s in text), default=base)
    text_end = (end + page - 1) & ~(page - 1)
    rest = kernel_symbol_table([n for n in names if n[0] not in table], text_end)
    return {**table, **rest}, text_end


def kernel_symbol_table(names: Iterable[tuple[str, int]], base: int) -> dict[str, int]:
    """Give each kernel symbol ``(name, size)`` an address from ``base`` (16-byte
    aligned, in manifest order): the simulated kernel image's ``"netbsd"`` table."""
    out: dict[str, int] = {}
    addr = base
    for name, size in names:
        if name in out:
            continue
        out[name] = addr
        addr += (max(size, 1) + 15) & ~15
    return out


# --------------------------------------------------------------------------- dry link

def dry_link(module: ModuleObject, target: Target, name: str,
             modinfo: tuple[int, int] | None = None) -> tuple[str, str | None] | None:
    """What ``kobj_load`` and ``kobj_affix`` would refuse in ``module`` itself: the layout of
    its sections and every relocation, each undefined global resolved to an address in the
    kernel (whether those names exist is the check's other rules' business).  With
    ``modinfo`` (``mi_version``, ``mi_class`` as the file holds them), also that
    ``module_fetch_info()`` -- after the local relocations -- reads those values.

    Returns ``None`` when both would succeed, else ``(message, cause)``: the error as
    ``linker error: ...`` and, when the console said more before it, the first such line
    (``bad binding 0x8 for symbol @17`` behind an ``unresolved rela relocation``).
    """
    layout = layout_for(target)
    module_map = ModuleMap(layout.module_base, layout.page_size)
    ksyms = Ksyms()
    console: list[str] = []
    try:
        undefined = [s.name for s in module.symbols
                     if s.bind == STB_GLOBAL and s.shndx == SHN_UNDEF and s.name]
        ksyms.add("netbsd", dict.fromkeys(undefined, layout.kernel_base + 0x1000))
        ko = kobj_load(module, target, name, module_map, ksyms, console)
        if modinfo is not None:
            linked = _linked_modinfo(ko, target.pointer_size)
            if linked is not None and linked != modinfo:
                kobj_unload(ko, module_map, ksyms)
                message = (f"modinfo reads mi_version {linked[0]}, mi_class {linked[1]} once "
                           f"linked, not {modinfo[0]}, {modinfo[1]} as in the file")
                return message, "a relocation writes over the modinfo record"
        kobj_affix(ko, name, module_map, ksyms)
        skipped = _skipped_relocation(module)
    except LoadError as e:
        message = e.message.split("]: ", 1)[-1]
        causes = [line.split("]: linker error: ", 1)[-1] for line in console]
        cause = next((c for c in causes if c not in message), None)
        return message, cause
    except ModuleFormatError as e:
        return e.message, None
    kobj_unload(ko, module_map, ksyms)
    return skipped


def _skipped_relocation(module: ModuleObject) -> tuple[str, str] | None:
    """The first relocation kobj would apply whose symbol index is not below the symbol
    count, as :func:`dry_link`'s ``(message, cause)``; ``None`` when there is none.

    kobj_relocate() (subr_kobj.c 1.76) skips such an entry silently and loads the
    module with its place unrelocated; the check refuses the file instead, in
    kobj_sym_lookup()'s words (spec §2.3) -- docs/check.md, "Deviations"."""
    secs = module.sections
    nsym = len(module.symbols)
    for want_rela in (False, True):
        for rs in module.relocation_sections:
            if rs.is_rela != want_rela or rs.target >= len(secs) \
                    or secs[rs.target].type != SHT_PROGBITS:
                continue
            for r in rs.relocations:
                if r.sym >= nsym:
                    kind = "rela" if want_rela else "rel"
                    place = secs[rs.target].name or f"section {rs.target}"
                    return (f"linker error: unresolved {kind} relocation @{r.offset:#x} "
                            f"type={r.type} symidx={r.sym}",
                            f"symbol index {r.sym} out of range: {rs.name} holds it, for "
                            f"{place}+{r.offset:#x}; kobj_relocate would skip the entry and "
                            f"leave that place unrelocated")
    return None


def _linked_modinfo(ko: Kobj, psize: int) -> tuple[int, int] | None:
    """``(mi_version, mi_class)`` as ``module_fetch_info()`` reads them from the loaded
    object, or ``None`` when it cannot (the check reports why from the file)."""
    sec = ko.find_section("link_set_modules")
    if sec is None or sec[1] != psize:
        return None
    try:
        mi = ko.rd(sec[0], psize)
        version, mclass = ko.rd(mi, 4), ko.rd(mi + 4, 4)
    except LoadError:
        return None
    return version, mclass - ((1 << 32) if mclass >> 31 else 0)


def link_is_clean(module: ModuleObject, target: Target) -> bool:
    """True when :func:`dry_link` would find nothing, proved without linking -- for the
    ordinary amd64 module (RELA tables, every section aligned within a page, every
    relocation against a defined symbol or a named global, its place inside the
    module's region); anything else (another port, any doubt) is False: link it.

    A scratch link applies every relocation in Python (about 0.6 ms for a module of a
    few hundred); this looks at the relocation tables as arrays instead.
    """
    if target.machine_arch != "x86_64" or module.elfclass != 64 or not module.little_endian:
        return False
    try:
        return _amd64_clean(module, layout_for(target).page_size)
    except (ModuleFormatError, ValueError, IndexError, OverflowError, KeyError):
        return False


def _amd64_clean(module: ModuleObject, page: int) -> bool:
    secs = module.sections
    image = module.image
    symtabs = [s for s in secs if s.type == SHT_SYMTAB]
    if len(symtabs) != 1 or not 0 < symtabs[0].link < len(secs):
        return False
    strtab = secs[symtabs[0].link]
    if strtab.type != SHT_STRTAB or not strtab.size:
        return False
    # the symbol table read raw (st_name, st_info, st_other, st_shndx): decoding every
    # symbol would cost more than the whole proof
    symtab = image[symtabs[0].offset:symtabs[0].offset + symtabs[0].size]
    strings = image[strtab.offset:strtab.offset + strtab.size]
    if (len(symtab) != symtabs[0].size or len(symtab) % 24 or symtabs[0].entsize not in (0, 24)
            or len(strings) != strtab.size or strings[-1]):
        return False
    nsym = len(symtab) // 24
    # the link decodes every symbol: each name must lie in .strtab (which ends in NUL)
    if nsym and max(array("I", symtab)[0::6]) >= len(strings):
        return False
    entry = struct.Struct("<IBBH").unpack_from
    # kobj_load's layout, as offsets from each region's start
    if any(s.addralign > page or s.addralign == 0
           for s in secs if s.type in (SHT_PROGBITS, SHT_NOBITS)):
        return False
    sizes, placed = _region_layout(secs)
    if not sizes["text"] or max(sizes.values()) > MAX_ALLOC:
        return False
    room = {k: (v + page - 1) & ~(page - 1) for k, v in sizes.items()}
    if not nsym:
        return False
    facts = module.get_facts()
    if facts.exports & {name for name, _ in facts.undefined}:
        return False                    # a name both defined and undefined: "redefined"
    handled = SUPPORTED_TYPES["x86_64"]
    mi = module.modinfo
    checked: set[int] = set()
    for rs in module.relocation_sections:
        if not 0 <= rs.target < len(secs) or not 0 <= rs.index < len(secs):
            return False
        tgt = secs[rs.target]
        if tgt.type != SHT_PROGBITS:
            continue                    # kobj reads no table for it
        if not rs.is_rela or not rs.get_types() <= handled:
            return False
        table = secs[rs.index]
        raw = image[table.offset:table.offset + table.size]
        if len(raw) != table.size or table.size % 24 or table.entsize not in (0, 24):
            return False
        if not raw:
            continue
        words = array("Q", raw)
        offsets, infos = words[0::3], words[1::3]
        kind, at = placed.get(tgt.index, ("", 0))
        if not kind or at + max(offsets) + 8 > room[kind]:
            return False                # a place the 8-byte test does not prove inside
        if mi is not None and mi.location.section == tgt.index and any(
                mi.location.offset - 8 < o < mi.location.offset + 8 for o in offsets):
            return False                # near the modinfo record: the link will tell
        for j in set(map(rshift, infos, repeat(32))) - checked:
            checked.add(j)
            if j >= nsym:
                return False            # out of range: kobj skips it, the check refuses it
            if j == 0 or j == SHN_ABS:
                continue                # index 0 and the SHN_ABS quirk
            name, info, _, shndx = entry(symtab, 24 * j)
            if shndx != SHN_UNDEF or (info >> 4 == STB_GLOBAL and 0 < name < len(strings)
                                      and strings[name]):
                continue
            return False                # an undefined local, weak or odd binding
    return True
