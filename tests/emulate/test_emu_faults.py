"""Deliberately buggy modules (``modsrc/``, compiled for real) give the expected reports.

Each fault stops the modcmd, fails the operation with EFAULT the way a panic
is reported (``panic: module: modcmd(INIT): ...`` then the kernel's own
"modcmd(CMD_INIT) failed" line), names the faulting address as
``module+offset (symbol+offset)``, and the simulator keeps running.  Leaks and
registrations left behind are reported when the module unloads.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from kmodbuild.target import TARGETS
from tests.conftest import REPO
from tests.emulate.conftest import cut_unload_log

ALL_TARGETS = [t.name for t in TARGETS]
EFAULT = 14
WHERE = r"{m}\+0x[0-9a-f]+ \({m}_modcmd\+0x[0-9a-f]+\)"

#: module -> (regular expression of its ``panic:`` line after "module: modcmd(INIT): ")
INIT_FAULTS: dict[str, str] = {
    "bug_null": r"read from unmapped address 0x0 \(NULL pointer dereference\), at " + WHERE,
    "bug_jump": r"jump to unmapped address 0x6530, called from " + WHERE,
    "bug_jumpdata": r"execution of non-executable address 0x[0-9a-f]+ \(bug_jumpdata:data\+0x0 "
                    r"\(bug_jumpdata_words\+0x0\)\), at bug_jumpdata:data\+0x0 "
                    r"\(bug_jumpdata_words\+0x0\)",
    "bug_loop": r"instruction budget exceeded \(\d+ (instructions|basic blocks): endless "
                r"loop\?\), at " + WHERE,
    "bug_rodata": r"write to read-only address 0x[0-9a-f]+ \(bug_rodata:rodata\+0x[0-9a-f]+ "
                  r"\(bug_rodata_greeting\+0x0\)\), at " + WHERE,
    "bug_text": r"write to read-only address 0x[0-9a-f]+ \(bug_text\+0x[0-9a-f]+ "
                r"\(bug_text_victim\+0x0\)\), at bug_text\+0x[0-9a-f]+ "
                r"\(bug_text_modcmd\+0x[0-9a-f]+\)",
    "bug_unhooked": r"call to kernel function `cnputc' which has no hook \(the emulated kernel "
                    r"does not implement it\), from " + WHERE,
    # a call into the kernel's data: on mips64eb vfs_list is followed by hundreds of
    # zero words (no-ops), which unicorn died translating (SIGSEGV) before any hook ran;
    # on riscv64 the zero halfword is an illegal (compressed) instruction that unicorn
    # raises before the code hook
    "bug_kdata": r"(call to kernel function `vfs_list' which has no hook \(the emulated "
                 r"kernel does not implement it\), from " + WHERE + r"|illegal instruction at "
                 r"netbsd\+0x[0-9a-f]+ \(vfs_list\+0x[0-9a-f]+\))",
    # a jump into the middle of a kernel function (its hook is at the entry point only):
    # named as such where the code hook sees it, else the filler of the kernel's text
    # traps (riscv64's zero halfword, sparc64's illtrap, mips64eb's `break')
    "bug_kmid": r"(jump into the kernel at printf\+0x8, from " + WHERE + r"|(illegal|invalid) "
                r"instruction at netbsd\+0x[0-9a-f]+ \(printf\+0x[0-9a-f]+\)|break instruction "
                r"in the block at " + WHERE + r")",
    "bug_panic": r"bug_panic: cannot go on 42 \(in panic\(\) called from " + WHERE + r"\)",
    # the kernel's work counts too: ten instructions a turn around a 4 MiB memset ran
    # for good; a size past the buffer faults where the mapping ends (it allocated the
    # whole size first: a traceback); a printf field of 2 GB (gigabytes of memory)
    "bug_memloop": r"memset\(\) called from " + WHERE + r": the modcmd's kernel calls moved "
                   r"more than 64 MiB \(an endless loop\?\)",
    "bug_bigset": r"memset\(\) called from " + WHERE + r" faulted: write of unmapped address "
                  r"0x[0-9a-f]+",
    # the kernel's text is read-only: the store faults (it went through, and every
    # module calling printf after it failed)
    "bug_kwtext": r"write to read-only address 0x[0-9a-f]+ \(netbsd\+0x[0-9a-f]+ "
                  r"\(printf\+0x0\)\), at " + WHERE,
    # a kernel function's own reads and writes: the NULL page (on mips64eb mapped
    # execute-only, its stub bytes were read as the string) and the kernel's text
    "bug_hooknull": r"printf\(\) called from " + WHERE + r" faulted: read of unmapped "
                    r"address 0x10",
    "bug_hookkwtext": r"memset\(\) called from " + WHERE + r" faulted: write of read-only "
                      r"address 0x[0-9a-f]+",
    "bug_recurse": r"write to unmapped address 0x[0-9a-f]+ \(stack overflow: below the 256 KiB "
                   r"kernel stack\), at bug_recurse\+0x[0-9a-f]+ \(bug_recurse_down\+0x[0-9a-f]+\)",
    "bug_widefield": r"printf\(\) called from " + WHERE + r": a field 2147483647 characters "
                     r"wide \(at most 65536\)",
    "bug_trap": r"(invalid instruction|illegal instruction|breakpoint \(brk\)|software trap "
                r"\(ta 0x5\)|program exception \(trap or illegal instruction\)|break "
                r"instruction) (at|in the block at) " + WHERE,
}


def _check_fault(out: list[str], name: str, cmd: str, pattern: str) -> None:
    assert len(out) >= 1 and out[0].startswith(f"panic: {name}: modcmd({cmd}): "), out
    text = out[0][len(f"panic: {name}: modcmd({cmd}): "):]
    assert re.fullmatch(pattern.format(m=name), text), text


@pytest.mark.parametrize("target", ALL_TARGETS)
@pytest.mark.parametrize("name", sorted(INIT_FAULTS))
def test_init_fault_is_reported(bug_kernel, target: str, name: str) -> None:
    if name == "bug_rodata" and target == "evbppc-powerpc":
        pytest.skip("clang puts const data in the writable .data.rel.ro on powerpc: "
                    "the kernel does not protect it either")
    ek = bug_kernel(target, budget=200_000)
    error, out = ek.load(name)
    assert error == EFAULT, out
    _check_fault(out, name, "INIT", INIT_FAULTS[name])
    assert out[-1] == f"WARNING: module error: modcmd(CMD_INIT) failed for `{name}', " \
                      f"error {EFAULT}"
    kinds = [r.kind for r in ek.strategy.reports]
    assert kinds == [{"bug_null": "read-unmapped", "bug_loop": "budget",
                      "bug_memloop": "budget", "bug_widefield": "budget",
                      "bug_bigset": "kernel-fault", "bug_hooknull": "kernel-fault",
                      "bug_hookkwtext": "kernel-fault", "bug_kwtext": "write-protected",
                      "bug_rodata": "write-protected", "bug_text": "write-protected",
                      "bug_unhooked": "unhooked-call", "bug_panic": "panic"}.get(
                          name, kinds[0])], kinds
    assert kinds[0] in ("trap", "invalid-instruction") or name != "bug_trap"
    assert ek.kernel.lookup(name) is None
    # the simulator keeps running: another module loads and unloads
    assert ek.load("formats")[0] == 0 and ek.unload("formats")[0] == 0


def test_a_call_into_the_kernels_data_is_a_panic_not_a_dead_process(bug_kernel,
                                                                    built_tree) -> None:
    """mips64eb hooks each kernel symbol only (delay slots), and unicorn translates a block
    before its first hook runs: a module calling ``vfs_list`` (a fuzzed module whose call
    to kauth_listen_scope was renamed) had the zero words after it translated as one block
    of some 800 no-ops, and the process died with SIGSEGV; so did a call past the return
    address, into the rest of the exit trampoline's page.  Run in a process of its own,
    as the fuzzer found it."""
    ek = bug_kernel("evbmips-mips64eb")
    target = ek.kernel.target
    res = subprocess.run([sys.executable, "-m", "kmodbuild", "sim", "--root", str(ek.stand),
                          "--arch", target.name, "--version", "10.0", "--manifest",
                          str(built_tree.manifest(target.key))],
                         input="modload bug_kdata\nmodload bug_exitpage\nmodload formats\n",
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 0, (res.returncode, res.stderr[-2000:])
    lines = res.stdout.splitlines()
    assert lines[0].startswith("panic: bug_kdata: modcmd(INIT): call to kernel function "
                               "`vfs_list' which has no hook"), lines
    assert "modload: bug_kdata: Bad address" in lines
    assert any(re.fullmatch(r"panic: bug_exitpage: modcmd\(INIT\): break instruction in the "
                            r"block at bug_exitpage\+0x[0-9a-f]+ \(bug_exitpage_modcmd\+0x"
                            r"[0-9a-f]+\)", ln) for ln in lines), lines
    assert "modload: bug_exitpage: Bad address" in lines
    assert not any(ln.startswith("modload: formats") for ln in lines), lines


@pytest.mark.parametrize("target", ALL_TARGETS)
def test_a_long_straight_run_is_not_translated_where_unicorn_cannot(bug_kernel, built_tree,
                                                                     target: str) -> None:
    """500 instructions without a branch: unicorn 2.1.4's MIPS64 dies translating them
    (SIGSEGV), so there the modcmd is not emulated and the console says why; elsewhere
    it runs."""
    ek = bug_kernel(target)
    error, out = ek.load("bug_long")
    assert error == 0, out
    if target == "evbmips-mips64eb":
        assert any(re.fullmatch(r"emulate: module `bug_long' has 5\d\d instructions without a "
                                r"branch at bug_long\+0x[0-9a-f]+, more than unicorn [\d.]+ can "
                                r"translate on mips64eb: its modcmd is not emulated", line)
                   for line in out), out
    else:
        assert not any(line.startswith("emulate: ") for line in out), out
    assert ek.unload("bug_long")[0] == 0
    assert ek.load("formats")[0] == 0 and ek.unload("formats")[0] == 0
    # a whole-tree validation loads it too, and its note says what was not emulated
    from kmodbuild.simvalidate import validate_tree
    res = validate_tree(ek.stand, ek.kernel.target, "10.0", built_tree.manifest(
        ek.kernel.target.key), names=["bug_long", "formats"])
    assert res.ok, res.failures
    assert sorted(res.loaded) == ["bug_long", "formats"]
    declined = "module `bug_long' has 5"
    assert (declined in (res.note or "")) == (target == "evbmips-mips64eb"), res.note


@pytest.mark.parametrize("target", ALL_TARGETS)
def test_leak_is_reported_at_unload(bug_kernel, target: str) -> None:
    ek = bug_kernel(target)
    error, out = ek.load("bug_leak")
    assert error == 0 and re.fullmatch(r"bug_leak: buffer at 0x[0-9a-f]+", out[0]), out
    error, out = ek.unload("bug_leak")
    assert error == 0                               # a leak does not stop the unload
    assert len(out) == 1 and re.fullmatch(
        r"WARNING: bug_leak: memory leak: 64 bytes allocated by bug_leak\+0x[0-9a-f]+ "
        r"\(bug_leak_modcmd\+0x[0-9a-f]+\) in INIT not freed by FINI \(kmem 0x[0-9a-f]+\)",
        out[0]), out
    assert [r.kind for r in ek.strategy.reports] == ["leak"]
    # reported once: loading and unloading again reports the new block only
    ek.load("bug_leak")
    ek.unload("bug_leak")
    assert [r.kind for r in ek.strategy.reports] == ["leak", "leak"]


@pytest.mark.parametrize("target", ALL_TARGETS)
def test_missing_detach_in_fini(bug_kernel, target: str) -> None:
    ek = bug_kernel(target)
    assert ek.load("bug_nodetach") == (0, [])
    assert ek.kernel.vfs_list() == ["bugfs"]
    error, out = ek.unload("bug_nodetach")
    assert error == 0
    assert out == ["WARNING: bug_nodetach: unloaded with its file system `bugfs' still "
                   "registered (registered by bug_nodetach; FINI did not call vfs_detach): "
                   "the kernel would use freed memory"]
    assert ek.kernel.vfs_list() == []              # the simulation drops it and goes on
    assert ek.load("bug_nodetach")[0] == 0         # ... so it can register again


MUTEX = r"bug_lock:data\+0x[0-9a-f]+ \(bug_lock_mtx\+0x0\)"
TAKEN = r"bug_lock\+0x[0-9a-f]+ \(bug_lock_modcmd\+0x[0-9a-f]+\)"


@pytest.mark.parametrize("target", ALL_TARGETS)
def test_a_mutex_left_held_is_reported(bug_kernel, target: str) -> None:
    """A modcmd returning with a mutex held leaves it to a thread back in user space:
    a warning when it returns; the next mutex_enter (another module's modload) stops
    naming where it was left held instead of "locking against myself"; the module's
    own FINI, another thread, finds it not its own: mutex_owned false, mutex_exit "not
    owner".  A panicking modcmd's mutexes are let go, so the simulation goes on."""
    ek = bug_kernel(target)
    error, out = ek.load("bug_lock")
    assert error == 0
    assert len(out) == 1 and re.fullmatch(
        rf"WARNING: bug_lock: modcmd\(INIT\) returned holding mutex {MUTEX} \(taken by "
        rf"{TAKEN}\): the next mutex_enter of it, from any other thread, sleeps for ever",
        out[0]), out
    assert [(r.kind, r.command, r.fatal) for r in ek.strategy.reports] == \
        [("lock", "INIT", False)]
    left = (rf"bug_lock's modcmd\(INIT\) returned holding it \(mutex_enter of {MUTEX} "
            rf"called from {TAKEN}\)")
    from kmodbuild.kapi import mutex
    error, out = ek.load("bug_lockuser")
    assert error == EFAULT
    # the failed modcmd's own mutex is let go with it
    assert [h.module for h in mutex.holders(ek.strategy.machine.k).values()] == ["bug_lock"]
    _check_fault(out, "bug_lockuser", "INIT",
                 r"mutex_enter: mutex 0x[0-9a-f]+ is held by another thread for good: "
                 + left + r"; this thread would sleep for ever \(in mutex_enter\(\) called "
                 r"from bug_lockuser\+0x[0-9a-f]+ \(bug_lockuser_modcmd\+0x[0-9a-f]+\)\)")
    error, out = ek.unload("bug_lock")
    assert error == EFAULT and "bug_lock: still mine" not in out, out
    _check_fault(out, "bug_lock", "FINI",
                 r"mutex_exit: not owner: mutex 0x[0-9a-f]+ is held by another thread: "
                 + left + r" \(in mutex_exit\(\) called from " + TAKEN + r"\)")
    assert ek.kernel.lookup("bug_lock") is not None     # FINI failed: it stays loaded


def test_validation_fails_on_a_mutex_left_held(bug_kernel, built_tree) -> None:
    from kmodbuild.simvalidate import validate_tree
    ek = bug_kernel("amd64")
    target = ek.kernel.target
    res = validate_tree(ek.stand, target, "10.0", built_tree.manifest(target.key),
                        names=["bug_lock", "formats"])
    assert {(f.module, f.operation, f.code) for f in res.failures} == {
        ("bug_lock", "load", 0), ("bug_lock", "unload", EFAULT)}
    held = next(f for f in res.failures if f.operation == "load")
    assert str(held).startswith("bug_lock: load failed: modcmd(INIT) returned holding mutex "
                                "bug_lock:data+0x"), str(held)


def test_a_panicking_modcmd_lets_its_mutexes_go(bug_kernel) -> None:
    """What a panicking modcmd's code holds is let go (its mutex can be taken again),
    not what an earlier modcmd left held; mutex_init of the memory forgets a holder."""
    from kmodbuild.kapi import mutex
    ek = bug_kernel("amd64")
    assert ek.load("formats")[0] == 0
    m = ek.strategy.machine
    k = m.k
    addr = k.alloc(32)
    k.current = "formats"
    mutex.mutex_init(k, addr, 2, 0)
    mutex.mutex_enter(k, addr)
    assert mutex.mutex_owned(k, addr) == 1
    mutex.release(k, "formats")
    assert mutex.mutex_owned(k, addr) == 0 and addr not in mutex.holders(k)
    mutex.mutex_enter(k, addr)                          # free again: no panic
    assert mutex.left_held(k, "formats", "INIT") and mutex.mutex_owned(k, addr) == 0
    mutex.release(k, "formats")                         # left held: not this modcmd's
    assert addr in mutex.holders(k)
    mutex.mutex_init(k, addr, 2, 0)                     # the memory used again
    assert addr not in mutex.holders(k)
    k.current = ""


@pytest.mark.parametrize("target", ["amd64", "i386", "evbarm-aarch64", "sparc64",
                                    "evbmips-mips64eb"])
def test_fini_faults_keep_the_module(bug_kernel, target: str) -> None:
    ek = bug_kernel(target)
    assert ek.load("bug_finull")[0] == 0
    error, out = ek.unload("bug_finull")
    assert error == EFAULT
    _check_fault(out, "bug_finull", "FINI", r"write to unmapped address 0x0 \(NULL pointer "
                 r"dereference\), at " + WHERE)
    assert ek.kernel.lookup("bug_finull") is not None     # FINI failed: it stays loaded
    assert ek.load("bug_badfree")[0] == 0
    error, out = ek.unload("bug_badfree")
    assert error == EFAULT
    _check_fault(out, "bug_badfree", "FINI",
                 r"kmem_free: 0x[0-9a-f]+ freed with size 16, allocated with 32 by " + WHERE
                 + r" \(in kmem_free\(\) called from " + WHERE + r"\)")


@pytest.mark.parametrize("target", ALL_TARGETS)
def test_printf_conversions(bug_kernel, target: str) -> None:
    ek = bug_kernel(target)
    error, out = ek.load("formats")
    lbits = 64 if ek.kernel.target.pointer_size == 8 else 32
    assert error == 0
    assert out == [
        "d=-42 u=42 x=beef X=BEEF o=10 c=k s=emu",
        "w=[   42] [42   ] [00042] [007] [     emu] [emu     ] [em]",
        f"ld=-1234567890 lu={(-1234567890) % (1 << lbits)} lld=-1234567890123 "
        f"llx=fffffee08e04fb35 zu=4096",
        "p=0x1234 null=(null) pct=% many=1 2 3 4 5 6 7 8 9",
        "mixed=1 4294967298 3 four -5 z",
    ]


@pytest.mark.parametrize("target", ["amd64", "i386", "evbarm-aarch64", "riscv-riscv64",
                                    "evbppc-powerpc"])
def test_a_smashed_return_address_is_said_so(bug_kernel, target: str) -> None:
    """A return to an overwritten return address named a "caller" computed from it
    (``called from -0x5``, ``called from 0x7a7973``).  (The other ports: the return
    address stays in a register, or the overrun ends elsewhere.)"""
    ek = bug_kernel(target)
    error, out = ek.load("bug_smash")
    assert error == EFAULT, out
    _check_fault(out, "bug_smash", "INIT", r"jump to unmapped address 0x[0-9a-f]+, from no "
                 r"known caller \(a return address overwritten: stack smashed\?\)")


def test_a_tail_call_is_said_to_be_one(bug_kernel) -> None:
    """``return f(...);`` compiled to a jump: f's return address is the exit trampoline,
    and the "caller" was an address in it (``called from 0x802ffffb``).  earmv7 makes
    this one a tail call (the other ports convert the result after the call)."""
    ek = bug_kernel("evbarm-earmv7hf")
    error, out = ek.load("bug_tailcall")
    assert error == EFAULT, out
    assert out[0] == ("panic: bug_tailcall: modcmd(INIT): strlen() called from the end of the "
                      "modcmd (a tail call: return f(...)) faulted: read of unmapped address "
                      "0x8"), out


@pytest.mark.parametrize("target", ALL_TARGETS)
def test_division_the_cpu_lacks_is_the_kernels(bug_kernel, target: str) -> None:
    """On 32-bit ports the compiler calls the kernel for 64-bit division (i386: __divdi3...)
    and, on ARM, for any (__aeabi_idiv..., __aeabi_ldivmod): those had no hook, and a
    module dividing failed its simulated load ("call to kernel function ... which has
    no hook")."""
    ek = bug_kernel(target)
    assert ek.load("divide32") == (0, ["divide32: -100 -7 571428571 3"])
    error, out = ek.load("divide")
    if target == "evbppc-powerpc":
        # clang's call to __divdi3 ignores -mlongcall: an R_PPC_REL24 branch, which
        # NetBSD's powerpc kobj refuses (spec 2.4) -- as the kernel would
        assert error == 8 and out[0] == "kobj_reloc: unexpected relocation type 10", out
    else:       # (ARM: __aeabi_ldivmod, {quotient, remainder} in {r0:r1, r2:r3})
        assert (error, out) == (0, ["divide: -10309278350 -57 18364758544493064 720"]), out


@pytest.mark.parametrize("target", ALL_TARGETS)
def test_kernel_calls_back_into_the_module(bug_kernel, target: str) -> None:
    """vfs_init/vfs_done, a secmodel's eval and a kauth listener with seven arguments."""
    ek = bug_kernel(target)
    assert ek.load("callbacks") == (0, [
        "callbacks: vfs_init",
        "callbacks: eval 0 -> 104, time 1 (action 14, arg3 0x77), module 1 (action 15)"])
    assert ek.unload("callbacks") == (0, ["callbacks: vfs_done"])
    assert ek.strategy.reports == []


@pytest.mark.parametrize("unload_log", ["kept", "dropped"])
def test_validation_fails_on_leaks_and_leftovers(bug_kernel, built_tree, monkeypatch,
                                                 unload_log) -> None:
    from kmodbuild.simvalidate import validate_tree
    if unload_log == "dropped":
        cut_unload_log(monkeypatch)
    ek = bug_kernel("amd64")
    target = ek.kernel.target
    res = validate_tree(ek.stand, target, "10.0", built_tree.manifest(target.key),
                        names=["bug_leak", "bug_nodetach", "formats", "bug_null"])
    failures = {(f.module, f.operation, f.code) for f in res.failures}
    assert failures == {("bug_leak", "unload", 0), ("bug_nodetach", "unload", 0),
                        ("bug_null", "load", EFAULT)}
    leak = next(f for f in res.failures if f.module == "bug_leak")
    assert str(leak).startswith("bug_leak: unload failed: memory leak: 64 bytes allocated by "
                                "bug_leak+0x")
    crash = next(f for f in res.failures if f.operation == "load")
    lines = str(crash).splitlines()
    assert lines[0] == "bug_null: load failed: Bad address (EFAULT)"
    assert lines[1].startswith("    panic: bug_null: modcmd(INIT): read from unmapped address "
                               "0x0 (NULL pointer dereference), at bug_null+0x")


@pytest.mark.parametrize("target", ALL_TARGETS)
def test_the_c_library_at_its_edges(bug_kernel, target: str) -> None:
    """Where the hooks differed from NetBSD's C: strings were cut at 4 KiB (snprintf's
    length too), snprintf wrote into a NULL buffer, kmem_strfree(NULL) and a memchr
    bounded past its buffer faulted, a copyin from a bad address stopped the modcmd
    (NetBSD returns EFAULT), %n was printed."""
    ek = bug_kernel(target)
    error, out = ek.load("edges")
    assert error == 0, out
    assert out == ["edges: lengths 5000 4500 3 5000", "edges: memchr 40",
                   f"edges: copyin {EFAULT} copyout {EFAULT}", "edges: abcd 9"], out


def test_kmem_flags_and_memcmp_across_pages(bug_kernel) -> None:
    """kmem_alloc with neither KM_SLEEP nor KM_NOSLEEP panics (subr_kmem.c's KASSERT);
    memcmp reads a page at a time and answers at the first difference."""
    from kmodbuild.kapi import kmem, libkern
    from kmodbuild.kapi._kernel import Panic
    ek = bug_kernel("amd64")
    assert ek.load("formats")[0] == 0
    k = ek.strategy.machine.k
    with pytest.raises(Panic, match="neither KM_SLEEP nor KM_NOSLEEP"):
        kmem.kmem_alloc(k, 16, 0)
    a, b = k.alloc(3 * 4096), k.alloc(3 * 4096)
    data = bytes(range(256)) * 48
    k.mem.write(a + 100, data[:9000])
    k.mem.write(b + 3000, data[:9000])
    assert libkern.memcmp(k, a + 100, b + 3000, 9000) == 0
    k.mem.write(b + 3000 + 6000, b"\xff")
    assert libkern.memcmp(k, a + 100, b + 3000, 9000) == data[6000] - 0xFF
    assert libkern.memcmp(k, a + 100, b + 3000, 6000) == 0
