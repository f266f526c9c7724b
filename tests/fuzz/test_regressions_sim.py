"""The bugs a fuzzer of ``kmodbuild sim``'s command loop found (garbled command lines and
scripts on installed trees whose modules were damaged), each pinned here.

1. ``sim --json`` at a terminal (standard input a terminal, standard output a pipe:
   ``kmodbuild sim --json | python3 -m json.tool``) wrote the ``sim>`` prompt of every
   command to standard output, before the document: not JSON.  Now the prompt goes
   where the console goes, standard error.  The document's ``"console"`` was empty there
   too (the loop printed each command's output without keeping it): now it holds them, as
   after a script.
2. ``sim --json --builtin NAME`` whose installed ``NAME.kmod`` is missing or damaged
   exited 1 with its one line and no document on standard output (an exit-1 run with
   ``--json`` always prints one, README).  Now the document comes too, with the line as
   its ``"error"`` (the kernel state of the kernel that was not booted with it).
3. A long command line took time quadratic in its length: ``shlex`` adds each character
   to its token by string concatenation, and a 2 MB ``modload xxx...`` took 74 s (a
   10 MB one, half an hour).  Now split in linear time, with shlex's exact answers.
4. A ``boot cfg=FILE`` of many ``load=`` lines took time quadratic in their number (the
   boot.cfg parser and the boot loader kept the names seen in lists): 50,000 lines ran
   45 s, 200,000 hours.  Now sets: 8 s for 50,000 (each is looked for on disk).
5. Power-on looked for each built-in's name in the list of those before it: 8,000
   built-ins (``builtin b0:misc,b1:misc,...``) took 7 s to boot, 30,000 well over a
   minute.  Now a set.
"""
from __future__ import annotations

import json
import os
import pty
import random
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from kmodbuild import cli
from kmodbuild.scenario import split_words
from tests.conftest import REPO
from tests.fuzz.fuzzlib import run_cli


def test_interactive_json_prompt_stays_off_stdout(tmp_path: Path) -> None:
    (tmp_path / "stand").mkdir()
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kmodbuild", "sim", "--root", str(tmp_path / "stand"),
             "--arch", "amd64", "--version", "10.0", "--no-emulate", "--json"],
            stdin=secondary, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=tmp_path)
        os.close(secondary)
        secondary = -1
        os.write(primary, b"modstat\nsysctl kern.securelevel\n\x04")
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(primary)
        if secondary != -1:
            os.close(secondary)
    assert proc.returncode == 0, err
    doc = json.loads(out)                   # the document alone
    assert doc["status"] == 0 and "kern.securelevel = -1" in doc["console"], doc
    assert b"sim> " in err and b"sim> " not in out


@pytest.mark.parametrize("damage", [None, b"not an ELF file", b"\x7fELF\x02\x01\x01"])
def test_json_document_when_a_builtin_cannot_be_read(tmp_path: Path, damage: bytes | None,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    mdir = tmp_path / "stand" / "amd64" / "10.0" / "modules"
    mdir.mkdir(parents=True)
    if damage is not None:
        (mdir / "hello").mkdir()
        (mdir / "hello" / "hello.kmod").write_bytes(damage)
    script = tmp_path / "s.scn"
    script.write_text("modstat\n")
    code = cli.main(["sim", "--root", str(tmp_path / "stand"), "--arch", "amd64", "--version",
                     "10.0", "--no-emulate", "--json", "--builtin", "hello", "--script",
                     str(script)])
    out, err = capsys.readouterr()
    assert code == 1, err
    doc = json.loads(out)
    line = [ln for ln in err.splitlines() if "warning" not in ln]
    assert len(line) == 1 and "Traceback" not in err, err
    assert doc["status"] == 1 and doc["error"] == line[0] and doc["loaded"] == [], doc
    assert doc["machine"] == "amd64" and doc["version"] == "10.0"


def test_long_command_line_is_split_in_linear_time(tmp_path: Path) -> None:
    (tmp_path / "stand").mkdir()
    script = tmp_path / "long.scn"
    script.write_text("modload " + "x" * 2_000_000 + "\nmodunload 'y" + "z" * 1_000_000
                      + "'\n")
    r = run_cli(["sim", "--root", str(tmp_path / "stand"), "--arch", "amd64", "--version",
                 "10.0", "--no-emulate", "--script", str(script)], 20.0)
    assert not r.timed_out and r.escaped is None and r.rc == 0, (r.rc, r.err[-500:])
    lines = r.out.splitlines()
    assert lines[-2].startswith("modload: xxxx") and lines[-2].endswith(
        ": File name too long"), lines[-2][-100:]
    assert lines[-1].startswith("modunload: yzzz"), lines[-1][:100]


def test_split_words_is_shlex() -> None:
    """Word for word and error for error, on strings of the characters shlex treats
    specially (white space, comments, both quotes, the escape) and others."""
    alphabet = list(" \t\r\n#'\"\\ab\x00\u00e9-=")
    for k in range(30000):
        rng = random.Random(k)
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        try:
            want: object = shlex.split(text, comments=True)
        except ValueError as e:
            want = str(e)
        try:
            got: object = split_words(text)
        except ValueError as e:
            got = str(e)
        assert got == want, text


def test_many_boot_loads_are_linear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kmodbuild import simboot
    from kmodbuild.simulator import KernelConfig, SimKernel
    from kmodbuild.target import NetBSDVersion, get_target
    from tests.fuzz.fuzzlib import CaseTimeout, limits

    def timed(fn, *a):          # noqa: ANN001, ANN202
        try:
            with limits(20.0, 0):
                return fn(*a)
        except CaseTimeout:
            pass
        pytest.fail(f"{fn.__name__}: no answer after 20 s")     # (outside the handler)

    n = 200_000
    text = "".join(f"load=m{i}\n" for i in range(n)) + "load=m7\n"
    loads = timed(simboot.parse_bootcfg, text)
    assert len(loads) == n and loads[:2] == ["m0", "m1"]
    (tmp_path / "stand").mkdir()
    kernel = SimKernel(KernelConfig(get_target("amd64"), NetBSDVersion.parse("10.0")),
                       tmp_path / "stand")
    monkeypatch.setattr(simboot, "_loader_path", lambda k, entry: [])   # (no disk lookups)
    timed(simboot.boot, kernel, loads + loads, None)
    console = kernel.take_console()
    assert console[-2:] == [f"WARNING: {n} modules failed to load",
                            "kern.module.path=/stand/amd64/10.0/modules"], console[-3:]


def test_many_builtins_power_on_in_linear_time(tmp_path: Path) -> None:
    from kmodbuild.simulator import MODULE_CLASS_MISC, BuiltinSpec, KernelConfig, SimKernel
    from kmodbuild.target import NetBSDVersion, get_target
    from tests.fuzz.fuzzlib import CaseTimeout, limits
    n = 30_000
    specs = tuple(BuiltinSpec(f"b{i}", MODULE_CLASS_MISC) for i in range(n))
    config = KernelConfig(get_target("amd64"), NetBSDVersion.parse("10.0"),
                          builtins=specs + specs[:3])
    (tmp_path / "stand").mkdir()
    kernel = None
    try:
        with limits(20.0, 0):
            kernel = SimKernel(config, tmp_path / "stand", booted=False)    # reset() only
    except CaseTimeout:
        pass
    if kernel is None:
        pytest.fail("power-on: no answer after 20 s")
    assert len(kernel.builtins) == n
    assert kernel.take_console() == [f"WARNING: module error: builtin b{i} failed: 17"
                                     for i in range(3)]
