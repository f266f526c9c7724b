"""kmodbuild.emulate.sparc - SPARC V9 register windows, kept in Python.

unicorn starts its SPARC64 CPU unprivileged with CANSAVE = CANRESTORE = 0 and
no way to set them, so every ``save`` takes a spill trap and every
``restore`` a fill trap, and no trap reaches a guest trap table.  The trap
hook therefore performs the instruction itself on the one window unicorn
exposes: ``save`` pushes the caller's locals and ins on a Python stack, makes
the outs the new ins and writes ``rd``; ``restore`` does the reverse.

A trap in a delay slot leaves unicorn's program counter unusable, so
:func:`patch_text` replaces each control transfer whose delay slot holds a
``restore`` (``ret; restore``, ``call f; restore``) by ``ta 0x6d`` in the
copy of the text that is mapped; the trap hook then performs the transfer
and the restore together.  (SPARC V9 Architecture Manual, 5.2.10 and A.8,
A.21, A.24, A.45, A.46.)
"""
from __future__ import annotations

from kmodbuild.emulate.callconv import Regs

SAVE, RESTORE, FLUSHW, JMPL, RETURN = 0x3C, 0x3D, 0x2B, 0x38, 0x39
TRAP_SITE = 0x6D
#: ``ta 0x6d`` (Tcc, always, %icc, software trap 0x6d)
TA_SITE = ((2 << 30) | (8 << 25) | (0x3A << 19) | (1 << 13) | TRAP_SITE).to_bytes(4, "big")
#: the trap number unicorn reports for it (TT_TRAP + 0x6d)
SITE_TRAP = 0x100 + TRAP_SITE
_MASK = (1 << 64) - 1
_NAMES = [f"{w}{i}" for w in "GOLI" for i in range(8)]


def _sext(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) else value


def _is_op3(insn: int, op3: int) -> bool:
    return insn >> 30 == 2 and (insn >> 19) & 0x3F == op3


def is_window_trap(intno: int) -> bool:
    """Spill (0x80-0xBF) and fill (0xC0-0xFF) traps, and the patched transfer sites."""
    return 0x80 <= intno <= 0xFF or intno == SITE_TRAP


def _is_transfer(insn: int) -> bool:
    op = insn >> 30
    if op == 1:
        return True
    if op == 2:
        return (insn >> 19) & 0x3F in (JMPL, RETURN)
    return op == 0 and (insn >> 22) & 7 in (1, 2, 3, 5, 6)


def patch_text(code: bytes, base: int) -> tuple[bytearray, dict[int, tuple[int, int]]]:
    """A copy of ``code`` (loaded at ``base``) with each delayed control transfer whose
    delay slot is a ``restore`` replaced by ``ta 0x6d``; and the sites:
    address -> (original transfer, restore)."""
    out = bytearray(code)
    sites: dict[int, tuple[int, int]] = {}
    for off in range(4, len(code) - 3, 4):
        insn = int.from_bytes(code[off:off + 4], "big")
        if not _is_op3(insn, RESTORE):
            continue
        prev = int.from_bytes(code[off - 4:off], "big")
        if _is_transfer(prev):
            sites[base + off - 4] = (prev, insn)
            out[off - 4:off] = TA_SITE
    return out, sites


class RegisterWindows:
    """The saved windows of the running calls (innermost last) and the patched sites."""

    def __init__(self, cpu: Regs) -> None:
        self.cpu = cpu
        self.saved: list[tuple[list[int], list[int]]] = []
        self.sites: dict[int, tuple[int, int]] = {}

    def _r(self, n: int) -> int:
        return 0 if n == 0 else self.cpu.reg(_NAMES[n])

    def _w(self, n: int, value: int) -> None:
        if n:
            self.cpu.set_reg(_NAMES[n], value & _MASK)

    def _operand(self, insn: int) -> int:
        return _sext(insn & 0x1FFF, 13) if insn >> 13 & 1 else self._r(insn & 31)

    def _save(self, insn: int) -> None:
        value = (self._r((insn >> 14) & 31) + self._operand(insn)) & _MASK
        self.saved.append(([self._r(16 + i) for i in range(8)],
                           [self._r(24 + i) for i in range(8)]))
        outs = [self._r(8 + i) for i in range(8)]
        for i in range(8):
            self._w(24 + i, outs[i])
            self._w(16 + i, 0)
        self._w((insn >> 25) & 31, value)

    def _restore(self, insn: int) -> str | None:
        if not self.saved:
            return "restore without a matching save"
        value = (self._r((insn >> 14) & 31) + self._operand(insn)) & _MASK
        ins = [self._r(24 + i) for i in range(8)]
        locals_, old_ins = self.saved.pop()
        for i in range(8):
            self._w(8 + i, ins[i])
            self._w(16 + i, locals_[i])
            self._w(24 + i, old_ins[i])
        self._w((insn >> 25) & 31, value)
        return None

    def _transfer(self, insn: int, pc: int) -> tuple[int | None, str | None]:
        """Execute the control transfer ``insn`` at ``pc`` in the current window:
        (target, problem)."""
        op = insn >> 30
        if op == 1:                                                  # call: %o7 = pc
            self._w(15, pc)
            return (pc + 4 * _sext(insn & 0x3FFFFFFF, 30)) & _MASK, None
        if _is_op3(insn, JMPL):                                      # jmpl (ret, retl)
            target = (self._r((insn >> 14) & 31) + self._operand(insn)) & _MASK
            self._w((insn >> 25) & 31, pc)
            return target, None
        if op == 0 and (insn >> 22) & 7 in (1, 2, 5, 6):             # BPcc Bicc FBPfcc FBfcc
            cond = (insn >> 25) & 0xF
            disp = _sext(insn & 0x3FFFFF, 22) if (insn >> 22) & 7 in (2, 6) else \
                _sext(insn & 0x7FFFF, 19)
            if cond == 8:
                return (pc + 4 * disp) & _MASK, None
            if cond == 0:
                return pc + 8, None
        return None, "restore in the delay slot of a conditional branch (not emulated)"

    def handle(self, intno: int) -> str | None:
        """Perform what trapped (unicorn reports the program counter past the trapping
        instruction); None, or why it cannot."""
        pc = self.cpu.reg("PC") - 4
        if intno == SITE_TRAP:
            site = self.sites.get(pc)
            if site is None:
                return "software trap 0x6d outside a patched site"
            target, problem = self._transfer(site[0], pc)
            if problem or target is None:
                return problem
            problem = self._restore(site[1])
            if problem is None:
                self.cpu.set_reg("PC", target)
            return problem
        insn = int.from_bytes(self.cpu.read(pc, 4), "big")
        if _is_op3(insn, SAVE):
            self._save(insn)
        elif _is_op3(insn, RESTORE):
            problem = self._restore(insn)
            if problem:
                return problem
        elif not _is_op3(insn, FLUSHW):
            return (f"register window trap {intno:#x} (a call deeper than the emulated "
                    f"windows, or `return')")
        self.cpu.set_reg("PC", pc + 4)
        return None
