"""Register access straight through unicorn's C library (kmodbuild.emulate.cpu) gives what
unicorn's own Python API gives, on every port."""
from __future__ import annotations

import random
import sys

import pytest

from kmodbuild.emulate.arch import ARCHS
from kmodbuild.emulate.cpu import Cpu, available

pytestmark = pytest.mark.skipif(not available(), reason="unicorn is not installed")


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_direct_register_access_matches_unicorns_api(arch: str) -> None:
    cpu = Cpu(ARCHS[arch])
    if sys.byteorder == "little":
        assert cpu._fast_regs is not None      # the fast path is in use where it can be
    rng = random.Random(arch)
    mask = (1 << (8 * ARCHS[arch].word)) - 1
    for name, reg in sorted(cpu._regs.items()):
        for _ in range(8):
            value = rng.getrandbits(64) & mask & ~0xF        # aligned: PCs drop low bits
            cpu.set_reg(name, value)
            assert int(cpu.uc.reg_read(reg)) & mask == value, name
            cpu.uc.reg_write(reg, value ^ 0x20)
            assert cpu.reg(name) == value ^ 0x20, name


def test_unicorns_api_when_the_direct_way_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Cpu, "_direct_register_access", lambda self: None)
    cpu = Cpu(ARCHS["x86_64"])
    assert cpu._fast_regs is None
    cpu.set_reg("RDI", -1)                          # reduced to the register width
    assert cpu.reg("RDI") == (1 << 64) - 1 == int(cpu.uc.reg_read(cpu._regs["RDI"]))


def test_an_error_renews_the_engine_with_the_same_state() -> None:
    """MIPS64 (ArchSpec.renew_after_error): after a run that ends in an error the engine
    is a new one, with the memory (its own copied, shared buffers still shared), the
    hooks and the registers of the old; and the next run works."""
    spec = ARCHS["mips64eb"]
    assert spec.renew_after_error
    cpu = Cpu(spec)
    code, data, shared = 0xFFFFFFFF80400000, 0xFFFFFFFF80410000, 0xFFFFFFFF80420000
    cpu.map(code, 0x1000, "rx")
    cpu.map(data, 0x1000, "rw")
    buffer = bytearray(0x1000)
    cpu.map(shared, 0x1000, "rw", buffer)
    # daddiu $2, $2, 1; jr $ra; nop  -- and the exit at code+0x100
    cpu.write(code, bytes.fromhex("64420001" "03e00008" "00000000"))
    cpu.write(data, b"kept")
    seen: list[int] = []
    cpu.on_code(code, code, seen.append)
    cpu.set_reg("2", 41)
    cpu.set_reg("31", code + 0x100)
    assert cpu.run(code, code + 0x100) is None and cpu.reg("2") == 42 and seen == [code]
    old = cpu.uc
    assert cpu.run(0xFFFFFFFF80500000, code + 0x100) == "fetch-unmapped"
    assert cpu.uc is not old                                        # renewed
    assert cpu.read(data, 4) == b"kept"
    buffer[:4] = b"live"
    assert cpu.read(shared, 4) == b"live"                           # still shared
    assert cpu.reg("2") == 42
    assert cpu.run(code, code + 0x100) is None and cpu.reg("2") == 43
    assert seen == [code, code]                                     # the hook moved too


def test_other_ports_keep_their_engine_after_an_error() -> None:
    cpu = Cpu(ARCHS["x86_64"])
    old = cpu.uc
    assert cpu.run(0x500000, 0x500010) == "fetch-unmapped"
    assert cpu.uc is old
