"""End to end: modules built against one stub kernel, checked against changed kernels.

Each change to the kernel (a struct member moved, a prototype, an object's
size, a removed function) must be found by ``kmodbuild abi-diff`` and by
``kmodbuild check --manifest NEW`` on the old modules, with the right message
and exit status; an unchanged kernel gives exit 0.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kmodbuild.target import TARGETS
from tests.abi.conftest import Kernels, kmodbuild

AMD64 = "amd64-x86_64"

PROTOTYPE_MSG = ("hello.kmod: prototype of strlcpy differs from the kernel's: size_t strlcpy("
                 "char *, const char *, size_t) changed to int strlcpy(char *, const char *, "
                 "size_t) (return type changed from size_t to int)")
OBJECT_MSG = ("hello.kmod: type of hz differs from the kernel's: int changed to long long, "
              "size 4 to 8 bytes")
REMOVE_MSG = "null.kmod: needs unknown symbol vfs_getnewfsid"


def struct_msg(target) -> str:
    return (f"null.kmod: struct vfsops differs from the kernel's: member vfs_name moved from "
            f"offset 0 to {target.pointer_size}")


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_unchanged_kernel_is_compatible(kernels: Kernels, target) -> None:
    old = str(kernels.old(target.key))
    mods = str(kernels.modules(target.key))
    res = kmodbuild("check", "--manifest", old, mods)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout == ""
    res = kmodbuild("abi-diff", old, old, "--modules", mods)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.rstrip().endswith("0 of 10 modules break; compatible")


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_check_finds_every_change(kernels: Kernels, target) -> None:
    res = kmodbuild("check", "--manifest", str(kernels.new("all", target.key)),
                    str(kernels.modules(target.key)))
    assert res.returncode == 1, res.stderr
    out = res.stdout
    for needle in (struct_msg(target), PROTOTYPE_MSG, OBJECT_MSG, REMOVE_MSG):
        assert needle in out, f"{needle!r} not in:\n{out}"
    # ffs fills in a struct vfsops too; bitbucket uses none of the changed symbols
    assert "ffs.kmod: struct vfsops differs from the kernel's" in out
    assert "bitbucket.kmod" not in out


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_abi_diff_finds_every_change(kernels: Kernels, target) -> None:
    old, new = str(kernels.old(target.key)), str(kernels.new("all", target.key))
    res = kmodbuild("abi-diff", old, new, "--modules", str(kernels.modules(target.key)),
                    "--format", "json")
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    changes = {c["symbol"]: c for c in doc["changes"]}
    assert changes["vfs_getnewfsid"]["change"] == ["removed"]
    assert {Path(p).name for p in changes["vfs_getnewfsid"]["modules"]} == {"null.kmod",
                                                                           "ffs.kmod"}
    assert changes["hz"]["change"] == ["size", "abihash"]
    assert (changes["hz"]["old"]["size"], changes["hz"]["new"]["size"]) == (4, 8)
    assert changes["strlcpy"]["change"] == ["abihash"]
    assert any("return type changed from size_t to int" in d
               for d in changes["strlcpy"]["details"])
    assert f"struct vfsops changed: member vfs_name moved from offset 0 to " \
           f"{target.pointer_size}" in changes["vfs_attach"]["details"][0]
    broken = {Path(m["path"]).name for m in doc["modules"] if m["broken"]}
    assert {"null.kmod", "ffs.kmod", "layerfs.kmod", "hello.kmod"} <= broken
    assert "bitbucket.kmod" not in broken
    assert doc["compatible"] is False


SINGLE = {
    # variant: (symbol, change kinds, modules broken, check message)
    "struct": ("vfs_attach", ["abihash"], {"null.kmod", "ffs.kmod", "layerfs.kmod"},
               "null.kmod: struct vfsops differs from the kernel's: member vfs_name moved "
               "from offset 0 to 8; member vfs_min_mount_data moved from offset 8 to 0"),
    "prototype": ("strlcpy", ["abihash"], {"hello.kmod"}, PROTOTYPE_MSG),
    "object": ("hz", ["size", "abihash"], {"hello.kmod"}, OBJECT_MSG),
    "remove": ("vfs_getnewfsid", ["removed"], {"null.kmod", "ffs.kmod"}, REMOVE_MSG),
}


@pytest.mark.parametrize("variant", sorted(SINGLE))
def test_single_change(kernels: Kernels, variant: str) -> None:
    symbol, kinds, modules, message = SINGLE[variant]
    old, new = str(kernels.old(AMD64)), str(kernels.new(variant, AMD64))
    mods = str(kernels.modules(AMD64))
    # without modules: any incompatible change is a break
    res = kmodbuild("abi-diff", old, new, "--format", "json")
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    changes = {c["symbol"]: c for c in doc["changes"]}
    assert changes[symbol]["change"] == kinds
    assert all(c["breaking"] for c in doc["changes"])
    # with modules: exactly those that use it break
    res = kmodbuild("abi-diff", old, new, "--modules", mods, "--format", "json")
    assert res.returncode == 1
    doc = json.loads(res.stdout)
    assert {Path(m["path"]).name for m in doc["modules"] if m["broken"]} == modules
    # the check on the old modules says why, one line per module and cause
    res = kmodbuild("check", "--manifest", new, mods)
    assert res.returncode == 1
    assert message in res.stdout, res.stdout
    assert {Path(ln.split(":")[0]).name for ln in res.stdout.splitlines()} == modules


def test_version_stamp(kernels: Kernels, tmp_path: Path) -> None:
    """A kernel of another release refuses the modules (spec §3.2) whatever the symbols."""
    src = kernels.old(AMD64)
    text = src.read_text().replace("# VERSION=10.0", "# VERSION=11.0").replace(
        "# __NetBSD_Version__=1000000000", "# __NetBSD_Version__=1100000000")
    new = tmp_path / "netbsd.syms"
    new.write_text(text)
    (tmp_path / "netbsd.abi").write_bytes(src.with_suffix(".abi").read_bytes())
    mods = str(kernels.modules(AMD64))
    res = kmodbuild("check", "--manifest", str(new), mods)
    assert res.returncode == 1
    assert "hello.kmod: module `hello' built for `1000000000', system `1100000000'" in res.stdout
    res = kmodbuild("abi-diff", str(src), str(new), "--modules", mods)
    assert res.returncode == 1
    assert "version: kernel version changed from 10.0 to 11.0" in res.stdout
    assert res.stdout.rstrip().endswith("10 of 10 modules break; ABI break")


def test_hashes_without_descriptions_warn(kernels: Kernels, tmp_path: Path) -> None:
    """A manifest without netbsd.abi: hash differences warn (nothing says what changed)."""
    new = tmp_path / "netbsd.syms"
    new.write_bytes(kernels.new("object", AMD64).read_bytes())
    res = kmodbuild("check", "--manifest", str(new), str(kernels.modules(AMD64)))
    assert res.returncode == 0, res.stdout
    assert "hello.kmod: warning: ABI hash of hz differs from the kernel's" in res.stdout


@pytest.mark.parametrize("fmt", ["junit", "sarif", "github"])
def test_ci_formats(kernels: Kernels, fmt: str) -> None:
    old, new = str(kernels.old(AMD64)), str(kernels.new("all", AMD64))
    mods = str(kernels.modules(AMD64))
    for args in (("abi-diff", old, new, "--modules", mods), ("check", "--manifest", new, mods)):
        res = kmodbuild(*args, "--format", fmt)
        assert res.returncode == 1, res.stderr
        out = res.stdout
        if fmt == "junit":
            root = ET.fromstring(out)
            failures = [f.get("message") for f in root.iter("failure")]
            assert int(root.get("failures")) == len(failures) > 0
            assert any("struct vfsops" in (m or "") for m in failures)
        elif fmt == "sarif":
            doc = json.loads(out)
            assert doc["version"] == "2.1.0"
            results = doc["runs"][0]["results"]
            assert results and all(r["level"] == "error" for r in results)
            assert any(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                       .endswith("null/null.kmod") for r in results)
        else:
            lines = out.splitlines()
            assert lines and all(ln.startswith("::error file=") for ln in lines)
            assert any("null/null.kmod" in ln and "vfsops" in ln for ln in lines)


def test_abi_diff_without_modules_text(kernels: Kernels) -> None:
    res = kmodbuild("abi-diff", str(kernels.old(AMD64)), str(kernels.new("remove", AMD64)))
    assert res.returncode == 1
    assert "removed: vfs_getnewfsid (func)" in res.stdout
    assert res.stdout.rstrip().endswith("summary: 1 removed, 0 added, 0 changed; ABI break")
    # reversed, the symbol is only added: compatible
    res = kmodbuild("abi-diff", str(kernels.new("remove", AMD64)), str(kernels.old(AMD64)))
    assert res.returncode == 0
    assert "added: vfs_getnewfsid (func)" in res.stdout


@pytest.mark.parametrize("args,needle", [
    (("missing.syms", "also-missing.syms"), "cannot read manifest"),
    (("OLD", "I386"), "compare manifests of one target"),
    (("OLD", "OLD", "--modules", "no/such/dir"), "no such file or directory"),
    (("OLD", "BAD"), "not a kmodbuild symbol manifest"),
])
def test_tool_errors_exit_2(kernels: Kernels, tmp_path: Path, args, needle: str) -> None:
    bad = tmp_path / "bad.syms"
    bad.write_text("hello\n")
    subst = {"OLD": str(kernels.old(AMD64)), "I386": str(kernels.old("i386-i386")),
             "BAD": str(bad)}
    res = kmodbuild("abi-diff", *[subst.get(a, a) for a in args])
    assert res.returncode == 2, res.stdout + res.stderr
    assert needle in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1       # one line, no traceback


def test_installed_tree_with_mkdebug_files(kernels: Kernels, tmp_path: Path) -> None:
    """``scons install-debug`` puts NAME.kmod.debug where MKDEBUG does; the check of an
    installed tree finds them there."""
    import stat

    from tests.conftest import copy_tree, scons
    tree = copy_tree(tmp_path / "t")
    scons(tree, "ARCH=i386", "VERSION=10.0", "-j2", "install", "install-debug")
    stand = tree / "stand/i386/10.0/modules"
    dbg = tree / "usr/libdata/debug/stand/i386/10.0/modules/null/null.kmod.debug"
    assert dbg.is_file() and stat.S_IMODE(dbg.stat().st_mode) == 0o444
    assert not (stand / "null/null.kmod.debug").exists()
    res = kmodbuild("check", "--manifest", str(kernels.new("all", "i386-i386")), str(stand),
                    cwd=tree)
    assert res.returncode == 1
    assert "null/null.kmod: struct vfsops differs from the kernel's: member vfs_name moved " \
           "from offset 0 to 4" in res.stdout
