"""Bad inputs to the ABI checks found by an audit, on the real modules of ``built_tree``.

Each would have given a wrong "compatible" answer, a nonsense line or a
self-contradicting message:

* a stale ``netbsd.abi`` (an old kernel's, next to a new manifest);
* a ``NAME.kmod.debug`` of another module (its CRC-32 is not the module's debuglink's);
* abi-diff of modules built for another target;
* check of another target's module (its ABI must not be compared);
* check ``--version`` contradicting the manifest;
* a ``netbsd.abi`` whose ``"version"`` is the string ``"1"``;
* SARIF rule descriptions, and the JUnit name of abi-diff.

The "new kernel" is the built amd64 manifest and description with one edit:
``copy_statvfs_info`` returns ``int`` instead of ``void`` (ffs and layerfs call
it), its hash column and description changed together, as a rebuilt kernel's.
"""
from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from kmodbuild import abi, abiprobe
from kmodbuild.linkcheck import RULES
from tests.abi.conftest import kmodbuild
from tests.conftest import BuiltTree

AMD64 = "amd64-x86_64"
I386 = "i386-i386"
SYMBOL = "copy_statvfs_info"
NEW_HASH = "11111111"


@dataclass
class Kernels:
    old: Path           # the built kernel's netbsd.syms (netbsd.abi next to it)
    new: Path           # the edited kernel's, with its own netbsd.abi
    stale: Path         # the edited manifest next to the OLD netbsd.abi
    old_hash: str
    modules: Path       # the built amd64 modules


@pytest.fixture
def kernels(built_tree: BuiltTree, tmp_path: Path) -> Kernels:
    src = built_tree.manifest(AMD64)
    rows = [ln.split("\t") for ln in src.read_text().splitlines() if ln.startswith(SYMBOL + "\t")]
    assert len(rows) == 1 and rows[0][1] == "func", rows
    old_hash = rows[0][3]
    assert old_hash not in ("-", NEW_HASH)
    dirs = {}
    for name in ("old", "new", "stale"):
        dirs[name] = tmp_path / name
        dirs[name].mkdir()
    shutil.copy(src, dirs["old"] / "netbsd.syms")
    shutil.copy(src.with_suffix(".abi"), dirs["old"] / "netbsd.abi")
    syms = src.read_text().replace(f"{SYMBOL}\tfunc\t{rows[0][2]}\t{old_hash}\n",
                                   f"{SYMBOL}\tfunc\t{rows[0][2]}\t{NEW_HASH}\n")
    assert NEW_HASH in syms
    text = src.with_suffix(".abi").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith(f'  "{SYMBOL}"'))
    edited = (line.replace(f'"hash": "{old_hash}"', f'"hash": "{NEW_HASH}"')
              .replace('"ret": ["void", "void"]', '"ret": ["int32", "int"]')
              .replace('->void"', '->int32"').replace('"decl": "void copy', '"decl": "int copy'))
    assert edited.count(NEW_HASH) == 1 and "int32" in edited, edited
    for name in ("new", "stale"):
        (dirs[name] / "netbsd.syms").write_text(syms)
    (dirs["new"] / "netbsd.abi").write_text(text.replace(line, edited))
    shutil.copy(src.with_suffix(".abi"), dirs["stale"] / "netbsd.abi")
    return Kernels(dirs["old"] / "netbsd.syms", dirs["new"] / "netbsd.syms",
                   dirs["stale"] / "netbsd.syms", old_hash,
                   built_tree.root / "build" / AMD64 / built_tree.version / "modules")


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def broken(res) -> set[str]:
    doc = json.loads(res.stdout)
    return {Path(m["path"]).name for m in doc["modules"] if m["broken"]}


# --------------------------------------------------------------------------- 1: stale sidecar

def test_consistent_edit_breaks_ffs_and_layerfs(kernels: Kernels) -> None:
    """The reference answer the other tests are measured against."""
    res = kmodbuild("abi-diff", str(kernels.old), str(kernels.new), "--modules",
                    str(kernels.modules), "--format", "json")
    assert res.returncode == 1, res.stderr
    assert broken(res) == {"ffs.kmod", "layerfs.kmod"}
    res = kmodbuild("check", "--manifest", str(kernels.new), str(kernels.modules))
    assert res.returncode == 1
    assert {Path(ln.split(":")[0]).name for ln in res.stdout.splitlines()} == \
        {"ffs.kmod", "layerfs.kmod"}


def test_stale_sidecar_abi_diff_exits_2(kernels: Kernels) -> None:
    res = kmodbuild("abi-diff", str(kernels.old), str(kernels.stale), "--modules",
                    str(kernels.modules))
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stdout == ""
    line = one_line(res.stderr)
    assert (f"{kernels.stale.with_suffix('.abi')}: stale: {SYMBOL} has hash "
            f"{kernels.old_hash} here, {NEW_HASH} in netbsd.syms") in line, line
    # as the OLD side too
    res = kmodbuild("abi-diff", str(kernels.stale), str(kernels.new))
    assert res.returncode == 2 and "stale:" in one_line(res.stderr)


def test_stale_sidecar_check_reports_abi_description(kernels: Kernels) -> None:
    res = kmodbuild("check", "--manifest", str(kernels.stale), str(kernels.modules))
    assert res.returncode == 1, res.stdout + res.stderr
    assert one_line(res.stdout).startswith(
        f"{kernels.stale.with_suffix('.abi')}: stale: {SYMBOL} has hash {kernels.old_hash} "
        f"here, {NEW_HASH} in netbsd.syms")
    res = kmodbuild("check", "--manifest", str(kernels.stale), str(kernels.modules),
                    "--format", "json")
    doc = json.loads(res.stdout)
    assert [(d["severity"], d["rule"]) for d in doc["diagnostics"]] == \
        [("error", "abi-description")]


def test_stale_sidecar_is_refused_where_the_build_loads_it(kernels: Kernels,
                                                           built_tree: BuiltTree) -> None:
    """The build's check (kmodbuild.buildcheck) loads only the sidecar's path: the manifest
    next to it is found and compared."""
    good = abiprobe.load_kernel_abi(built_tree.manifest(AMD64).with_suffix(".abi"))
    assert good.symbols[SYMBOL].hash == kernels.old_hash
    assert abiprobe.load_kernel_abi(kernels.new.with_suffix(".abi")).symbols[SYMBOL].hash \
        == NEW_HASH
    for _ in range(2):          # not forgotten by the cache
        with pytest.raises(abi.AbiError, match=f"stale: {SYMBOL} has hash"):
            abiprobe.load_kernel_abi(kernels.stale.with_suffix(".abi"))


def test_sidecar_missing_a_hashed_symbol_is_stale(kernels: Kernels) -> None:
    side = kernels.new.with_suffix(".abi")
    text = side.read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith(f'  "{SYMBOL}"'))
    side.write_text(text.replace(line + "\n", ""))
    res = kmodbuild("abi-diff", str(kernels.old), str(kernels.new), "--modules",
                    str(kernels.modules))
    assert res.returncode == 2, res.stdout
    assert f"stale: {SYMBOL} is not described here, hash {NEW_HASH} in netbsd.syms" in \
        one_line(res.stderr)


# --------------------------------------------------------------------------- 2: foreign .debug

@pytest.fixture
def swapped(kernels: Kernels, tmp_path: Path) -> Path:
    """A copy of the modules whose ffs.kmod.debug is null's."""
    mods = tmp_path / "mods"
    shutil.copytree(kernels.modules, mods)
    shutil.copy(mods / "null" / "null.kmod.debug", mods / "ffs" / "ffs.kmod.debug")
    return mods


def test_foreign_debug_file_abi_diff(kernels: Kernels, swapped: Path) -> None:
    res = kmodbuild("abi-diff", str(kernels.old), str(kernels.new), "--modules", str(swapped),
                    "--format", "json")
    assert res.returncode == 1, res.stderr
    assert broken(res) == {"ffs.kmod", "layerfs.kmod"}      # ffs: no view, assumed broken
    line = one_line(res.stderr)
    assert f"{swapped}/ffs/ffs.kmod: warning: ffs.kmod.debug does not match ffs.kmod " \
           "(debuglink CRC-32 " in line, line
    res = kmodbuild("abi-diff", str(kernels.old), str(kernels.new), "--modules", str(swapped),
                    "--format", "sarif")
    results = json.loads(res.stdout)["runs"][0]["results"]
    assert any(r["ruleId"] == "abi-debug" and r["level"] == "warning" for r in results)


def test_foreign_debug_file_check(kernels: Kernels, swapped: Path) -> None:
    res = kmodbuild("check", "--manifest", str(kernels.new), str(swapped / "ffs" / "ffs.kmod"),
                    "--format", "json")
    assert res.returncode == 0, res.stdout
    diags = json.loads(res.stdout)["diagnostics"]
    assert [(d["severity"], d["rule"]) for d in diags] == [("warning", "abi-debug")]
    assert diags[0]["message"].startswith("ffs.kmod.debug does not match ffs.kmod "
                                          "(debuglink CRC-32 ")
    # the module's own debug file is still used (and finds the changed prototype)
    res = kmodbuild("check", "--manifest", str(kernels.new),
                    str(kernels.modules / "ffs" / "ffs.kmod"))
    assert res.returncode == 1 and f"prototype of {SYMBOL} differs" in res.stdout


def test_foreign_debug_file_with_a_result_cache(kernels: Kernels, swapped: Path,
                                                tmp_path: Path) -> None:
    """A cached module record has no image: the debuglink is read from the file."""
    cache = str(tmp_path / "cache")
    for _ in range(2):
        res = kmodbuild("check", "--cache", cache, "--manifest", str(kernels.new),
                        str(swapped / "ffs" / "ffs.kmod"))
        assert res.returncode == 0, res.stdout
        assert "warning: ffs.kmod.debug does not match ffs.kmod" in one_line(res.stdout)
    (swapped / "layerfs" / "layerfs.kmod").touch()     # a re-check with a cached ffs record
    res = kmodbuild("check", "--cache", cache, "--manifest", str(kernels.new),
                    str(swapped / "ffs" / "ffs.kmod"), str(swapped / "layerfs"))
    assert "warning: ffs.kmod.debug does not match ffs.kmod" in res.stdout


# --------------------------------------------------------------------------- 3, 4: other target

def test_abi_diff_of_another_targets_modules_exits_2(kernels: Kernels,
                                                     built_tree: BuiltTree) -> None:
    hello = built_tree.kmod(I386, "hello")
    res = kmodbuild("abi-diff", str(kernels.old), str(kernels.new), "--modules", str(hello))
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stdout == ""
    assert one_line(res.stderr) == (f"kmodbuild abi-diff: {hello}: an i386 module; the "
                                    "manifests are of amd64 kernels")
    res = kmodbuild("abi-diff", str(kernels.old), str(kernels.new), "--modules",
                    str(hello.parent.parent))
    assert res.returncode == 2
    assert one_line(res.stderr).endswith(": an i386 module; the manifests are of amd64 kernels")


def test_check_of_another_targets_module_has_no_abi_line(built_tree: BuiltTree) -> None:
    hello = built_tree.kmod(I386, "hello")
    res = kmodbuild("check", "--manifest", str(built_tree.manifest(AMD64)), str(hello))
    assert res.returncode == 1
    assert one_line(res.stdout).startswith(f"{hello}: linker error: unsupported machine 3")


# --------------------------------------------------------------------------- 5: --version

def test_check_version_contradicting_the_manifest(built_tree: BuiltTree) -> None:
    m = built_tree.manifest(AMD64)
    mods = str(m.parent.parent / "modules")
    res = kmodbuild("check", "--manifest", str(m), "--version", "10.99.10", mods)
    assert res.returncode == 2, res.stdout
    assert res.stdout == ""
    assert one_line(res.stderr) == (f"kmodbuild check: --version 10.99.10 contradicts the "
                                    f"manifest {m} (VERSION 10.0)")
    res = kmodbuild("check", "--manifest", str(m), "--version", "10.0", mods)
    assert res.returncode == 0, res.stdout + res.stderr


# --------------------------------------------------------------------------- 6: "version": "1"

@pytest.mark.parametrize("value,shown", [('"1"', '"1" (a string)'), ("true", "true (a boolean)"),
                                         ("1.5", "1.5 (a fractional number)")])
def test_abi_version_of_the_wrong_json_type(kernels: Kernels, value: str, shown: str) -> None:
    side = kernels.old.with_suffix(".abi")
    text = side.read_text()
    assert '\n "version": 1,\n' in text
    side.write_text(text.replace('\n "version": 1,\n', f'\n "version": {value},\n', 1))
    res = kmodbuild("abi-diff", str(kernels.old), str(kernels.new))
    assert res.returncode == 2
    line = one_line(res.stderr)
    assert f"{side}: ABI description version {shown}: \"version\" must be the number 1" in line
    assert "reads version 1" not in line
    res = kmodbuild("check", "--manifest", str(kernels.old), str(kernels.modules),
                    "--format", "json")
    assert res.returncode == 1
    assert [d["rule"] for d in json.loads(res.stdout)["diagnostics"]] == ["abi-description"]


# --------------------------------------------------------------------------- 7: CI reports

def test_check_sarif_describes_its_rules(kernels: Kernels, built_tree: BuiltTree) -> None:
    res = kmodbuild("check", "--manifest", str(kernels.new), str(kernels.modules),
                    str(built_tree.kmod(I386, "hello")), "--format", "sarif")
    assert res.returncode == 1, res.stderr
    rules = {r["id"]: r["shortDescription"]["text"]
             for r in json.loads(res.stdout)["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["machine"] == RULES["machine"]
    assert "abi-mismatch" in rules
    assert all(text != rule for rule, text in rules.items()), rules
    res = kmodbuild("check", "--manifest", str(kernels.stale), str(kernels.modules),
                    "--format", "sarif")
    rules = {r["id"]: r["shortDescription"]["text"]
             for r in json.loads(res.stdout)["runs"][0]["tool"]["driver"]["rules"]}
    assert set(rules) == {"abi-description"} and rules["abi-description"] != "abi-description"


def test_abi_diff_junit_is_named_abi_diff(kernels: Kernels) -> None:
    res = kmodbuild("abi-diff", str(kernels.old), str(kernels.new), "--modules",
                    str(kernels.modules), "--format", "junit")
    assert res.returncode == 1, res.stderr
    root = ET.fromstring(res.stdout)
    assert root.get("name") == "kmodbuild abi-diff"
    assert int(root.get("failures")) == 2
