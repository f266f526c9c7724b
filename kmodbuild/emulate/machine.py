"""kmodbuild.emulate.machine - the emulated kernel: address space, stubs, runs, faults.

A :class:`Machine` lays out the simulated kernel's address space for one
target: the kernel image at the addresses the in-kernel linker resolved
against (each hooked function a one-instruction "return" stub, each data
symbol initialised by its :mod:`kmodbuild.kapi` header module), then an
exit trampoline, a stack and the kmem heap between the kernel and
``module_map``; loaded modules' text/rodata/data regions are mapped r-x, r--
and rw- over the simulator's own images.  The dispatcher (:meth:`_on_code`)
runs the Python hook of the kernel function at the program counter,
following the port's calling convention, before the stub returns.

Faults stop the running modcmd and become a :class:`~kmodbuild.emulate.report.Report`:
unmapped or forbidden accesses, invalid instructions, traps, calls into a
kernel function without a hook, ``panic()`` and an exhausted instruction
budget.  The caller (:mod:`kmodbuild.emulate.strategy`) decides what the
kernel does with them.
"""
from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from typing import Any

from kmodbuild import kapi, kobj
from kmodbuild.emulate.arch import ArchSpec, get_arch, longest_straight_run
from kmodbuild.emulate.callconv import (
    ArgCursor,
    convert,
    make_valist,
    set_return,
    set_second_return,
    setup_call,
)
from kmodbuild.emulate.cpu import Cpu, CpuUnsupported, MemoryError_
from kmodbuild.emulate.cpu import version as cpu_version
from kmodbuild.emulate.heap import Heap
from kmodbuild.emulate.report import KIND_TEXT, Report, Symbolizer
from kmodbuild.emulate.sparc import RegisterWindows, is_window_trap, patch_text
from kmodbuild.errors import InternalError
from kmodbuild.kapi._kernel import (HOOK_BYTES, GuestFault, HookBudget, Kernel, Panic,
                                    RegisterPair)
from kmodbuild.kapi._proto import type_kind
from kmodbuild.target import Target

#: instructions one modcmd may execute before it counts as an endless loop
DEFAULT_BUDGET = 1_000_000
#: on ports where unicorn cannot count instructions (delay slots), the budget counts
#: the basic blocks entered in modules instead: instructions per block
_INSNS_PER_BLOCK = 5
STACK_SIZE = 256 * 1024
#: an access this far below the stack is said to be a stack overflow
_STACK_GUARD = 1 << 20
HEAP_SIZE = 4 * 1024 * 1024
_GAP = 0x10000
#: bytes back from a return address to its call instruction, per port
_CALL_SIZE = {"x86_64": 5, "i386": 5, "sparc64": 8, "mips64eb": 8}
#: region kind -> protection after kobj_affix (text r-x, rodata r--, data rw-)
PERMS = {"text": "rx", "rodata": "r", "data": "rw"}
CMD_NAMES = {0: "INIT", 1: "FINI", 2: "STAT", 3: "AUTOUNLOAD"}


class _Abort(Exception):
    """A fault was recorded during a nested call: unwind to the modcmd."""


class _Raw:
    """Kernel-side byte access to guest memory (faults become :class:`GuestFault`).

    unicorn's own reads and writes ignore page protections, so the two a hook must
    not get through are checked here: the NULL guard page (mapped execute-only on
    some ports, its bytes the stub's: a hook reading a NULL pointer got them) and,
    for writes, the kernel's read-only text (``text``: [start, end))."""

    def __init__(self, cpu: Cpu, null_page: int = 0) -> None:
        self.cpu = cpu
        self.null_page = null_page
        self.text = (0, 0)

    def read(self, address: int, size: int) -> bytes:
        if address < self.null_page:
            raise GuestFault(address, "read")
        try:
            return self.cpu.read(address, size)
        except MemoryError_ as e:
            raise GuestFault(e.address, "read") from None

    def write(self, address: int, data: bytes) -> None:
        if address < self.null_page:
            raise GuestFault(address, "write")
        lo, hi = self.text
        if address < hi and address + len(data) > lo:
            raise GuestFault(max(address, lo), "write", "read-only")
        try:
            self.cpu.write(address, data)
        except MemoryError_ as e:
            raise GuestFault(e.address, "write") from None


#: Module regions left mapped between modcmd runs (the rest are mapped on first touch).
#: unicorn's map + unmap pair costs ~30 us with no other region mapped, 42 us with
#: 30, 85 us with 96, 490 us with 300; a 500-module validation (about 3,000 pairs)
#: spent 0.25 s mapping with 96 left mapped, 0.17 s with 24.
MAPPED_CAP = 24


def _module_space_end(module_base: int) -> int:
    """The last address of the 4 GiB from ``module_base`` (where modules are loaded), for a
    hook's inclusive range.  Clamped to 64 bits: unicorn takes the bound as a 64-bit
    number, and one that wrapped around (a 64-bit port's module_base lies in the last
    4 GiB) below ``module_base`` makes the hook fire for every address -- every load from
    the stack and every block of the kernel's code, ten thousand Python calls in a
    500-module tree's validation that the hook then ignored."""
    return min(module_base + (1 << 32) - 1, (1 << 64) - 1)


def _round(value: int, unit: int) -> int:
    return (value + unit - 1) & ~(unit - 1)


class Machine:
    """The emulated kernel of one simulated boot.

    Args:
        target: the port.
        kernel_base, module_base: the simulator's :class:`~kmodbuild.kobj.AddressLayout`.
        symbols: the kernel's symbol table (name -> address, ksyms ``netbsd``).
        sizes: symbol sizes from the manifest (name -> bytes).
        text_end: where the kernel's functions end (made read-only below it), or None.
        sim: the :class:`~kmodbuild.simulator.SimKernel` hooks may call back into.
        budget: instructions per modcmd.
        sink: receives each kernel console line as it is printed.

    Raises:
        CpuUnsupported: the port cannot be emulated (no ArchSpec, no unicorn, no room).
    """

    def __init__(self, target: Target, kernel_base: int, module_base: int,
                 symbols: dict[str, int], sizes: dict[str, int] | None = None, sim: Any = None,
                 budget: int = DEFAULT_BUDGET, sink: Callable[[str], None] | None = None,
                 text_end: int | None = None) -> None:
        spec = get_arch(target.machine_arch)
        if spec is None:
            raise CpuUnsupported(f"no calling convention known for {target.machine_arch}")
        self.spec: ArchSpec = spec
        self.target = target
        self.budget = budget
        self._blocks = 0
        self._last_block = 0
        self.sink = sink or (lambda line: None)
        self.cpu = Cpu(spec)
        page = max(self.cpu.page_size, 4096)
        sizes = sizes or {}
        self.symbols = dict(symbols)
        end = max((a + max(sizes.get(n, 16), 16) for n, a in symbols.items()),
                  default=kernel_base + 16)
        self.kernel_base = kernel_base & ~(page - 1)
        self.kernel_end = _round(end, page)
        area = _round(self.kernel_end + _GAP, 0x100000)
        self.exit = area
        stack_lo = area + _GAP
        self.stack_top = stack_lo + STACK_SIZE
        self.stack_lo = stack_lo
        heap_base = self.stack_top + _GAP
        room = module_base - heap_base - _GAP
        if module_base <= kernel_base or room < 256 * 1024:
            raise CpuUnsupported("the address layout leaves no room for the emulator's "
                                 "stack and heap between the kernel and module_map")
        heap_size = min(HEAP_SIZE, room) & ~(page - 1)
        self._null_page = page if spec.null_guard else 0
        try:
            self.cpu.map(self.kernel_base, self.kernel_end - self.kernel_base, "rwx")
            self.cpu.map(self.exit, page, "rx")
            exit_stub = spec.exit_stub or spec.stub
            if spec.text_fill:      # the rest of the page traps: see _guard_kernel_image
                rest = page - len(exit_stub)
                self.cpu.write(self.exit + len(exit_stub),
                               (spec.text_fill * (rest // len(spec.text_fill) + 1))[:rest])
            self.cpu.write(self.exit, exit_stub)
            if spec.cc_init:          # see ArchSpec.cc_init: set the condition codes once
                at = self.exit + 0x400
                self.cpu.write(at, spec.cc_init)
                self.cpu.run(at, at + len(spec.cc_init), count=1)
            self.cpu.map(stack_lo, STACK_SIZE, "rw")
            self.cpu.map(heap_base, heap_size, "rw")
            if spec.null_guard:
                self.cpu.map(0, page, "x")
                self.cpu.write(0, spec.stub * (page // len(spec.stub)))
                self.cpu.on_code(0, page - 1, self._on_null)
        except MemoryError_ as e:
            raise CpuUnsupported(f"the kernel's address layout does not fit the emulated "
                                 f"{target.machine_arch} address space ({e})") from None
        self.heap = Heap(heap_base, heap_size, self.cpu.read, self.cpu.write)
        self._raw = _Raw(self.cpu, self._null_page)
        self.k = Kernel(target, self._raw, self.heap, self.symbols, self._call_guest,
                        lambda ap: make_valist(self.cpu, spec, ap), sim)
        self.k.caller_of = self._caller_text
        self.symbolizer = Symbolizer()
        self.symbolizer.add_kernel(self.kernel_base, self.kernel_end, self.symbols)
        self._sym_addrs = sorted((a, n) for n, a in self.symbols.items())
        self._sym_starts = frozenset(self.symbols.values())
        hooks = kapi.load()
        self.dispatch: dict[int, tuple[kapi.KFunc, list[str], str]] = {}
        for name, addr in self.symbols.items():
            # every symbol gets the stub, so a call to one without a hook decodes and
            # reaches the dispatcher (which reports it); data symbols are set below
            self.cpu.write(addr, spec.stub)
            kf = hooks.get(name)
            if kf is not None:
                self.dispatch[addr] = (kf, [type_kind(p) for p in kf.proto.params],
                                       type_kind(kf.proto.ret))
        for name, addr in self.symbols.items():
            data = kapi.DATA.get(name)
            if data is not None and name not in hooks:
                data.init(self.k, addr, max(sizes.get(name, 16), 1))
        # the kernel's text (its functions, laid out first: SimKernel's kernel_text_end) is
        # read-only, as on the real kernel: a store to printf faulted nowhere, and every
        # module calling printf after it failed
        protect = (text_end or 0) & ~(page - 1)
        if protect > self.kernel_base:
            self.cpu.protect(self.kernel_base, protect - self.kernel_base, "rx")
            self._raw.text = (self.kernel_base, protect)
        if spec.delay_slots:
            for addr in sorted(set(self.symbols.values())):
                self.cpu.on_code(addr, addr, self._on_code)
            self._guard_kernel_image(text_end)
            self.cpu.on_block(module_base, _module_space_end(module_base), self._on_block)
        else:
            self.cpu.on_code(self.kernel_base, self.kernel_end - 1, self._on_code)
        self.module_base = module_base
        #: kmodbuild.simmemo's coverage (record_text), and each text region's kobj
        self.coverage: Any = None
        self._text_kobj: dict[int, tuple[Any, Any]] = {}
        self.cpu.on_fault(self._on_fault)
        self.cpu.on_trap(self._on_trap)
        self.windows = RegisterWindows(self.cpu) if spec.windows else None
        self.fault: Report | None = None
        self.internal: BaseException | None = None
        self._mem_fault: tuple[str, int] | None = None
        self._exited = False
        self._nested_stop = False
        self._skip: int | None = None
        self._depth = 0
        self._command = ""
        self._mapped: dict[int, tuple[Any, str, str]] = {}     # id(region) -> (region, module, kind)
        #: module name -> why its code is not emulated (ArchSpec.straight_limit)
        self.refused: dict[str, str] = {}
        # id(kobj) -> (kobj, its regions dict, module name, its regions)
        self._synced: dict[int, tuple[Any, Any, str, list[Any]]] = {}
        # every region of a loaded module, mapped or not, sorted by base (_on_demand)
        self._avail_starts: list[int] = []
        self._avail: list[tuple[Any, str, str]] = []
        self.cpu.resolver = self._on_demand
        self._unloads = kobj.UNLOADED_BASE + len(kobj.UNLOADED)   # kobj.UNLOADED seen
        self._owner: dict[int, Any] = {}        # id(kobj) synced -> its module
        self._key_of: dict[int, int] = {}       # id(module) -> id(kobj) synced
        # sync_kernel: the kernel followed, the loaded_log change number seen, the
        # modules listed in its loaded as of then (by id), the last module run
        self._log_kernel: Any = None
        self._log_pos = 0
        self._listed: dict[int, Any] = {}
        self._extra: dict[int, Any] = {}        # id(module) -> module run or active then

    def _guard_kernel_image(self, text_end: int | None) -> None:
        """Ports hooked at each symbol only (delay slots): code reached anywhere else in the
        kernel image is reported, not run.  Unicorn translates a block before its first
        hook runs, and MIPS64 dies (SIGSEGV) translating a straight run of some 365
        instructions -- which the kernel's data is: ``vfs_list`` and its neighbours are
        zero words, no-ops to the CPU, and a module calling it killed the process.  So
        the data (everything from ``text_end`` but the stubs of hooked functions laid
        out there) has a code hook of its own, which reports the first instruction run
        there as :meth:`_stray` does; and the unused rest of each function's slot in the
        text (and of its last page) holds ``ArchSpec.text_fill``, which traps, instead of
        no-ops sliding into the next function's stub."""
        spec = self.spec
        stub = len(spec.stub)
        if text_end is None or text_end >= self.kernel_end:
            return
        if spec.text_fill:
            starts = sorted({a for a in self.symbols.values() if a < text_end})
            for a, b in zip(starts, [*starts[1:], text_end]):
                if b - a > stub:
                    n = b - a - stub
                    fill = spec.text_fill * (n // len(spec.text_fill) + 1)
                    self.cpu.write(a + stub, fill[:n])
        # the stubs of hooked functions the manifest did not list as functions (a hook
        # on a delay-slot instruction corrupts its next-PC state): left out of the guard
        cuts = sorted(a for a in self.dispatch if a >= text_end)
        begin = text_end
        for a in [*cuts, self.kernel_end]:
            if a > begin:
                self.cpu.on_code(begin, a - 1, self._on_kernel_data)
            begin = max(begin, a + stub)

    def _on_kernel_data(self, addr: int) -> None:
        """Code reached in the kernel's data (:meth:`_guard_kernel_image`)."""
        if addr in self.dispatch:          # a symbol's own hook reports it (_on_code)
            return
        if addr not in self._sym_starts:
            self._stray(addr)
        # a symbol's first instruction: its own code hook (_on_code) reports it

    # ------------------------------------------------------------------ coverage
    def record_text(self, coverage: Any) -> str | None:
        """Tell ``coverage.note(kobj, address, size)`` of every access to a loaded
        module's text from now on: each basic block run there (its translated bytes), each
        guest load from there, and each read the kernel's hooks make there.  Returns why
        it cannot (a port whose emulation reads or rewrites text itself: the straight-run
        limit, a text fill, SPARC's window traps, fixed segments, delay-slot hooks), or
        None."""
        spec = self.spec
        for flag, why in ((spec.windows, "register-window traps patch text"),
                          (spec.straight_limit, "text is scanned for straight runs"),
                          (spec.text_fill, "text padding is rewritten"),
                          (spec.zero_is_nop, "text is scanned for zeros"),
                          (spec.segments, "addresses are translated through segments"),
                          (spec.delay_slots, "code hooks follow delay slots")):
            if flag:
                return f"{self.target.machine_arch}: {why}"
        self.coverage = coverage
        end = _module_space_end(self.module_base)
        self.cpu.on_block(self.module_base, end, self._touch_block)
        self.cpu.on_read(self.module_base, end, self._touch)
        self.cpu.read_watch = self._touch
        return None

    def _touch_block(self, address: int, size: int) -> None:
        if size <= 0:       # a size unicorn did not tell: up to the end of the region
            k = bisect.bisect_right(self._avail_starts, address) - 1
            reg = self._avail[k][0] if k >= 0 else None
            size = reg.base + reg.alloc - address if reg is not None \
                and address < reg.base + reg.alloc else 1
        self._touch(address, size)

    def _touch(self, address: int, size: int) -> None:
        """A block run or a load at ``[address, address+size)``: noted where it is text."""
        starts, avail = self._avail_starts, self._avail
        last = address + max(size, 1) - 1
        k = max(bisect.bisect_right(starts, address) - 1, 0)
        while k < len(avail) and starts[k] <= last:
            reg, _, kind = avail[k]
            if kind == "text" and address < reg.base + reg.alloc:
                owner = self._text_kobj.get(id(reg))
                if owner is not None:
                    self.coverage.note(owner[1], address, size)
            k += 1

    # ------------------------------------------------------------------ modules
    def sync(self, modules: Iterable[Any], run: Any = None) -> set[str]:
        """Make the regions of ``modules`` (simulator ``Module``s with a kobj) available
        and forget those of modules that are gone; map ``run``'s regions (the module
        about to run).  Returns the names of modules that do not fit the emulated
        address space.

        Regions of the other loaded modules are mapped when first touched (the CPU's
        resolver), and at most :data:`MAPPED_CAP` stay mapped between runs: unicorn's
        map and unmap cost grows with the number of regions (0.2 ms each with the
        1,500 regions of 500 loaded modules, a third of a tree's validation).
        The set operations run in C and a synced kobj is looked at again only when
        :data:`kobj.UNLOADED` says it was freed; ``self._synced`` holds each kobj, so
        its id cannot be reused.  :meth:`sync_kernel` does the same for a simulated
        kernel's module list without comparing all of it at each run.
        """
        synced = self._synced
        modules = list(modules)
        kobjs = list(map(getattr, modules, repeat("kobj"), repeat(None)))
        current = set(map(id, kobjs))
        current.discard(id(None))
        stale = (synced.keys() - current) | self._freed()
        for key in stale:
            self._drop(key)
        new = current - synced.keys()
        if new:
            pairs: Iterable[tuple[Any, Any]] = zip(modules, kobjs)
            if len(new) == 1 and run is not None and id(getattr(run, "kobj", None)) in new:
                pairs = ((run, run.kobj),)     # the usual case: the module about to run
            for mod, ko in pairs:
                if ko is not None and id(ko) not in synced:
                    self._add(mod, ko)
        self._log_kernel = None               # sync_kernel starts over
        return self._map_run(run)

    def sync_kernel(self, kernel: Any, run: Any, active: Sequence[Any] = ()) -> set[str]:
        """:meth:`sync` of ``[*kernel.loaded, *active, run]`` -- the same outcome --
        following ``kernel.loaded_log`` (the changes to the list since the last call)
        instead of comparing the whole list: a tree's validation runs every module's
        modcmd twice with up to all of them loaded, and the comparisons made the syncs
        quadratic in the tree (a seventh of a 500-module validation).  ``active`` are
        the modules whose modcmd is under way around this one (a modcmd that loads a
        module): their code and data must stay where the CPU comes back to.  Falls
        back to :meth:`sync` for a new kernel, a log that moved past what it saw, or
        more than one module to add at once (whose order :meth:`sync` defines).
        """
        log, base = kernel.loaded_log, kernel.loaded_log_base
        pos = self._log_pos - base
        if kernel is not self._log_kernel or pos < 0 or pos > len(log):
            return self._full_sync(kernel, run, active)
        listed = self._listed
        touched: dict[int, Any] = dict(self._extra)   # id(module) -> module to look at
        for added, mod in log[pos:]:
            if added:
                listed[id(mod)] = mod
            else:
                listed.pop(id(mod), None)
            touched[id(mod)] = mod
        extra = {id(m): m for m in (*active, run)}
        touched.update(extra)
        synced, owner, key_of = self._synced, self._owner, self._key_of
        stale = self._freed()
        for key in stale:                   # freed yet maybe listed: dropped, then re-added
            mod = owner.get(key)
            if mod is not None:
                touched[id(mod)] = mod
        for i, m in touched.items():
            key = key_of.get(i)
            if key is not None and key in synced:
                ko = getattr(m, "kobj", None)
                if ko is None or id(ko) != key or not (i in extra or i in listed):
                    stale.add(key)
        adds = [m for i, m in touched.items()
                if (i in extra or i in listed) and getattr(m, "kobj", None) is not None
                and (id(m.kobj) in stale or id(m.kobj) not in synced)]
        if len(adds) > 1:
            for key in stale:               # as sync would (its freed look is used up)
                self._drop(key)
            return self._full_sync(kernel, run, active)
        self._log_pos = base + len(log)
        self._extra = extra
        for key in stale:
            self._drop(key)
        for m in adds:
            self._add(m, m.kobj)
        return self._map_run(run)

    def _full_sync(self, kernel: Any, run: Any, active: Sequence[Any] = ()) -> set[str]:
        unfit = self.sync([*kernel.loaded, *active, run], run=run)
        self._log_kernel = kernel
        self._log_pos = kernel.loaded_log_base + len(kernel.loaded_log)
        self._listed = {id(m): m for m in kernel.loaded}
        self._extra = {id(m): m for m in (*active, run)}
        return unfit

    def _freed(self) -> set[int]:
        """Keys of synced kobjs freed since the last look (kobj.UNLOADED): their
        regions are gone even if their module is still listed."""
        synced = self._synced
        done = kobj.UNLOADED_BASE + len(kobj.UNLOADED)
        if self._unloads == done:
            return set()
        if self._unloads < kobj.UNLOADED_BASE:         # too many since: look at each
            freed = {key for key, (ko, regions, _, _) in synced.items()
                     if ko.regions is not regions}
        else:
            freed = set(kobj.UNLOADED[self._unloads - kobj.UNLOADED_BASE:]).intersection(synced)
        self._unloads = done
        return freed

    def _add(self, mod: Any, ko: Any) -> None:
        regs = []
        for kind, reg in ko.regions.items():
            k = bisect.bisect_left(self._avail_starts, reg.base)
            self._avail_starts.insert(k, reg.base)
            self._avail.insert(k, (reg, mod.name, kind))
            regs.append(reg)
            if kind == "text" and self.coverage is not None:
                self._text_kobj[id(reg)] = (reg, ko)     # the region kept: its id stays its
        key = id(ko)
        self._synced[key] = (ko, ko.regions, mod.name, regs)
        self._owner[key] = mod
        self._key_of[id(mod)] = key
        self.symbolizer.add_module(mod.name, ko)

    def _drop(self, key: int) -> None:
        """Forget a synced kobj's regions (gone, unloaded or changed)."""
        _, _, name, regs = self._synced.pop(key)
        mod = self._owner.pop(key, None)
        if mod is not None and self._key_of.get(id(mod)) == key:
            del self._key_of[id(mod)]
        for reg in regs:
            self._unmap(reg)
            self._forget(reg)
        self.symbolizer.remove_module(name)

    def _map_run(self, run: Any) -> set[str]:
        """Map ``run``'s regions; unmap the least recently mapped beyond the cap."""
        unfit: set[str] = set()
        keep: set[int] = set()
        ko = getattr(run, "kobj", None)
        if ko is not None:
            for kind, reg in ko.regions.items():
                keep.add(id(reg))
                if id(reg) not in self._mapped and not self._map(reg, run.name, kind):
                    unfit.add(run.name)
        excess = len(self._mapped) - MAPPED_CAP
        if excess > 0:                      # least recently mapped first
            for key in [k for k in self._mapped if k not in keep][:excess]:
                self._unmap(self._mapped[key][0])
        return unfit

    def _map(self, reg: Any, name: str, kind: str) -> bool:
        buffer = reg.mem
        sites: dict[int, tuple[int, int]] = {}
        if kind == "text" and self.spec.straight_limit:
            run, at = longest_straight_run(self.spec, bytes(reg.mem[:reg.size]),
                                           self.cpu.page_size)
            if run > self.spec.straight_limit:
                self.refused[name] = (
                    f"has {run} instructions without a branch at {name}+{at:#x}, "
                    f"more than unicorn {cpu_version()} can translate on "
                    f"{self.target.machine_arch}")
                return False
            self.refused.pop(name, None)        # a module of that name loaded before
        if kind == "text" and self.spec.text_fill:
            # text is read-only: map a copy whose padding traps (ArchSpec.text_fill)
            fill = self.spec.text_fill
            end = -(-reg.size // len(fill)) * len(fill)
            buffer = bytearray(reg.mem)
            buffer[end:] = fill * ((len(buffer) - end) // len(fill))
        if self.windows is not None and kind == "text":
            # text is read-only: map a copy with the window-trap sites patched
            buffer, sites = patch_text(bytes(reg.mem), reg.base)
        try:
            self.cpu.map(reg.base, reg.alloc, PERMS.get(kind, "rw"), buffer)
        except MemoryError_:
            return False
        if self.windows is not None:
            self.windows.sites.update(sites)
        self._mapped[id(reg)] = (reg, name, kind)
        return True

    def _on_demand(self, address: int) -> bool:
        """The CPU's resolver: map the loaded module region holding ``address``."""
        k = bisect.bisect_right(self._avail_starts, address) - 1
        if k < 0:
            return False
        reg, name, kind = self._avail[k]
        if not reg.base <= address < reg.base + reg.alloc or id(reg) in self._mapped:
            return False
        return self._map(reg, name, kind)

    def _forget(self, reg: Any) -> None:
        k = bisect.bisect_left(self._avail_starts, reg.base)
        while k < len(self._avail) and self._avail[k][0] is not reg:
            k += 1
        if k < len(self._avail):
            del self._avail[k]
            del self._avail_starts[k]

    def _unmap(self, reg: Any) -> None:
        if self._mapped.pop(id(reg), None) is None:
            return
        self.cpu.unmap(reg.base, reg.alloc)
        if self.windows is not None:
            for site in [a for a in self.windows.sites if reg.base <= a < reg.base + reg.alloc]:
                del self.windows.sites[site]

    def module_ranges(self, module: Any) -> list[tuple[int, int]]:
        """``[start, end)`` of each region of ``module``."""
        ko = getattr(module, "kobj", None)
        return [(r.base, r.base + r.alloc) for r in ko.regions.values()] if ko else []

    # ------------------------------------------------------------------ running
    def run_modcmd(self, module: Any, cmd: int, arg: int = 0) -> tuple[int, Report | None]:
        """Call ``module``'s ``mi_modcmd(cmd, arg)``: (return value, fatal report or None).

        Re-entrant: a hook that loads another module runs its modcmd nested.
        """
        k = self.k
        saved = (self.fault, k.current, k.module, self._command, self.heap.command)
        self.fault = None
        k.current, k.module = module.name, module
        self._command = self.heap.command = CMD_NAMES.get(cmd, str(cmd))
        try:
            raw = self._invoke(module.modcmd, (cmd, arg))
            report = self.fault
        finally:
            k.flush()
            self._drain()
            (self.fault, k.current, k.module, self._command, self.heap.command) = saved
        if self.internal is not None:
            err, self.internal = self.internal, None
            if isinstance(err, (InternalError, RecursionError)):
                # from a nested run: passed on as it is (wrapping the repr of the repr of
                # ... at each level doubled its backslashes: 2**depth bytes)
                raise err
            raise InternalError(f"emulated kernel hook failed: {err!r}") from err
        return convert("i32", raw, self.spec.word), report

    def _call_guest(self, function: int, args: tuple[int, ...]) -> int:
        """A hook calls a module's function (vfs_init, a bufq strategy, a kauth listener)."""
        raw = self._invoke(function, args)
        if self.fault is not None:
            raise _Abort()
        return raw

    def _invoke(self, function: int, args: tuple[int, ...]) -> int:
        spec, cpu = self.spec, self.cpu
        nested = self._depth > 0
        if nested:
            _ = self.k.caller       # the running hook's caller, before guest code runs below it
            saved = (cpu.reg(spec.sp), cpu.reg(spec.pc), cpu.reg(spec.link) if spec.link else 0)
            below = saved[0] + spec.stack_bias - 128
        else:
            below = self.stack_top
            if self.windows is not None:
                self.windows.saved.clear()
        setup_call(cpu, spec, args, self.exit, below)
        self._depth += 1
        try:
            self._run(function)
            raw = cpu.reg(spec.ret[0])
        finally:
            self._depth -= 1
            if nested:
                cpu.set_reg(spec.sp, saved[0])
                if spec.link:
                    cpu.set_reg(spec.link, saved[2])
                cpu.set_reg(spec.pc, saved[1])
                self._skip = saved[1]
                # the exit trap stopped the nested run with emu_stop(), which also ends
                # the run it was nested in: that one must go on
                self._exited = False
                self._nested_stop = spec.exit_trap is not None
        return raw

    def _run(self, begin: int) -> None:
        if self.spec.zero_is_nop and self._zeros_at(begin):
            self._fatal("no-code", f"jump to {begin:#x}, which holds no code (zero bytes the "
                                   "CPU would run as a slide of no-ops)", begin)
            return
        # SPARC: unicorn loops forever when the program counter is set to ``until``; the
        # exit trampoline's trap stops the run instead
        until = self.exit + 0x800 if self.spec.exit_trap is not None else self.exit
        if self._depth <= 1:
            self._blocks = 0
            self.k.mem.moved, self.k.mem.limit = 0, HOOK_BYTES  # the hooks' share, per modcmd
        try:
            self._run_from(begin, until)
        finally:
            if self._depth <= 1:
                self.k.mem.limit = None

    def _run_from(self, begin: int, until: int) -> None:
        pc = begin
        while True:
            self._mem_fault = None
            self._exited = self._nested_stop = False
            if self.spec.delay_slots:
                err = self.cpu.run(pc, until)
            else:
                err = self.cpu.run(pc, until, count=self.budget)
            if err is None and self.fault is None and self._nested_stop and not self._exited:
                pc = self.cpu.reg(self.spec.pc)
                if pc != self._skip:
                    self._skip = None
                continue
            break
        if self.fault is not None:
            return
        pc = self.cpu.reg(self.spec.pc)
        if err is not None:
            addr = self._mem_fault[1] if self._mem_fault else None
            kind = self._mem_fault[0] if self._mem_fault else err
            self._fatal_at(kind, pc, addr)
        elif pc != self.exit and not self._exited:
            self._fatal_at("budget", pc, None)

    # ------------------------------------------------------------------ hooks
    def _on_code(self, addr: int) -> None:
        if self._skip == addr:
            self._skip = None
            return
        entry = self.dispatch.get(addr)
        if entry is None:
            self._stray(addr)
            return
        kf, kinds, rkind = entry
        k = self.k
        # k.caller is worked out if asked for, while this hook runs: the return address
        # is where it was (a register the hook does not set, or a stack slot above what a
        # nested run uses; _invoke works it out before one starts all the same)
        outer_caller = k.enter_hook()
        try:
            cursor = ArgCursor(self.cpu, self.spec)
            args: list[Any] = list(cursor.fetch(kinds))
            if kf.proto.variadic:
                args.append(cursor)
            result = kf.impl(k, *args)
            if isinstance(result, RegisterPair):
                set_return(self.cpu, self.spec, rkind, result.first)
                set_second_return(self.cpu, self.spec, result.second)
            else:
                set_return(self.cpu, self.spec, rkind, int(result or 0))
        except Panic as e:
            self._fatal("panic", f"{e} (in {kf.name}() called from {k.caller})",
                        self._call_site())
        except GuestFault as e:
            self._fatal("kernel-fault", f"{kf.name}() called from {k.caller} faulted: "
                        f"{e.access} of {e.what} address {e.address:#x}", self._call_site(),
                        e.address)
        except _Abort:
            self.cpu.stop()
        except HookBudget as e:
            self._fatal("budget", f"{kf.name}() called from {k.caller}: {e}",
                        self._call_site())
        except MemoryError:         # Python's: a size no mapping holds, asked for at once
            self._fatal("budget", f"{kf.name}() called from {k.caller} asked for more "
                        "memory than the emulator has (a size no real call would have)",
                        self._call_site())
        except MemoryError_ as e:
            self._fatal("kernel-fault", f"{kf.name}() called from {k.caller} faulted: "
                        f"unmapped address {e.address:#x}", self._call_site(), e.address)
        except Exception as e:  # noqa: BLE001 - a kmodbuild bug: stop, re-raised after the run
            self.internal = e
            self._fatal("kernel-fault", f"{kf.name}(): internal error {type(e).__name__}",
                        addr)
        finally:
            k.leave_hook(outer_caller)
            self._drain()

    def _zeros_at(self, addr: int) -> bool:
        """True when the 64 bytes at ``addr`` are all zero (see ``ArchSpec.zero_is_nop``)."""
        try:
            return not any(self.cpu.read(addr, 64))
        except MemoryError_:        # unmapped: the run faults the ordinary way
            return False

    def _on_block(self, addr: int, size: int) -> None:
        """The budget where unicorn cannot count instructions: blocks entered in modules."""
        self._blocks += 1
        self._last_block = addr
        if self._blocks * _INSNS_PER_BLOCK > self.budget:
            self.cpu.stop()

    def _stray(self, addr: int) -> None:
        """Execution reached the kernel image somewhere without a hook."""
        i = bisect.bisect_right(self._sym_addrs, (addr, "\uffff")) - 1
        start, name = self._sym_addrs[i] if i >= 0 else (self.kernel_base, "netbsd")
        if start in self.dispatch and addr - start < len(self.spec.stub):
            return                                 # the rest of a stub (its delay slot)
        caller = self.where(self._call_site())
        if addr == start:
            text = (f"call to kernel function `{name}' which has no hook (the emulated kernel "
                    f"does not implement it), from {caller}")
        else:
            text = f"jump into the kernel at {name}+{addr - start:#x}, from {caller}"
        self._fatal("unhooked-call", text, self._call_site())

    def _on_null(self, addr: int) -> None:
        """Execution reached the NULL guard page: a call through a NULL pointer."""
        self._fatal_at("fetch-unmapped", addr, addr)

    def _on_fault(self, kind: str, address: int, size: int) -> None:
        if address < self._null_page and kind.endswith("-protected"):
            kind = kind.replace("-protected", "-unmapped")      # the NULL guard page
        self._mem_fault = (kind, address)

    def _on_trap(self, intno: int) -> None:
        if intno == self.spec.exit_trap:
            self._exited = True
            self.cpu.stop()
            return
        if self.windows is not None and is_window_trap(intno):
            problem = self.windows.handle(intno)
            if problem is None:
                return
            pc = self.cpu.reg(self.spec.pc)
            self._fatal("window", f"{problem} at {self.where(pc)}", pc)
            return
        pc = self.cpu.reg(self.spec.pc)
        if self.symbolizer.owner(pc) is None and self._last_block:
            pc = self._last_block        # unicorn's PC is not kept up to date here
            at = f"in the block at {self.where(pc)}"
        else:
            at = f"at {self.where(pc)}"
        name = dict(self.spec.trap_names).get(intno) or (
            f"software trap (ta {intno - 0x100:#x})" if self.spec.windows and intno >= 0x100
            else f"trap {intno}")
        self._fatal("trap", f"{name} {at}", pc)

    # ------------------------------------------------------------------ reports
    def where(self, address: int) -> str:
        """``module+offset (symbol+offset)`` (see :class:`Symbolizer`)."""
        if self.heap.contains(address):
            return f"kmem {address:#x}"
        return self.symbolizer.where(address)

    def _return_address(self) -> int:
        spec = self.spec
        if spec.link is None:
            return int.from_bytes(self.cpu.read(self.cpu.reg(spec.sp), spec.word), spec.order)
        return self.cpu.reg(spec.link) + spec.link_adjust

    def _caller_text(self) -> str:
        """Who called the hook running: ``module+offset (symbol+offset)``; a call whose
        return address is the exit trampoline was the modcmd's tail call (``return
        f(...);`` compiled to a jump), not a call from the trampoline."""
        try:
            if self._return_address() == self.exit:
                return "the end of the modcmd (a tail call: return f(...))"
        except MemoryError_:
            pass
        return self.where(self._call_site())

    def _call_site(self) -> int:
        try:
            ret = self._return_address()
        except MemoryError_:
            return 0
        return ret - _CALL_SIZE.get(self.spec.machine_arch, 4)

    def _fatal(self, kind: str, text: str, pc: int, address: int | None = None) -> None:
        if self.fault is None:
            mod = self.k.current or "?"
            self.fault = Report(kind, mod, self._command,
                                f"{mod}: modcmd({self._command}): {text}", pc, self.where(pc),
                                address)
        self.cpu.stop()

    def _fatal_at(self, kind: str, pc: int, address: int | None) -> None:
        what = KIND_TEXT.get(kind, kind)
        if kind == "budget":
            limit = (f"{self.budget // _INSNS_PER_BLOCK} basic blocks" if self.spec.delay_slots
                     else f"{self.budget} instructions")
            text = f"{what} ({limit}: endless loop?), at {self.where(pc)}"
        elif kind == "fetch-unmapped":
            target = address if address is not None else pc
            site = self._call_site()
            if site > 0 and self.where(site) != f"{site:#x}":
                origin = f"called from {self.where(site)}"
                pc = site
            else:           # the "caller" is no code: a return address overwritten
                origin = "from no known caller (a return address overwritten: stack smashed?)"
            text = (f"{what} {target:#x}"
                    f"{' (NULL function pointer)' if target < 4096 else ''}, {origin}")
        elif address is not None:
            region = self.where(address)
            detail = " (NULL pointer dereference)" if address < 4096 else (
                f" ({region})" if region != f"{address:#x}" else "")
            if self.stack_lo - _STACK_GUARD <= address < self.stack_lo:
                detail = f" (stack overflow: below the {STACK_SIZE // 1024} KiB kernel stack)"
            text = f"{what} {address:#x}{detail}, at {self.where(pc)}"
        else:
            text = f"{what} at {self.where(pc)}"
        self._fatal(kind, text, pc, address)

    def _drain(self) -> None:
        for line in self.k.take_console():
            self.sink(line)
