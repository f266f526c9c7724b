"""Regressions of the text-input fuzzing campaign (manifests, scenarios, METALOGs, ABI
JSON, versions, build stamps, --cache, command-line paths): each was a traceback or a
hang; each is now one line naming the file (and line) and an exit code.

1. Numbers of 4,300 digits or more (Python's ``int()`` limit) in a manifest's size or
   ``__NetBSD_Version__``, a METALOG ``size=``, a VERSION field, SOURCE_DATE_EPOCH and
   the scenario commands ``tick``/``uid``/``kernel syscall``/``syscall``/``expect error``.
2. ``>~`` regular expressions that ``re`` refuses with OverflowError, ValueError or
   RecursionError rather than ``re.error``.
3. An ABI description (``netbsd.abi``) nested too deeply for ``json``.
4. NUL bytes (a METALOG path ``\\000``, a scenario's ``boot cfg=``/``modload`` name) and
   names too long for the system (``verify``, ``sim --root``, a METALOG path, DESTDIR).
5. A METALOG that is a FIFO: ``verify`` and ``package`` waited for a writer forever.
6. A build stamp (``build/.fastpath.json``) of another shape stopped every later scons.
7. ``check --cache FILE`` replaced any file with its cache (a kernel, a METALOG).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import threading
from pathlib import Path

import pytest

from kmodbuild import cli
from kmodbuild.abi import AbiError, parse_abi
from kmodbuild.errors import InstallError, KmodError, ManifestError, TargetError, UsageError
from kmodbuild.manifest import MAGIC, parse_manifest
from kmodbuild.metalog import parse as parse_metalog
from kmodbuild.metalog import read_metalog
from kmodbuild.scenario import ScenarioError, _number, parse_scenario
from kmodbuild.target import NetBSDVersion

HUGE = "9" * 5000
HEADER = (f"{MAGIC}\n# MACHINE=amd64\n# MACHINE_ARCH=x86_64\n# VERSION=10.0\n"
          "# __NetBSD_Version__=1000000000\n")
FILE = ("./stand/amd64/10.0/modules/hello/hello.kmod type=file mode=0444 size=12 sha256="
        + "0" * 64 + "\n")


def _cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(argv)
    assert "Traceback" not in err.getvalue(), err.getvalue()
    return code, err.getvalue()


# ---- 1. huge numbers

@pytest.mark.parametrize("text", [
    HEADER + f"printf\tfunc\t{HUGE}\t-\n",                       # the fast parser
    HEADER + f"# a comment\nprintf\tfunc\t{HUGE}\t-\n",          # the line-by-line one
    HEADER.replace("=1000000000", "=" + HUGE) + "printf\tfunc\t1\t-\n",
])
def test_manifest_huge_numbers(text: str) -> None:
    with pytest.raises(ManifestError) as e:
        parse_manifest(text, "k.syms")
    assert str(e.value).startswith("k.syms:")


def test_version_with_a_huge_field() -> None:
    with pytest.raises(TargetError):
        NetBSDVersion.parse("10." + HUGE)
    with pytest.raises(TargetError):
        NetBSDVersion.parse("١٠.٠")                # \d would take Arabic-Indic digits


def test_metalog_huge_size() -> None:
    with pytest.raises(KmodError, match="METALOG:3: malformed"):
        parse_metalog("#mtree v2.0\n\n" + FILE.replace("size=12", "size=" + HUGE),
                      Path("METALOG"))


def test_scenario_numbers_have_a_bound() -> None:
    assert _number("12") and not _number(HUGE)
    with pytest.raises(ScenarioError, match=r"s.scn:2: unknown errno"):
        parse_scenario(f"modstat\nexpect error {HUGE}\n", "s.scn")


def test_syscall_number_with_a_huge_number() -> None:
    from kmodbuild.simevents import syscall_number

    class K:
        class config:                       # noqa: N801 - a stand-in
            syscalls: dict[int, tuple[str, str]] = {}
    assert syscall_number(K(), HUGE) is None   # type: ignore[arg-type]


def test_source_date_epoch_huge(monkeypatch: pytest.MonkeyPatch) -> None:
    from kmodbuild import sets
    monkeypatch.setenv("SOURCE_DATE_EPOCH", HUGE)
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        sets._mtime()


# ---- 2. regular expressions re refuses otherwise

@pytest.mark.parametrize("regex", ["a{99999999999}", "a{" + HUGE + "}", "(" * 2000 + ")" * 2000])
def test_scenario_regex_errors_have_the_line(regex: str) -> None:
    with pytest.raises(ScenarioError, match=r"s.scn:2: bad regular expression"):
        parse_scenario(f"modstat\n>~{regex}\n", "s.scn")


# ---- 3. JSON nested too deeply

def test_abi_nested_too_deeply() -> None:
    with pytest.raises(AbiError, match="x.abi: .*nested too deeply"):
        parse_abi("[" * 100000 + "]" * 100000, "x.abi")


# ---- 4. NUL bytes, names too long

def test_metalog_path_with_a_nul_byte() -> None:
    with pytest.raises(KmodError, match="METALOG:2: malformed METALOG line .*NUL"):
        parse_metalog("#mtree v2.0\n" + FILE.replace("hello.kmod", "he\\000llo.kmod"),
                      Path("METALOG"))


def test_symlink_in_path_with_a_name_too_long(tmp_path: Path) -> None:
    from kmodbuild.install import symlink_in_path
    with pytest.raises(InstallError, match="cannot look at it"):
        symlink_in_path(tmp_path, "x" * 300)


def test_plain_below_with_a_nul_byte(tmp_path: Path) -> None:
    from kmodbuild.simulator import _plain_below
    assert _plain_below(str(tmp_path), "a\0b") is False


@pytest.mark.parametrize("argv", [["verify", "x" * 5000],
                                  ["sim", "--root", "x" * 5000, "--validate"]])
def test_roots_with_names_too_long(argv: list[str]) -> None:
    code, err = _cli(argv)
    assert code == 2 and err.count("\n") == 1


# ---- 5. a METALOG that is a FIFO

def test_metalog_fifo_is_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "METALOG"
    os.mkfifo(fifo)
    out: list[BaseException] = []

    def read() -> None:
        try:
            read_metalog(fifo)
        except BaseException as e:  # noqa: BLE001
            out.append(e)
    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():                        # unblock the reader before failing
        with open(fifo, "w"):
            pass
        pytest.fail("read_metalog waited on a FIFO")
    assert isinstance(out[0], KmodError) and "not a regular file" in str(out[0])


# ---- 6. a build stamp of another shape

@pytest.mark.parametrize("edit", [{"input_roots": 5}, {"roots": ["a\0b"]}, None])
def test_fastpath_stamp_of_another_shape(tmp_path: Path, edit: dict | None) -> None:
    from kmodbuild import fastpath
    stamp = tmp_path / ".fastpath.json"
    if edit is None:
        stamp.write_text("[" * 100000)
    else:
        doc = {"roots": [], "files": [], "entries": [], "module_root": str(tmp_path),
               "argv": [], "stamp": os.path.realpath(stamp), **edit}
        stamp.write_text(json.dumps(doc))
    assert fastpath.decide(stamp, []).kind == "full"


# ---- 7. --cache never replaces a file that is not a cache

def test_cache_does_not_replace_another_file(tmp_path: Path) -> None:
    from kmodbuild.resultcache import ResultCache
    victim = tmp_path / "netbsd"
    victim.write_bytes(b"\x7fELF kernel")
    rc = ResultCache.load(victim, "tag")
    rc.store("a", (1, 2, 3), {"x": 1})
    with pytest.raises(OSError, match="not a kmodbuild result cache"):
        rc.save()
    assert victim.read_bytes() == b"\x7fELF kernel"


# --------------------------------------------------------------------------- JSON nested deep
# A build-internal JSON file nested deeper than json's recursion limit (damaged, or
# written by hand) raised RecursionError, which no caller caught: a traceback from
# every later build.  Each reader now takes it as it takes any other bad JSON.

_DEEP = "[" * 100_000


def test_build_internal_json_nested_too_deep_is_bad_json(tmp_path: Path) -> None:
    from kmodbuild import buildcheck, fastpath, quickbuild, scons_tool, toolchain
    from kmodbuild.errors import KmodError
    from kmodbuild.target import get_target
    deep = tmp_path / "deep.json"
    deep.write_text(_DEEP)
    assert buildcheck.exports_index([], get_target("amd64"), cache=deep)  # cache ignored
    for reader in (buildcheck._read_index, buildcheck.read_report):
        with pytest.raises(KmodError):
            reader(deep)
    assert fastpath.known_hashes(deep) == {}
    assert fastpath.read_extra(deep) == {}
    (tmp_path / quickbuild.DIRTY_NAME).write_text(_DEEP)
    assert quickbuild.read_dirty(tmp_path) == {"*"}        # rebuild whatever it named
    assert scons_tool._fetched_problem(str(deep), "m.kmod.check").startswith("not JSON")
    assert toolchain.identities([], str(deep), save=False) == []


def test_simulation_memo_nested_too_deep_is_no_memo(tmp_path: Path) -> None:
    from kmodbuild import simmemo
    from kmodbuild.target import NetBSDVersion, get_target
    memo = tmp_path / "simulate.txt.memo"
    memo.write_text(_DEEP)
    assert simmemo.reuse(memo, tmp_path, get_target("amd64"), NetBSDVersion.parse("10.0"),
                         tmp_path / "netbsd.syms", {}) == (None, "no memo")


# --------------------------------------------------------------------------- review findings
# (a review of the fuzzing fixes): the NetBSD cache waited on a FIFO and took a damaged
# length's MemoryError out of load(); a METALOG or modules.order that is a directory
# leaked a descriptor; symlink_in_path stopped at a plain file in the path; a short file
# that is not a cache ("echo > FILE") was refused on every run.

def test_a_fifo_as_the_check_cache_is_no_cache_not_a_wait(tmp_path: Path) -> None:
    import signal
    from kmodbuild.resultcache import ResultCache
    fifo = tmp_path / "cache"
    os.mkfifo(fifo)
    old = signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError()))
    signal.alarm(5)
    import time
    t0 = time.monotonic()
    try:
        rc = ResultCache.load(fifo, "t")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert time.monotonic() - t0 < 2        # (the alarm's TimeoutError is an OSError)
    assert rc.lookup("a", (1, 2, 3)) is None


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_directory_in_place_of_a_file_leaks_no_descriptor(tmp_path: Path) -> None:
    from kmodbuild.linux.scan import _read_order
    from kmodbuild.metalog import read_metalog
    (tmp_path / "METALOG").mkdir()
    (tmp_path / "modules.order").mkdir()
    before = _fds()
    for _ in range(5):
        with pytest.raises(KmodError, match="Is a directory"):
            read_metalog(tmp_path / "METALOG")
        assert _read_order(str(tmp_path))[0] == []
    assert _fds() == before


def test_a_plain_file_in_the_path_is_no_link(tmp_path: Path) -> None:
    from kmodbuild.install import symlink_in_path
    (tmp_path / "stand").write_text("a file where a directory should be\n")
    assert symlink_in_path(tmp_path, "stand/amd64/10.0/modules/x/x.kmod") is None


def test_a_short_file_that_is_not_a_cache_is_replaced(tmp_path: Path) -> None:
    from kmodbuild.resultcache import MAGIC, ResultCache
    path = tmp_path / "cache"
    path.write_text("\n")                       # echo > cache
    rc = ResultCache.load(path, "tag")
    rc.store("a", (1, 2, 3), {"x": 1})
    rc.save()
    assert path.read_bytes().startswith(MAGIC)
