"""Findings of the simulator audits: each test failed (crash, hang, wrong answer) before.

Trees of hundreds of modules are made from two compiled templates: a module
``q00000`` requiring ``q99999`` and one requiring nothing; every other module is
a template with those six-character names replaced by its own (the same length,
so the ELF file stays valid).  A hang is caught with an alarm.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kmodbuild import cli, simboot
from kmodbuild.kobj import (
    EBUSY,
    EDEADLK,
    EEXIST,
    ENAMETOOLONG,
    ENOENT,
    ENOMEM,
    EOPNOTSUPP,
    EPERM,
)
from kmodbuild.manifest import ManifestSymbol, make_manifest, write_if_changed
from kmodbuild.scenario import (
    ScenarioError,
    Session,
    _match,
    parse_scenario,
    run_scenario,
)
from kmodbuild.simulator import (
    MAXPROPSLEN,
    MODULE_CLASS_MISC,
    KernelConfig,
    Module,
    SimKernel,
    props_length,
    symbols_from_manifest,
)
from kmodbuild.simvalidate import dependency_order, validate_tree
from kmodbuild.target import NetBSDVersion, get_target
from tests.sim.conftest import KERNEL_SYMBOLS, MODSRC, _compile

REPO = Path(__file__).resolve().parents[2]
TARGET = get_target("amd64")
VERSION = NetBSDVersion.parse("10.0")
LONG = "x" * 300                    # a path component longer than NAME_MAX (255)


@contextlib.contextmanager
def within(seconds: int) -> Iterator[None]:
    """Fail (TimeoutError) instead of hanging when the body takes longer."""
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------- generated trees

@dataclass
class GenTree:
    """A stand of generated modules and its kernel manifest."""

    stand: Path
    manifest: Path
    symbols: tuple[tuple[str, int], ...]

    @property
    def module_dir(self) -> Path:
        return self.stand / TARGET.kmodulearchdir / VERSION.osrelease / "modules"

    def kernel(self, **kw: object) -> SimKernel:
        config = KernelConfig(TARGET, VERSION, symbols=self.symbols, **kw)  # type: ignore[arg-type]
        return SimKernel(config, self.stand, cwd=self.stand)

    def session(self) -> Session:
        stand = self.stand
        return Session(self.kernel(), lambda cfg: SimKernel(cfg, stand, cwd=stand), cwd=stand)


@pytest.fixture(scope="module")
def make_tree(tmp_path_factory: pytest.TempPathFactory):
    """``make_tree(label, {name: required or None})``: a stand of those modules (names of
    six characters; ``required`` a comma-separated list of any length)."""
    base = tmp_path_factory.mktemp("audit")
    work = base / "obj"
    work.mkdir()
    templates: dict[str, bytes] = {}
    for kind, req in (("needs", '"q99999"'), ("leaf", "NULL")):
        src = work / f"{kind}.c"
        src.write_text(f'#include "{MODSRC}/kmod.h"\nMODULE(MODULE_CLASS_MISC, q00000, {req});\n'
                       "PLAIN_MODCMD(q00000)\n")
        _compile(TARGET, VERSION, src, work / f"{kind}.kmod", work)
        templates[kind] = (work / f"{kind}.kmod").read_bytes()
    man = make_manifest(TARGET, VERSION, (ManifestSymbol(n, k, s) for n, k, s in KERNEL_SYMBOLS))
    symbols = symbols_from_manifest(man)

    def make(label: str, modules: dict[str, str | None],
             compiled: dict[str, str] | None = None) -> GenTree:
        root = base / label
        tree = GenTree(root / "stand", root / "netbsd.syms", symbols)
        write_if_changed(tree.manifest, man.render())
        for name, req in modules.items():
            assert len(name) == 6 and (req is None or "," in req or len(req) == 6), name
            d = tree.module_dir / name
            d.mkdir(parents=True)
            if req is not None and len(req) == 6:
                data = templates["needs"].replace(b"q99999", req.encode())
            else:
                data = templates["leaf"]
            (d / f"{name}.kmod").write_bytes(data.replace(b"q00000", name.encode()))
        for name, body in (compiled or {}).items():    # other modules, compiled
            d = tree.module_dir / name
            d.mkdir(parents=True)
            src = work / f"{name}.c"
            src.write_text(f'#include "{MODSRC}/kmod.h"\n{body}\n')
            _compile(TARGET, VERSION, src, d / f"{name}.kmod", work)
        return tree
    return make


CHAIN = 1200        # deeper than Python's 1000 frames: the validation's order too


@pytest.fixture(scope="module")
def chain_tree(make_tree) -> GenTree:
    """c00000 requires c00001 ... requires c01199 (requires nothing)."""
    names = [f"c{i:05d}" for i in range(CHAIN)]
    return make_tree("chain", {n: (names[i + 1] if i + 1 < CHAIN else None)
                               for i, n in enumerate(names)})


CYCLE = 200


@pytest.fixture(scope="module")
def cycle_tree(make_tree) -> GenTree:
    """y00000 requires y00001 ... y00199 requires y00000."""
    names = [f"y{i:05d}" for i in range(CYCLE)]
    return make_tree("cycle", {n: names[(i + 1) % CYCLE] for i, n in enumerate(names)})


# --------------------------------------------------------------------------- 2: duplicate built-ins

def test_duplicate_builtins_are_eexist_not_a_hang(amd64_tree) -> None:
    session = amd64_tree.session()
    with within(20):
        res = session.execute("builtin alpha,alpha")
        assert res.output == ["WARNING: module error: builtin alpha failed: 17"]
        stat = session.execute("modstat").output
        assert [line.split()[0] for line in stat[1:]] == ["alpha"]
        assert session.execute("boot").output[0] == \
            "WARNING: module error: builtin alpha failed: 17"
        assert session.kernel.loaded_names() == ["alpha"]


def test_duplicate_builtin_option_is_eexist_not_a_hang(amd64_tree, capsys) -> None:
    with within(20):
        code = cli.main(["sim", "--root", str(amd64_tree.stand), "--version", "10.0",
                         "--manifest", str(amd64_tree.manifest), "--no-emulate",
                         "--builtin", "alpha,alpha", "--script", os.devnull])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.out.splitlines() == ["WARNING: module error: builtin alpha failed: 17"]


def test_module_init_class_always_progresses(amd64_tree) -> None:
    """Even with a second built-in of a name on the list (module_init() refuses it;
    put there by hand), module_init_class ends."""
    k = SimKernel(amd64_tree.config(), amd64_tree.stand, booted=False)
    k.builtins += [Module("twin", MODULE_CLASS_MISC, VERSION.number, None, 0),
                   Module("twin", MODULE_CLASS_MISC, VERSION.number, None, 0)]
    with within(20):
        simboot.module_init_class(k, 0)
    assert k.loaded_names() == ["twin"] and [b.name for b in k.builtins] == ["twin"]


# --------------------------------------------------------------------------- 7: built-in cycles

@pytest.mark.parametrize("spec,names", [("x:misc:x", ["x"]), ("x:misc:y,y:misc:x", ["x", "y"])])
def test_builtin_requiring_itself_is_edeadlk(amd64_tree, spec, names) -> None:
    session = amd64_tree.session()
    with within(20):
        res = session.execute(f"builtin {spec}")
    line = "WARNING: module error: circular dependency detected for built-in module `x'"
    assert res.output == [line]
    assert session.kernel.loaded_names() == []
    assert sorted(b.name for b in session.kernel.builtins) == names
    res = session.execute("modload -f x")
    assert res.error == EDEADLK, res.output


# --------------------------------------------------------------------------- 3: deep chains

def test_modload_of_a_deep_chain(chain_tree) -> None:
    k = chain_tree.kernel()
    with within(120):
        error = k.modctl_load("c00000")
    assert error == 0, k.take_console()[-3:]
    assert len(k.loaded) == CHAIN and k.loaded[0].name == "c00000"
    assert k.lookup("c01199").refcnt == 1 and k.lookup("c00000").refcnt == 0
    assert all(k.modctl_unload(m) == 0 for m in k.loaded_names())


def test_validate_of_a_deep_chain(chain_tree) -> None:
    with within(120):
        res = validate_tree(chain_tree.stand, TARGET, VERSION, chain_tree.manifest,
                            emulate=False)
    assert res.ok, [str(f) for f in res.failures[:3]]
    assert res.order[0] == f"c{CHAIN - 1:05d}" and res.order[-1] == "c00000"
    assert len(res.loaded) == len(res.unloaded) == CHAIN


def test_dependency_order_of_a_long_chain_is_iterative() -> None:
    n = 5000
    requires = {f"m{i}": (f"m{i + 1}",) for i in range(n - 1)} | {f"m{n - 1}": ()}
    order = dependency_order(requires)
    assert order == [f"m{i}" for i in reversed(range(n))]
    # the order of the recursive version: requirements in mi_required order, first visit
    assert dependency_order({"a": ("c", "b"), "b": ("c",), "c": ("a",), "d": ()}) == \
        ["c", "b", "a", "d"]


def test_a_scenario_loading_a_deep_chain(chain_tree, tmp_path: Path) -> None:
    """The scenario `kmodbuild new leaf --requires c01199` writes, on a deeper tree: its
    modload/modunload through `kmodbuild sim` (a subprocess: a crash fails the test)."""
    scn = tmp_path / "leaf.scn"
    scn.write_text("modload c00000\n>*~ (?!c00000: ).*\nexpect error 0\nmodstat c00000\n"
                   ">~ NAME +CLASS +SOURCE +FLAG +REFS +SIZE +REQUIRES *\n"
                   ">~ c00000 +misc +filesys +- +0 +[0-9]+ c00001\nmodunload c00000\n"
                   "expect error 0\n")
    res = subprocess.run(
        [sys.executable, "-m", "kmodbuild", "sim", "--root", str(chain_tree.stand),
         "--version", "10.0", "--manifest", str(chain_tree.manifest), "--no-emulate",
         "--script", str(scn)], capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert res.returncode == 0, res.stderr[-2000:]


def test_recursion_error_is_one_line(amd64_tree, monkeypatch) -> None:
    """Whatever still nests too deeply (emulated modcmds loading modules...) ends a
    scenario with one line naming the file and line."""
    session = amd64_tree.session()

    def deep(*args: object, **kw: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")
    monkeypatch.setattr(session.kernel, "modload", deep)
    with pytest.raises(ScenarioError) as e:
        run_scenario(parse_scenario("modload alpha\n", "t.scn"), session)
    assert str(e.value).startswith("t.scn:1: modload: calls nested too deeply")


# --------------------------------------------------------------------------- 4: long strings

def test_mi_required_longer_than_1024_bytes(make_tree) -> None:
    names = [f"r{i:05d}" for i in range(171)]
    required = ",".join(names)
    assert len(required) > 1024
    tree = make_tree("manyreq", dict.fromkeys(names), compiled={
        "manyrq": f'MODULE(MODULE_CLASS_MISC, manyrq, "{required}");\nPLAIN_MODCMD(manyrq)',
        "lngnam": "MODULE(MODULE_CLASS_MISC, a_module_name_of_forty_characters_xxxxx, NULL);\n"
                  "PLAIN_MODCMD(a_module_name_of_forty_characters_xxxxx)"})
    k = tree.kernel()
    assert k.modctl_load("manyrq") == 0, k.take_console()
    assert len(k.loaded) == 172 and k.lookup("manyrq").required == required
    assert all(k.lookup(n).refcnt == 1 for n in names)
    stat = next(s for s in k.modstat() if s.name == "manyrq")
    assert stat.required == required
    k.take_console()
    assert k.modctl_load("lngnam") == 22
    assert k.take_console() == [("WARNING: module error: module name "
                                 "`a_module_name_of_forty_characters_xxxxx' longer than 32")]


# --------------------------------------------------------------------------- 5: MAXPROPSLEN

def test_props_longer_than_maxpropslen_are_enomem(amd64_tree) -> None:
    session = amd64_tree.session()
    big = "x" * 5000
    res = session.execute(f"modload -s k={big} alpha")
    assert (res.error, res.output) == (ENOMEM, ["modload: alpha: Cannot allocate memory"])
    assert session.kernel.loaded_names() == []
    # checked in sys_module.c, before module_load()'s EEXIST and the permission check
    assert session.execute("modload alpha").error == 0
    assert session.execute(f"modload -s k={big} alpha").error == ENOMEM
    session.execute("uid 1000")
    assert session.execute(f"modload -s k={big} beta").error == ENOMEM
    assert session.execute("modload -s k=short beta").error == EPERM
    session.execute("uid 0")
    # the limit is on the externalized XML: a blob of exactly MAXPROPSLEN bytes loads
    pad = MAXPROPSLEN - props_length({"k": ""})
    assert props_length({"k": "y" * pad}) == MAXPROPSLEN
    assert session.execute(f"modload -s k={'y' * pad} beta").error == 0
    assert session.execute("modunload beta").error == 0
    assert session.execute(f"modload -s k={'y' * (pad + 1)} beta").error == ENOMEM


# --------------------------------------------------------------------------- 6: ENAMETOOLONG

@pytest.mark.parametrize("command,output", [
    (f"modload {LONG}", [f"modload: {LONG}: File name too long"]),
    (f"modload /stand/{LONG}/x.kmod", [f"modload: /stand/{LONG}/x.kmod: File name too long"]),
    (f"mount -t {LONG}", [f"mount: {LONG}: Operation not supported by device"]),
    (f"open /dev/{LONG}", [f"open: /dev/{LONG}: Device not configured"]),
    (f"boot load={LONG}", [f"WARNING: couldn't open {LONG} (No such file or directory)"]),
])
def test_name_too_long_is_an_errno(amd64_tree, command, output) -> None:
    session = amd64_tree.session()
    session.execute("sysctl -w kern.module.verbose=1")
    res = session.execute(command)
    assert [o for o in res.output if not o.startswith(("DEBUG", "WARNING: 1 module"))] \
        == output or res.output[:1] == output, res.output
    if command.startswith(("mount", "open")):
        assert f"DEBUG: module: Autoload for `{command.split()[-1].removeprefix('/dev/')}' " \
               f"requested by pid 100 (" in res.output[-2]
        assert res.output[-2].endswith(f"status {ENAMETOOLONG}")
    if command.startswith("modload"):
        assert res.error == ENAMETOOLONG


def test_bootcfg_name_too_long(amd64_tree) -> None:
    session = amd64_tree.session()
    session.execute(f"bootcfg load={LONG}")
    res = session.execute("boot")
    assert res.output[0] == f"WARNING: couldn't open {LONG} (No such file or directory)"


@pytest.mark.parametrize("command", [f"builtin {LONG}", f"boot cfg={LONG}/boot.cfg"])
def test_name_too_long_in_a_scenario_is_one_line(amd64_tree, command) -> None:
    with pytest.raises(ScenarioError) as e:
        run_scenario(parse_scenario(command + "\n", "t.scn"), amd64_tree.session())
    text = str(e.value)
    assert text.startswith("t.scn:1: ") and "\n" not in text
    assert ("File name too long" in text) and len(text) < 200, text


def test_builtin_option_name_too_long_is_one_line(amd64_tree, capsys) -> None:
    code = cli.main(["sim", "--root", str(amd64_tree.stand), "--version", "10.0",
                     "--manifest", str(amd64_tree.manifest), "--no-emulate",
                     "--builtin", LONG, "--script", os.devnull])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "File name too long" in err


# --------------------------------------------------------------------------- 1: self (no emulation)

def test_a_running_modcmd_cannot_load_or_unload_its_module(amd64_tree) -> None:
    """The rule the emulated modcmds meet (tests/emulate/test_emu_selfload.py), with a
    strategy standing for modcmd code."""
    k = amd64_tree.kernel()
    seen: list[tuple[str, int, int]] = []

    class Selfish:
        def run(self, module: Module, cmd: int) -> int:
            if module.name == "sysv_ipc" and cmd == 0:
                seen.append(("autoload", cmd, k.module_autoload("sysv_ipc", MODULE_CLASS_MISC)))
                seen.append(("load", cmd, k.modctl_load("sysv_ipc")))
                # a path naming the same module: EEXIST at step 9
                seen.append(("path", cmd, k.modctl_load(
                    f"{k.module_base}/sysv_ipc/sysv_ipc.kmod")))
            if module.name == "sysv_ipc" and cmd == 1:
                seen.append(("unload", cmd, k.modctl_unload("sysv_ipc")))
            return 0
    k.modcmd_strategy = Selfish()
    with within(20):
        assert k.modctl_load("sysv_ipc") == 0
        assert k.modctl_unload("sysv_ipc") == 0
    assert seen == [("autoload", 0, EEXIST), ("load", 0, EEXIST), ("path", 0, EEXIST),
                    ("unload", 1, EBUSY)]
    assert k.loaded_names() == [] and k.modcmd_running == []


# --------------------------------------------------------------------------- 8: output matching

def test_match_is_not_exponential() -> None:
    actual = ["NAME CLASS"] + [f"m{i} misc filesys" for i in range(16)]
    expected = ["*~.*"] * 14 + ["nope"]           # parse_scenario's form of `>*~ .*`
    start = time.perf_counter()
    with within(20):
        assert not _match(expected, actual)
        assert _match(["*~.*"] * 14 + ["m15 misc filesys"], actual)
    assert time.perf_counter() - start < 2


def test_match_of_thousands_of_lines() -> None:
    with within(20):
        assert _match(["*x"] * 2000, ["x"] * 3000)
        assert _match(["*x"] * 2000, [])
        assert _match(["?a", "*b", "c", "?~d+", "*e"], ["b", "b", "c", "ddd"])
        assert not _match(["?a", "*b", "c"], ["a", "a", "c"])
        assert _match(["x"] * 3000, ["x"] * 3000)
        assert not _match(["x"] * 3000, ["x"] * 2999)


def test_a_scenario_with_many_optional_lines(amd64_tree) -> None:
    text = "".join(f"modload {name}\n" for name in (
        "alpha", "beta", "gamma", "weakprov", "fakefs", "sysv_ipc", "lfs", "nearby", "usealpha",
        "bitbox", "exec_elf64", "noauto", "secmod"))
    text += "modstat\n" + ">*~ .*\n" * 14 + "> nope\n"
    session = amd64_tree.session()
    with within(30):
        res = run_scenario(parse_scenario(text, "t.scn"), session)
    assert len(res.problems) == 1 and "output of 'modstat' differs" in res.problems[0], \
        res.problems


def test_bad_regex_is_one_line_with_the_line() -> None:
    with pytest.raises(ScenarioError) as e:
        parse_scenario("modload alpha\n>~ (unclosed\n", "t.scn")
    assert str(e.value).startswith("t.scn:2: bad regular expression '(unclosed'")


# --------------------------------------------------------------------------- 9: tick

def test_tick_jumps_from_due_time_to_due_time(amd64_tree) -> None:
    session = amd64_tree.session()
    with within(20):
        assert session.execute("mount -t ffs").error == 0        # autoloaded at 0, due at 10
        session.execute("sysctl -w kern.module.autotime=3")
        assert session.execute("modload beta").error == 0        # alpha autoloaded, due at 3
        session.execute("fail ffs AUTOUNLOAD EBUSY")
        session.execute("tick 2")
        assert sorted(session.kernel.loaded_names()) == ["alpha", "beta", "ffs"]
        session.execute("modunload beta")
        session.execute("tick 99999999999999999999")
        assert session.kernel.now == 2 + 99999999999999999999
        # ffs declined once (one attempt per module), alpha unloaded at its time
        assert session.kernel.loaded_names() == ["ffs"]
        session.execute("tick 3000000")
    assert session.kernel.now == 2 + 99999999999999999999 + 3000000


def test_tick_matches_a_pass_per_second(amd64_tree) -> None:
    """The jumps give what a pass every second gives, pass for pass."""
    def run(kernel: SimKernel, step: bool) -> list[tuple[int, list[str]]]:
        out = []
        kernel.sysctl_set("kern.module.autotime", "2")
        for name, at in (("beta", 0), ("gamma", 1), ("weakuser", 1)):
            while kernel.now < at:
                kernel.tick(1)
            kernel.module_autoload(name, 0)
        kernel.faults[("beta", 3)] = 16
        for _ in range(6):
            if step:
                kernel.tick(1)
            else:
                kernel.tick(6)
                break
            out.append((kernel.now, kernel.loaded_names()))
        return out[-1:] if step else [(kernel.now, kernel.loaded_names())]
    assert run(amd64_tree.kernel(), True) == run(amd64_tree.kernel(), False)


# --------------------------------------------------------------------------- 10: verbose, no root

def test_no_vfs_message_before_root_is_mounted(amd64_tree) -> None:
    session = amd64_tree.session(verbose=True)
    assert session.execute("boot root=nope").error != 0
    res = session.execute("modload alpha")
    assert res.error == EOPNOTSUPP
    assert res.output == ["modload: alpha: Operation not supported"]
    res = session.execute("mount -t ffs")
    assert not any("Cannot autoload" in o for o in res.output), res.output
    session.execute("boot")
    res = session.execute("modload nothere")
    assert res.error == ENOENT
    assert "DEBUG: module: Cannot load kernel object `nothere' error=2" in res.output


# --------------------------------------------------------------------------- 11: cycles at scale

def test_validate_of_a_big_cycle_is_bounded(cycle_tree) -> None:
    start = time.perf_counter()
    with within(60):
        res = validate_tree(cycle_tree.stand, TARGET, VERSION, cycle_tree.manifest,
                            emulate=False)
    took = time.perf_counter() - start
    assert len(res.failures) == CYCLE and all(f.code == EDEADLK for f in res.failures)
    lines = "\n".join(str(f) for f in res.failures).splitlines()
    assert len(lines) <= 2 * CYCLE + 20, len(lines)
    first = str(res.failures[0]).splitlines()
    assert first[0] == "y00199: load failed: Resource deadlock avoided (EDEADLK)"
    assert first[1] == "    WARNING: module error: circular dependency detected for `y00199'"
    assert any("more lines)" in line for line in first)
    assert first[-1] == ("    dependency chain: y00199 -> y00000 -> y00001 -> y00002 -> y00003 "
                         "-> y00004 -> ... -> y00198 -> y00199 (200 modules)")
    assert str(res.failures[1]) == (
        "y00198: load failed: Resource deadlock avoided (EDEADLK)\n"
        "    on the dependency cycle the load of `y00199' met (above); not loaded again")
    assert took < 20, took


def test_the_stream_gives_up_at_the_first_failed_load(cycle_tree, monkeypatch) -> None:
    from kmodbuild import simstream
    loads = []
    real = SimKernel.load_object

    def counted(self: SimKernel, host: Path, koname: str):  # type: ignore[no-untyped-def]
        loads.append(koname)
        return real(self, host, koname)
    monkeypatch.setattr(SimKernel, "load_object", counted)
    mdir = cycle_tree.module_dir
    modules = [[n, str(mdir / n / f"{n}.kmod")] for n in sorted(os.listdir(mdir))]
    config = {"stand": str(cycle_tree.stand), "target": TARGET.name, "version": "10.0",
              "manifest": str(cycle_tree.manifest), "modules": modules, "pending": []}
    with within(60), pytest.raises(simstream._GiveUp) as e:
        simstream.run_stream(config)
    assert "a module failed (y00199: load)" in str(e.value)
    assert len(loads) <= CYCLE + 1, len(loads)


# --------------------------------------------------------------------------- 12: failing chains

FAILING = 150
#: A module that does not link: it calls a function the kernel does not have.
UNLINKABLE = ("MODULE(MODULE_CLASS_MISC, b00000, NULL);\nextern int no_such_symbol(void);\n"
              "int b00000_fn(void) { return no_such_symbol(); }\nPLAIN_MODCMD(b00000)")


@pytest.fixture(scope="module")
def failing_chain_tree(make_tree) -> GenTree:
    """f00149 requires f00148 ... requires f00000 requires b00000, which fails to link."""
    names = [f"f{i:05d}" for i in range(FAILING)]
    return make_tree("failchain", {n: (names[i - 1] if i else "b00000")
                                   for i, n in enumerate(names)},
                     compiled={"b00000": UNLINKABLE})


@pytest.fixture(scope="module")
def pending_tree(make_tree) -> GenTree:
    """p00000 requires b00000 (unlinkable), d00000 requires p00000, and x00000/x00000.kmod
    is a module named p00000 requiring d00000: its load meets p00000 pending (EDEADLK)
    where the validation's earlier load of d00000 failed at b00000."""
    return make_tree("pending", {"p00000": "b00000", "d00000": "p00000"}, compiled={
        "b00000": UNLINKABLE,
        "x00000": 'MODULE(MODULE_CLASS_MISC, p00000, "d00000");\nPLAIN_MODCMD(p00000)'})


def _validate_counting(tree: GenTree, monkeypatch, remember: bool = True
                       ) -> tuple[list[str], list[str]]:
    """The failures of a validation of ``tree`` (with or without the memo of failed
    dependency loads) and the modules whose files the kernel linked meanwhile."""
    from kmodbuild import simvalidate
    monkeypatch.setattr(simvalidate, "REMEMBER_FAILED_DEPENDENCIES", remember)
    loads: list[str] = []
    real = SimKernel.load_object

    def counted(self: SimKernel, host: Path, koname: str):  # type: ignore[no-untyped-def]
        loads.append(host.parent.name)
        return real(self, host, koname)
    monkeypatch.setattr(SimKernel, "load_object", counted)
    res = validate_tree(tree.stand, TARGET, VERSION, tree.manifest, emulate=False)
    monkeypatch.setattr(SimKernel, "load_object", real)
    return [str(f) for f in res.failures] + [res.summary()], loads


def test_validate_of_a_chain_failing_at_the_bottom_links_each_module_twice(
        failing_chain_tree, monkeypatch) -> None:
    """Each module's load loaded the chain below it again down to b00000: 11,476 links
    for 151 modules (two million for 2,000).  A dependency load that failed is
    answered again from memory while the kernel is as it was."""
    with within(60):
        failures, loads = _validate_counting(failing_chain_tree, monkeypatch)
    assert len(failures) == FAILING + 2 and failures[-1].endswith(f"{FAILING + 1} failures")
    assert len(loads) <= 2 * (FAILING + 1), len(loads)
    assert loads.count("b00000") == 2
    top = failures[FAILING].splitlines()
    assert top[0] == "f00149: load failed: Exec format error (ENOEXEC)"
    assert top[1] == ("    kobj_checksyms, 0: [b00000]: linker error: symbol `no_such_symbol' "
                      "not found")
    assert top[7] == "    ... (143 more lines)"
    assert top[-1] == ("    WARNING: module error: recursive load failed for `f00149' "
                       "(`f00148' required), error 8")


@pytest.mark.parametrize("label", ["failing_chain_tree", "pending_tree"])
def test_remembered_dependency_failures_say_what_loading_again_says(
        label, request, monkeypatch) -> None:
    """The failures (every line) are those of loading everything again; in the pending
    tree the memo of p00000's failure (at b00000) does not answer its load under the
    module named p00000 (x00000), which the kernel refuses with EDEADLK."""
    tree = request.getfixturevalue(label)
    with within(60):
        again, _ = _validate_counting(tree, monkeypatch, remember=False)
        remembered, loads = _validate_counting(tree, monkeypatch)
    assert remembered == again
    if label == "pending_tree":
        assert again[-2].startswith("x00000: load failed: Resource deadlock avoided (EDEADLK)")
        assert loads.count("p00000") == 3          # once by name, twice as a dependency


def test_cli_validate_of_a_failing_chain_is_unchanged(failing_chain_tree, monkeypatch,
                                                      capsys) -> None:
    """`kmodbuild sim --validate` (text and --json; with the CPU emulation when
    unicorn is there): the same bytes and exit status with and without the memo."""
    from kmodbuild import simvalidate
    argv = ["sim", "--root", str(failing_chain_tree.stand), "--version", "10.0",
            "--manifest", str(failing_chain_tree.manifest), "--validate"]
    runs = []
    for remember in (False, True):
        monkeypatch.setattr(simvalidate, "REMEMBER_FAILED_DEPENDENCIES", remember)
        for extra in ([], ["--json"]):
            with within(120):
                code = cli.main(argv + extra)
            runs.append((code, capsys.readouterr()))
    assert runs[:2] == runs[2:]
    assert [code for code, _ in runs] == [1, 1, 1, 1]
    assert runs[0][1].out.endswith(f"{FAILING + 1} failures\n")


def test_remembered_failures_where_addresses_matter(failing_chain_tree, monkeypatch) -> None:
    """On a port whose links look at addresses (aarch64's range checks), a failure is
    answered from memory only where module_map would put the modules at the same
    addresses: in a chain each load meets the bottom one module further up, so it
    is linked again each time, and says the same."""
    from kmodbuild import simulator
    again, _ = _validate_counting(failing_chain_tree, monkeypatch, remember=False)
    monkeypatch.setattr(simulator, "PLACEMENT_FREE", frozenset())
    with within(60):
        remembered, loads = _validate_counting(failing_chain_tree, monkeypatch)
    assert remembered == again
    assert loads.count("b00000") == FAILING + 1


# --------------------------------------------------------------------------- 13: modcmd -1

def test_a_modcmd_returning_minus_one_is_its_errno_not_a_recursion(make_tree) -> None:
    """-1 (ERESTART) is a value a modcmd may return: the validation took it for its own
    marker of Python's recursion limit and said "nested too deeply", dropping the
    kernel's lines."""
    from kmodbuild.emulate import available
    if not available():
        pytest.skip("unicorn is not installed")
    tree = make_tree("minusone", {}, compiled={
        "retneg": "MODULE(MODULE_CLASS_MISC, retneg, NULL);\n"
                  "static int retneg_modcmd(modcmd_t cmd, void *arg)\n"
                  "{ (void)arg; return cmd == MODULE_CMD_INIT ? -1 : 0; }"})
    res = validate_tree(tree.stand, TARGET, VERSION, tree.manifest, emulate=True)
    (failure,) = res.failures
    text = str(failure)
    assert text.startswith("retneg: load failed: ") and "nested too deeply" not in text, text
    assert failure.code == -1
    assert "error -1" in text, text
