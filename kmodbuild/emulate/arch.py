"""kmodbuild.emulate.arch - each port's calling convention and stubs, as data.

An :class:`ArchSpec` says how unicorn runs the port (architecture, mode, CPU
model, all by unicorn constant *name*: only :mod:`kmodbuild.emulate.cpu`
imports unicorn), which registers carry the program counter, the stack, the
return address, arguments and return values, where stack arguments start,
how ``va_list`` is laid out, and the bytes of a kernel function's stub: the
port's "return" sequence (the Python hook runs before it, on a code hook at
the function's address).  Sources: the psABI of each port (SysV x86-64 and
i386, AAPCS64, ARM EABI, RISC-V LP64, SPARC V9, PowerPC SysV, MIPS N64).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: ``va_list`` walkers: x86-64's and AArch64's and PowerPC's register-save structures,
#: or a plain pointer to consecutive stack slots.
VALIST_X86_64, VALIST_AAPCS64, VALIST_PPC, VALIST_SLOTS = "x86_64", "aapcs64", "ppc", "slots"


@dataclass(frozen=True)
class ArchSpec:
    """One port's emulation facts (see the module docstring).

    ``stack_args``: offset from the stack pointer at function entry to the first
    argument passed on the stack (past a pushed return address, PowerPC's back
    chain and LR save word, SPARC's bias + register save area + six home slots).
    ``pair_align``: 64-bit values on a 32-bit port take an even/odd register pair
    and an 8-byte aligned stack slot.  ``high_first``: the first register of a
    pair holds the high half (big-endian PowerPC).  ``sext32``: 32-bit values
    live sign-extended in 64-bit registers (MIPS64, RISC-V).  ``link_adjust``:
    the return goes to link + this (SPARC's ``retl`` returns to %o7+8).
    ``entry_misalign``: stack pointer modulo 16 at function entry.
    """

    machine_arch: str
    uc_arch: str
    uc_modes: tuple[str, ...]
    const_module: str
    reg_prefix: str
    pc: str
    sp: str
    link: str | None
    args: tuple[str, ...]
    ret: tuple[str, str]
    word: int
    big_endian: bool
    stack_args: int
    stub: bytes
    valist: str
    cpu_model: str | None = None
    pair_align: bool = False
    high_first: bool = False
    sext32: bool = False
    link_adjust: int = 0
    entry_misalign: int = 0
    stack_bias: int = 0
    windows: bool = False
    #: trap numbers the port's UC_HOOK_INTR reports, for messages
    trap_names: tuple[tuple[int, str], ...] = ()
    #: what the exit trampoline holds, and the trap it raises, when unicorn does not stop
    #: reliably at the ``until`` address (SPARC: ``ta 0x6e``)
    exit_stub: bytes = b""
    exit_trap: int | None = None
    #: fixed virtual -> physical windows ``(start, end, physical)``; empty means unicorn's
    #: virtual TLB mode (addresses used as they are).  MIPS needs them: unicorn's virtual
    #: TLB mode mishandles a load in a branch delay slot
    segments: tuple[tuple[int, int, int], ...] = ()
    #: instructions run once at power-on (MIPS: a wired TLB entry for module_map),
    #: the registers they read, and the virtual address they run at
    init_code: bytes = b""
    init_regs: tuple[tuple[str, int], ...] = ()
    init_at: int = 0
    #: map the NULL page execute-only, with a code hook reporting a jump there; data
    #: accesses fault as protected (reported as unmapped): unicorn's MIPS crashes on some
    #: instruction fetches from an unmapped or protected page 0 when the TLB is not virtual
    null_guard: bool = False
    #: branch delay slots: a code hook on a delay-slot instruction (unicorn's instruction
    #: counter is one) corrupts its next-PC state, so only each function's first
    #: instruction is hooked and the budget is a time limit
    delay_slots: bool = False
    #: One instruction run once when the machine is made, to set the condition codes:
    #: unicorn 2.1's SPARC64 calls a NULL lazy-flags routine -- the process dies with
    #: SIGSEGV -- when the first instruction that reads them (a conditional branch at a
    #: modcmd's entry, say) comes before any that set them
    cc_init: bytes = b""
    #: The all-zero word is a no-op here (MIPS ``sll $0, $0, 0``).  Unicorn 2.1's MIPS64
    #: dies with SIGSEGV translating a run of some 350 instructions without a branch,
    #: which zero-filled memory is: a run is refused where it would start on zeros
    zero_is_nop: bool = False
    #: After a run that ends in an error, the engine is replaced by a new one with the
    #: same memory, hooks and registers (:meth:`kmodbuild.emulate.cpu.Cpu.run`): unicorn
    #: 2.1.4's MIPS64 survives the error -- a call to an address no memory backs, or
    #: into data -- but dies with SIGSEGV generating code in the next run (its issue
    #: #2134, open for 2.1.4)
    renew_after_error: bool = False
    #: Unicorn 2.1.4's MIPS64 also dies (SIGSEGV) translating a block of some 365
    #: instructions or more without a branch, whatever they are: text holding a longer
    #: straight run than this (:func:`longest_straight_run`) is not emulated
    straight_limit: int = 0
    #: What the rest of a module text's last page holds where it is mapped, instead of
    #: the allocation's zeros (MIPS: ``break``, so that a jump there traps rather than
    #: sliding through no-ops into a block too long to translate)
    text_fill: bytes = b""

    @property
    def order(self) -> Literal["little", "big"]:
        """``little`` or ``big``."""
        return "big" if self.big_endian else "little"


def _le(*words: int) -> bytes:
    return b"".join(w.to_bytes(4, "little") for w in words)


def _be(*words: int) -> bytes:
    return b"".join(w.to_bytes(4, "big") for w in words)


def _mips_cop0(op: int, rt: int, rd: int) -> int:
    return (0x10 << 26) | (op << 21) | (rt << 16) | (rd << 11)


#: MIPS: kseg0 is unmapped (physical = address - 0xffffffff80000000); module_map lives
#: in kseg2, which needs the TLB: one wired entry maps 2 x 16 MiB at 0xffffffffc0000000
#: to physical 0x20000000 (PageMask, EntryHi, EntryLo0/1, Index, Wired; tlbwi; ehb).
_MIPS_KSEG2, _MIPS_KSEG2_PHYS = 0xFFFFFFFFC0000000, 0x20000000
_MIPS_INIT = _be(_mips_cop0(4, 8, 5), _mips_cop0(5, 9, 10), _mips_cop0(5, 10, 2),
                 _mips_cop0(5, 11, 3), _mips_cop0(4, 0, 0), _mips_cop0(4, 12, 6),
                 0x42000002, 0x000000C0, 0)
_MIPS_INIT_REGS = (("8", 0x01FFE000), ("9", _MIPS_KSEG2),
                   ("10", (_MIPS_KSEG2_PHYS >> 12) << 6 | 0x1F),
                   ("11", ((_MIPS_KSEG2_PHYS + 0x1000000) >> 12) << 6 | 0x1F), ("12", 1))

ARCHS: dict[str, ArchSpec] = {
    "x86_64": ArchSpec(
        "x86_64", "X86", ("64",), "x86_const", "UC_X86_REG_", "RIP", "RSP", None,
        ("RDI", "RSI", "RDX", "RCX", "R8", "R9"), ("RAX", "RDX"), 8, False, 8, b"\xc3",
        VALIST_X86_64, entry_misalign=8,
        trap_names=((0, "divide error (division by zero)"), (1, "debug trap"),
                    (3, "breakpoint (int3)"), (6, "invalid opcode (ud2)"),
                    (13, "general protection fault"))),
    "i386": ArchSpec(
        "i386", "X86", ("32",), "x86_const", "UC_X86_REG_", "EIP", "ESP", None, (),
        ("EAX", "EDX"), 4, False, 4, b"\xc3", VALIST_SLOTS, entry_misalign=12,
        trap_names=((0, "divide error (division by zero)"), (1, "debug trap"),
                    (3, "breakpoint (int3)"), (6, "invalid opcode (ud2)"),
                    (13, "general protection fault"))),
    "aarch64": ArchSpec(
        "aarch64", "ARM64", ("ARM",), "arm64_const", "UC_ARM64_REG_", "PC", "SP", "X30",
        tuple(f"X{i}" for i in range(8)), ("X0", "X1"), 8, False, 0, _le(0xD65F03C0),
        VALIST_AAPCS64, trap_names=((1, "undefined instruction"), (7, "breakpoint (brk)"))),
    "earmv7hf": ArchSpec(
        "earmv7hf", "ARM", ("ARM",), "arm_const", "UC_ARM_REG_", "PC", "SP", "LR",
        ("R0", "R1", "R2", "R3"), ("R0", "R1"), 4, False, 0, _le(0xE12FFF1E), VALIST_SLOTS,
        pair_align=True, trap_names=((1, "undefined instruction"), (7, "breakpoint (bkpt)"))),
    "riscv64": ArchSpec(
        "riscv64", "RISCV", ("RISCV64",), "riscv_const", "UC_RISCV_REG_", "PC", "SP", "RA",
        tuple(f"A{i}" for i in range(8)), ("A0", "A1"), 8, False, 0, _le(0x00008067),
        VALIST_SLOTS, sext32=True,
        trap_names=((2, "illegal instruction"), (3, "breakpoint (ebreak)"))),
    "sparc64": ArchSpec(
        "sparc64", "SPARC", ("SPARC64", "BIG_ENDIAN"), "sparc_const", "UC_SPARC_REG_", "PC",
        "O6", "O7", tuple(f"O{i}" for i in range(6)), ("O0", "O1"), 8, True, 2047 + 176,
        _be(0x81C3E008, 0x01000000), VALIST_SLOTS, link_adjust=8, stack_bias=2047,
        windows=True, trap_names=((0x10, "illegal instruction"), (0x11, "privileged opcode"),
                                  (0x28, "division by zero"),
                                  (0x34, "unaligned memory access")),
        exit_stub=_be((2 << 30) | (8 << 25) | (0x3A << 19) | (1 << 13) | 0x6E), exit_trap=0x16E,
        delay_slots=True, cc_init=_be(0x80A00000)),            # subcc %g0, %g0, %g0
    "powerpc": ArchSpec(
        "powerpc", "PPC", ("PPC32", "BIG_ENDIAN"), "ppc_const", "UC_PPC_REG_", "PC", "1", "LR",
        tuple(str(i) for i in range(3, 11)), ("3", "4"), 4, True, 8, _be(0x4E800020),
        VALIST_PPC, pair_align=True, high_first=True,
        trap_names=((6, "program exception (trap or illegal instruction)"),)),
    "mips64eb": ArchSpec(
        "mips64eb", "MIPS", ("MIPS64", "BIG_ENDIAN"), "mips_const", "UC_MIPS_REG_", "PC", "29",
        "31", tuple(str(i) for i in range(4, 12)), ("2", "3"), 8, True, 0,
        _be(0x03E00008, 0x00000000), VALIST_SLOTS, cpu_model="UC_CPU_MIPS64_MIPS64R2_GENERIC",
        sext32=True, trap_names=((20, "reserved instruction"), (18, "break instruction"),
                                 (16, "breakpoint"),
                                 (12, "address error on load (unaligned access)"),
                                 (13, "address error on store (unaligned access)"),
                                 (22, "trap instruction (teq: division by zero?)"),
                                 (2, "TLB miss (address not mapped)"),
                                 (3, "TLB miss (address not mapped)")),
        segments=((0, 0x100000, 0), (0xFFFFFFFF80000000, 0xFFFFFFFFA0000000, 0),
                  (_MIPS_KSEG2, _MIPS_KSEG2 + 0x2000000, _MIPS_KSEG2_PHYS)),
        init_code=_MIPS_INIT, init_regs=_MIPS_INIT_REGS, init_at=0xFFFFFFFF80001000,
        null_guard=True, delay_slots=True, zero_is_nop=True, renew_after_error=True,
        straight_limit=320, text_fill=_be(0x0000000D)),
}


#: MIPS opcodes (bits 31-26) that branch or jump, and SPECIAL functions that end a block
_MIPS_BRANCH_OPS = frozenset((0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x14, 0x15, 0x16, 0x17))
_MIPS_SPECIAL_ENDS = frozenset((0x08, 0x09, 0x0C, 0x0D))      # jr, jalr, syscall, break
_MIPS_REGIMM_BRANCHES = frozenset((0x00, 0x01, 0x02, 0x03, 0x10, 0x11, 0x12, 0x13))


def _mips_ends_block(word: int) -> bool:
    op = word >> 26
    if op in _MIPS_BRANCH_OPS:
        return True
    if op == 0:
        return word & 0x3F in _MIPS_SPECIAL_ENDS
    if op == 1:
        return (word >> 16) & 0x1F in _MIPS_REGIMM_BRANCHES
    return op in (0x11, 0x12) and (word >> 21) & 0x1F == 0x08      # bc1x, bc2x


def longest_straight_run(spec: ArchSpec, text: bytes, page: int) -> tuple[int, int]:
    """``(instructions, byte offset)`` of the longest run in MIPS ``text`` (mapped
    page-aligned) that a translated block could hold: no branch, jump, ``syscall`` or
    ``break``, and no page boundary, which ends a block too."""
    words = [int.from_bytes(text[i:i + 4], spec.order) for i in range(0, len(text) - 3, 4)]
    per_page = page // 4
    best = (0, 0)
    run, start = 0, 0
    for i, word in enumerate(words):
        if i % per_page == 0:
            run, start = 0, i
        if _mips_ends_block(word):
            run, start = 0, i + 1
            continue
        run += 1
        if run > best[0]:
            best = (run, start * 4)
    return best


def get_arch(machine_arch: str) -> ArchSpec | None:
    """The :class:`ArchSpec` of ``machine_arch``, or None when none is defined."""
    return ARCHS.get(machine_arch)
