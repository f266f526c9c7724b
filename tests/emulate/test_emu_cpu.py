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
