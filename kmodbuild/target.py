"""kmodbuild.target - the supported targets as data, and NetBSD version rules.

A target is keyed by MACHINE and MACHINE_ARCH, like build.sh.  Each entry says
how to compile for it (clang triple, per-architecture flags of bsd.kmodule.mk)
and what the kernel's loader accepts from it (ELF class, byte order,
``e_machine``, REL/RELA, relocation types: spec §2.4/§2.5).

Version strings (``10.0``, ``10.99.10``) are validated here and turned into
``__NetBSD_Version__`` (MMmmrrpp00, spec §1.6) and the ``/stand`` directory
name (spec §3.1, §4.2).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kmodbuild.errors import TargetError

# ELF constants used by the table (kept numeric: this module imports no ELF library).
EM_386, EM_486, EM_SPARCV9, EM_MIPS, EM_PPC, EM_ARM, EM_X86_64, EM_AARCH64, EM_RISCV = (
    3, 6, 43, 8, 20, 40, 62, 183, 243)

#: Flags every module is compiled with (bsd.kmodule.mk and the issue's common set).
COMMON_CFLAGS: tuple[str, ...] = (
    "-ffreestanding", "-nostdinc", "-fno-common", "-fno-pic", "-fno-stack-protector",
    "-fno-unwind-tables", "-fno-asynchronous-unwind-tables", "-fno-strict-aliasing",
    "-O2", "-D_KERNEL", "-D_MODULE",
)

# Relocation types by number, per architecture; ``accepted`` lists what the
# target's kobj_reloc() handles (spec §2.4 and its Decisions).
_X86_64_RELOCS = {0: "R_X86_64_NONE", 1: "R_X86_64_64", 2: "R_X86_64_PC32", 3: "R_X86_64_GOT32",
                  4: "R_X86_64_PLT32", 5: "R_X86_64_COPY", 6: "R_X86_64_GLOB_DAT",
                  7: "R_X86_64_JUMP_SLOT", 8: "R_X86_64_RELATIVE", 9: "R_X86_64_GOTPCREL",
                  10: "R_X86_64_32", 11: "R_X86_64_32S", 12: "R_X86_64_16", 13: "R_X86_64_PC16",
                  14: "R_X86_64_8", 15: "R_X86_64_PC8", 24: "R_X86_64_PC64",
                  41: "R_X86_64_GOTPCRELX", 42: "R_X86_64_REX_GOTPCRELX",
                  # thread-local storage (x86-64 psABI)
                  16: "R_X86_64_DTPMOD64", 17: "R_X86_64_DTPOFF64", 18: "R_X86_64_TPOFF64",
                  19: "R_X86_64_TLSGD", 20: "R_X86_64_TLSLD", 21: "R_X86_64_DTPOFF32",
                  22: "R_X86_64_GOTTPOFF", 23: "R_X86_64_TPOFF32",
                  34: "R_X86_64_GOTPC32_TLSDESC", 35: "R_X86_64_TLSDESC_CALL",
                  36: "R_X86_64_TLSDESC"}
_I386_RELOCS = {0: "R_386_NONE", 1: "R_386_32", 2: "R_386_PC32", 3: "R_386_GOT32", 4: "R_386_PLT32",
                5: "R_386_COPY", 6: "R_386_GLOB_DAT", 7: "R_386_JMP_SLOT", 8: "R_386_RELATIVE",
                9: "R_386_GOTOFF", 10: "R_386_GOTPC", 43: "R_386_GOT32X",
                # thread-local storage (i386 psABI)
                14: "R_386_TLS_TPOFF", 15: "R_386_TLS_IE", 16: "R_386_TLS_GOTIE",
                17: "R_386_TLS_LE", 18: "R_386_TLS_GD", 19: "R_386_TLS_LDM",
                **{24 + i: f"R_386_TLS_{n}" for i, n in enumerate((
                    "GD_32", "GD_PUSH", "GD_CALL", "GD_POP", "LDM_32", "LDM_PUSH", "LDM_CALL",
                    "LDM_POP", "LDO_32", "IE_32", "LE_32", "DTPMOD32", "DTPOFF32",
                    "TPOFF32"))},
                39: "R_386_TLS_GOTDESC", 40: "R_386_TLS_DESC_CALL", 41: "R_386_TLS_DESC"}
_AARCH64_RELOCS = {0: "R_AARCH64_NONE", 256: "R_AARCH64_NONE2", 257: "R_AARCH64_ABS64",
                   258: "R_AARCH64_ABS32", 259: "R_AARCH64_ABS16", 260: "R_AARCH64_PREL64",
                   261: "R_AARCH64_PREL32", 262: "R_AARCH64_PREL16",
                   263: "R_AARCH64_MOVW_UABS_G0", 264: "R_AARCH64_MOVW_UABS_G0_NC",
                   274: "R_AARCH64_ADR_PREL_LO21",
                   275: "R_AARCH64_ADR_PREL_PG_HI21", 276: "R_AARCH64_ADR_PREL_PG_HI21_NC",
                   277: "R_AARCH64_ADD_ABS_LO12_NC", 278: "R_AARCH64_LDST8_ABS_LO12_NC",
                   279: "R_AARCH64_TSTBR14", 280: "R_AARCH64_CONDBR19",
                   282: "R_AARCH64_JUMP26", 283: "R_AARCH64_CALL26",
                   284: "R_AARCH64_LDST16_ABS_LO12_NC", 285: "R_AARCH64_LDST32_ABS_LO12_NC",
                   286: "R_AARCH64_LDST64_ABS_LO12_NC", 299: "R_AARCH64_LDST128_ABS_LO12_NC",
                   311: "R_AARCH64_ADR_GOT_PAGE", 312: "R_AARCH64_LD64_GOT_LO12_NC",
                   1024: "R_AARCH64_COPY", 1025: "R_AARCH64_GLOB_DAT",
                   1026: "R_AARCH64_JUMP_SLOT", 1027: "R_AARCH64_RELATIVE",
                   # thread-local storage (ELF for the Arm 64-bit Architecture, 5.7.11-13)
                   **{512 + i: f"R_AARCH64_{n}" for i, n in enumerate((
                       "TLSGD_ADR_PREL21", "TLSGD_ADR_PAGE21", "TLSGD_ADD_LO12_NC",
                       "TLSGD_MOVW_G1", "TLSGD_MOVW_G0_NC", "TLSLD_ADR_PREL21",
                       "TLSLD_ADR_PAGE21", "TLSLD_ADD_LO12_NC", "TLSLD_MOVW_G1",
                       "TLSLD_MOVW_G0_NC", "TLSLD_LD_PREL19", "TLSLD_MOVW_DTPREL_G2",
                       "TLSLD_MOVW_DTPREL_G1", "TLSLD_MOVW_DTPREL_G1_NC",
                       "TLSLD_MOVW_DTPREL_G0", "TLSLD_MOVW_DTPREL_G0_NC",
                       "TLSLD_ADD_DTPREL_HI12", "TLSLD_ADD_DTPREL_LO12",
                       "TLSLD_ADD_DTPREL_LO12_NC", "TLSLD_LDST8_DTPREL_LO12",
                       "TLSLD_LDST8_DTPREL_LO12_NC", "TLSLD_LDST16_DTPREL_LO12",
                       "TLSLD_LDST16_DTPREL_LO12_NC", "TLSLD_LDST32_DTPREL_LO12",
                       "TLSLD_LDST32_DTPREL_LO12_NC", "TLSLD_LDST64_DTPREL_LO12",
                       "TLSLD_LDST64_DTPREL_LO12_NC", "TLSIE_MOVW_GOTTPREL_G1",
                       "TLSIE_MOVW_GOTTPREL_G0_NC", "TLSIE_ADR_GOTTPREL_PAGE21",
                       "TLSIE_LD64_GOTTPREL_LO12_NC", "TLSIE_LD_GOTTPREL_PREL19",
                       "TLSLE_MOVW_TPREL_G2", "TLSLE_MOVW_TPREL_G1", "TLSLE_MOVW_TPREL_G1_NC",
                       "TLSLE_MOVW_TPREL_G0", "TLSLE_MOVW_TPREL_G0_NC",
                       "TLSLE_ADD_TPREL_HI12", "TLSLE_ADD_TPREL_LO12",
                       "TLSLE_ADD_TPREL_LO12_NC", "TLSLE_LDST8_TPREL_LO12",
                       "TLSLE_LDST8_TPREL_LO12_NC", "TLSLE_LDST16_TPREL_LO12",
                       "TLSLE_LDST16_TPREL_LO12_NC", "TLSLE_LDST32_TPREL_LO12",
                       "TLSLE_LDST32_TPREL_LO12_NC", "TLSLE_LDST64_TPREL_LO12",
                       "TLSLE_LDST64_TPREL_LO12_NC", "TLSDESC_LD_PREL19",
                       "TLSDESC_ADR_PREL21", "TLSDESC_ADR_PAGE21", "TLSDESC_LD64_LO12",
                       "TLSDESC_ADD_LO12", "TLSDESC_OFF_G1", "TLSDESC_OFF_G0_NC",
                       "TLSDESC_LDR", "TLSDESC_ADD", "TLSDESC_CALL",
                       "TLSLE_LDST128_TPREL_LO12", "TLSLE_LDST128_TPREL_LO12_NC",
                       "TLSLD_LDST128_DTPREL_LO12", "TLSLD_LDST128_DTPREL_LO12_NC"))},
                   1028: "R_AARCH64_TLS_DTPMOD64", 1029: "R_AARCH64_TLS_DTPREL64",
                   1030: "R_AARCH64_TLS_TPREL64", 1031: "R_AARCH64_TLSDESC"}
_ARM_RELOCS = {0: "R_ARM_NONE", 1: "R_ARM_PC24", 2: "R_ARM_ABS32", 3: "R_ARM_REL32",
               20: "R_ARM_COPY", 21: "R_ARM_GLOB_DAT", 22: "R_ARM_JUMP_SLOT",
               23: "R_ARM_RELATIVE", 28: "R_ARM_CALL", 29: "R_ARM_JUMP24", 30: "R_ARM_THM_JUMP24",
               10: "R_ARM_THM_CALL", 40: "R_ARM_V4BX", 42: "R_ARM_PREL31", 43: "R_ARM_MOVW_ABS_NC",
               44: "R_ARM_MOVT_ABS", 47: "R_ARM_THM_MOVW_ABS_NC", 48: "R_ARM_THM_MOVT_ABS",
               # thread-local storage (ELF for the Arm Architecture, 5.6.1)
               13: "R_ARM_TLS_DESC", 17: "R_ARM_TLS_DTPMOD32", 18: "R_ARM_TLS_DTPOFF32",
               19: "R_ARM_TLS_TPOFF32", 90: "R_ARM_TLS_GOTDESC", 91: "R_ARM_TLS_CALL",
               92: "R_ARM_TLS_DESCSEQ", 93: "R_ARM_THM_TLS_CALL", 104: "R_ARM_TLS_GD32",
               105: "R_ARM_TLS_LDM32", 106: "R_ARM_TLS_LDO32", 107: "R_ARM_TLS_IE32",
               108: "R_ARM_TLS_LE32", 109: "R_ARM_TLS_LDO12", 110: "R_ARM_TLS_LE12",
               111: "R_ARM_TLS_IE12GP", 129: "R_ARM_THM_TLS_DESCSEQ16",
               130: "R_ARM_THM_TLS_DESCSEQ32"}
_RISCV_RELOCS = {0: "R_RISCV_NONE", 1: "R_RISCV_32", 2: "R_RISCV_64", 3: "R_RISCV_RELATIVE",
                 16: "R_RISCV_BRANCH", 17: "R_RISCV_JAL", 18: "R_RISCV_CALL",
                 19: "R_RISCV_CALL_PLT", 20: "R_RISCV_GOT_HI20", 23: "R_RISCV_PCREL_HI20",
                 24: "R_RISCV_PCREL_LO12_I", 25: "R_RISCV_PCREL_LO12_S", 26: "R_RISCV_HI20",
                 27: "R_RISCV_LO12_I", 28: "R_RISCV_LO12_S", 43: "R_RISCV_ALIGN",
                 44: "R_RISCV_RVC_BRANCH", 45: "R_RISCV_RVC_JUMP", 46: "R_RISCV_RVC_LUI",
                 51: "R_RISCV_RELAX",
                 # thread-local storage (RISC-V ELF psABI)
                 6: "R_RISCV_TLS_DTPMOD32", 7: "R_RISCV_TLS_DTPMOD64",
                 8: "R_RISCV_TLS_DTPREL32", 9: "R_RISCV_TLS_DTPREL64",
                 10: "R_RISCV_TLS_TPREL32", 11: "R_RISCV_TLS_TPREL64", 12: "R_RISCV_TLSDESC",
                 21: "R_RISCV_TLS_GOT_HI20", 22: "R_RISCV_TLS_GD_HI20",
                 29: "R_RISCV_TPREL_HI20", 30: "R_RISCV_TPREL_LO12_I",
                 31: "R_RISCV_TPREL_LO12_S", 32: "R_RISCV_TPREL_ADD",
                 62: "R_RISCV_TLSDESC_HI20", 63: "R_RISCV_TLSDESC_LOAD_LO12",
                 64: "R_RISCV_TLSDESC_ADD_LO12", 65: "R_RISCV_TLSDESC_CALL"}
_SPARC_RELOCS = {0: "R_SPARC_NONE", 1: "R_SPARC_8", 2: "R_SPARC_16", 3: "R_SPARC_32",
                 4: "R_SPARC_DISP8", 5: "R_SPARC_DISP16", 6: "R_SPARC_DISP32",
                 7: "R_SPARC_WDISP30", 8: "R_SPARC_WDISP22", 9: "R_SPARC_HI22", 10: "R_SPARC_22",
                 11: "R_SPARC_13", 12: "R_SPARC_LO10", 13: "R_SPARC_GOT10", 14: "R_SPARC_GOT13",
                 15: "R_SPARC_GOT22", 16: "R_SPARC_PC10", 17: "R_SPARC_PC22",
                 18: "R_SPARC_WPLT30", 19: "R_SPARC_COPY", 20: "R_SPARC_GLOB_DAT",
                 21: "R_SPARC_JMP_SLOT", 22: "R_SPARC_RELATIVE", 23: "R_SPARC_UA32",
                 24: "R_SPARC_PLT32", 25: "R_SPARC_HIPLT22", 26: "R_SPARC_LOPLT10",
                 27: "R_SPARC_PCPLT32", 28: "R_SPARC_PCPLT22", 29: "R_SPARC_PCPLT10",
                 30: "R_SPARC_10", 31: "R_SPARC_11", 32: "R_SPARC_64", 33: "R_SPARC_OLO10",
                 34: "R_SPARC_HH22", 35: "R_SPARC_HM10", 36: "R_SPARC_LM22",
                 37: "R_SPARC_PC_HH22", 38: "R_SPARC_PC_HM10", 39: "R_SPARC_PC_LM22",
                 40: "R_SPARC_WDISP16", 41: "R_SPARC_WDISP19", 42: "R_SPARC_GLOB_JMP",
                 43: "R_SPARC_7", 44: "R_SPARC_5", 45: "R_SPARC_6", 46: "R_SPARC_DISP64",
                 47: "R_SPARC_PLT64", 48: "R_SPARC_HIX22", 49: "R_SPARC_LOX10",
                 50: "R_SPARC_H44", 51: "R_SPARC_M44", 52: "R_SPARC_L44", 53: "R_SPARC_REGISTER",
                 54: "R_SPARC_UA64", 55: "R_SPARC_UA16",
                 **{56 + i: f"R_SPARC_TLS_{n}" for i, n in enumerate((
                     "GD_HI22", "GD_LO10", "GD_ADD", "GD_CALL", "LDM_HI22", "LDM_LO10",
                     "LDM_ADD", "LDM_CALL", "LDO_HIX22", "LDO_LOX10", "LDO_ADD", "IE_HI22",
                     "IE_LO10", "IE_LD", "IE_LDX", "IE_ADD", "LE_HIX22", "LE_LOX10", "DTPMOD32",
                     "DTPMOD64", "DTPOFF32", "DTPOFF64", "TPOFF32", "TPOFF64"))},
                 80: "R_SPARC_GOTDATA_HIX22", 81: "R_SPARC_GOTDATA_LOX10",
                 82: "R_SPARC_GOTDATA_OP_HIX22", 83: "R_SPARC_GOTDATA_OP_LOX10",
                 84: "R_SPARC_GOTDATA_OP"}
#: sparc64's kobj_reloc() is table-driven (spec §2.4): its tables cover the types up to
#: R_SPARC_UA16 (55; in the revisions read the bitmask table is one entry short, a comma
#: missing after _BM(6), so UA16 is out of its range) and it refuses JMP_SLOT, COPY and
#: the unaligned UA* types; every other type of the table is applied (GOT*, GLOB_DAT,
#: the PLT types and REGISTER included).
_SPARC_REFUSED = frozenset({19, 21, 23, 54, 55})
_PPC_RELOCS = {0: "R_PPC_NONE", 1: "R_PPC_ADDR32", 2: "R_PPC_ADDR24", 3: "R_PPC_ADDR16",
               4: "R_PPC_ADDR16_LO", 5: "R_PPC_ADDR16_HI", 6: "R_PPC_ADDR16_HA",
               10: "R_PPC_REL24", 11: "R_PPC_REL14", 18: "R_PPC_PLTREL24", 22: "R_PPC_RELATIVE",
               26: "R_PPC_REL32", 249: "R_PPC_REL16", 250: "R_PPC_REL16_LO",
               251: "R_PPC_REL16_HI", 252: "R_PPC_REL16_HA",
               # thread-local storage (Power Architecture 32-bit ELF ABI)
               **{67 + i: f"R_PPC_{n}" for i, n in enumerate((
                   "TLS", "DTPMOD32", "TPREL16", "TPREL16_LO", "TPREL16_HI", "TPREL16_HA",
                   "TPREL32", "DTPREL16", "DTPREL16_LO", "DTPREL16_HI", "DTPREL16_HA",
                   "DTPREL32", "GOT_TLSGD16", "GOT_TLSGD16_LO", "GOT_TLSGD16_HI",
                   "GOT_TLSGD16_HA", "GOT_TLSLD16", "GOT_TLSLD16_LO", "GOT_TLSLD16_HI",
                   "GOT_TLSLD16_HA", "GOT_TPREL16", "GOT_TPREL16_LO", "GOT_TPREL16_HI",
                   "GOT_TPREL16_HA", "GOT_DTPREL16", "GOT_DTPREL16_LO", "GOT_DTPREL16_HI",
                   "GOT_DTPREL16_HA", "TLSGD", "TLSLD"))}}
_MIPS_RELOCS = {0: "R_MIPS_NONE", 1: "R_MIPS_16", 2: "R_MIPS_32", 3: "R_MIPS_REL32",
                4: "R_MIPS_26", 5: "R_MIPS_HI16", 6: "R_MIPS_LO16", 7: "R_MIPS_GPREL16",
                9: "R_MIPS_GOT16", 10: "R_MIPS_PC16", 11: "R_MIPS_CALL16", 18: "R_MIPS_64",
                24: "R_MIPS_SUB", 28: "R_MIPS_HIGHER", 29: "R_MIPS_HIGHEST",
                # thread-local storage (MIPS psABI TLS supplement)
                **{38 + i: f"R_MIPS_TLS_{n}" for i, n in enumerate((
                    "DTPMOD32", "DTPREL32", "DTPMOD64", "DTPREL64", "GD", "LDM",
                    "DTPREL_HI16", "DTPREL_LO16", "GOTTPREL", "TPREL32", "TPREL64",
                    "TPREL_HI16", "TPREL_LO16"))}}


#: What in a relocation type's name says it is one of thread-local storage.
_TLS_NAME_RE = re.compile(r"TLS|TPOFF|DTPOFF|DTPMOD|TPREL|DTPREL")


def tls_relocs(table: dict[int, str]) -> frozenset[int]:
    """The thread-local storage types of a relocation table: a module's ``__thread``
    variable makes them, and no kobj_reloc applies one (the kernel has no TLS)."""
    return frozenset(k for k, v in table.items() if _TLS_NAME_RE.search(v))


def _names(table: dict[int, str], *wanted: str) -> frozenset[int]:
    by_name = {v: k for k, v in table.items()}
    return frozenset(by_name[n] for n in wanted)


@dataclass(frozen=True)
class Target:
    """One supported MACHINE/MACHINE_ARCH pair.

    ``name`` is the short key used on the command line (``ARCH=evbarm-aarch64``);
    ``kmodulearchdir`` is the directory under ``/stand`` (bsd.kmodule.mk's
    KMODULEARCHDIR, MACHINE by default).  ``primary`` marks the target that owns
    ``$DESTDIR/stand/<kmodulearchdir>`` when several targets share it.
    """

    name: str
    machine: str
    machine_arch: str
    triple: str                     # clang --target=
    gnu_triple: str                 # prefix of GNU cross tools (<triple>-gcc, <triple>-ld)
    elfclass: int                   # 32 or 64
    little_endian: bool
    e_machine: int                  # what the compiler emits
    accepted_machines: frozenset[int]
    pointer_size: int
    rela: bool                      # the toolchain emits RELA (else REL)
    rel_ok: bool                    # the kernel's kobj_reloc accepts SHT_REL
    rela_ok: bool                   # ... and SHT_RELA
    cflags: tuple[str, ...]         # per-architecture flags (clang)
    gcc_cflags: tuple[str, ...]     # per-architecture flags (GNU gcc)
    reloc_names: dict[int, str] = field(hash=False, compare=False)
    accepted_relocs: frozenset[int] = frozenset()
    kmodulearchdir: str = ""
    primary: bool = True
    host_gcc_flags: tuple[str, ...] = ()   # non-empty: host gcc can build this target
    machine_cpu: str = ""                   # bsd.own.mk MACHINE_CPU (the klinks directory)

    @property
    def key(self) -> str:
        """``MACHINE-MACHINE_ARCH``, the build directory name (``amd64-x86_64``)."""
        return f"{self.machine}-{self.machine_arch}"

    def reloc_name(self, rtype: int) -> str:
        """Symbolic name of relocation type ``rtype`` (``R_X86_64_PC32``), or ``type N``."""
        return self.reloc_names.get(rtype, f"type {rtype}")


_MACHINE_CPU = {"x86_64": "x86_64", "i386": "i386", "aarch64": "aarch64", "earmv7hf": "arm",
                "riscv64": "riscv", "sparc64": "sparc64", "powerpc": "powerpc", "mips64eb": "mips"}


def _t(**kw: object) -> Target:
    kw.setdefault("kmodulearchdir", kw["machine"])
    kw.setdefault("machine_cpu", _MACHINE_CPU[str(kw["machine_arch"])])
    return Target(**kw)  # type: ignore[arg-type]


TARGETS: tuple[Target, ...] = (
    _t(name="amd64", machine="amd64", machine_arch="x86_64", triple="x86_64-unknown-netbsd",
       gnu_triple="x86_64-linux-gnu", elfclass=64, little_endian=True, e_machine=EM_X86_64,
       accepted_machines=frozenset({EM_X86_64}), pointer_size=8, rela=True, rel_ok=True,
       rela_ok=True,
       cflags=("-mcmodel=kernel", "-mno-red-zone", "-mno-sse", "-mno-mmx"),
       gcc_cflags=("-mcmodel=kernel", "-mno-red-zone", "-mno-sse", "-mno-mmx"),
       host_gcc_flags=("-m64",),
       reloc_names=_X86_64_RELOCS,
       accepted_relocs=_names(_X86_64_RELOCS, "R_X86_64_NONE", "R_X86_64_64", "R_X86_64_PC32",
                              "R_X86_64_PLT32", "R_X86_64_GLOB_DAT", "R_X86_64_JUMP_SLOT",
                              "R_X86_64_RELATIVE", "R_X86_64_32", "R_X86_64_32S")),
    _t(name="i386", machine="i386", machine_arch="i386", triple="i486-unknown-netbsd",
       gnu_triple="i686-linux-gnu", elfclass=32, little_endian=True, e_machine=EM_386,
       accepted_machines=frozenset({EM_386, EM_486}), pointer_size=4, rela=False, rel_ok=True,
       rela_ok=True, cflags=("-march=i486",), gcc_cflags=("-march=i486",),
       host_gcc_flags=("-m32",),
       reloc_names=_I386_RELOCS,
       accepted_relocs=_names(_I386_RELOCS, "R_386_NONE", "R_386_32", "R_386_PC32",
                              "R_386_PLT32", "R_386_GLOB_DAT", "R_386_RELATIVE")),
    _t(name="evbarm-aarch64", machine="evbarm", machine_arch="aarch64",
       triple="aarch64-unknown-netbsd", gnu_triple="aarch64-linux-gnu", elfclass=64,
       little_endian=True, e_machine=EM_AARCH64, accepted_machines=frozenset({EM_AARCH64}),
       pointer_size=8, rela=True, rel_ok=False, rela_ok=True,
       cflags=("-march=armv8-a+nofp+nosimd",), gcc_cflags=("-march=armv8-a+nofp+nosimd",),
       reloc_names=_AARCH64_RELOCS,
       accepted_relocs=_names(_AARCH64_RELOCS, "R_AARCH64_NONE", "R_AARCH64_NONE2",
                              "R_AARCH64_ABS64", "R_AARCH64_ABS32", "R_AARCH64_ABS16",
                              "R_AARCH64_PREL64", "R_AARCH64_PREL32", "R_AARCH64_PREL16",
                              "R_AARCH64_ADR_PREL_PG_HI21", "R_AARCH64_ADR_PREL_PG_HI21_NC",
                              "R_AARCH64_ADD_ABS_LO12_NC", "R_AARCH64_LDST8_ABS_LO12_NC",
                              "R_AARCH64_LDST16_ABS_LO12_NC", "R_AARCH64_LDST32_ABS_LO12_NC",
                              "R_AARCH64_LDST64_ABS_LO12_NC", "R_AARCH64_JUMP26",
                              "R_AARCH64_CALL26")),
    _t(name="evbarm-earmv7hf", machine="evbarm", machine_arch="earmv7hf",
       triple="armv7-unknown-netbsd-eabi", gnu_triple="arm-linux-gnueabihf", elfclass=32,
       little_endian=True, e_machine=EM_ARM, accepted_machines=frozenset({EM_ARM}),
       pointer_size=4, rela=False, rel_ok=True, rela_ok=True, primary=False,
       cflags=("-march=armv7-a", "-mfloat-abi=soft", "-marm"),
       gcc_cflags=("-march=armv7-a", "-mfloat-abi=soft", "-marm"),
       reloc_names=_ARM_RELOCS,
       accepted_relocs=_names(_ARM_RELOCS, "R_ARM_NONE", "R_ARM_V4BX", "R_ARM_ABS32",
                              "R_ARM_JUMP_SLOT", "R_ARM_RELATIVE", "R_ARM_MOVW_ABS_NC",
                              "R_ARM_MOVT_ABS", "R_ARM_CALL", "R_ARM_JUMP24", "R_ARM_PC24",
                              "R_ARM_REL32")),
    _t(name="riscv-riscv64", machine="riscv", machine_arch="riscv64",
       triple="riscv64-unknown-netbsd", gnu_triple="riscv64-linux-gnu", elfclass=64,
       little_endian=True, e_machine=EM_RISCV, accepted_machines=frozenset({EM_RISCV}),
       pointer_size=8, rela=True, rel_ok=False, rela_ok=True,
       cflags=("-mcmodel=medany", "-mno-relax"), gcc_cflags=("-mcmodel=medany", "-mno-relax"),
       reloc_names=_RISCV_RELOCS,
       # riscv kobj_machdep.c 1.6 (2024; the 2023 rewrite) also takes PCREL_LO12_S (stores
       # to globals), HI20, RVC_BRANCH and RVC_JUMP; RVC_LUI has only a patch case, its first
       # switch refuses it.  RELAX/ALIGN stay refused (spec Decisions: -mno-relax).
       accepted_relocs=_names(_RISCV_RELOCS, "R_RISCV_NONE", "R_RISCV_64", "R_RISCV_BRANCH",
                              "R_RISCV_JAL", "R_RISCV_CALL", "R_RISCV_CALL_PLT",
                              "R_RISCV_PCREL_HI20", "R_RISCV_PCREL_LO12_I", "R_RISCV_LO12_I",
                              "R_RISCV_LO12_S", "R_RISCV_PCREL_LO12_S", "R_RISCV_HI20",
                              "R_RISCV_RVC_BRANCH", "R_RISCV_RVC_JUMP")),
    _t(name="sparc64", machine="sparc64", machine_arch="sparc64",
       triple="sparc64-unknown-netbsd", gnu_triple="sparc64-linux-gnu", elfclass=64,
       little_endian=False, e_machine=EM_SPARCV9, accepted_machines=frozenset({EM_SPARCV9}),
       pointer_size=8, rela=True, rel_ok=False, rela_ok=True,
       cflags=("-mcmodel=small",), gcc_cflags=("-mcmodel=medlow",),
       reloc_names=_SPARC_RELOCS,
       accepted_relocs=frozenset(range(56)) - _SPARC_REFUSED),
    _t(name="evbppc-powerpc", machine="evbppc", machine_arch="powerpc",
       triple="powerpc-unknown-netbsd", gnu_triple="powerpc-linux-gnu", elfclass=32,
       little_endian=False, e_machine=EM_PPC, accepted_machines=frozenset({EM_PPC}),
       pointer_size=4, rela=True, rel_ok=False, rela_ok=True,
       cflags=("-mlongcall",), gcc_cflags=("-mlongcall", "-mno-pltseq"),
       reloc_names=_PPC_RELOCS,
       accepted_relocs=_names(_PPC_RELOCS, "R_PPC_NONE", "R_PPC_RELATIVE", "R_PPC_REL32",
                              "R_PPC_REL16", "R_PPC_REL16_LO", "R_PPC_REL16_HI",
                              "R_PPC_REL16_HA", "R_PPC_ADDR32", "R_PPC_ADDR16",
                              "R_PPC_ADDR16_LO", "R_PPC_ADDR16_HI", "R_PPC_ADDR16_HA")),
    _t(name="evbmips-mips64eb", machine="evbmips", machine_arch="mips64eb",
       triple="mips64-unknown-netbsd", gnu_triple="mips64-linux-gnuabi64", elfclass=64,
       little_endian=False, e_machine=EM_MIPS, accepted_machines=frozenset({EM_MIPS}),
       pointer_size=8, rela=True, rel_ok=False, rela_ok=True,
       cflags=("-mabi=64", "-mno-abicalls", "-mlong-calls", "-G0"),
       gcc_cflags=("-mabi=64", "-mno-abicalls", "-mlong-calls", "-G0"),
       reloc_names=_MIPS_RELOCS,
       accepted_relocs=_names(_MIPS_RELOCS, "R_MIPS_NONE", "R_MIPS_32", "R_MIPS_26",
                              "R_MIPS_HI16", "R_MIPS_LO16", "R_MIPS_64", "R_MIPS_HIGHER",
                              "R_MIPS_HIGHEST")),
)

DEFAULT_TARGET = "amd64"

_BY_NAME: dict[str, Target] = {}
for _target in TARGETS:
    _BY_NAME[_target.name] = _target
    _BY_NAME[_target.key] = _target


def get_target(name: str) -> Target:
    """Return the target called ``name`` (``evbarm-aarch64`` or ``amd64-x86_64``).

    Raises:
        TargetError: unknown name; the message lists the known ones.
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(t.name for t in TARGETS)
        raise TargetError(f"unknown target {name!r}; known targets: {known}") from None


def parse_targets(spec: str) -> list[Target]:
    """Parse ``ARCH=`` values: one name, a comma-separated list, or ``all``."""
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise TargetError("empty target list; use e.g. ARCH=amd64 or ARCH=all")
    if "all" in names:
        return list(TARGETS)
    out: list[Target] = []
    for n in names:
        try:
            t = get_target(n)
        except TargetError as e:
            raise TargetError(f"{e.message}, all") from None    # ARCH= also takes "all"
        if t not in out:
            out.append(t)
    return out


# --------------------------------------------------------------------------- versions

_VERSION_RE = re.compile(r"^(\d{1,2})\.(\d{1,2})(?:\.(\d{1,2}))?$", re.ASCII)


@dataclass(frozen=True, order=True)
class NetBSDVersion:
    """A NetBSD kernel version: ``10.0`` (release) or ``10.99.10`` (-current)."""

    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> "NetBSDVersion":
        """Validate ``text`` and return the version.

        ``packaging`` checks that the string is a plain release number; the
        NetBSD rules then require 1-2 digit fields, a major of at least 1 and a
        patch level for -current (``MM.99.pp``).

        Raises:
            TargetError: the string is not a NetBSD version.
        """
        from packaging.version import InvalidVersion, Version

        text = str(text).strip()
        m = _VERSION_RE.match(text)
        try:
            # only once the fields are 1-2 digits: packaging's int() of a field of
            # 4,300 digits or more raises ValueError, not InvalidVersion
            pv = Version(text) if m is not None else None
        except InvalidVersion:
            pv = None
        if pv is None or m is None or pv.pre or pv.post or pv.dev or pv.local or pv.epoch:
            raise TargetError(
                f"invalid VERSION {text!r}: expected MM.mm for a release (e.g. 10.0), "
                f"MM.mm.pp for a release's patch level (e.g. 10.0.3) "
                f"or MM.99.pp for -current (e.g. 10.99.10)")
        major, minor = int(m.group(1)), int(m.group(2))
        patch = int(m.group(3) or 0)
        if major < 1:
            raise TargetError(f"invalid VERSION {text!r}: major version must be at least 1")
        if minor == 99 and m.group(3) is None:
            raise TargetError(
                f"invalid VERSION {text!r}: a -current version needs its patch level, "
                f"e.g. {major}.99.1")
        return cls(major, minor, patch)

    @classmethod
    def from_number(cls, value: int) -> "NetBSDVersion":
        """Decode ``__NetBSD_Version__`` (spec §1.6)."""
        return cls(value // 100000000, value // 1000000 % 100, value // 100 % 100)

    @property
    def is_current(self) -> bool:
        """True for a -current (``MM.99.pp``) version."""
        return self.minor == 99

    @property
    def number(self) -> int:
        """``__NetBSD_Version__``: MMmmrrpp00 (rr, the release letter, is always 0)."""
        return self.major * 100000000 + self.minor * 1000000 + self.patch * 100

    @property
    def osrelease(self) -> str:
        """The ``/stand`` directory name: ``MM.mm`` for releases, ``MM.99.pp`` for -current."""
        if self.is_current:
            return f"{self.major}.{self.minor}.{self.patch}"
        return f"{self.major}.{self.minor}"

    @property
    def build_dir(self) -> str:
        """The build directory's name (``build/<target>/<build_dir>``): the full version.

        ``MM.mm`` for a release without a patch level, ``MM.mm.pp`` for one with it
        (``10.0.3``: its objects and stub kernel differ from 10.0's, so they must not
        share a directory, although both install into ``stand/.../10.0``), ``MM.99.pp``
        for -current.
        """
        return str(self)

    def __str__(self) -> str:
        if self.is_current or self.patch:
            return f"{self.major}.{self.minor}.{self.patch}"
        return f"{self.major}.{self.minor}"


DEFAULT_VERSION = "10.0"


def compatible(module_version: int, kernel_version: int) -> bool:
    """The kernel's ``module_compatible()`` rule (spec §3.2).

    -current kernels need exact equality; releases accept a difference below
    10000 (only the patch level may differ).
    """
    if kernel_version // 1000000 % 100 == 99:
        return module_version == kernel_version
    return abs(module_version - kernel_version) < 10000


def stand_dir(destdir: Path, target: Target, version: NetBSDVersion) -> Path:
    """``$DESTDIR/stand/<KMODULEARCHDIR>/<osrelease>/modules`` for ``target``.

    Targets that share a KMODULEARCHDIR (evbarm-aarch64 and evbarm-earmv7hf)
    must not overwrite each other: the primary one installs into ``DESTDIR``
    itself, every other one into ``DESTDIR/destdir.<MACHINE>-<MACHINE_ARCH>``
    (build.sh's per-target DESTDIR naming).
    """
    root = Path(destdir)
    if not target.primary:
        root = root / f"destdir.{target.key}"
    return root / "stand" / target.kmodulearchdir / version.osrelease / "modules"
