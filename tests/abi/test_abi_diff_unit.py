"""abi-diff's core and its reports, on in-memory manifests (no compiler, no ELF)."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from kmodbuild import abi, cmd_abi_diff
from kmodbuild.manifest import ManifestSymbol, make_manifest
from kmodbuild.reports import render_report
from kmodbuild.target import NetBSDVersion, get_target

AMD64 = get_target("amd64")


def manifest(rows: list[tuple[str, str, int, str | None]], version: str = "10.0",
             path: str = "k.syms"):
    m = make_manifest(AMD64, NetBSDVersion.parse(version),
                      [ManifestSymbol(*r) for r in rows])
    m.path = path
    return m


OLD = manifest([("gone", "func", 10, "aaaaaaaa"), ("hz", "object", 4, "11111111"),
                ("grow", "func", 10, "22222222"), ("same", "func", 10, "33333333"),
                ("flip", "func", 8, "44444444"), ("rehash", "func", 8, "55555555")],
               path="old.syms")
NEW = manifest([("hz", "object", 8, "11111112"), ("grow", "func", 99, "22222222"),
                ("same", "func", 10, "33333333"), ("flip", "object", 8, "44444444"),
                ("rehash", "func", 8, "5555555f"), ("fresh", "func", 4, "66666666")],
               path="new.syms")


def test_changes_and_exit_status() -> None:
    d = abi.diff_manifests(OLD, NEW)
    got = {c.symbol: c.changes for c in d.changes}
    # a function's size is its code size: "grow" is not a change
    assert got == {"gone": ("removed",), "hz": ("size", "abihash"), "flip": ("kind",),
                   "rehash": ("abihash",), "fresh": ("added",)}
    assert (d.count("removed"), d.count("added"), d.count("changed")) == (1, 1, 3)
    assert not d.compatible and d.exit_status() == 1
    same = abi.diff_manifests(OLD, OLD)
    assert same.changes == [] and same.exit_status() == 0
    added_only = abi.diff_manifests(OLD, manifest([*((s.name, s.kind, s.size, s.abihash)
                                                      for s in OLD), ("x", "func", 1, None)]))
    assert added_only.compatible


def test_modules_decide_with_modules() -> None:
    mods = [abi.ModuleUse("a.kmod", frozenset({"gone", "printf"})),
            abi.ModuleUse("b.kmod", frozenset({"same"})),
            abi.ModuleUse("c.kmod", frozenset({"hz", "rehash"}))]
    d = abi.diff_manifests(OLD, NEW, modules=mods)
    assert d.broken == {"gone": ["a.kmod"], "hz": ["c.kmod"], "rehash": ["c.kmod"]}
    assert d.broken_modules() == ["a.kmod", "c.kmod"]
    assert d.exit_status() == 1
    ok = abi.diff_manifests(OLD, NEW, modules=[mods[1]])
    assert ok.compatible and ok.exit_status() == 0       # changes, but none breaks b.kmod


def test_version_stamp() -> None:
    new = manifest([(s.name, s.kind, s.size, s.abihash) for s in OLD], version="11.0")
    d = abi.diff_manifests(OLD, new, modules=[abi.ModuleUse("a.kmod", frozenset(), 1000000000)])
    assert d.version_change and "modules built for 10.0 are refused" in d.version_change
    assert d.version_broken == ["a.kmod"] and d.exit_status() == 1
    patch = manifest([(s.name, s.kind, s.size, s.abihash) for s in OLD], version="10.1")
    # releases accept another patch level?  10.1 differs in the minor number: refused
    assert abi.diff_manifests(OLD, patch).version_change is not None


def test_text_and_json_reports() -> None:
    mods = [abi.ModuleUse("a.kmod", frozenset({"gone"}))]
    d = abi.diff_manifests(OLD, NEW, modules=mods)
    text = cmd_abi_diff.render_text(d, OLD, NEW)
    lines = text.splitlines()
    assert lines[0].startswith("abi-diff: old.syms (amd64-x86_64 10.0, 6 symbols) -> new.syms")
    assert "removed: gone (func)" in lines and "  breaks: a.kmod" in lines
    assert "changed: hz (object): size 4 to 8 bytes, ABI hash 11111111 to 11111112" in lines
    assert "changed: flip (object): kind func to object" in lines
    assert "added: fresh (func)" in lines
    assert lines[-1] == "summary: 1 removed, 1 added, 3 changed; 1 of 1 modules break; ABI break"
    doc = json.loads(cmd_abi_diff.render_json(d, OLD, NEW, None, None))
    assert doc["version"] == 1 and doc["compatible"] is False
    assert set(doc) == {"version", "old", "new", "compatible", "version_change", "changes",
                        "summary", "modules"}
    hz = next(c for c in doc["changes"] if c["symbol"] == "hz")
    assert hz == {"symbol": "hz", "change": ["size", "abihash"], "breaking": True,
                  "old": {"kind": "object", "size": 4, "abihash": "11111111"},
                  "new": {"kind": "object", "size": 8, "abihash": "11111112"},
                  "details": [], "modules": []}
    assert doc["modules"] == [{"path": "a.kmod", "broken": True, "version_refused": False,
                               "symbols": ["gone"]}]
    assert doc["summary"] == {"removed": 1, "added": 1, "changed": 3, "modules": 1,
                              "broken_modules": 1}


@pytest.mark.parametrize("with_modules", [False, True])
def test_ci_renderings(with_modules: bool) -> None:
    mods = [abi.ModuleUse("a.kmod", frozenset({"gone", "hz"})),
            abi.ModuleUse("b.kmod", frozenset())] if with_modules else None
    d = abi.diff_manifests(OLD, NEW, modules=mods)
    diags = d.diagnostics("new.syms")
    if with_modules:
        assert [(x.path, x.rule, x.message) for x in diags] == [
            ("a.kmod", "abi-removed", "needs symbol gone, which the new kernel no longer exports"),
            ("a.kmod", "abi-size", "uses hz, which changed in the new kernel: hz (object): size "
                                   "4 to 8 bytes, ABI hash 11111111 to 11111112")]
        files = ["a.kmod", "b.kmod"]
    else:
        assert {x.path for x in diags} == {"new.syms"} and len(diags) == 4
        files = ["new.syms"]
    junit = ET.fromstring(render_report("junit", diags, files))
    assert int(junit.get("failures")) == len(diags)
    if with_modules:   # the module that does not break is a passing test case
        suites = {s.get("name"): s for s in junit.iter("testsuite")}
        assert suites["b.kmod"].get("failures") == "0"
    sarif = json.loads(render_report("sarif", diags, files))
    rules = {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert rules == {x.rule for x in diags}
    assert all(r["shortDescription"]["text"] != r["id"]
               for r in sarif["runs"][0]["tool"]["driver"]["rules"])
    gh = render_report("github", diags, files).splitlines()
    assert len(gh) == len(diags) and all(ln.startswith("::error file=") for ln in gh)


def test_grouping_by_cause() -> None:
    details = ("struct vfsops changed: member vfs_name moved from offset 0 to 8",)
    changes = [abi.SymbolChange(n, ("abihash",), ManifestSymbol(n, "func", 1, "a"),
                                ManifestSymbol(n, "func", 1, "b"), details)
               for n in ("v1", "v2", "v3", "v4", "v5", "v6")]
    d = abi.ManifestDiff(changes, modules=[abi.ModuleUse("m.kmod", frozenset())],
                         broken={c.symbol: ["m.kmod"] for c in changes})
    diags = d.diagnostics("new.syms")
    assert len(diags) == 1 and diags[0].message == (
        "uses v1, v2, v3, v4 and 2 more, which changed in the new kernel: struct vfsops "
        "changed: member vfs_name moved from offset 0 to 8")
    assert d.causes() == [(details[0], ["v1", "v2", "v3", "v4", "v5", "v6"])]
