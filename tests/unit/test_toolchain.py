"""Toolchain selection and its errors, with an injected ``which`` and runner (no compiler needed)."""
from __future__ import annotations

import subprocess

import pytest

from kmodbuild.errors import ToolchainError
from kmodbuild.target import get_target
from kmodbuild.toolchain import make_toolchain, probe


def which_from(available: set[str]):
    return lambda name: f"/usr/bin/{name}" if name in available else None


def test_zig_is_default_and_uses_raw_drivers() -> None:
    tc = make_toolchain(get_target("evbarm-aarch64"))
    assert tc.kind == "zig"
    assert tc.cc[1:] == ("clang", "--target=aarch64-unknown-netbsd")
    assert tc.ld[1:] == ("ld.lld",)
    assert "-march=armv8-a+nofp+nosimd" in tc.cflags
    argv = tc.link_argv("x.kmod", ["a.o"], "kmodule")
    assert argv[1:] == ["ld.lld", "-r", "-T", "kmodule", "-o", "x.kmod", "a.o"]


def test_clang_needs_clang_and_lld() -> None:
    with pytest.raises(ToolchainError, match="apt-get install clang lld"):
        make_toolchain(get_target("amd64"), "clang", which=which_from({"clang"}))
    tc = make_toolchain(get_target("sparc64"), "clang", which=which_from({"clang", "ld.lld"}))
    assert "-fintegrated-as" in tc.cflags


def test_gnu_cross_gcc_names_the_package() -> None:
    with pytest.raises(ToolchainError, match="apt-get install gcc-aarch64-linux-gnu"):
        make_toolchain(get_target("evbarm-aarch64"), "gcc", which=which_from(set()))
    tc = make_toolchain(get_target("evbppc-powerpc"), "gcc",
                        which=which_from({"powerpc-linux-gnu-gcc", "powerpc-linux-gnu-ld"}))
    assert "-mno-pltseq" in tc.cflags and tc.ldflags == ("-r", "-d")


def test_host_gcc_only_for_x86() -> None:
    with pytest.raises(ToolchainError, match="only amd64 and i386"):
        make_toolchain(get_target("sparc64"), "hostgcc", which=which_from({"gcc", "ld"}))
    tc = make_toolchain(get_target("i386"), "hostgcc", which=which_from({"gcc", "ld"}))
    assert "-m32" in tc.cc and tc.ldflags[:2] == ("-m", "elf_i386")


def test_unknown_kind() -> None:
    with pytest.raises(ToolchainError, match="unknown toolchain 'tcc'"):
        make_toolchain(get_target("amd64"), "tcc")


def test_probe_reports_broken_compiler() -> None:
    tc = make_toolchain(get_target("amd64"), "clang", which=which_from({"clang", "ld.lld"}))

    def broken(argv):
        return subprocess.CompletedProcess(argv, 1, b"", b"clang: error: cannot exec\n")

    def missing(argv):
        raise FileNotFoundError(2, "No such file or directory")
    with pytest.raises(ToolchainError, match="does not work: clang: error: cannot exec"):
        probe(tc, broken)
    with pytest.raises(ToolchainError, match="cannot run the clang compiler"):
        probe(tc, missing)
    ok = probe(tc, lambda argv: subprocess.CompletedProcess(argv, 0, b"clang version 22\n", b""))
    assert ok == "clang version 22"


def test_real_zig_probe() -> None:
    assert "clang version" in probe(make_toolchain(get_target("amd64")))


def test_missing_ziglang_says_what_to_install(monkeypatch) -> None:
    import sys
    monkeypatch.setitem(sys.modules, "ziglang", None)
    with pytest.raises(ToolchainError, match="pip install ziglang==0.17.1"):
        make_toolchain(get_target("amd64"))


def test_identity_asks_each_program_once_and_falls_back_to_its_content(tmp_path) -> None:
    import subprocess as sp
    from kmodbuild.toolchain import identity
    zig, ld = tmp_path / "zig", tmp_path / "ld.lld"
    zig.write_bytes(b"zig binary")
    ld.write_bytes(b"lld binary")
    asked: list[list[str]] = []

    def runner(argv):
        asked.append(list(argv))
        if argv[0].endswith("ld.lld"):
            return sp.CompletedProcess(argv, 1, b"", b"no")    # cannot say: content digest
        return sp.CompletedProcess(argv, 0, b"0.17.1\n", b"")
    cache: dict[str, str] = {}
    first = identity([str(zig), str(ld)], cache, runner)
    assert asked == [[str(zig), "version"], [str(ld), "--version"]]
    assert first.startswith("zig:10:") and "ld.lld:10:content:" in first
    assert identity([str(zig), str(ld)], cache, runner) == first and len(asked) == 2
    zig.write_bytes(b"zig binary 2")                              # a new install
    assert identity([str(zig), str(ld)], cache, runner) != first and len(asked) == 3
    assert identity([str(tmp_path / "gone")], None, runner) == "gone:missing"


def test_identities_share_one_cache_file(tmp_path) -> None:
    import json
    import subprocess as sp
    from dataclasses import replace

    from kmodbuild.toolchain import identities
    asked: list[list[str]] = []

    def runner(argv):
        asked.append(list(argv))
        return sp.CompletedProcess(argv, 0, b"0.17.1\n", b"")
    zig = tmp_path / "zig"
    zig.write_bytes(b"zig binary")
    tcs = [make_toolchain(get_target(t), "zig", which=lambda _: None)
           for t in ("amd64", "i386")]
    tcs = [replace(tc, cc=(str(zig), *tc.cc[1:]), ld=(str(zig), *tc.ld[1:])) for tc in tcs]
    cache = tmp_path / "build" / "identity.json"
    assert identities(tcs, str(cache), save=False, runner=runner)[0].startswith("zig:10:")
    assert not cache.exists() and len(asked) == 1        # one program, asked once
    ids = identities(tcs, str(cache), runner=runner)
    assert ids[0] == ids[1] and len(json.loads(cache.read_text())) == 1
    assert identities(tcs, str(cache), runner=runner) == ids and len(asked) == 2
