"""``kmodbuild check``: would the kernel load these modules?  (the embedded linker check)

A thin shell: collect the ``.kmod`` files, work out target, version and
manifest, read each file once (:func:`kmodbuild.elf.read_module`), judge them
together (:func:`kmodbuild.linkcheck.check_modules`) and print the report.
"""
from __future__ import annotations

import argparse
import gc
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, replace
from pathlib import Path

from kmodbuild.diagnostics import ERROR, Diagnostic, render_json, render_text, sort_diagnostics
from kmodbuild.elf import (RECORD_VERSION, error_rule, module_from_record, module_record,
                           read_module, target_for)
from kmodbuild.errors import ManifestError, ModuleFormatError, TargetError, UsageError
from kmodbuild.linkcheck import check_modules, link_verdict, module_name
from kmodbuild.manifest import (KernelManifest, find_build_manifest, load_manifest,
                                read_manifest_header)
from kmodbuild.model import ModuleObject
from kmodbuild.target import TARGETS, NetBSDVersion, Target, get_target

HELP = "check .kmod files, directories or stand/ trees as the kernel's loader would"
DESCRIPTION = """\
Check kernel modules the way NetBSD's loader (kobj and kern_module.c) would:
ELF header, modinfo, mi_required, relocation types, and every undefined symbol
against a kernel symbol manifest and the modules they require.  All problems of
all modules are reported, one line each, sorted.  Exit status: 0 clean, 1
problems found, 2 usage or internal error."""
EPILOG = """\
target and version come from --arch/--version, else the manifest header, else
the path (stand/<arch>/<version>/modules, build/<MACHINE>-<MACHINE_ARCH>/<version>),
else the first module's ELF header.  Required modules not given are looked up
next to the given ones (<modules>/<dep>/<dep>.kmod).

examples (in a tree built with scons):
  kmodbuild check --manifest build/amd64-x86_64/10.0/kernel/netbsd.syms \\
      build/amd64-x86_64/10.0/modules/hello/hello.kmod
  kmodbuild check stand/amd64/10.0/modules
  kmodbuild check --format json build/      every target and version built, each against
                                            its own kernel's manifest
  kmodbuild check --flavor linux --symvers Module.symvers /lib/modules/6.1.0-56-amd64
                                            (a Linux system's modules; docs/linux.md)
"""

_STAND_RE = re.compile(r"(?:^|/)stand/([^/]+)/([0-9][0-9.]*)/modules(?:/|$)")
_BUILD_RE = re.compile(r"(?:^|/)([a-z0-9]+-[a-z0-9_]+)/([0-9][0-9.]*)/modules(?:/|$)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register the ``check`` options (and, when available, the Linux ones) on ``p``."""
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help=".kmod file, directory (searched recursively) or stand/ tree")
    p.add_argument("--arch", metavar="A", help="target (amd64, evbarm-aarch64, ...)")
    p.add_argument("--version", metavar="V", help="kernel version (10.0, 10.99.10)")
    p.add_argument("--manifest", metavar="FILE",
                   help="kernel symbol manifest (kmodbuild manifest KERNEL -o FILE)")
    p.add_argument("--format", choices=("text", "json", "junit", "sarif", "github"),
                   default="text", help="report format (default: text; junit, sarif and "
                   "github are CI reports, see kmodbuild.reports)")
    p.add_argument("--flavor", choices=("netbsd", "linux"), default="netbsd",
                   help="NetBSD .kmod modules (default) or Linux .ko modules (docs/linux.md)")
    p.add_argument("--cache", metavar="FILE",
                   help="result cache: unchanged modules are not read again, an unchanged "
                        "tree not at all (docs/check.md)")
    try:
        from kmodbuild.linux.command import add_linux_arguments
    except ImportError:         # a build without the Linux checker
        return
    add_linux_arguments(_LinuxOptions(p))  # type: ignore[arg-type]


class _LinuxOptions:
    """``parser`` as :func:`~kmodbuild.linux.command.add_linux_arguments` sees it for
    ``check``: there ``--cache`` is a general option (both flavours use it; registered by
    :func:`add_arguments`), and ``--jobs`` says it does nothing for NetBSD modules."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self._parser = parser

    def add_argument_group(self, *args: object, **kwargs: object) -> _LinuxOptions:
        group = self._parser.add_argument_group(*args, **kwargs)  # type: ignore[arg-type]
        return _LinuxOptions(group)  # type: ignore[arg-type]

    def add_argument(self, *names: str, **kwargs: object) -> object:
        if "--cache" in names:
            return None
        if "--jobs" in names:
            kwargs["help"] = f"{kwargs.get('help', '')}; --flavor linux only"
        return self._parser.add_argument(*names, **kwargs)  # type: ignore[arg-type]


@dataclass
class CheckRequest:
    """What to check and against what, after inference."""

    files: list[str]
    target: Target | None
    version: NetBSDVersion | None
    manifest: KernelManifest | None
    notes: list[str]
    #: Where ``manifest`` comes from; with ``lazy``, ``manifest`` holds only its header
    #: until :meth:`load` (a result cache may make the symbols unnecessary).
    manifest_path: Path | None = None
    lazy: bool = False

    def load(self) -> None:
        """Read the manifest's symbols if only its header was read."""
        if self.lazy and self.manifest_path is not None:
            self.manifest = load_manifest(self.manifest_path)
            self.lazy = False


def collect_files(paths: Sequence[str]) -> list[str]:
    """``.kmod`` files named by ``paths`` (directories searched recursively), sorted, unique.

    Plain strings rather than ``Path`` objects: a tree holds thousands.

    Raises:
        UsageError: a path does not exist, or a directory holds no ``.kmod``.
    """
    out: dict[str, str] = {}
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            found = _walk_kmods(p)
            if not found:
                raise UsageError(f"{p}: no .kmod files in this directory")
            for f in found:
                out.setdefault(os.path.normpath(f), f)
        elif os.path.exists(p):
            out.setdefault(os.path.normpath(p), p)
        else:
            raise UsageError(f"{p}: no such file or directory")
    return [out[k] for k in sorted(out)]


def _walk_kmods(top: str) -> list[str]:
    """``*.kmod`` files under ``top`` (scandir; symlinked directories not followed)."""
    out: list[str] = []
    stack = [top]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                    elif e.name.endswith(".kmod"):
                        out.append(e.path)
        except OSError:
            continue
    return out


def infer_from_path(paths: Iterable[str]) -> tuple[list[Target], str | None]:
    """Targets and osrelease suggested by ``stand/<archdir>/<ver>/modules`` or
    ``<MACHINE>-<MACHINE_ARCH>/<ver>/modules`` in the paths."""
    for p in paths:
        text = Path(os.path.abspath(p)).as_posix()
        m = _STAND_RE.search(text)
        if m:
            return [t for t in TARGETS if t.kmodulearchdir == m.group(1)], m.group(2)
        m = _BUILD_RE.search(text)
        if m:
            try:
                return [get_target(m.group(1))], m.group(2)
            except TargetError:
                continue
    return [], None


def _auto_manifest(paths: Iterable[str]) -> Path | None:
    # build/<key>/<osrelease>/modules/... -> build/<key>/<osrelease>/kernel/netbsd.syms;
    # [DESTDIR/]stand/<archdir>/<osrelease>/modules/... -> the build's beside it
    for p in sorted({os.path.dirname(os.path.abspath(p)) for p in paths}):
        parts = Path(p).parts
        if "modules" in parts:
            i = len(parts) - 1 - list(reversed(parts)).index("modules")
            cand = Path(*parts[:i]) / "kernel" / "netbsd.syms"
            if cand.is_file():
                return cand
        m = _STAND_RE.search(Path(p).as_posix() + "/")
        if m:
            stand = Path(Path(p).as_posix()[:m.start() + (m.group(0)[0] == "/")] + "stand")
            own = stand.parent.name.removeprefix("destdir.")    # build.sh's per-target root
            for t in TARGETS:
                if t.kmodulearchdir != m.group(1) or (
                        stand.parent.name.startswith("destdir.") and t.name != own):
                    continue
                # stand/<archdir>/10.0 is also where VERSION=10.0.3 installs
                found = find_build_manifest(stand, t, m.group(2), patch_levels=True)
                if found is not None:
                    return found
    return None


def target_groups(files: Sequence[str]) -> dict[str, list[str]]:
    """``files`` by the modules directory of one target and version they lie in
    (``stand/<archdir>/<ver>/modules``, ``<MACHINE>-<MACHINE_ARCH>/<ver>/modules``); empty
    when one of them lies in none (a loose ``.kmod``: the files are checked together)."""
    groups: dict[str, list[str]] = {}
    for f in files:
        text = Path(os.path.abspath(f)).as_posix()
        m = _STAND_RE.search(text) or _BUILD_RE.search(text)
        if m is None:
            return {}
        groups.setdefault(text[:m.end()].rstrip("/"), []).append(f)
    return groups


def make_request(args: argparse.Namespace, lazy: bool = False,
                 files: list[str] | None = None) -> CheckRequest:
    """Resolve files (default: those ``args.paths`` name), target, version and manifest
    from the options and the paths.

    Raises:
        UsageError: bad paths or options, or options that contradict the manifest.
        ManifestError: the manifest cannot be read.
    """
    files = collect_files(args.paths) if files is None else files
    notes: list[str] = []
    target = get_target(args.arch) if args.arch else None
    version = NetBSDVersion.parse(args.version) if args.version else None
    manifest_path: Path | None = Path(args.manifest) if args.manifest else None
    if manifest_path is None:
        manifest_path = _auto_manifest(files)
        if manifest_path is not None:
            notes.append(f"using kernel symbol manifest {manifest_path}")
    loader = read_manifest_header if lazy else load_manifest
    manifest = loader(manifest_path) if manifest_path is not None else None
    if manifest is not None:
        mt = manifest.get_target()
        if target is not None and target != mt:
            raise UsageError(f"--arch {target.name} contradicts the manifest {manifest.path} "
                             f"(MACHINE={manifest.machine} MACHINE_ARCH={manifest.machine_arch})")
        target = mt
        if version is not None and version != manifest.version:
            raise UsageError(f"--version {args.version} contradicts the manifest "
                             f"{manifest.path} (VERSION {manifest.version})")
        version = manifest.version
    if target is None or version is None:
        candidates, osrelease = infer_from_path(files)
        if version is None and osrelease:
            try:
                version = NetBSDVersion.parse(osrelease)
            except TargetError:
                pass
        if target is None and len(candidates) == 1:
            target = candidates[0]
        elif target is None and candidates:
            notes.append("several targets install under this directory; "
                         "deciding by the modules' ELF headers")
    if manifest is None:
        notes.append("no kernel symbol manifest (--manifest): kernel symbols are not checked")
    return CheckRequest(files, target, version, manifest, notes, manifest_path,
                        lazy and manifest is not None)


def find_available(modules: Sequence[ModuleObject], target: Target | None,
                   probed: list[str] | None = None) -> list[ModuleObject]:
    """Required modules not given, read from ``<modules>/<dep>/<dep>.kmod`` next to them.

    Every path looked at (found or not) is appended to ``probed`` when given,
    so a result cache can tell whether the answer may have changed.
    """
    have = {module_name(m) for m in modules}
    queue = [r for m in modules if m.modinfo is not None for r in m.modinfo.requires
             if r not in have]
    extra: list[ModuleObject] = []
    if not queue:
        return extra
    dirs: list[Path] = []
    for d in sorted({os.path.dirname(os.path.dirname(m.path)) for m in modules}):
        dirs.append(Path(d))
    while queue:
        dep = queue.pop(0)
        if dep in have or "/" in dep or not dep or dep in (".", ".."):
            continue
        have.add(dep)
        for d in dirs:
            cand = d / dep / f"{dep}.kmod"
            if probed is not None:
                probed.append(str(cand))
            if cand.is_file():
                try:
                    mod = read_module(cand, target)
                except ModuleFormatError:
                    break           # reported as an unknown module by the check
                extra.append(mod)
                if mod.modinfo is not None:
                    queue.extend(mod.modinfo.requires)
                break
    return extra


#: Rules of the header checks: a module failing one gets no further check (docs/check.md).
HEADER_RULES = frozenset({"format", "machine"})
#: SARIF descriptions of the ABI rules the check adds that kmodbuild.reports does not know
#: (it describes abi-mismatch and abi-hash).
ABI_RULES = {
    "abi-debug": "the module's NAME.kmod.debug cannot be read or is not the module's",
    "abi-description": "the netbsd.abi next to the manifest cannot be read or does not "
                       "describe the manifest's kernel",
}

#: Result-cache tag: bump when the check's results could change for the same inputs.
CACHE_TAG = f"netbsd-kmod/{RECORD_VERSION}/6"   # 2: ABI checks (docs/abi.md); 3: "load";
#                                                  4: stale netbsd.abi, debuglink CRC-32;
#                                                  5: modules read as the target's kernel
#                                                  reads them (the cache keeps one target's);
#                                                  6: "constructors"


def _key_of(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def check(request: CheckRequest, cache: str | None = None) -> tuple[list[Diagnostic], int]:
    """Read and check every file of ``request``; returns (sorted diagnostics, module count).

    With ``cache`` (a file), per-module facts and the whole report are kept
    between runs (:mod:`kmodbuild.resultcache`): unchanged modules are not
    read again, and when nothing changed at all (modules, manifest, the
    modules looked up next to them, options) the stored report is reused.
    """
    # The reader allocates many small, acyclic objects: the cyclic GC would only
    # rescan them again and again (about a third of the run time on 1,000 modules).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if cache:
            return _check_cached(request, cache)
        request.load()
        modules: list[ModuleObject] = []
        diags: list[Diagnostic] = []
        for f in request.files:
            try:
                # as the target's kernel reads it: its checks 2, 4 and 5 (byte order,
                # machine, class) come before the later ones (spec §1.1)
                modules.append(read_module(f, request.target))
            except ModuleFormatError as e:
                diags.append(Diagnostic.from_error(e, error_rule(e)))
        return _check_read(request, modules, diags)[:2]
    finally:
        if gc_was_enabled:
            gc.enable()


def _check_read(request: CheckRequest, modules: list[ModuleObject], diags: list[Diagnostic]
                ) -> tuple[list[Diagnostic], int, list[str]]:
    target = request.target
    if target is None:
        for m in modules:
            target = target_for(m.e_machine, m.elfclass, m.little_endian)
            if target is not None:
                break
        if target is not None and diags:
            # ``diags`` holds the files the reader refused without a target: read them
            # again as the inferred target's kernel reads them (spec §1.1's order; the
            # kernel never looks at EI_CLASS and EI_DATA)
            refused, diags[:] = list(diags), []
            for d in refused:
                try:
                    modules.append(read_module(d.path, target))
                except ModuleFormatError as e:
                    diags.append(Diagnostic.from_error(e, error_rule(e)))
    probed: list[str] = []
    available = find_available(modules, target, probed)
    diags.extend(check_modules(modules, request.manifest, target, request.version,
                               available=available))
    # ABI mismatches: each module's NAME.kmod.debug against the manifest's netbsd.abi --
    # not for a module the header checks stopped (another target's: its types are not
    # the kernel's to compare; docs/check.md)
    from kmodbuild.abiprobe import abi_check_modules
    stopped = {d.path for d in diags if d.rule in HEADER_RULES}
    diags.extend(abi_check_modules([m for m in modules if m.path not in stopped],
                                   request.manifest, probed))
    return sort_diagnostics(diags), len(request.files), probed


def _check_cached(request: CheckRequest, cache: str) -> tuple[list[Diagnostic], int]:
    from kmodbuild.resultcache import ResultCache

    keys: dict[str, tuple[int, int, int]] = {}
    for f in request.files:
        key = _key_of(str(f))
        if key is not None:
            keys[os.path.abspath(f)] = key
    mpath = request.manifest.path if request.manifest is not None else None
    summary_key = (CACHE_TAG, os.getcwd(), [str(f) for f in request.files],
                   os.path.abspath(mpath) if mpath else None, _key_of(mpath) if mpath else None,
                   request.target.name if request.target else None,
                   str(request.version) if request.version else None)
    # modules are read for the target: another target's run starts a new cache
    rc = ResultCache.load(cache, CACHE_TAG if request.target is None
                          else f"{CACHE_TAG}/{request.target.name}")
    if rc.unchanged(keys):
        summary = rc.summary(summary_key)
        if summary is not None and all(_key_of(p) == (tuple(k) if k else None)
                                       for p, k in summary[1]):
            return [Diagnostic(*d) for d in summary[0]], len(request.files)
    request.load()
    modules: list[ModuleObject] = []
    diags: list[Diagnostic] = []
    for f in request.files:
        name = os.path.abspath(f)
        key = keys.get(name)
        value = rc.lookup(name, key) if key is not None else None
        if value is not None:
            if value[0] == "error":
                diags.append(Diagnostic(ERROR, str(f), *value[1:]))
                continue
            mod = module_from_record(str(f), value[1], request.target)
            if mod is not None:
                modules.append(replace(mod, link_verdict=tuple(value[2]) if value[2] else None))
                continue
        try:
            mod = read_module(f, request.target)
        except ModuleFormatError as e:
            d = Diagnostic.from_error(e, error_rule(e))
            diags.append(d)
            if key is not None:
                rc.store(name, key, ("error", d.message, d.symbol, d.hint, d.rule))
            continue
        verdict = link_verdict(mod)         # kept: a cached record has no contents to link
        modules.append(replace(mod, link_verdict=verdict))
        if key is not None:
            rc.store(name, key, ("ok", module_record(mod), verdict))
    result, count, probed = _check_read(request, modules, diags)
    # The report is reusable only if no module changed while it was being read.
    if all(_key_of(name) == key for name, key in keys.items()):
        rc.set_summary(summary_key, ([tuple(astuple(d)) for d in result],
                                     [(p, _key_of(p)) for p in probed]))
    try:
        rc.save(keep=list(keys))
    except OSError as e:
        # the report is complete without the cache: say so and go on, as --flavor linux does
        print(f"kmodbuild check: cannot write the cache {cache}: {e.strerror or e}",
              file=sys.stderr)
    return result, count


def run(args: argparse.Namespace) -> int:
    """Check, print the report, and return 0 (clean) or 1 (errors found).

    Raises:
        UsageError: bad paths or options, or a missing, unreadable or malformed
            manifest or Module.symvers (the CLI exits 2: exit 1 means findings).
    """
    try:
        return _run(args)
    except ManifestError as e:
        raise UsageError(str(e)) from None


def _run(args: argparse.Namespace) -> int:
    if getattr(args, "flavor", "netbsd") == "linux":
        from kmodbuild.linux import run_linux
        return run_linux(args)
    for opt in ("symvers", "write_dep"):
        if getattr(args, opt, None):
            raise UsageError(f"--{opt.replace('_', '-')} is for Linux modules (--flavor linux)")
    cache = getattr(args, "cache", None)
    try:
        # bad --arch/--version are reported before any path is looked at
        if getattr(args, "arch", None):
            get_target(args.arch)
        if getattr(args, "version", None):
            NetBSDVersion.parse(args.version)
        files = collect_files(args.paths)
        groups = {} if (args.arch or args.version or args.manifest) else target_groups(files)
        if len(groups) > 1 and cache:
            raise UsageError(f"--cache keeps one target's report; the paths hold modules of "
                             f"{len(groups)} targets or versions: check them one at a time")
        # modules of several targets or versions (kmodbuild check build/): each lot
        # against its own kernel, as if checked one at a time
        requests = [make_request(args, lazy=bool(cache), files=lot)
                    for lot in (groups.values() if len(groups) > 1 else [files])]
    except TargetError as e:
        raise UsageError(e.message) from None
    diags: list[Diagnostic] = []
    count = 0
    for request in requests:
        for note in request.notes:
            print(f"kmodbuild check: {note}", file=sys.stderr)
        more, n = check(request, cache)
        diags += more
        count += n
    diags = sort_diagnostics(diags)
    if args.format == "json":
        sys.stdout.write(render_json(diags, count))
    elif args.format == "sarif":
        from kmodbuild.linkcheck import RULES
        from kmodbuild.reports import render_sarif
        sys.stdout.write(render_sarif(diags, descriptions={**RULES, **ABI_RULES}))
    elif args.format in ("junit", "github"):
        from kmodbuild.reports import render_report
        sys.stdout.write(render_report(args.format, diags,
                                       [str(f) for r in requests for f in r.files]))
    else:
        sys.stdout.write(render_text(diags))
    return 1 if any(d.is_error for d in diags) else 0

