"""kmodbuild.emulate.callconv - arguments, return values, varargs and calls, per psABI.

Everything here is driven by :class:`~kmodbuild.emulate.arch.ArchSpec` data:
:class:`ArgCursor` fetches a kernel function's arguments (registers first,
then stack slots; 64-bit values in register pairs on 32-bit ports) and, for
``...``, keeps fetching the variable ones as printf asks for them;
:func:`make_valist` walks a ``va_list`` (x86-64's and AArch64's register save
areas, PowerPC's, or plain slots); :func:`set_return` writes a result the way
the caller expects it; :func:`setup_call` builds a frame to call a module's
function from a kernel hook.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from kmodbuild.emulate.arch import (VALIST_AAPCS64, VALIST_PPC, VALIST_X86_64, ArchSpec)

_SIGNED = {"i8": 8, "i16": 16, "i32": 32, "i64": 64}
_UNSIGNED = {"u8": 8, "u16": 16, "u32": 32, "u64": 64, "bool": 8}
_WIDE = ("i64", "u64")


class Regs(Protocol):
    """What the calling convention needs from the CPU."""

    def reg(self, name: str) -> int: ...

    def set_reg(self, name: str, value: int) -> None: ...

    def read(self, address: int, size: int) -> bytes: ...

    def write(self, address: int, data: bytes) -> None: ...


def convert(kind: str, raw: int, word: int) -> int:
    """A raw register/slot value as the C type of ``kind`` would read it."""
    if kind in _SIGNED:
        bits = _SIGNED[kind]
    elif kind == "word":
        bits = 8 * word
    else:
        bits = _UNSIGNED.get(kind, 8 * word)
        value = raw & ((1 << bits) - 1)
        return int(value != 0) if kind == "bool" else value
    value = raw & ((1 << bits) - 1)
    return value - (1 << bits) if value >> (bits - 1) else value


def _is_wide(kind: str, spec: ArchSpec) -> bool:
    return spec.word == 4 and kind in _WIDE


class ArgCursor:
    """Fetch arguments in order from a call's registers and stack (an ``ArgSource``)."""

    def __init__(self, cpu: Regs, spec: ArchSpec) -> None:
        self.cpu = cpu
        self.spec = spec
        self.sp = cpu.reg(spec.sp)
        self.ngrn = 0
        self.stack = 0

    def _slot(self, size: int) -> int:
        spec = self.spec
        if size == 8 and spec.pair_align:
            self.stack = (self.stack + 7) & ~7
        addr = self.sp + spec.stack_args + self.stack
        self.stack += max(size, spec.word)
        return int.from_bytes(self.cpu.read(addr, size), spec.order)

    def next(self, kind: str) -> int:
        """The next argument, converted to ``kind`` (``i32``, ``ptr``, ``u64``...)."""
        spec = self.spec
        regs = spec.args
        if _is_wide(kind, spec):
            if spec.pair_align and self.ngrn % 2:
                self.ngrn += 1
            if regs and self.ngrn + 1 < len(regs):
                a, b = self.cpu.reg(regs[self.ngrn]), self.cpu.reg(regs[self.ngrn + 1])
                self.ngrn += 2
                hi, lo = (a, b) if spec.high_first else (b, a)
                raw = ((hi & 0xFFFFFFFF) << 32) | (lo & 0xFFFFFFFF)
            else:
                self.ngrn = len(regs)
                raw = self._slot(8)
        elif self.ngrn < len(regs):
            raw = self.cpu.reg(regs[self.ngrn])
            self.ngrn += 1
        else:
            raw = self._slot(spec.word)
        return convert(kind, raw, spec.word)

    def fetch(self, kinds: Sequence[str]) -> list[int]:
        """The next ``len(kinds)`` arguments."""
        return [self.next(k) for k in kinds]


def set_return(cpu: Regs, spec: ArchSpec, kind: str, value: int) -> None:
    """Put ``value`` (of C kind ``kind``) where the caller reads a return value."""
    if kind == "void":
        return
    if _is_wide(kind, spec):
        hi, lo = (value >> 32) & 0xFFFFFFFF, value & 0xFFFFFFFF
        first, second = (hi, lo) if spec.high_first else (lo, hi)
        cpu.set_reg(spec.ret[0], first)
        cpu.set_reg(spec.ret[1], second)
        return
    if kind in ("i32", "u32", "i16", "u16", "i8", "u8", "bool"):
        bits = 8 * {"i32": 4, "u32": 4, "i16": 2, "u16": 2}.get(kind, 1)
        value &= (1 << bits) - 1
        signed = kind.startswith("i") or (spec.sext32 and bits == 32)
        if signed and value >> (bits - 1):
            value -= 1 << bits
    cpu.set_reg(spec.ret[0], value)


def set_second_return(cpu: Regs, spec: ArchSpec, value: int) -> None:
    """The second of a :class:`~kmodbuild.kapi._kernel.RegisterPair`: a 64-bit value in
    the third and fourth argument registers (ARM EABI's ``__aeabi_uldivmod`` returns
    its remainder in ``r2:r3``)."""
    hi, lo = (value >> 32) & 0xFFFFFFFF, value & 0xFFFFFFFF
    first, second = (hi, lo) if spec.high_first else (lo, hi)
    cpu.set_reg(spec.args[2], first)
    cpu.set_reg(spec.args[3], second)


# --------------------------------------------------------------------------- va_list

class _Slots:
    """``va_list`` as a pointer to consecutive stack slots (i386, ARM, RISC-V, MIPS, SPARC)."""

    def __init__(self, cpu: Regs, spec: ArchSpec, ap: int) -> None:
        self.cpu, self.spec, self.ap = cpu, spec, ap

    def next(self, kind: str) -> int:
        spec = self.spec
        size = 8 if kind in _WIDE else spec.word
        if size == 8 and spec.pair_align:
            self.ap = (self.ap + 7) & ~7
        raw = int.from_bytes(self.cpu.read(self.ap, size), spec.order)
        self.ap += max(size, spec.word)
        return convert(kind, raw, spec.word)


class _X86_64:
    """SysV x86-64: ``{u32 gp_offset; u32 fp_offset; void *overflow; void *reg_save}``."""

    def __init__(self, cpu: Regs, spec: ArchSpec, ap: int) -> None:
        self.cpu, self.spec, self.ap = cpu, spec, ap

    def _u(self, off: int, size: int) -> int:
        return int.from_bytes(self.cpu.read(self.ap + off, size), "little")

    def _put(self, off: int, size: int, value: int) -> None:
        self.cpu.write(self.ap + off, value.to_bytes(size, "little"))

    def next(self, kind: str) -> int:
        gp = self._u(0, 4)
        if gp < 48:
            raw = int.from_bytes(self.cpu.read(self._u(16, 8) + gp, 8), "little")
            self._put(0, 4, gp + 8)
        else:
            over = self._u(8, 8)
            raw = int.from_bytes(self.cpu.read(over, 8), "little")
            self._put(8, 8, over + 8)
        return convert(kind, raw, 8)


class _Aapcs64:
    """AArch64: ``{void *stack; void *gr_top; void *vr_top; int gr_offs; int vr_offs}``."""

    def __init__(self, cpu: Regs, spec: ArchSpec, ap: int) -> None:
        self.cpu, self.spec, self.ap = cpu, spec, ap

    def next(self, kind: str) -> int:
        offs = int.from_bytes(self.cpu.read(self.ap + 24, 4), "little", signed=True)
        if offs < 0:
            top = int.from_bytes(self.cpu.read(self.ap + 8, 8), "little")
            raw = int.from_bytes(self.cpu.read(top + offs, 8), "little")
            self.cpu.write(self.ap + 24, (offs + 8).to_bytes(4, "little", signed=True))
        else:
            stack = int.from_bytes(self.cpu.read(self.ap, 8), "little")
            raw = int.from_bytes(self.cpu.read(stack, 8), "little")
            self.cpu.write(self.ap, (stack + 8).to_bytes(8, "little"))
        return convert(kind, raw, 8)


class _Ppc:
    """PowerPC SysV: ``{u8 gpr; u8 fpr; u16 pad; void *overflow; void *reg_save}``."""

    def __init__(self, cpu: Regs, spec: ArchSpec, ap: int) -> None:
        self.cpu, self.spec, self.ap = cpu, spec, ap

    def _u(self, off: int, size: int) -> int:
        return int.from_bytes(self.cpu.read(self.ap + off, size), "big")

    def next(self, kind: str) -> int:
        gpr = self._u(0, 1)
        save, over = self._u(8, 4), self._u(4, 4)
        if kind in _WIDE:
            gpr += gpr % 2
            if gpr < 7:
                raw = int.from_bytes(self.cpu.read(save + 4 * gpr, 8), "big")
                self.cpu.write(self.ap, bytes([gpr + 2]))
            else:
                over = (over + 7) & ~7
                raw = int.from_bytes(self.cpu.read(over, 8), "big")
                self.cpu.write(self.ap, bytes([8]))
                self.cpu.write(self.ap + 4, (over + 8).to_bytes(4, "big"))
        elif gpr < 8:
            raw = int.from_bytes(self.cpu.read(save + 4 * gpr, 4), "big")
            self.cpu.write(self.ap, bytes([gpr + 1]))
        else:
            raw = int.from_bytes(self.cpu.read(over, 4), "big")
            self.cpu.write(self.ap + 4, (over + 4).to_bytes(4, "big"))
        return convert(kind, raw, 4)


_VALIST: dict[str, Callable[[Regs, ArchSpec, int], object]] = {
    VALIST_X86_64: _X86_64, VALIST_AAPCS64: _Aapcs64, VALIST_PPC: _Ppc}


def make_valist(cpu: Regs, spec: ArchSpec, ap: int) -> object:
    """An argument source walking the ``va_list`` value ``ap``."""
    return _VALIST.get(spec.valist, _Slots)(cpu, spec, ap)


# --------------------------------------------------------------------------- calls

#: bytes left free above a new frame: PowerPC's LR save word, SPARC's register save
#: area and home slots, and headroom
FRAME_RESERVE = 512


def setup_call(cpu: Regs, spec: ArchSpec, args: Sequence[int], return_to: int,
               below: int) -> int:
    """Prepare registers and stack to call a function with ``args`` returning to
    ``return_to``; the frame is built under the (unbiased) address ``below``.

    Returns the new (unbiased) stack pointer.
    """
    nreg = len(spec.args)
    on_stack = list(args[nreg:])
    top = (below - FRAME_RESERVE - spec.word * len(on_stack) - spec.stack_args) & ~15
    sp = top - ((16 - spec.entry_misalign) % 16)
    if spec.link is None:                       # x86: the return address is on the stack
        cpu.write(sp, return_to.to_bytes(spec.word, spec.order))
    else:
        cpu.set_reg(spec.link, return_to - spec.link_adjust)
    reg_sp = sp - spec.stack_bias
    for i, value in enumerate(on_stack):
        addr = reg_sp + spec.stack_args + spec.word * i
        cpu.write(addr, (value & ((1 << (8 * spec.word)) - 1)).to_bytes(spec.word, spec.order))
    for name, value in zip(spec.args, args):
        cpu.set_reg(name, value)
    cpu.set_reg(spec.sp, reg_sp)
    return sp
