"""``kmodbuild abi-diff``: what changed between two kernels, and which modules it breaks.

A thin shell over :func:`kmodbuild.abi.diff_manifests`: read two manifests
(and the ``netbsd.abi`` descriptions next to them, when present), optionally
the modules, and print the result as text, JSON (docs/abi.md), JUnit XML,
SARIF 2.1.0 or GitHub Actions annotations.  Exit status: 0 compatible, 1 ABI
break, 2 usage or tool error.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from kmodbuild import abi
from kmodbuild.diagnostics import WARNING, Diagnostic
from kmodbuild.errors import KmodError, UsageError
from kmodbuild.manifest import KernelManifest, ManifestSymbol, load_manifest

HELP = "compare two kernel manifests: removed, added and changed symbols, and broken modules"
DESCRIPTION = """\
Compare the symbol manifests of two kernels (kmodbuild manifest, or the build's
netbsd.syms): symbols removed, added, changed kind, changed size (objects) and
changed ABI hash.  When a netbsd.abi description lies next to each manifest,
every hash change says what changed in the types.  With --modules, lists for
each change the modules it breaks (and modules the new kernel's version would
refuse).  Exit status: 0 compatible, 1 ABI break (with --modules: a given
module breaks), 2 usage or tool error."""
EPILOG = """\
examples:
  kmodbuild abi-diff old/netbsd.syms new/netbsd.syms
  kmodbuild abi-diff old.syms new.syms --modules stand/amd64/10.0/modules
  kmodbuild abi-diff old.syms new.syms --modules build/ --format github
"""

#: ``--format json`` schema version (docs/abi.md).
JSON_VERSION = 1
FORMATS = ("text", "json", "junit", "sarif", "github")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register the ``abi-diff`` options on ``p``."""
    p.add_argument("old", metavar="OLD", help="manifest of the kernel the modules were built for")
    p.add_argument("new", metavar="NEW", help="manifest of the new kernel")
    p.add_argument("--modules", nargs="+", metavar="PATH", default=None,
                   help=".kmod files or directories (searched recursively) to judge")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="report format (default: text)")


#: SARIF descriptions of the rules abi-diff uses beyond kmodbuild.reports' table.
RULE_DESCRIPTIONS = {
    "abi-debug": "A module's NAME.kmod.debug cannot be used (it is not the module's): "
                 "the module is assumed broken by every change of a symbol it uses.",
}


def _load(path: str) -> tuple[KernelManifest, abi.AbiInfo | None]:
    from kmodbuild.abiprobe import kernel_abi_for_manifest
    try:
        manifest = load_manifest(path)
        return manifest, kernel_abi_for_manifest(path, manifest)
    except KmodError as e:
        raise UsageError(str(e)) from None


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _foreign(mod: Any, target: Any) -> str | None:
    """What ``mod`` is when ``target``'s kernel would not load it (as check's ``machine``
    rule judges: byte order, machine, ELF class), else ``None``."""
    from kmodbuild.elf import machine_name, target_for
    if mod.little_endian == target.little_endian and mod.elfclass == target.elfclass \
            and mod.e_machine in target.accepted_machines:
        return None
    own = target_for(mod.e_machine, mod.elfclass, mod.little_endian)
    if own is not None:
        return f"{_article(own.name)} {own.name} module"
    what = (f"{machine_name(mod.e_machine)} ELF{mod.elfclass} "
            f"{'little' if mod.little_endian else 'big'}-endian")
    return f"{_article(what.lower())} {what} object, which no NetBSD port kmodbuild knows loads"


def _read_modules(paths: Sequence[str], new: KernelManifest,
                  warnings: list[Diagnostic] | None = None) -> list[abi.ModuleUse]:
    """The modules' uses and views.  A module the manifests' kernels would not load (another
    target's) is a usage error; a ``NAME.kmod.debug`` that is not the module's (its
    CRC-32 differs from the module's debuglink) a warning appended to ``warnings``, and
    the module has no view (assumed broken by every change it uses)."""
    from kmodbuild.abiprobe import DebugMismatchError, find_debug_file, read_module_abi
    from kmodbuild.cmd_check import collect_files
    from kmodbuild.elf import read_module
    try:
        target = new.get_target()
    except KmodError as e:
        raise UsageError(f"{new.path}: {e.message}") from None
    out = []
    for f in collect_files(paths):
        try:
            mod = read_module(f)
            foreign = _foreign(mod, target)
            if foreign is not None:
                raise UsageError(f"{foreign}; the manifests are of {target.name} kernels",
                                 path=f)
            used = frozenset(s for s, _ in mod.get_facts().undefined)
            debug = find_debug_file(f)  # type: ignore[arg-type]
            try:
                view = read_module_abi(debug, sorted(used), module=mod) \
                    if debug is not None else None
            except DebugMismatchError as e:
                view = None
                if warnings is not None:
                    warnings.append(Diagnostic(
                        WARNING, str(f), e.message, None,
                        f"{debug} is another module's or another build's; the module is "
                        "assumed broken by every change of a symbol it uses", "abi-debug"))
        except KmodError as e:
            raise UsageError(str(e)) from None
        version = mod.modinfo.version if mod.modinfo is not None else None
        out.append(abi.ModuleUse(str(f), used, version, view))
    return out


def _row(s: ManifestSymbol | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {"kind": s.kind, "size": s.size, "abihash": s.abihash}


def _side(m: KernelManifest, info: abi.AbiInfo | None) -> dict[str, Any]:
    return {"path": m.path, "machine": m.machine, "machine_arch": m.machine_arch,
            "version": str(m.version), "symbols": len(m), "abi": info is not None}


def render_json(diff: abi.ManifestDiff, old: KernelManifest, new: KernelManifest,
                old_abi: abi.AbiInfo | None, new_abi: abi.AbiInfo | None) -> str:
    """The JSON report (schema in docs/abi.md)."""
    doc: dict[str, Any] = {
        "version": JSON_VERSION,
        "old": _side(old, old_abi), "new": _side(new, new_abi),
        "compatible": diff.compatible,
        "version_change": diff.version_change,
        "changes": [{"symbol": c.symbol, "change": list(c.changes), "breaking": c.breaking,
                     "old": _row(c.old), "new": _row(c.new), "details": list(c.details),
                     "modules": diff.broken.get(c.symbol, [])} for c in diff.changes],
        "summary": {"removed": diff.count("removed"), "added": diff.count("added"),
                    "changed": diff.count("changed")},
    }
    if diff.modules is not None:
        broken = set(diff.broken_modules())
        per: dict[str, list[str]] = {}
        for sym, paths in diff.broken.items():
            for p in paths:
                per.setdefault(p, []).append(sym)
        doc["modules"] = [{"path": m.path, "broken": m.path in broken,
                           "version_refused": m.path in diff.version_broken,
                           "symbols": sorted(per.get(m.path, []))} for m in diff.modules]
        doc["summary"]["modules"] = len(diff.modules)
        doc["summary"]["broken_modules"] = len(broken)
    return json.dumps(doc, indent=2) + "\n"


def render_text(diff: abi.ManifestDiff, old: KernelManifest, new: KernelManifest) -> str:
    """Human-readable report: one line per change, its details and broken modules indented."""
    lines = [f"abi-diff: {old.path} ({old.key} {old.version}, {len(old)} symbols) -> "
             f"{new.path} ({new.key} {new.version}, {len(new)} symbols)"]
    if diff.version_change:
        lines.append(f"version: {diff.version_change}")
        for p in diff.version_broken:
            lines.append(f"  breaks: {p}")
    order = {k: i for i, k in enumerate(abi.CHANGE_KINDS)}
    for c in sorted(diff.changes, key=lambda c: (order[c.changes[0]] if c.changes[0] in
                                                 ("removed", "added") else 1, c.symbol)):
        lines.append(c.describe())
        lines += [f"  {d}" for d in c.details]
        for p in diff.broken.get(c.symbol, ()):
            lines.append(f"  breaks: {p}")
    for cause, syms in diff.causes():
        shown = ", ".join(syms[:6]) + (f" and {len(syms) - 6} more" if len(syms) > 6 else "")
        lines.append(f"cause: {cause} (reaches {len(syms)} symbol{'s' if len(syms) > 1 else ''}: "
                     f"{shown})")
    summary = (f"summary: {diff.count('removed')} removed, {diff.count('added')} added, "
               f"{diff.count('changed')} changed")
    if diff.modules is not None:
        summary += f"; {len(diff.broken_modules())} of {len(diff.modules)} modules break"
    lines.append(summary + ("; compatible" if diff.compatible else "; ABI break"))
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    """Compare, print the report, return 0 (compatible) or 1 (ABI break).

    Raises:
        UsageError: unreadable or mismatched inputs (the CLI exits 2).
    """
    old, old_abi = _load(args.old)
    new, new_abi = _load(args.new)
    if old.key != new.key:
        raise UsageError(f"{args.old} is for {old.key}, {args.new} for {new.key}: compare "
                         f"manifests of one target")
    warnings: list[Diagnostic] = []
    modules = _read_modules(args.modules, new, warnings) if args.modules is not None else None
    diff = abi.diff_manifests(old, new, old_abi, new_abi, modules)
    if args.format in ("text", "json"):
        for w in warnings:              # not part of the report's schema: on stderr
            print(f"kmodbuild abi-diff: {w.render()}", file=sys.stderr)
    if args.format == "json":
        sys.stdout.write(render_json(diff, old, new, old_abi, new_abi))
    elif args.format == "text":
        sys.stdout.write(render_text(diff, old, new))
    else:
        from kmodbuild.reports import render_github, render_junit, render_sarif
        files = [m.path for m in diff.modules] if diff.modules is not None else [str(new.path)]
        diags = diff.diagnostics(str(new.path)) + warnings
        if args.format == "junit":
            sys.stdout.write(render_junit(diags, files, name="kmodbuild abi-diff"))
        elif args.format == "sarif":
            sys.stdout.write(render_sarif(diags, descriptions=RULE_DESCRIPTIONS))
        else:
            sys.stdout.write(render_github(diags))
    return diff.exit_status()
