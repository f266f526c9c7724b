"""``kmodbuild sim --emulate/--no-emulate`` and validate_tree's fallback note."""
from __future__ import annotations

from pathlib import Path

import pytest

from kmodbuild import emulate
from kmodbuild.cli import main
from kmodbuild.emulate import cpu
from kmodbuild.simvalidate import validate_tree
from kmodbuild.target import get_target


def _sim(built_tree, tmp_path: Path, capsys, script: str, *opts: str) -> tuple[int, list[str], str]:
    scn = tmp_path / "t.scn"
    scn.write_text(script)
    rc = main(["sim", "--root", str(built_tree.root / "stand"), "--arch", "amd64", "--version",
               "10.0", "--manifest", str(built_tree.manifest("amd64-x86_64")), "--script",
               str(scn), *opts])
    out = capsys.readouterr()
    return rc, out.out.splitlines(), out.err


def test_sim_emulates_by_default(built_tree, tmp_path: Path, capsys) -> None:
    if not emulate.available():
        pytest.skip("unicorn is not installed")
    rc, out, err = _sim(built_tree, tmp_path, capsys,
                        "modload -s who=sim hello\nmodload bitbucket\nmodunload hello\n")
    assert rc == 0 and err == ""
    assert out == ["Hello, sim! (kernel 1000000000, hz 100)",
                   "devsw_attach: bitbucket: mknod /dev/bitbucket c 256 0",
                   "bitbucket: character major 256", "Goodbye, sim!"]


def test_no_emulate_is_the_plain_simulator(built_tree, tmp_path: Path, capsys) -> None:
    rc, out, err = _sim(built_tree, tmp_path, capsys, "modload hello\n", "--no-emulate")
    assert (rc, out, err) == (0, [], "")


def test_without_unicorn_it_says_so_once(built_tree, tmp_path: Path, capsys,
                                         monkeypatch) -> None:
    monkeypatch.setattr(cpu, "unicorn", None)
    script = "modload hello\nbuiltin ffs:vfs\nmodload layerfs\n"   # builtin reboots
    rc, out, err = _sim(built_tree, tmp_path, capsys, script)
    assert rc == 0 and out == []
    assert err.splitlines() == [f"kmodbuild sim: {emulate.NOT_INSTALLED}"]


def test_validate_tree_notes_the_fallback(built_tree, monkeypatch) -> None:
    target = get_target("amd64")
    monkeypatch.setattr(cpu, "unicorn", None)
    res = validate_tree(built_tree.root / "stand", target, "10.0",
                        built_tree.manifest(target.key))
    assert res.ok and not res.emulated and res.note == emulate.NOT_INSTALLED


def test_validate_tree_notes_an_unsupported_port(built_tree, monkeypatch) -> None:
    if not emulate.available():
        pytest.skip("unicorn is not installed")
    from kmodbuild.emulate import arch
    monkeypatch.delitem(arch.ARCHS, "sparc64")
    target = get_target("sparc64")
    res = validate_tree(built_tree.root / "stand", target, "10.0",
                        built_tree.manifest(target.key))
    assert res.ok and not res.emulated
    assert res.note == "sparc64: modcmd is not emulated: no calling convention known for sparc64"
    assert emulate.unsupported_reason("sparc64") == "no calling convention known for sparc64"
    assert emulate.unsupported_reason("x86_64") is None


def test_validate_tree_emulates_the_examples(built_tree) -> None:
    if not emulate.available():
        pytest.skip("unicorn is not installed")
    target = get_target("evbarm-aarch64")
    res = validate_tree(built_tree.root / "stand", target, "10.0",
                        built_tree.manifest(target.key))
    assert res.ok and res.emulated and res.note is None, [str(f) for f in res.failures]


def test_cli_validate_prints_the_note_on_stderr(built_tree, tmp_path: Path, capsys,
                                                monkeypatch) -> None:
    monkeypatch.setattr(cpu, "unicorn", None)
    rc = main(["sim", "--root", str(built_tree.root / "stand"), "--arch", "amd64", "--version",
               "10.0", "--manifest", str(built_tree.manifest("amd64-x86_64")), "--validate"])
    out = capsys.readouterr()
    assert rc == 0 and out.err == f"kmodbuild sim: {emulate.NOT_INSTALLED}\n"
    assert out.out.splitlines()[-1] == "amd64 10.0: 10 modules, 10 loaded, 10 unloaded, " \
                                       "0 failures"


@pytest.mark.parametrize("key", ["amd64-x86_64", "i386-i386", "evbarm-aarch64",
                                 "evbarm-earmv7hf", "riscv-riscv64", "evbppc-powerpc",
                                 "evbmips-mips64eb", "sparc64-sparc64"])
def test_regions_mapped_on_demand_give_the_same_validation(built_tree, monkeypatch,
                                                           key: str) -> None:
    """With at most one region left mapped between runs, every other region a modcmd
    touches (null calling layerfs, the kernel reading a module's tables) is mapped on
    demand: the validation, its console and its failures are the same."""
    if not emulate.available():
        pytest.skip("unicorn is not installed")
    from kmodbuild.emulate import machine
    from kmodbuild.target import TARGETS, NetBSDVersion, stand_dir
    target = next(t for t in TARGETS if t.key == key)
    stand = stand_dir(built_tree.root, target, NetBSDVersion.parse("10.0")).parents[2]
    results = []
    for cap in (machine.MAPPED_CAP, 1):
        monkeypatch.setattr(machine, "MAPPED_CAP", cap)
        res = validate_tree(stand, target, "10.0", built_tree.manifest(target.key))
        results.append((res.ok, res.emulated, res.order, res.loaded, res.unloaded,
                        [str(f) for f in res.failures]))
    assert results[0] == results[1]
    assert results[1][0] and results[1][1], results[1][5]
