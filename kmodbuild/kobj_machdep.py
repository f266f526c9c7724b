"""kmodbuild.kobj_machdep - ``kobj_reloc()`` of the eight ports: relocation arithmetic.

Each port's ``kobj_reloc(ko, relocbase, rel, isrela, local)`` (spec §2.4)
patches one place of a module image the way the kernel's
``sys/arch/<cpu>/<cpu>/kobj_machdep.c`` does, and returns False where the
kernel returns -1 (after printing its own message through ``ko.printf``).
The dispatch is data: one table per port, relocation type -> handler; the set
of keys is exactly the set the port accepts (checked against
:attr:`kmodbuild.target.Target.accepted_relocs` by the tests).

``ko`` is a :class:`kmodbuild.kobj.Kobj` (duck-typed here to keep the import
direction kobj -> kobj_machdep): ``ko.sym_lookup(symidx)`` returns the
symbol's value or ``None`` (kobj_sym_lookup() already printed why),
``ko.rd(addr, size)`` / ``ko.wr(addr, size, value)`` access the image in the
target's byte order, ``ko.printf(text)`` writes to the kernel console.

Where a revision the spec read is plainly broken, the arithmetic follows the
psABI instead and the comment says so (riscv).
"""
from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

from kmodbuild.model import SHN_ABS, SHN_UNDEF, STB_GLOBAL, STB_LOCAL, Relocation

M16, M32, M64 = 0xFFFF, 0xFFFFFFFF, (1 << 64) - 1

Handler = Callable[[Any, int, int, int, Relocation, int], bool]
"""``handler(ko, where, addend, relocbase, rel, type) -> ok``."""


def _ptr(addr: int) -> str:
    """``%p``."""
    return f"{addr:#x}"


def _sx(value: int, bits: int) -> int:
    """Sign-extend the low ``bits`` of ``value``."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _sym(ko: Any, rel: Relocation) -> int | None:
    return ko.sym_lookup(rel.sym)


# --------------------------------------------------------------------------- amd64
# sys/arch/amd64/amd64/kobj_machdep.c 1.6, plus R_X86_64_PLT32 handled as PC32
# (spec "Decisions").  No overflow checks: 32/32S are truncated.

def _x86_64_abs64(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    s = _sym(ko, r)
    if s is None:
        return False
    ko.wr(where, 8, (s + a) & M64)
    return True


def _x86_64_pc32(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    s = _sym(ko, r)
    if s is None:
        return False
    ko.wr(where, 4, (s + a - where) & M32)
    return True


def _x86_64_abs32(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    s = _sym(ko, r)
    if s is None:
        return False
    ko.wr(where, 4, (s + a) & M32)
    return True


def _x86_64_glob(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    s = _sym(ko, r)
    if s is None:
        return False
    ko.wr(where, 8, s & M64)
    return True


def _x86_64_relative(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    ko.wr(where, 8, (base + a) & M64)
    return True


def _none(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    return True


_AMD64: dict[int, Handler] = {
    0: _none, 1: _x86_64_abs64, 2: _x86_64_pc32, 4: _x86_64_pc32, 10: _x86_64_abs32,
    11: _x86_64_abs32, 6: _x86_64_glob, 7: _x86_64_glob, 8: _x86_64_relative,
}
_AMD64_REL32 = frozenset({2, 4, 10, 11})   # REL addend is the 32-bit word at the place


def _amd64(ko: Any, base: int, r: Relocation, isrela: bool, local: bool) -> bool:
    where = base + r.offset
    if isrela:
        addend = r.addend or 0
    else:
        addend = ko.rd(where, 4 if r.type in _AMD64_REL32 else 8)
    h = _AMD64.get(r.type)
    if h is None:
        ko.printf(f"kobj_reloc: unexpected relocation type {r.type}")
        return False
    return h(ko, where, addend, base, r, r.type)


_PACK_U64 = struct.Struct("<Q").pack_into
_PACK_U32 = struct.Struct("<I").pack_into


def _amd64_table(ko: Any, base: int, relocs: Sequence[Relocation], isrela: bool,
                 local: bool) -> Relocation | None:
    """One relocation table of one pass (the ``local`` or the global symbols), as
    ``kobj_relocate()`` applies it with :func:`_amd64` -- in fewer Python operations.

    The common RELA cases (64, PC32, PLT32, 32, 32S against a defined symbol or a
    resolved global one, at a place inside the section's region) are computed
    here; every other relocation goes through :func:`_amd64` itself, which prints
    what the kernel prints.  Returns the first relocation that failed, or
    ``None``.  A tree's simulation applies some 70,000 relocations, a third of
    them against other modules' or the kernel's symbols; the tests compare the
    images both ways.
    """
    symvalue, shndx, bind = ko.symvalue, ko.symshndx, ko._bind
    nsym = len(symvalue)
    region = ko.region_at(base) if isrela else None
    mem, rbase, rend = (region.mem, region.base, region.base + region.alloc) \
        if region is not None else (None, 0, 0)
    symbols = None
    for r in relocs:
        offset, t, sym, addend, _, _ = r        # unpacked: cheaper than four attributes
        if sym >= nsym or local != (bind[sym] == STB_LOCAL):
            continue
        if mem is not None and t in _AMD64_FAST and sym != 0 and sym != SHN_ABS:
            # kobj_sym_lookup's plain cases: a defined symbol, or a global one with
            # a name that kobj_affix resolved to a non-zero value
            plain = shndx[sym] != SHN_UNDEF
            if not plain and bind[sym] == STB_GLOBAL and symvalue[sym]:
                if symbols is None:
                    symbols = ko.module.symbols[:]
                plain = bool(symbols[sym].name)
            where = base + offset
            if plain and rbase <= where and where + (8 if t == 1 else 4) <= rend:
                value = symvalue[sym] + (addend or 0)
                if t == 1:
                    _PACK_U64(mem, where - rbase, value & M64)
                elif t == 2 or t == 4:
                    _PACK_U32(mem, where - rbase, (value - where) & M32)
                else:
                    _PACK_U32(mem, where - rbase, value & M32)
                continue
        if not _amd64(ko, base, r, isrela, local):
            return r
    return None


_AMD64_FAST = frozenset({1, 2, 4, 10, 11})


# --------------------------------------------------------------------------- i386
# sys/arch/i386/i386/kobj_machdep.c 1.7; R_386_PLT32 like PC32 (spec "Decisions").

def _i386_abs32(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    s = _sym(ko, r)
    if s is None:
        return False
    ko.wr(where, 4, (s + a) & M32)
    return True


def _i386_pc32(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    s = _sym(ko, r)
    if s is None:
        return False
    ko.wr(where, 4, (s + a - where) & M32)
    return True


def _i386_glob(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    s = _sym(ko, r)
    if s is None:
        return False
    ko.wr(where, 4, s & M32)
    return True


def _i386_relative(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    ko.wr(where, 4, (base + a) & M32)
    return True


_I386: dict[int, Handler] = {0: _none, 1: _i386_abs32, 2: _i386_pc32, 4: _i386_pc32,
                             6: _i386_glob, 8: _i386_relative}


def _i386(ko: Any, base: int, r: Relocation, isrela: bool, local: bool) -> bool:
    where = base + r.offset
    addend = (r.addend or 0) if isrela else ko.rd(where, 4)
    h = _I386.get(r.type)
    if h is None:
        ko.printf(f"kobj_reloc: unexpected relocation type {r.type}")
        return False
    return h(ko, where, addend, base, r, r.type)


# --------------------------------------------------------------------------- aarch64
# sys/arch/aarch64/aarch64/kobj_machdep.c 1.5 (2020), message for message.

def _a64_checkalign(ko: Any, addr: int, align: int, where: int, off: int) -> bool:
    if addr & (align - 1):
        ko.printf(f"kobj_reloc: Relocation {addr:#x} unaligned at {_ptr(where)} "
                  f"(base+{off:#x}). must be aligned {align}")
        return True
    return False


def _a64_checkoverflow(ko: Any, addr: int, bits: int, target: int, scale: str, where: int,
                       off: int) -> bool:
    mask = ~((1 << bits) - 1) & M64
    if addr & mask and addr & mask != mask:
        ko.printf(f"kobj_reloc: Relocation {target:#x} too far from {_ptr(where)} "
                  f"(base+{off:#x}) for {bits}bit{scale}")
        return True
    return False


def _a64_abs(size: int) -> Handler:
    def h(ko: Any, where: int, a: int, base: int, r: Relocation, s: int) -> bool:
        ko.wr(where, size, (s + a) & ((1 << (8 * size)) - 1))
        return True
    return h


_A64_LO12_SHIFT = {277: 0, 278: 0, 284: 1, 285: 2, 286: 3}


def _a64_lo12(ko: Any, where: int, a: int, base: int, r: Relocation, s: int) -> bool:
    shift = _A64_LO12_SHIFT[r.type]
    val = (s + a) & M64
    if _a64_checkalign(ko, val, 1 << shift, where, r.offset):
        return False
    val = (val & 0xFFF) >> shift
    ko.wr(where, 4, (ko.rd(where, 4) & ~0x3FFC00 & M32) | (val << 10))
    return True


def _a64_adrp(ko: Any, where: int, a: int, base: int, r: Relocation, s: int) -> bool:
    val = ((s + a) & M64) >> 12
    raddr = val << 12
    val = (val - (where >> 12)) & M64
    if r.type == 275 and _a64_checkoverflow(ko, val, 21, raddr, " x 4k", where, r.offset):
        return False
    immlo, immhi = val & 0x3, (val >> 2) & 0x7FFFF
    insn = ko.rd(where, 4) & ~(0x60000000 | 0xFFFFE0) & M32
    ko.wr(where, 4, insn | (immlo << 29) | (immhi << 5))
    return True


def _a64_branch26(ko: Any, where: int, a: int, base: int, r: Relocation, s: int) -> bool:
    raddr = (s + a) & M64
    val = (raddr - where) & M64
    if _a64_checkalign(ko, val, 4, where, r.offset):
        return False
    val = (_sx(val, 64) >> 2) & M64
    if _a64_checkoverflow(ko, val, 26, raddr, " word", where, r.offset):
        return False
    ko.wr(where, 4, (ko.rd(where, 4) & ~0x3FFFFFF & M32) | (val & 0x3FFFFFF))
    return True


def _a64_prel(size: int) -> Handler:
    bits = 8 * size

    def h(ko: Any, where: int, a: int, base: int, r: Relocation, s: int) -> bool:
        raddr = (s + a) & M64
        val = (raddr - where) & M64
        if _a64_checkoverflow(ko, val, bits, raddr, "", where, r.offset):
            return False
        ko.wr(where, size, val & ((1 << bits) - 1))
        return True
    return h


_AARCH64: dict[int, Handler] = {
    257: _a64_abs(8), 258: _a64_abs(4), 259: _a64_abs(2),
    260: _a64_prel(8), 261: _a64_prel(4), 262: _a64_prel(2),
    275: _a64_adrp, 276: _a64_adrp,
    277: _a64_lo12, 278: _a64_lo12, 284: _a64_lo12, 285: _a64_lo12, 286: _a64_lo12,
    282: _a64_branch26, 283: _a64_branch26,
}
_AARCH64_NONE = frozenset({0, 256})


def _aarch64(ko: Any, base: int, r: Relocation, isrela: bool, local: bool) -> bool:
    if not isrela:
        ko.printf("kobj_reloc: REL relocations not supported")
        return False
    where = base + r.offset
    if r.type in _AARCH64_NONE:
        return True
    s = ko.sym_lookup(r.sym)
    if s is None:
        ko.printf(f"kobj_reloc: symidx {r.sym} lookup failure. relocation type {r.type} "
                  f"at {_ptr(where)} (base+{r.offset:#x})")
        return False
    h = _AARCH64.get(r.type)
    if h is None:
        ko.printf(f"kobj_reloc: unsupported relocation type {r.type} at {_ptr(where)} "
                  f"(base+{r.offset:#x}) symidx {r.sym}")
        return False
    return h(ko, where, r.addend or 0, base, r, s)


# --------------------------------------------------------------------------- arm
# sys/arch/arm/arm32/kobj_machdep.c (spec §2.4: 1.3.22.2).  REL addends are
# read from the instruction (imm16 of MOVW/MOVT, imm24 of branches).

def _arm_abs32(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    s = _sym(ko, r)
    if s is None:
        return False
    ko.wr(where, 4, (s + a) & M32)
    return True


def _arm_jump_slot(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    s = _sym(ko, r)
    if s is None:
        return False
    ko.wr(where, 4, s & M32)
    return True


def _arm_relative(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    ko.wr(where, 4, (base + a) & M32)
    return True


def _arm_movw_movt(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    s = _sym(ko, r)
    if s is None:
        return False
    insn = ko.rd(where, 4)
    if r.addend is None:   # REL: the addend is the instruction's signed imm4:imm12
        a = _sx(((insn >> 4) & 0xF000) | (insn & 0xFFF), 16)
    val = (s + a) & M32
    if t == 44:            # R_ARM_MOVT_ABS: the upper half
        val >>= 16
    ko.wr(where, 4, (insn & 0xFFF0F000) | ((val << 4) & 0x000F0000) | (val & 0x00000FFF))
    return True


def _arm_branch(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    insn = ko.rd(where, 4)
    if r.addend is None:   # REL: sign-extended imm24, in words
        a = _sx(insn & 0x00FFFFFF, 24) << 2
    s = _sym(ko, r)
    if s is None:
        return False
    val = (s + a - where) & M32
    if val & 0xFE000000 not in (0, 0xFE000000):
        ko.printf(f"Relocation {val:x} too far @ {_ptr(where)}")
        return False
    ko.wr(where, 4, (insn & 0xFF000000) | ((val >> 2) & 0x00FFFFFF))
    return True


def _arm_rel32(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    s = _sym(ko, r)
    if s is None:
        return False
    ko.wr(where, 4, (s + a - where) & M32)
    return True


def _arm_prel31(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    # This revision patches the word and then falls through to the error
    # return (spec §2.4, derived): the build avoids PREL31 with -fno-unwind-tables.
    s = _sym(ko, r)
    if s is None:
        return False
    a = _sx(a, 31)
    cur = ko.rd(where, 4)
    ko.wr(where, 4, (cur & 0x80000000) | ((s + a - where) & 0x7FFFFFFF))
    return False


def _arm_copy(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    ko.printf("kobj_reloc: unexpected R_COPY relocation")
    return False


_ARM: dict[int, Handler] = {
    0: _none, 40: _none, 2: _arm_abs32, 22: _arm_jump_slot, 23: _arm_relative,
    43: _arm_movw_movt, 44: _arm_movw_movt, 28: _arm_branch, 29: _arm_branch,
    1: _arm_branch, 3: _arm_rel32,
}
# Types with a handler that always fails, kept apart so the accepted set stays
# exactly the spec's list.
_ARM_FAILING: dict[int, Handler] = {42: _arm_prel31, 20: _arm_copy}


def _arm(ko: Any, base: int, r: Relocation, isrela: bool, local: bool) -> bool:
    where = base + r.offset
    addend = (r.addend or 0) if isrela else ko.rd(where, 4)
    h = _ARM.get(r.type) or _ARM_FAILING.get(r.type)
    if h is None:
        ko.printf(f"kobj_reloc: unexpected relocation type {r.type}")
        return False
    return h(ko, where, addend, base, r, r.type)


# --------------------------------------------------------------------------- riscv64
# The accepted set is revision 1.6's (2024, the 2023 rewrite; see
# kmodbuild.target): 1.3's list plus PCREL_LO12_S, HI20 and the RVC types.
# Instruction fields are filled per the RISC-V psABI (1.3's encoders were
# broken: PCREL_HI20 ANDed the immediate with the opcode bits).
# PCREL_LO12_I/S refer back to the PCREL_HI20 at the address their (local)
# label names; when that HI20's symbol is global the LO12 is deferred to the
# global pass, as the kernel does (``ko.riscv_find_hi20`` / ``ko.defer``).

def _rv_u(insn: int, v: int) -> int:
    return (insn & 0xFFF) | ((((v + 0x800) >> 12) & 0xFFFFF) << 12)


def _rv_i(insn: int, v: int) -> int:
    return (insn & 0xFFFFF) | ((v & 0xFFF) << 20)


def _rv_s(insn: int, v: int) -> int:
    return (insn & 0x01FFF07F) | (((v >> 5) & 0x7F) << 25) | ((v & 0x1F) << 7)


def _rv_b(insn: int, v: int) -> int:
    return ((insn & 0x01FFF07F) | (((v >> 12) & 1) << 31) | (((v >> 5) & 0x3F) << 25)
            | (((v >> 1) & 0xF) << 8) | (((v >> 11) & 1) << 7))


def _rv_j(insn: int, v: int) -> int:
    return ((insn & 0xFFF) | (((v >> 20) & 1) << 31) | (((v >> 1) & 0x3FF) << 21)
            | (((v >> 11) & 1) << 20) | (((v >> 12) & 0xFF) << 12))


def _rv_64(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    s = _sym(ko, r)
    if s is None:
        return False
    ko.wr(where, 8, (s + a) & M64)
    return True


def _rv_pcrel_insn(enc: Callable[[int, int], int]) -> Handler:
    def h(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
        if r.sym == 0 and t in (16, 17):      # 1.3: BRANCH/JAL without symbol keep A
            v = a
        else:
            s = _sym(ko, r)
            if s is None:
                return False
            v = s + a - where
        ko.wr(where, 4, enc(ko.rd(where, 4), v) & M32)
        return True
    return h


def _rv_call(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    s = _sym(ko, r)
    if s is None:
        return False
    v = s + a - where
    ko.wr(where, 4, _rv_u(ko.rd(where, 4), v) & M32)
    ko.wr(where + 4, 4, _rv_i(ko.rd(where + 4, 4), v) & M32)
    return True


def _rv_lo12(enc: Callable[[int, int], int]) -> Handler:
    def h(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
        s = _sym(ko, r)
        if s is None:
            return False
        ko.wr(where, 4, enc(ko.rd(where, 4), s + a) & M32)
        return True
    return h


def _rv_pcrel_lo12(enc: Callable[[int, int], int]) -> Handler:
    def h(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
        label = _sym(ko, r)
        if label is None:
            return False
        found = ko.riscv_find_hi20(label)
        if found is None:
            ko.printf(f"kobj_reloc: no R_RISCV_PCREL_HI20 at {_ptr(label)} for "
                      f"relocation type {t} at {_ptr(where)}")
            return False
        hi, hi_place = found
        if ko.local_pass and not ko.is_local_symbol(hi.sym):
            ko.defer(base, r)       # its HI20 is resolved in the global pass
            return True
        s = ko.sym_lookup(hi.sym)
        if s is None:
            return False
        v = s + (hi.addend or 0) - hi_place + a
        ko.wr(where, 4, enc(ko.rd(where, 4), v) & M32)
        return True
    return h


def _rv_hi20(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    s = _sym(ko, r)
    if s is None:
        return False
    ko.wr(where, 4, _rv_u(ko.rd(where, 4), s + a) & M32)
    return True


def _rvc_b(insn: int, v: int) -> int:
    return ((insn & 0xE383) | (((v >> 8) & 1) << 12) | (((v >> 3) & 3) << 10)
            | (((v >> 6) & 3) << 5) | (((v >> 1) & 3) << 3) | (((v >> 5) & 1) << 2))


def _rvc_j(insn: int, v: int) -> int:
    return ((insn & 0xE003) | (((v >> 11) & 1) << 12) | (((v >> 4) & 1) << 11)
            | (((v >> 8) & 3) << 9) | (((v >> 10) & 1) << 8) | (((v >> 6) & 1) << 7)
            | (((v >> 7) & 1) << 6) | (((v >> 1) & 7) << 3) | (((v >> 5) & 1) << 2))


def _rvc_pcrel(enc: Callable[[int, int], int]) -> Handler:
    def h(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
        s = _sym(ko, r)
        if s is None:
            return False
        ko.wr(where, 2, enc(ko.rd(where, 2), s + a - where) & M16)
        return True
    return h


_RISCV: dict[int, Handler] = {
    0: _none, 2: _rv_64, 16: _rv_pcrel_insn(_rv_b), 17: _rv_pcrel_insn(_rv_j),
    18: _rv_call, 19: _rv_call, 23: _rv_pcrel_insn(_rv_u), 24: _rv_pcrel_lo12(_rv_i),
    25: _rv_pcrel_lo12(_rv_s), 26: _rv_hi20, 27: _rv_lo12(_rv_i), 28: _rv_lo12(_rv_s),
    44: _rvc_pcrel(_rvc_b), 45: _rvc_pcrel(_rvc_j),
    # RVC_LUI (46): 1.6 has a patch case for it but its first switch refuses it
}


def _riscv(ko: Any, base: int, r: Relocation, isrela: bool, local: bool) -> bool:
    if not isrela:
        # The kernel panics here; the simulator reports it and refuses the module.
        ko.printf("panic: kobj_reloc: REL relocations not supported")
        return False
    h = _RISCV.get(r.type)
    if h is None:
        ko.printf(f"kobj_reloc: unexpected relocation type {r.type}")
        return False
    return h(ko, base + r.offset, r.addend or 0, base, r, r.type)


# --------------------------------------------------------------------------- sparc64
# Table-driven like sys/arch/sparc64/sparc64/kobj_machdep.c: value = A (+S)
# (-P) (+B), shifted right, masked into the field; no overflow checks.  The masks are the
# psABI's (the kernel's bitmask table, one entry short, shifts those of types 45 and up).
# (flags, field size in bits, right shift, field mask); flags: S symbol, P pc-relative.

def _bm(bits: int) -> int:
    return (1 << bits) - 1


_SPARC_TABLE: dict[int, tuple[str, int, int, int]] = {
    1: ("S", 8, 0, _bm(8)), 2: ("S", 16, 0, _bm(16)), 3: ("S", 32, 0, _bm(32)),
    4: ("SP", 8, 0, _bm(8)), 5: ("SP", 16, 0, _bm(16)), 6: ("SP", 32, 0, _bm(32)),
    7: ("SP", 32, 2, _bm(30)), 8: ("SP", 32, 2, _bm(22)), 9: ("S", 32, 10, _bm(22)),
    10: ("S", 32, 0, _bm(22)), 11: ("S", 32, 0, _bm(13)), 12: ("S", 32, 0, _bm(10)),
    16: ("SP", 32, 0, _bm(10)), 17: ("SP", 32, 10, _bm(22)), 18: ("SP", 32, 2, _bm(30)),
    30: ("S", 32, 0, _bm(10)), 31: ("S", 32, 0, _bm(11)), 32: ("S", 64, 0, M64),
    33: ("S", 32, 0, _bm(10)), 34: ("S", 32, 42, _bm(22)), 35: ("S", 32, 32, _bm(10)),
    36: ("S", 32, 10, _bm(22)), 37: ("SP", 32, 42, _bm(22)), 38: ("SP", 32, 32, _bm(10)),
    39: ("SP", 32, 10, _bm(22)), 40: ("SP", 32, 2, 0x303FFF), 41: ("SP", 32, 2, _bm(19)),
    43: ("S", 32, 0, _bm(7)), 44: ("S", 32, 0, _bm(5)), 45: ("S", 32, 0, _bm(6)),
    46: ("SP", 64, 0, M64), 48: ("S", 32, 10, _bm(22)), 49: ("S", 32, 0, _bm(13)),
    50: ("S", 32, 22, _bm(22)), 51: ("S", 32, 12, _bm(10)), 52: ("S", 32, 0, _bm(12)),
    # The rest of the kernel's table (kmodbuild.target: everything up to UA16 but JMP_SLOT,
    # COPY and UA*): the GOT types use the addend alone (_RF_G, no symbol: there is no
    # GOT), the PLT types likewise (_RF_A, no symbol), GLOB_DAT stores S+A in the low word
    # of a 64-bit place, GLOB_JMP a 32-bit word, REGISTER a 64-bit one.
    13: ("", 32, 0, _bm(10)), 14: ("", 32, 0, _bm(13)), 15: ("", 32, 10, _bm(22)),
    20: ("S", 64, 0, _bm(32)), 24: ("", 32, 0, _bm(32)), 25: ("", 32, 10, _bm(22)),
    26: ("", 32, 0, _bm(10)), 27: ("P", 32, 0, _bm(32)), 28: ("P", 32, 10, _bm(22)),
    29: ("P", 32, 0, _bm(10)), 42: ("S", 32, 0, _bm(32)), 47: ("", 64, 0, M64),
    53: ("S", 64, 0, M64),
}


def _sparc_field(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    flags, size, shift, mask = _SPARC_TABLE[t]
    value = a
    if "S" in flags:
        s = _sym(ko, r)
        if s is None:
            return False
        value += s
    if "P" in flags:
        value -= where
    value &= M64
    if t == 48:                       # HIX22: ~(S+A) >> 10
        value = ~value & M64
    value >>= shift
    if t == 40:                       # WDISP16: d16hi (bits 21:20) | d16lo (bits 13:0)
        value = ((value & 0xC000) << 6) | (value & 0x3FFF)
    if t == 49:                       # LOX10: (S+A) & 0x3ff | 0x1c00
        value = (value & 0x3FF) | 0x1C00
    nbytes = size // 8
    cur = ko.rd(where, nbytes)
    ko.wr(where, nbytes, (cur & ~mask & ((1 << size) - 1)) | (value & mask))
    return True


def _sparc_relative(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    ko.wr(where, 8, (base + a) & M64)
    return True


_SPARC64: dict[int, Handler] = {0: _none, 22: _sparc_relative,
                                **{t: _sparc_field for t in _SPARC_TABLE}}
_SPARC_UNALIGNED = frozenset({23, 54, 55})


def _sparc64(ko: Any, base: int, r: Relocation, isrela: bool, local: bool) -> bool:
    if not isrela:
        ko.printf("kobj_reloc: support only RELA relocations")
        return False
    if r.type in _SPARC_UNALIGNED:
        ko.printf(f"kobj_reloc: unaligned relocation type {r.type}")
        return False
    h = _SPARC64.get(r.type)
    if h is None:
        ko.printf(f"kobj_reloc: unexpected relocation type {r.type}")
        return False
    return h(ko, base + r.offset, r.addend or 0, base, r, r.type)


# --------------------------------------------------------------------------- powerpc
# sys/arch/powerpc/powerpc/kobj_machdep.c (2011): RELA only, no R_PPC_REL24.

def _ha(v: int) -> int:
    return ((v + 0x8000) >> 16) & M16


_PPC_HALF: dict[int, Callable[[int], int]] = {
    3: lambda v: v & M16, 4: lambda v: v & M16, 5: lambda v: (v >> 16) & M16, 6: _ha,
    249: lambda v: v & M16, 250: lambda v: v & M16, 251: lambda v: (v >> 16) & M16, 252: _ha,
}


def _ppc_half(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    s = _sym(ko, r)
    if s is None:
        return False
    v = (s + a - (where if t >= 249 else 0)) & M32
    ko.wr(where, 2, _PPC_HALF[t](v))
    return True


def _ppc_addr32(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    s = _sym(ko, r)
    if s is None:
        return False
    ko.wr(where, 4, (s + a - (where if t == 26 else 0)) & M32)
    return True


_POWERPC: dict[int, Handler] = {0: _none, 22: _i386_relative, 1: _ppc_addr32, 26: _ppc_addr32,
                                **{t: _ppc_half for t in _PPC_HALF}}


def _powerpc(ko: Any, base: int, r: Relocation, isrela: bool, local: bool) -> bool:
    if not isrela:
        ko.printf("kobj_reloc: support only RELA relocations")
        return False
    h = _POWERPC.get(r.type)
    if h is None:
        ko.printf(f"kobj_reloc: unexpected relocation type {r.type}")
        return False
    return h(ko, base + r.offset, r.addend or 0, base, r, r.type)


# --------------------------------------------------------------------------- mips64 (n64)
# sys/arch/mips/mips/kobj_machdep.c: N64 only, RELA only; composed types unused.

_MIPS_HALF: dict[int, Callable[[int], int]] = {
    5: lambda v: ((v + 0x8000) >> 16) & M16,                 # HI16
    6: lambda v: v & M16,                                    # LO16
    28: lambda v: ((v + 0x80008000) >> 32) & M16,            # HIGHER
    29: lambda v: ((v + 0x800080008000) >> 48) & M16,        # HIGHEST
}


def _mips_half(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    s = _sym(ko, r)
    if s is None:
        return False
    insn = ko.rd(where, 4)
    ko.wr(where, 4, (insn & 0xFFFF0000) | _MIPS_HALF[t]((s + a) & M64))
    return True


def _mips_word(size: int) -> Handler:
    def h(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
        s = _sym(ko, r)
        if s is None:
            return False
        ko.wr(where, size, (s + a) & ((1 << (8 * size)) - 1))
        return True
    return h


def _mips_26(ko: Any, where: int, a: int, base: int, r: Relocation, t: int) -> bool:
    s = _sym(ko, r)
    if s is None:
        return False
    insn = ko.rd(where, 4)
    ko.wr(where, 4, (insn & 0xFC000000) | (((s + a) >> 2) & 0x03FFFFFF))
    return True


_MIPS: dict[int, Handler] = {0: _none, 2: _mips_word(4), 18: _mips_word(8), 4: _mips_26,
                             **{t: _mips_half for t in _MIPS_HALF}}


def _mips(ko: Any, base: int, r: Relocation, isrela: bool, local: bool) -> bool:
    if not isrela:
        ko.printf("kobj_reloc: support only RELA relocations")
        return False
    h = _MIPS.get(r.type)
    if h is None or r.type2 or r.type3:
        bad = r.type if h is None else (r.type2 or r.type3)
        ko.printf(f"kobj_reloc: unexpected relocation type {bad}")
        return False
    return h(ko, base + r.offset, r.addend or 0, base, r, r.type)


# --------------------------------------------------------------------------- dispatch

Reloc = Callable[[Any, int, Relocation, bool, bool], bool]

#: kobj_reloc() by MACHINE_ARCH.
KOBJ_RELOC: dict[str, Reloc] = {
    "x86_64": _amd64, "i386": _i386, "aarch64": _aarch64, "earmv7hf": _arm,
    "riscv64": _riscv, "sparc64": _sparc64, "powerpc": _powerpc, "mips64eb": _mips,
}

RelocTable = Callable[[Any, int, "Sequence[Relocation]", bool, bool], "Relocation | None"]

#: Ports whose relocation tables have a faster equivalent of applying
#: ``KOBJ_RELOC`` entry by entry (same results; see :func:`_amd64_table`).
KOBJ_RELOC_TABLE: dict[str, RelocTable] = {"x86_64": _amd64_table}

#: Ports whose kobj_reloc() neither fails nor prints because of the values it computes
#: (no overflow or alignment checks: 32-bit places are truncated): whether a load
#: links, and what it says, does not change when module_map puts the module elsewhere
#: with the same layout -- but for an EFAULT, whose message has the address.  (aarch64,
#: arm and riscv check ranges and print addresses.)  Read by the simulator's memo of
#: failed dependency loads (:meth:`kmodbuild.simulator.SimKernel.dependency_state`).
PLACEMENT_FREE: frozenset[str] = frozenset({"x86_64", "i386"})

#: The relocation types each port handles (the keys of its table): for the
#: consistency test against :mod:`kmodbuild.target`.
SUPPORTED_TYPES: dict[str, frozenset[int]] = {
    "x86_64": frozenset(_AMD64), "i386": frozenset(_I386),
    "aarch64": frozenset(_AARCH64) | _AARCH64_NONE, "earmv7hf": frozenset(_ARM),
    "riscv64": frozenset(_RISCV), "sparc64": frozenset(_SPARC64),
    "powerpc": frozenset(_POWERPC), "mips64eb": frozenset(_MIPS),
}
