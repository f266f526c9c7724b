"""kmodbuild.emulate.cpu - the CPU: THE ONLY module that imports ``unicorn``.

:class:`Cpu` wraps one ``unicorn.Uc`` for an :class:`~kmodbuild.emulate.arch.ArchSpec`:
memory (mapped at the kernel's virtual addresses, with unicorn's virtual TLB
mode so x86-64's, AArch64's and MIPS's high kernel addresses are used as they
are), registers by name, the three hooks the emulator needs (code in the
kernel's stub range, memory faults, traps) and :meth:`Cpu.run`.  A module's
regions are mapped over the simulator's own ``bytearray`` images, so what the
module writes is what :class:`~kmodbuild.kobj.Kobj` reads.
"""
from __future__ import annotations

import ctypes
import importlib
from collections.abc import Callable
from typing import Any

from kmodbuild.emulate.arch import ArchSpec

try:                                   # optional dependency: pip install kmodbuild[emulate]
    import unicorn
    from unicorn import unicorn_const as _uc
    IMPORT_ERROR: str | None = None
except ImportError as e:               # pragma: no cover - depends on the installation
    unicorn = None                     # type: ignore[assignment]
    _uc = None                         # type: ignore[assignment]
    IMPORT_ERROR = str(e)


def available() -> bool:
    """True when unicorn can be imported."""
    return unicorn is not None


def version() -> str:
    """unicorn's version string ("" when absent)."""
    return str(getattr(unicorn, "__version__", "")) if unicorn is not None else ""


#: bytes of translated code cache per emulated CPU
TCG_BUFFER_SIZE = 16 << 20

#: unicorn error numbers -> fault kinds of :mod:`kmodbuild.emulate.report`
_ERRORS = {
    "UC_ERR_READ_UNMAPPED": "read-unmapped", "UC_ERR_WRITE_UNMAPPED": "write-unmapped",
    "UC_ERR_FETCH_UNMAPPED": "fetch-unmapped", "UC_ERR_READ_PROT": "read-protected",
    "UC_ERR_WRITE_PROT": "write-protected", "UC_ERR_FETCH_PROT": "fetch-protected",
    "UC_ERR_INSN_INVALID": "invalid-instruction", "UC_ERR_EXCEPTION": "exception",
    "UC_ERR_READ_UNALIGNED": "unaligned", "UC_ERR_WRITE_UNALIGNED": "unaligned",
    "UC_ERR_FETCH_UNALIGNED": "unaligned",
}
_MEM_ACCESS = {"UC_MEM_READ_UNMAPPED": "read-unmapped", "UC_MEM_WRITE_UNMAPPED": "write-unmapped",
               "UC_MEM_FETCH_UNMAPPED": "fetch-unmapped", "UC_MEM_WRITE_PROT": "write-protected",
               "UC_MEM_READ_PROT": "read-protected", "UC_MEM_FETCH_PROT": "fetch-protected"}


class CpuUnsupported(Exception):
    """This unicorn cannot emulate the port (message says why)."""


class MemoryError_(Exception):
    """A host-side access to unmapped guest memory, or a mapping that cannot be made."""

    def __init__(self, address: int) -> None:
        super().__init__(f"unmapped address {address:#x}")
        self.address = address


class Cpu:
    """One emulated CPU and its address space.

    Raises:
        CpuUnsupported: unicorn is missing or cannot make this CPU.
    """

    def __init__(self, spec: ArchSpec) -> None:
        if unicorn is None:
            raise CpuUnsupported(f"unicorn is not installed ({IMPORT_ERROR})")
        self.spec = spec
        consts = importlib.import_module(f"unicorn.{spec.const_module}")
        self._consts = consts
        self.uc = self._engine()
        self._regs: dict[str, int] = {}
        for name in {spec.pc, spec.sp, spec.link or spec.pc, *spec.args, *spec.ret,
                     *(f"{w}{i}" for w in "GOLI" for i in range(8) if spec.windows)}:
            self._regs[name] = getattr(consts, spec.reg_prefix + name)
        # what the engine holds, to make it again (renew_after_error): physical start ->
        # (size, protection, the shared buffer or None -- kept alive here); hooks by handle
        self._maps: dict[int, tuple[int, int, Any]] = {}
        self._hooks: dict[int, tuple[int, Callable[..., Any], int, int]] = {}
        self._handles: dict[int, int] = {}
        self._next_hook = 1
        self._depth = 0
        self._broken = False
        #: called with a guest address on an access to unmapped memory; returns True
        #: when it mapped it (lazy mapping of loaded modules, kmodbuild.emulate.machine)
        self.resolver: Callable[[int], bool] | None = None
        #: called as ``read_watch(address, size)`` before each :meth:`read` (the kernel
        #: API's reads of guest memory; kmodbuild.simmemo's coverage)
        self.read_watch: Callable[[int, int], None] | None = None
        self.page_size = int(self.uc.ctl_get_page_size())
        self._errors = {getattr(_uc, n): k for n, k in _ERRORS.items()}
        self._access = {getattr(_uc, n): k for n, k in _MEM_ACCESS.items()}
        self._perms = {"r": _uc.UC_PROT_READ, "w": _uc.UC_PROT_WRITE, "x": _uc.UC_PROT_EXEC}
        self._segments = spec.segments
        for name, _ in spec.init_regs:
            self._regs[name] = getattr(consts, spec.reg_prefix + name)
        self._mask = (1 << (8 * spec.word)) - 1
        self._fast_regs = self._direct_register_access()
        if spec.init_code:
            self._power_on(spec)

    def _engine(self) -> Any:
        """A new unicorn engine for :attr:`spec`."""
        spec = self.spec
        try:
            arch = getattr(_uc, f"UC_ARCH_{spec.uc_arch}")
            mode = 0
            for m in spec.uc_modes:
                mode |= getattr(_uc, f"UC_MODE_{m}")
            uc = unicorn.Uc(arch, mode)
            # before anything initialises the engine: unicorn's default translation
            # cache reserves 1 GiB of address space per CPU; modules need little
            uc.ctl_set_tcg_buffer_size(TCG_BUFFER_SIZE)
            if spec.cpu_model:
                uc.ctl_set_cpu_model(getattr(self._consts, spec.cpu_model))
            if not spec.segments:
                uc.ctl_set_tlb_mode(_uc.UC_TLB_VIRTUAL)  # type: ignore[attr-defined]
        except (AttributeError, unicorn.UcError) as e:
            raise CpuUnsupported(f"unicorn {version()} cannot emulate "
                                 f"{spec.machine_arch}: {e}") from None
        return uc

    def _renew(self) -> None:
        """Replace the engine by a new one holding the same memory, hooks and registers
        (``ArchSpec.renew_after_error``)."""
        old = self.uc
        regs = {r: int(old.reg_read(r)) for r in set(self._regs.values())}
        contents = {phys: bytes(old.mem_read(phys, size))
                    for phys, (size, _, cbuf) in self._maps.items() if cbuf is None}
        self.uc = self._engine()
        self._fast_regs = self._direct_register_access()
        if self.spec.init_code:
            self._power_on(self.spec)
        for phys, (size, prot, cbuf) in self._maps.items():
            if cbuf is None:
                self.uc.mem_map(phys, size, prot)
                self.uc.mem_write(phys, contents[phys])
            else:
                self.uc.mem_map_ptr(phys, size, prot, ctypes.addressof(cbuf))
        for handle, (kind, fn, begin, end) in self._hooks.items():
            self._handles[handle] = int(self.uc.hook_add(kind, fn, begin=begin, end=end))
        for r, value in regs.items():
            self.uc.reg_write(r, value)

    def _direct_register_access(self) -> tuple[Callable[[int], int],
                                               Callable[[int, int], None]] | None:
        """Register read and write straight through unicorn's C library, or None.

        unicorn's Python ``reg_read``/``reg_write`` choose a ctypes class for the
        register and allocate a buffer on every call (~10 us; a kernel call from a
        module reads and writes several).  The general registers used here fit
        one word, so one zeroed 64-bit buffer does.  Used only where the host is
        little-endian, unicorn's library handle is where 2.1 keeps it and values
        written one way read back the same the other way, for every register.
        """
        import sys
        try:
            from unicorn.unicorn_py3.unicorn import uclib  # type: ignore[import-not-found]
            handle = self.uc._uch
            c_read, c_write = uclib.uc_reg_read, uclib.uc_reg_write
        except (ImportError, AttributeError):
            return None
        if sys.byteorder != "little":
            return None
        buf = ctypes.c_uint64()
        ref = ctypes.byref(buf)
        mask = self._mask

        def read(reg: int) -> int:
            buf.value = 0
            status = c_read(handle, reg, ref)
            if status:
                raise unicorn.UcError(status)
            return buf.value & mask

        def write(reg: int, value: int) -> None:
            buf.value = value
            status = c_write(handle, reg, ref)
            if status:
                raise unicorn.UcError(status)

        for reg in set(self._regs.values()):
            saved = int(self.uc.reg_read(reg))
            try:
                for probe in (0x5A5A_1230 & mask, 0x0123_4567_89AB_CDE0 & mask):
                    self.uc.reg_write(reg, probe)
                    if read(reg) != probe:
                        return None
                    write(reg, probe ^ 0x10)
                    if int(self.uc.reg_read(reg)) != probe ^ 0x10:
                        return None
            except (unicorn.UcError, ctypes.ArgumentError, TypeError, OverflowError):
                return None
            finally:
                self.uc.reg_write(reg, saved)
        return read, write

    def _power_on(self, spec: ArchSpec) -> None:
        """Run the port's power-on code once (MIPS: program the TLB)."""
        page = spec.init_at & ~(self.page_size - 1)
        self.map(page, self.page_size, "rx")
        self.write(spec.init_at, spec.init_code)
        for name, value in spec.init_regs:
            self.set_reg(name, value)
        err = self.run(spec.init_at, spec.init_at + len(spec.init_code) - 4)
        self.unmap(page, self.page_size)
        if err is not None:
            raise CpuUnsupported(f"{spec.machine_arch}: power-on code failed: {err}")

    # ---- addresses
    def _pa(self, address: int) -> int:
        """Where unicorn keeps guest address ``address`` (itself, but for fixed windows)."""
        if not self._segments:
            return address
        for start, end, phys in self._segments:
            if start <= address < end:
                return phys + (address - start)
        raise MemoryError_(address)

    def _va(self, phys: int) -> int:
        """The guest address of unicorn's ``phys`` (fault reports)."""
        for start, end, base in self._segments:
            if base <= phys < base + (end - start):
                return start + (phys - base)
        return phys

    # ---- memory
    def _prot(self, perms: str) -> int:
        value = 0
        for ch in perms:
            value |= self._perms[ch]
        return value

    def map(self, address: int, size: int, perms: str, buffer: bytearray | None = None) -> None:
        """Map ``size`` bytes at ``address`` with ``perms`` (``"rwx"`` letters); over
        ``buffer`` (shared, not copied) when given."""
        phys = self._pa(address)
        if self._segments and self._pa(address + size - 1) != phys + size - 1:
            raise MemoryError_(address + size - 1)
        try:
            if buffer is None:
                self.uc.mem_map(phys, size, self._prot(perms))
                self._maps[phys] = (size, self._prot(perms), None)
                return
            cbuf = (ctypes.c_char * size).from_buffer(buffer)
            self.uc.mem_map_ptr(phys, size, self._prot(perms), ctypes.addressof(cbuf))
        except unicorn.UcError:
            raise MemoryError_(address) from None
        self._maps[phys] = (size, self._prot(perms), cbuf)  # keeps the bytearray's memory

    def unmap(self, address: int, size: int) -> None:
        """Remove a mapping made by :meth:`map`."""
        self.uc.mem_unmap(self._pa(address), size)
        self._maps.pop(self._pa(address), None)

    def protect(self, address: int, size: int, perms: str) -> None:
        """Change the permissions of mapped pages."""
        phys = self._pa(address)
        self.uc.mem_protect(phys, size, self._prot(perms))
        if phys in self._maps and self._maps[phys][0] == size:
            self._maps[phys] = (size, self._prot(perms), self._maps[phys][2])

    def read(self, address: int, size: int) -> bytes:
        """Guest bytes (raises :class:`MemoryError_` when unmapped)."""
        if self.read_watch is not None:
            self.read_watch(address, size)
        for _ in range(4):
            try:
                return bytes(self.uc.mem_read(self._pa(address), size))
            except unicorn.UcError:
                if not self._resolve(address, size):
                    break
        raise MemoryError_(address)

    def write(self, address: int, data: bytes) -> None:
        """Store guest bytes (raises :class:`MemoryError_` when unmapped)."""
        for _ in range(4):
            try:
                self.uc.mem_write(self._pa(address), data)
                return
            except unicorn.UcError:
                if not self._resolve(address, len(data)):
                    break
        raise MemoryError_(address)

    def _resolve(self, address: int, size: int) -> bool:
        """Let :attr:`resolver` map what ``[address, address+size)`` touches."""
        if self.resolver is None:
            return False
        done = False
        for a in (address, address + max(size, 1) - 1):
            if not self.is_mapped(a):
                done = self.resolver(a) or done
        return done

    def is_mapped(self, address: int) -> bool:
        """True when ``address`` is mapped."""
        try:
            phys = self._pa(address)
        except MemoryError_:
            return False
        for start, end, _ in self.uc.mem_regions():
            if start <= phys <= end:
                return True
        return False

    # ---- registers
    def reg(self, name: str) -> int:
        """Register ``name`` (ArchSpec spelling: ``RDI``, ``X0``, ``3``, ``O7``...)."""
        if self._fast_regs is not None:
            return self._fast_regs[0](self._regs[name])
        return int(self.uc.reg_read(self._regs[name]))

    def set_reg(self, name: str, value: int) -> None:
        """Write register ``name`` (``value`` reduced to the register width)."""
        if self._fast_regs is not None:
            self._fast_regs[1](self._regs[name], value & self._mask)
            return
        self.uc.reg_write(self._regs[name], value & self._mask)

    # ---- hooks
    def on_code(self, begin: int, end: int, callback: Callable[[int], None]) -> int:
        """Call ``callback(pc)`` before each instruction in ``[begin, end]``; returns a
        handle for :meth:`remove_hook`.  A callback that changes the program counter
        makes the CPU continue there instead."""
        return self._hook(_uc.UC_HOOK_CODE, lambda uc, addr, size, data: callback(addr),
                          begin, end)

    def on_block(self, begin: int, end: int, callback: Callable[[int, int], None]) -> int:
        """Call ``callback(address, size)`` at the start of each basic block in
        ``[begin, end]`` (``size``: the bytes unicorn translated for it)."""
        return self._hook(_uc.UC_HOOK_BLOCK, lambda uc, addr, size, data: callback(addr, size),
                          begin, end)

    def on_read(self, begin: int, end: int, callback: Callable[[int, int], None]) -> int:
        """Call ``callback(address, size)`` before each guest load from ``[begin, end]``."""
        return self._hook(_uc.UC_HOOK_MEM_READ,
                          lambda uc, access, addr, size, value, data: callback(addr, size),
                          begin, end)

    def _hook(self, kind: int, fn: Callable[..., Any], begin: int = 1, end: int = 0) -> int:
        handle = self._next_hook
        self._next_hook += 1
        self._handles[handle] = int(self.uc.hook_add(kind, fn, begin=begin, end=end))
        self._hooks[handle] = (kind, fn, begin, end)
        return handle

    def remove_hook(self, handle: int) -> None:
        """Delete a hook made by :meth:`on_code`."""
        self.uc.hook_del(self._handles.pop(handle))
        del self._hooks[handle]

    def on_fault(self, callback: Callable[[str, int, int], None]) -> None:
        """Call ``callback(kind, address, size)`` on an invalid or forbidden access
        (``read-unmapped``, ``write-protected``...); the run then stops."""
        def hook(uc: Any, access: int, address: int, size: int, value: int, data: Any) -> bool:
            kind = self._access.get(access, "memory")
            if kind.endswith("-unmapped") and self.resolver is not None \
                    and self.resolver(self._va(address)):
                return True                 # mapped on demand: unicorn retries the access
            callback(kind, self._va(address), size)
            return False
        self._hook(_uc.UC_HOOK_MEM_INVALID, hook)

    def on_trap(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(intno)`` on a CPU exception (trap, interrupt instruction)."""
        self._hook(_uc.UC_HOOK_INTR, lambda uc, intno, data: callback(intno))

    # ---- running
    def run(self, begin: int, until: int, count: int = 0, timeout_us: int = 0) -> str | None:
        """Execute from ``begin`` until ``until``, ``count`` instructions or ``timeout_us``
        microseconds (0: no limit).

        Returns None, or the fault kind unicorn stopped with (``invalid-instruction``...).
        After such a fault, where ``ArchSpec.renew_after_error`` says the engine cannot
        be trusted, the outermost run leaves a new engine in its place.
        """
        error = None
        self._depth += 1
        try:
            self.uc.emu_start(begin, until, timeout=timeout_us, count=count)
        except unicorn.UcError as e:
            error = self._errors.get(e.errno, f"unicorn error {e.errno}: {e}")
            self._broken = self._broken or self.spec.renew_after_error
        finally:
            self._depth -= 1
        if self._broken and not self._depth:
            self._broken = False
            self._renew()
        return error

    def stop(self) -> None:
        """Stop the innermost running :meth:`run` (from a hook)."""
        self.uc.emu_stop()
