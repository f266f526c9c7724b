"""kmodbuild.linux.check - the whole Linux check: find, read (cached, parallel), resolve, report.

:func:`check_linux` is the one entry point the shells call.  It returns a
:class:`LinuxCheckResult` with sorted :class:`~kmodbuild.diagnostics.Diagnostic`
records and the modules.dep lines; it never prints and writes only the cache
file (and, through :func:`write_dep_file`, the modules.dep the caller asks for).

Incremental runs: with a cache file, each module's facts are kept keyed by
path, size, mtime and inode; an unchanged module is not opened again.  When
no input changed at all (same files with the same keys, same Module.symvers,
same modules.order, same options), the previous report itself is reused, so
re-checking an unchanged tree costs a directory walk and one stat per file.
"""
from __future__ import annotations

import gc
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kmodbuild.diagnostics import ERROR, WARNING, Diagnostic, sort_diagnostics
from kmodbuild.linux.names import modname_from_path
from kmodbuild.linux.scan import KoModule, Reading, ScanResult, find_modules
from kmodbuild.resultcache import FileKey, ResultCache, file_key

if TYPE_CHECKING:
    from kmodbuild.linux.depmod import Resolution
    from kmodbuild.linux.facts import KoFacts
    from kmodbuild.linux.symvers import Symvers

#: Version of what the cache holds; bump when the reader or the rules change.
CACHE_TAG = "kmodbuild-linux/1"
#: "Did you mean" hints are computed only for this many distinct unknown symbols.
MAX_SPELLING_HINTS = 20

RULE_UNKNOWN = "linux/unknown-symbol"
RULE_VERSION = "linux/symbol-version"
RULE_FORMAT = "linux/format"
RULE_CYCLE = "linux/dependency-cycle"
RULE_SYMVERS = "linux/symvers"
RULE_DUPLICATE = "linux/duplicate-module"
RULE_VERMAGIC = "linux/vermagic"
RULE_DEPENDS = "linux/modinfo-depends"


@dataclass
class LinuxCheckResult:
    """The outcome of :func:`check_linux`.

    Attributes:
        modules: the modules checked, in depmod's order.
        diagnostics: sorted, de-duplicated problems (errors and warnings).
        dep_lines: modules.dep, one line per module (no newlines).
        notes: remarks for the user that are not problems (e.g. no Module.symvers).
        read: modules read from disk this run.
        cached: modules whose facts came from the cache.
        reused: True when the whole report came from the cache.
        facts: each module's facts (``None`` when ``reused``).
        resolution: depmod's resolution (``None`` when ``reused``).
    """

    modules: list[KoModule]
    diagnostics: list[Diagnostic]
    dep_lines: list[str]
    notes: list[str] = field(default_factory=list)
    read: int = 0
    cached: int = 0
    reused: bool = False
    facts: list[KoFacts] | None = None
    resolution: Resolution | None = None

    @property
    def has_errors(self) -> bool:
        """True when any diagnostic is an error (the CLI then exits 1)."""
        return any(d.severity == ERROR for d in self.diagnostics)


def check_linux(paths: Sequence[str], symvers: str | None = None, *, jobs: int = 0,
                cache: str | None = None) -> LinuxCheckResult:
    """Check the modules under ``paths`` against ``symvers`` (a Module.symvers) like depmod.

    Args:
        paths: module files and/or module roots (``/lib/modules/<version>``).
        symvers: Module.symvers of the kernel; without it symbols are not
            checked (depmod: "-e needs -E or -F") but dependencies are computed.
        jobs: processes to read with (0: all CPUs).
        cache: result cache file, or ``None`` for none.

    Raises:
        UsageError: a path does not exist or is not a module.
        ManifestError: Module.symvers cannot be read.
    """
    rc = ResultCache.load(cache, CACHE_TAG) if cache else None
    # Stat every module only when a filled cache may spare reading it; a cold
    # run takes the keys from the readers' fstat instead.
    scan = find_modules(paths, stat=rc is not None and rc.has_entries)
    modules = scan.modules
    summary_key = None
    if rc is not None:
        summary_key = (CACHE_TAG, os.path.abspath(symvers) if symvers else None,
                       _key_of(symvers) if symvers else None, sorted(scan.inputs.items()),
                       [(p, os.path.abspath(p)) for p in paths])
        if rc.has_entries and rc.unchanged({m.cache_name: m.key for m in modules
                                            if m.key is not None}):
            summary = rc.summary(summary_key)
            if summary is not None:
                return _from_summary(modules, summary)
    return _check_cold(scan, symvers, jobs, rc, summary_key)


def _check_cold(scan: ScanResult, symvers: str | None, jobs: int, rc: ResultCache | None,
                summary_key: object) -> LinuxCheckResult:
    from kmodbuild.linux import depmod
    from kmodbuild.linux.facts import KoFacts
    from kmodbuild.linux.symvers import read_symvers

    modules = scan.modules
    facts: list[Any] = [None] * len(modules)
    todo: list[int] = []
    for i, m in enumerate(modules):
        value = rc.lookup(m.cache_name, m.key) if rc is not None and m.key else None
        if value is not None:
            facts[i] = KoFacts._make(value)
        else:
            todo.append(i)
    # Module.symvers first: the readers check their modules against its table
    # (forked with it), so that only the residue comes back to be resolved here.
    kernel = read_symvers(symvers) if symvers else None
    table = kernel.kernel_symbols() if kernel else None
    reading = Reading([modules[i].path for i in todo], jobs, table)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        resolver = depmod.Resolver(table, len(modules))
        for i, f in enumerate(facts):
            if f is not None:
                resolver.add(i, f)
        stable = True       # no file changed between the walk's stat and its reading
        for positions, chunk in reading.chunks():
            for j, (f, key, residue) in zip(positions, chunk):
                i = todo[j]
                facts[i] = f
                resolver.add(i, f, residue)
                if rc is not None and key is not None:
                    rc.store(modules[i].cache_name, key, tuple(f))
                    stable = stable and modules[i].key in (None, key)
        res = resolver.finish()
        lines = depmod.dep_lines(res, [m.relpath for m in modules])
        diags = _diagnostics(modules, facts, res, kernel, scan.duplicates)
    finally:
        if gc_was_enabled:
            gc.enable()
    notes = [] if kernel else ["no Module.symvers (--symvers): symbols and versions are not "
                               "checked, only dependencies computed"]
    result = LinuxCheckResult(modules, diags, lines, notes, len(todo), len(modules) - len(todo),
                              False, facts, res)
    if rc is not None:
        if stable:
            rc.set_summary(summary_key, _to_summary(result))
        try:
            rc.save(keep=[m.cache_name for m in modules])
        except OSError as e:
            result.notes.append(f"cannot write the cache {rc.path}: {e.strerror or e}")
    return result


def write_dep_file(path: str, lines: Sequence[str]) -> bool:
    """Write modules.dep to ``path`` atomically, only if its content changed.

    Returns True when the file was (re)written.  Raises ``OSError``.
    """
    import tempfile
    text = "".join(line + "\n" for line in lines).encode()
    try:
        with open(path, "rb") as f:
            if f.read() == text:
                return False
    except OSError:
        pass
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".modules.dep-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return True


# --------------------------------------------------------------------------- PRIVATE

def _key_of(path: str) -> FileKey | None:
    try:
        return file_key(os.stat(path))
    except OSError:
        return None


_DIAGNOSTIC_FIELDS = ("severity", "path", "message", "symbol", "hint", "rule")


def _to_summary(result: LinuxCheckResult) -> tuple[object, ...]:
    diags = [tuple(getattr(d, name) for name in _DIAGNOSTIC_FIELDS) for d in result.diagnostics]
    return (diags, result.dep_lines, result.notes)


def _from_summary(modules: list[KoModule], summary: tuple[list[tuple[str, ...]], list[str],
                                                          list[str]]) -> LinuxCheckResult:
    diags, lines, notes = summary
    return LinuxCheckResult(modules, [Diagnostic(**dict(zip(_DIAGNOSTIC_FIELDS, d)))
                                      for d in diags], list(lines), list(notes),
                            0, len(modules), True)


def _diagnostics(modules: list[KoModule], facts: list[KoFacts], res: Resolution,
                 kernel: Symvers | None,
                 duplicates: list[tuple[str, str]]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for m, f in zip(modules, facts):
        if f.error:
            out.append(Diagnostic(ERROR, m.path, f"not a valid kernel module: {f.error}",
                                  rule=RULE_FORMAT))
    hints = _unknown_hints({s for _, s in res.unknown}, facts, kernel)
    for i, sym in res.unknown:
        out.append(Diagnostic(ERROR, modules[i].path, f"needs unknown symbol {sym}", sym,
                              hints.get(sym), RULE_UNKNOWN))
    for d in res.disagreements:
        provider = "vmlinux" if d.owner is None else modules[d.owner].relpath
        out.append(Diagnostic(ERROR, modules[d.module].path,
                              f"disagrees about version of symbol {d.symbol}", d.symbol,
                              f"module expects {d.expected:#010x}, {provider} has "
                              f"{d.actual:#010x}", RULE_VERSION))
    on_cycle: set[int] = set()
    for path in find_cycles(res):
        on_cycle.update(path)
        chain = " -> ".join(modname_from_path(modules[k].relpath) for k in (*path, path[0]))
        out.append(Diagnostic(ERROR, modules[path[0]].path, f"dependency cycle: {chain}", None,
                              "depmod refuses the whole tree", RULE_CYCLE))
    for i, stuck in enumerate(res.in_cycle):
        if stuck and i not in on_cycle:
            out.append(Diagnostic(ERROR, modules[i].path, "left out of modules.dep: used by "
                                  "modules in a dependency cycle", None, None, RULE_CYCLE))
    if kernel is not None:
        for line, text in kernel.invalid:
            out.append(Diagnostic(WARNING, f"{kernel.path}:{line}",
                                  f"invalid symbol version {text}", None, None, RULE_SYMVERS))
    for ignored, kept in duplicates:
        out.append(Diagnostic(WARNING, ignored, "duplicate module name: ignored", None,
                              f"using {kept}", RULE_DUPLICATE))
    out.extend(_vermagic(modules, facts))
    out.extend(_modinfo_depends(modules, facts, res))
    return sort_diagnostics(out)


def _modinfo_depends(modules: list[KoModule], facts: list[KoFacts],
                     res: Resolution) -> list[Diagnostic]:
    """modpost records a module's direct dependencies in ``.modinfo`` ``depends=``
    when it is built; a different answer now means a stale module or a missing one."""
    out = []
    for i, f in enumerate(facts):
        if f.depends is None or f.error or (not f.depends and not res.deps[i]):
            continue
        recorded = {d.replace("-", "_") for d in f.depends.split(",") if d}
        resolved = {modname_from_path(modules[d].relpath) for d in res.deps[i]}
        if recorded == resolved:
            continue
        parts = []
        if recorded - resolved:
            parts.append(f"not provided here: {', '.join(sorted(recorded - resolved))}")
        if resolved - recorded:
            parts.append(f"not recorded: {', '.join(sorted(resolved - recorded))}")
        out.append(Diagnostic(WARNING, modules[i].path,
                              f".modinfo depends={f.depends} differs from the modules its "
                              "symbols resolve to", None, "; ".join(parts), RULE_DEPENDS))
    return out


def find_cycles(res: Resolution) -> list[list[int]]:
    """The dependency cycles among the modules depmod could not sort, one path per
    cycle (``[a, b]`` for a -> b -> a), each starting at its first module."""
    stuck = res.in_cycle
    found: list[list[int]] = []
    seen: set[frozenset[int]] = set()
    for start in range(len(stuck)):
        if not stuck[start]:
            continue
        # Breadth-first search for the shortest way from start back to itself.
        parent: dict[int, int] = {}
        frontier = [start]
        while frontier and start not in parent:
            nxt = []
            for node in frontier:
                for d in res.deps[node]:
                    if stuck[d] and d not in parent:
                        parent[d] = node
                        nxt.append(d)
            frontier = nxt
        if start not in parent:
            continue
        path = [start]
        node = parent[start]
        while node != start:
            path.append(node)
            node = parent[node]
        path = [start, *reversed(path[1:])]
        key = frozenset(path)
        if key not in seen:
            seen.add(key)
            found.append(path)
    return found


def _vermagic(modules: list[KoModule], facts: list[KoFacts]) -> list[Diagnostic]:
    counts = Counter(f.vermagic for f in facts if f.vermagic is not None)
    if len(counts) < 2:
        return []
    common = counts.most_common(1)[0][0]
    return [Diagnostic(WARNING, m.path, f"vermagic {f.vermagic!r} differs from the tree's",
                       None, f"{counts[common]} modules have {common!r}", RULE_VERMAGIC)
            for m, f in zip(modules, facts) if f.vermagic is not None and f.vermagic != common]


def _unknown_hints(unknown: set[str], facts: list[KoFacts],
                   kernel: Symvers | None) -> dict[str, str]:
    if not unknown:
        return {}
    hints: dict[str, str] = {}
    if kernel is not None:
        for sym in unknown:
            owner = kernel.owners.get(sym)
            if owner and owner != "vmlinux":
                hints[sym] = (f"Module.symvers says {owner} exports it; that module is not "
                              "among those checked")
            elif owner == "vmlinux":
                hints[sym] = "Module.symvers lists it for vmlinux with an invalid version"
    import difflib
    rest = sorted(unknown - hints.keys())
    if not rest or len(rest) > MAX_SPELLING_HINTS:
        return hints
    known: set[str] = set(kernel.vmlinux) if kernel is not None else set()
    for f in facts:
        known.update(f.exports)
    buckets: dict[str, list[str]] = {}
    for name in known:
        buckets.setdefault(name[:2], []).append(name)
    for sym in rest:
        close = difflib.get_close_matches(sym, buckets.get(sym[:2], []), n=1, cutoff=0.8)
        if close:
            hints[sym] = f"did you mean {close[0]}?"
    return hints
