"""Unit tests of the target table and the NetBSD version rules (spec §1.6, §3.1, §3.2)."""
from __future__ import annotations

from pathlib import Path

import pytest

from kmodbuild.errors import TargetError
from kmodbuild.target import (TARGETS, NetBSDVersion, compatible, get_target, parse_targets,
                              stand_dir)


@pytest.mark.parametrize("text,number,osrelease", [
    ("10.0", 1000000000, "10.0"), ("10.1", 1001000000, "10.1"), ("8.1", 801000000, "8.1"),
    ("9.99.25", 999002500, "9.99.25"), ("10.99.10", 1099001000, "10.99.10"),
    ("6.1.5", 601000500, "6.1"),
])
def test_version_number_and_directory(text: str, number: int, osrelease: str) -> None:
    v = NetBSDVersion.parse(text)
    assert v.number == number
    assert v.osrelease == osrelease
    assert NetBSDVersion.from_number(number) == v


@pytest.mark.parametrize("bad", ["", "10", "ten", "10.99", "10.0_STABLE", "1.2.3.4", "0.5",
                                 "10.0rc1", "100.0", "10.0.0.0"])
def test_bad_versions_are_refused(bad: str) -> None:
    with pytest.raises(TargetError):
        NetBSDVersion.parse(bad)


def test_a_bad_version_names_every_accepted_form() -> None:
    """README: VERSION is MM.mm, MM.mm.pp (a release's patch level) or MM.99.pp; the
    message named only the first and the last, so 10.0.3 looked unsupported."""
    with pytest.raises(TargetError) as e:
        NetBSDVersion.parse("10.0.x")
    assert "MM.mm for a release (e.g. 10.0), MM.mm.pp for a release's patch level " \
        "(e.g. 10.0.3) or MM.99.pp for -current (e.g. 10.99.10)" in str(e.value)


def test_compatibility_rule() -> None:
    assert compatible(1000000000, 1000000000)
    assert compatible(1000000100, 1000000000)       # release: patch level may differ
    assert not compatible(1001000000, 1000000000)   # minor differs
    assert not compatible(1099001000, 1099001100)   # -current: exact only
    assert compatible(1099001000, 1099001000)


def test_table_keys() -> None:
    assert len(TARGETS) == 8
    assert get_target("amd64") is get_target("amd64-x86_64")
    assert parse_targets("all") == list(TARGETS)
    assert [t.name for t in parse_targets("i386,amd64,i386")] == ["i386", "amd64"]
    with pytest.raises(TargetError, match="unknown target"):
        get_target("vax")
    # one target (check/sim/manifest --arch) does not offer "all"; a list (ARCH=) does
    with pytest.raises(TargetError, match="evbmips-mips64eb$"):
        get_target("all")
    with pytest.raises(TargetError, match="evbmips-mips64eb, all$"):
        parse_targets("amd64,vax")
    for t in TARGETS:
        assert t.pointer_size * 8 == t.elfclass
        assert t.e_machine in t.accepted_machines
        assert t.rela_ok or t.rel_ok


def test_stand_dir_rule() -> None:
    v = NetBSDVersion.parse("10.0")
    assert stand_dir(Path("/d"), get_target("evbarm-aarch64"), v) == \
        Path("/d/stand/evbarm/10.0/modules")
    assert stand_dir(Path("/d"), get_target("evbarm-earmv7hf"), v) == \
        Path("/d/destdir.evbarm-earmv7hf/stand/evbarm/10.0/modules")
