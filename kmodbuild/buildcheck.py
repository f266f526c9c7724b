"""kmodbuild.buildcheck - the check steps of a build, as pure-ish functions on files.

SCons calls these from its Python actions (``kmodbuild.scons_tool``); they
hold the logic so the SCons layer only translates:

* :func:`write_kernel_manifest`: a linked kernel image → its symbol manifest;
* :func:`exports_index`: every module of a target → one JSON summary of names,
  requirements and exported globals, so each module's check depends on one
  small file instead of every other module (its content only changes when an
  export or a requirement does, so SCons re-checks nothing else);
* :func:`check_built_module`: one module against the manifest and the index.
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kmodbuild.diagnostics import Diagnostic
from kmodbuild.elf import error_rule, read_kernel, read_module
from kmodbuild.errors import KmodError, ModuleFormatError
from kmodbuild.linkcheck import ModuleSet, check_modules
from kmodbuild.manifest import load_manifest, manifest_from_kernel
from kmodbuild.model import ModInfo, ModuleObject, Pointer, SymbolFacts
from kmodbuild.target import NetBSDVersion, Target

INDEX_VERSION = 1


def write_kernel_manifest(kernel: Path, target: Target, version: NetBSDVersion,
                          out: Path, abi_out: Path | None = None) -> None:
    """Read the kernel image ``kernel`` and write its manifest to ``out``.

    With ``abi_out``, the kernel's DWARF also gives each symbol's ABI hash
    (the manifest's abihash column) and the type descriptions they were made
    from are written to ``abi_out`` (``netbsd.abi``, docs/abi.md).

    Raises:
        ModuleFormatError: the image or its debug information cannot be read.
    """
    from kmodbuild.abiprobe import kernel_manifest_abi
    image = read_kernel(kernel)
    manifest = manifest_from_kernel(image.symbols, target, version)
    if abi_out is not None:
        manifest, info = kernel_manifest_abi(manifest, kernel)
        Path(abi_out).write_text(info.render())
    Path(out).write_text(manifest.render())


def exports_index(kmods: Iterable[Path], target: Target, cache: Path | None = None) -> str:
    """JSON text summarising each module: file, mi_name, mi_required, exported globals.

    Modules that cannot be read are left out; their own check reports them.
    With ``cache`` (a file of its own), a module whose size, mtime and inode are
    those recorded there by the last call is not read again: an edit of one
    module of 500 re-read all of them (0.2 s).
    """
    old: dict[str, Any] = {}
    if cache is not None:
        try:
            loaded = json.loads(Path(cache).read_text())
            old = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError, RecursionError):
            old = {}
    new: dict[str, Any] = {}
    entries = []
    for path in sorted(Path(p) for p in kmods):
        try:
            st = os.stat(path)
        except OSError:
            continue
        key = [st.st_size, st.st_mtime_ns, st.st_ino]
        hit = old.get(str(path))
        if isinstance(hit, list) and len(hit) == 2 and hit[0] == key:
            entry = hit[1]
        else:
            try:
                mod = read_module(path, target)
            except ModuleFormatError:
                entry = None
            else:
                mi = mod.modinfo
                entry = {"file": path.name, "name": mi.name if mi else None,
                         "required": mi.required if mi else None,
                         "exports": sorted(mod.get_facts().exports)}
        new[str(path)] = [key, entry]
        if entry is not None:
            entries.append(entry)
    if cache is not None and new != old:
        from kmodbuild.atomicfile import replace_file
        try:
            replace_file(str(cache), (json.dumps(new).encode(),), prefix=".index-cache-")
        except OSError:
            pass                    # only a cache: the next build reads every module
    return json.dumps({"version": INDEX_VERSION, "modules": entries}, indent=1) + "\n"


def _stand_in(entry: dict[str, object]) -> ModuleObject:
    """A module record holding only what the check needs from a module not being judged."""
    name = entry.get("name")
    where = Pointer(0, 0)
    mi = ModInfo(0, 1, name if isinstance(name, str) else None,
                 entry.get("required") if isinstance(entry.get("required"), str) else None,
                 None, where)
    exports = entry.get("exports") or []
    return ModuleObject(str(entry.get("file")), 0, True, 0, 1, (), (), (), mi, None, b"",
                        facts=SymbolFacts((), frozenset(exports), ()))  # type: ignore[arg-type]


_FILE_CACHE: dict[tuple[str, int, int], Any] = {}


def _cached(path: Path, load: Callable[[Path], Any]) -> Any:
    """``load(path)``, remembered while the file keeps its size and mtime: a build
    checks every module against the same manifest and index, and reading them per
    check made the checks of N modules cost O(N^2) (6 s of a 500-module build)."""
    try:
        st = os.stat(path)
    except OSError:
        return load(path)           # reports the error in its own words
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _FILE_CACHE:
        if len(_FILE_CACHE) > 16:
            _FILE_CACHE.clear()
        _FILE_CACHE[key] = load(path)
    return _FILE_CACHE[key]


def read_kernel_manifest(path: Path) -> Any:
    """The manifest at ``path``, read once for every check of the build.

    Raises:
        ManifestError: it cannot be read or parsed (a line that names the file).
    """
    return _cached(path, load_manifest)


def _read_index(index: Path) -> ModuleSet:
    """Stand-ins of every module of the index (their paths are the file names)."""
    try:
        data = json.loads(Path(index).read_text())
        return ModuleSet.of(_stand_in(e) for e in data["modules"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise KmodError(f"cannot read the module index: {e}", path=index) from None


def check_built_module(kmod: Path, manifest: Path, index: Path, target: Target,
                       version: NetBSDVersion, *, debug: Path | None = None,
                       kernel_abi: Path | None = None) -> list[Diagnostic]:
    """Every problem the kernel's loader would find with ``kmod``.

    ``index`` (from :func:`exports_index`) supplies the other modules of the
    tree, which may satisfy the module's requirements.  With ``debug``
    (``NAME.kmod.debug``) and ``kernel_abi`` (``netbsd.abi``) the types the
    module was compiled against are compared with the kernel's (docs/abi.md).

    Raises:
        KmodError: the manifest or the index cannot be read.
    """
    kmod = Path(kmod)
    try:
        mod = read_module(kmod, target)     # the target's checks first (spec §1.1)
    except ModuleFormatError as e:
        return [Diagnostic.from_error(e, error_rule(e), kmod)]
    kernel = _cached(manifest, load_manifest)
    others = _cached(Path(index), _read_index).without(kmod.name)
    diags = check_modules([mod], kernel, target, version, available=others)
    if debug is not None and kernel_abi is not None:
        from kmodbuild.abiprobe import load_kernel_abi, module_abi_diagnostics
        diags += module_abi_diagnostics(mod, load_kernel_abi(Path(kernel_abi)), None,
                                        debug=Path(debug))
    return diags


def relative_to(diags: Iterable[Diagnostic], top: str) -> list[Diagnostic]:
    """``diags`` with every path below the directory ``top`` written relative to it (in
    the path, message and hint): a build's reports say the same from any checkout, as
    one fetched from a ``KMOD_CACHEDIR`` another tree filled must."""
    prefix = os.path.join(os.path.abspath(top), "")

    def rel(text: str | None) -> str | None:
        return text.replace(prefix, "") if text else text
    return [dataclasses.replace(d, path=rel(d.path) or d.path, message=rel(d.message) or "",
                                hint=rel(d.hint)) for d in diags]


def read_report(path: Path) -> list[Diagnostic]:
    """The diagnostics of a per-module check report written by the build (docs/check.md).

    Raises:
        KmodError: the report cannot be read.
    """
    try:
        doc = json.loads(Path(path).read_text())
        return [Diagnostic(**d) for d in doc["diagnostics"]]
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as e:
        raise KmodError(f"cannot read the check report: {e}", path=path) from None


def gate_lines(reports: Iterable[Path]) -> tuple[list[str], list[str]]:
    """The build's check gate: ``(warnings, errors)``, every problem of the per-module
    reports rendered as one line, sorted (the gate prints the warnings and fails on
    errors).

    Raises:
        KmodError: a report cannot be read.
    """
    problems = sorted((d.severity, d.render()) for r in reports for d in read_report(r))
    return ([line for sev, line in problems if sev != "error"],
            [line for sev, line in problems if sev == "error"])


def gate_summary(warnings: int) -> str:
    """The gate's ``check-report.json`` when no module has an error."""
    return json.dumps({"errors": 0, "warnings": warnings}) + "\n"
