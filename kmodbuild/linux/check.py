"""kmodbuild.linux.check - the whole Linux check: find, read (cached, on all cores), resolve, report.

:func:`check_linux` is the one entry point the shells call.  It returns a
:class:`LinuxCheckResult` with sorted :class:`~kmodbuild.diagnostics.Diagnostic`
records, the modules.dep lines and, when asked, the rendered report; it
never prints and writes only the cache file (and, through
:func:`write_dep_file`, the modules.dep the caller asks for).

The order of work, so that both cores are busy from the start: the reader
helpers are forked first and parse Module.symvers while this process walks
the tree (:mod:`kmodbuild.linux.readers`); then all of them read modules,
each checking its modules against the kernel's table, and this process
resolves what is left as the chunks arrive.

Incremental runs (:mod:`kmodbuild.linux.treecache`): with a cache file, a
run whose inputs did not change at all reuses the previous report (a
``stat`` per file and directory, nothing read); otherwise only the modules
whose key changed are read again.
"""
from __future__ import annotations

import gc
import os
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kmodbuild.errors import ManifestError
from kmodbuild.linux import treecache
from kmodbuild.linux.depfile import write_dep_file
from kmodbuild.linux.names import modname_from_path
from kmodbuild.linux.scan import KoModule, ScanResult, find_modules

if TYPE_CHECKING:
    from kmodbuild.diagnostics import Diagnostic
    from kmodbuild.linux.depmod import Resolution
    from kmodbuild.linux.facts import KoFacts
    from kmodbuild.linux.readers import Helpers
    from kmodbuild.linux.symvers import Symvers

#: Version of what the cache holds (:data:`kmodbuild.linux.treecache.TAG`).
CACHE_TAG = treecache.TAG
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

#: Severities (the values of kmodbuild.diagnostics.ERROR and WARNING, which this module
#: imports only when there is something to report).
ERROR, WARNING = "error", "warning"

#: Report formats :func:`render` knows.
FORMATS = ("text", "json", "junit", "sarif", "github")


class LinuxCheckResult:
    """The outcome of :func:`check_linux`.

    Attributes:
        modules: the modules checked, in depmod's order (``key`` and
            ``cache_name`` are empty when ``reused``).
        diagnostics: sorted, de-duplicated problems (errors and warnings).
        dep_lines: modules.dep, one line per module (no newlines); made from
            ``resolution`` when first asked for, if not given.
        notes: remarks for the user that are not problems (e.g. no Module.symvers).
        read: modules read from disk this run.
        cached: modules whose facts came from the cache.
        reused: True when the whole report came from the cache.
        facts: each module's facts (``None`` when ``reused``); the dependency
            symbols (``dep_blob``, ``dep_crc_blob``) of modules read this run
            are left out -- :func:`kmodbuild.linux.kofile.read_ko` has them.
        resolution: depmod's resolution (``None`` when ``reused``).
        report: the report rendered in the format asked for (``None`` if none was).
    """

    def __init__(self, modules: list[KoModule], diagnostics: list[Diagnostic],
                 dep_lines: list[str] | None, notes: list[str] | None = None, read: int = 0,
                 cached: int = 0, reused: bool = False, facts: list[KoFacts] | None = None,
                 resolution: Resolution | None = None, report: str | None = None) -> None:
        self.modules, self.diagnostics, self._dep_lines = modules, diagnostics, dep_lines
        self.notes = [] if notes is None else notes
        self.read, self.cached, self.reused = read, cached, reused
        self.facts, self.resolution, self.report = facts, resolution, report
        self._scratch: object = None

    def __repr__(self) -> str:
        return (f"LinuxCheckResult({len(self.modules)} modules, {len(self.diagnostics)} "
                f"diagnostics, read={self.read}, cached={self.cached}, reused={self.reused})")

    @property
    def dep_lines(self) -> list[str]:
        """modules.dep, one line per module (computed on first use: a check that
        writes no modules.dep does not spend the time)."""
        if self._dep_lines is None:
            from kmodbuild.linux.depmod import dep_lines
            if self.resolution is None:
                raise ValueError("no modules.dep lines and no resolution to make them")
            self._dep_lines = dep_lines(self.resolution, [m.relpath for m in self.modules])
        return self._dep_lines

    @property
    def has_errors(self) -> bool:
        """True when any diagnostic is an error (the CLI then exits 1)."""
        return any(d.severity == ERROR for d in self.diagnostics)


def check_linux(paths: Sequence[str], symvers: str | None = None, *, jobs: int = 0,
                cache: str | None = None, report_format: str | None = None,
                dep_lines: bool = False) -> LinuxCheckResult:
    """Check the modules under ``paths`` against ``symvers`` (a Module.symvers) like depmod.

    Args:
        paths: module files and/or module roots (``/lib/modules/<version>``).
        symvers: Module.symvers of the kernel; without it symbols are not
            checked (depmod: "-e needs -E or -F") but dependencies are computed.
        jobs: processes to read with (0: all CPUs).
        cache: result cache file, or ``None`` for none.
        report_format: also render the report in this format (one of
            :data:`FORMATS`) into :attr:`LinuxCheckResult.report`; the cache
            keeps it, so that an unchanged re-check can print it without
            loading the checker (:func:`kmodbuild.linux.treecache.cached_report`).
        dep_lines: make :attr:`LinuxCheckResult.dep_lines` now (it is made on
            first use otherwise), so that the cache keeps them for the next
            run that writes modules.dep.

    Raises:
        UsageError: a path does not exist or is not a module.
        ManifestError: Module.symvers cannot be read.
    """
    skey = treecache.summary_key(CACHE_TAG, paths, symvers)
    if cache:
        summary = treecache.reuse(cache, CACHE_TAG, skey)
        if summary is not None:
            return _from_summary(summary, report_format)
    from kmodbuild.linux import readers
    jobs = jobs or readers.default_jobs()
    helpers = None
    gc_was_enabled = gc.isenabled()
    gc.disable()            # millions of objects, no cycles: collections only cost
    try:
        if jobs > 1 and readers.fork_available() and any(os.path.isdir(p) for p in paths):
            # Imported once, here, for the helpers to inherit.
            import kmodbuild.linux.depmod
            import kmodbuild.linux.kofile
            import kmodbuild.linux.symvers  # noqa: F401
            try:
                helpers = readers.Helpers(jobs - 1, symvers or None, keep_facts=bool(cache))
            except OSError:
                helpers = None          # no pipe or shared memory left: read here alone
        return _check(paths, symvers, cache, skey, helpers, report_format, dep_lines)
    finally:
        if helpers is not None:
            helpers.close()
        if gc_was_enabled:
            # What was made meanwhile goes to the oldest generation without being
            # scanned (a first collection over it would cost tens of milliseconds).
            gc.freeze()
            gc.enable()
            gc.unfreeze()


def render(fmt: str, diagnostics: Sequence[Diagnostic], files: Sequence[str]) -> str:
    """The report of ``diagnostics`` in ``fmt`` (``files``: the modules checked)."""
    if fmt == "text" and not diagnostics:
        return ""
    from kmodbuild.diagnostics import render_json, render_text
    if fmt == "text":
        return render_text(diagnostics)
    if fmt == "json":
        return render_json(diagnostics, len(files))
    from kmodbuild.reports import render_report
    return render_report(fmt, diagnostics, files)


def _check(paths: Sequence[str], symvers: str | None, cache: str | None, skey: object,
           helpers: Helpers | None, report_format: str | None,
           want_lines: bool = False) -> LinuxCheckResult:
    import marshal
    from functools import partial

    from kmodbuild.linux import depmod, readers
    from kmodbuild.linux.facts import KoFacts
    from kmodbuild.linux.symvers import Symvers, kernel_table

    tc = treecache.TreeCache.load(cache, CACHE_TAG) if cache else None
    # Stat every module only when a filled cache may spare reading it; a cold
    # run takes the keys from the readers' fstat instead.
    scan = find_modules(paths, stat=tc is not None and tc.has_entries)
    modules = scan.modules
    n = len(modules)
    facts: list[Any] = [None] * n
    keys = [m.key for m in modules]
    todo: list[int] = []
    kept: list[str] = []
    for i, m in enumerate(modules):
        value = tc.lookup(m.cache_name, m.key) if tc is not None else None
        if value is not None:
            facts[i] = KoFacts._make(value)
            kept.append(m.cache_name)
        else:
            todo.append(i)
    paths_todo = [modules[i].path for i in todo]
    if helpers is not None:
        helpers.publish(paths_todo)         # they read while the kernel table arrives
    kernel: Symvers | None = None
    table = None
    symvers_key = None
    if symvers:
        got = helpers.kernel() if helpers is not None else None
        if got is None:
            got = readers.load_kernel(symvers)
        vmlinux, invalid, symvers_key, error = got
        if error is not None or vmlinux is None:
            raise ManifestError(error or "cannot read Module.symvers", path=symvers)
        kernel = Symvers(symvers, vmlinux, invalid)
        table = kernel_table(vmlinux)
    chunks: list[tuple[list[int], bytes]] = []

    def full_facts() -> list[KoFacts]:
        # Only when a module overrides a kernel symbol: everything is resolved again
        # from the full facts (without a cache, the readers did not keep them).
        out = list(facts)
        for indices, blob in chunks:
            if not blob:
                blob = readers.read_chunk([modules[i].path for i in indices], table)[1]
            for i, (_, t) in zip(indices, marshal.loads(blob)):
                out[i] = KoFacts._make(t)
        return out

    resolver = depmod.Resolver(table, n, full_facts)
    for i, f in enumerate(facts):
        if f is not None:
            resolver.add(i, f)
    if helpers is not None:
        reading = helpers.run(paths_todo, table)
    else:
        reading = iter([(range(len(todo)), readers.read_chunk(paths_todo, table,
                                                              tc is not None))]
                       if todo else [])
    # (the readers made these tuples: tuple.__new__ skips _make's Python call and check)
    make = partial(tuple.__new__, KoFacts)
    for positions, (light, blob) in reading:
        indices = [todo[j] for j in positions]
        for i, (key, t, residue) in zip(indices, light):
            f = facts[i] = make(t)
            keys[i] = key
            resolver.add(i, f, residue)
        chunks.append((indices, blob))
    res = resolver.finish()
    diags = _diagnostics(modules, facts, res, kernel, scan.duplicates, scan.unreadable)
    notes = [] if kernel else ["no Module.symvers (--symvers): symbols and versions are not "
                               "checked, only dependencies computed"]
    result = LinuxCheckResult(modules, diags, None, notes, len(todo), n - len(todo), False,
                              facts, res)
    if report_format is not None:
        result.report = render(report_format, diags, [m.path for m in modules])
    if want_lines:
        result.dep_lines  # noqa: B018 -- made now, so that the cache keeps them
    if tc is not None:
        signature = _signature(paths, scan, keys, symvers, symvers_key)
        summary = _to_summary(result, report_format)
        try:
            tc.save(signature, skey, summary,
                    [([modules[i].cache_name for i in indices], blob)
                     for indices, blob in chunks], kept)
        except OSError as e:
            result.notes.append(f"cannot write the cache {tc.path}: {e.strerror or e}")
    # The working data goes with the result: freeing it costs milliseconds that a
    # command about to exit need not spend (see kmodbuild/linux/__main__.py).
    result._scratch = (resolver, chunks, tc, scan)
    return result


__all__ = ["CACHE_TAG", "FORMATS", "LinuxCheckResult", "check_linux", "find_cycles", "render",
           "write_dep_file"]

# --------------------------------------------------------------------------- PRIVATE

_DIAGNOSTIC_FIELDS = ("severity", "path", "message", "symbol", "hint", "rule")


def _signature(paths: Sequence[str], scan: ScanResult, keys: list[Any], symvers: str | None,
               symvers_key: Any) -> treecache.Signature | None:
    """Every path the result depends on with its key, or ``None`` when some module's
    key is unknown (an unreadable file: a re-check could not tell it changed), or a
    symbolic link led nowhere (its target may appear without the listing changing)."""
    if None in keys or scan.unreadable:
        return None
    names = [*scan.dirs, *scan.inputs, *(m.cache_name for m in scan.modules)]
    values = [*(k for k, _ in scan.dirs.values()), *scan.inputs.values(), *keys]
    if symvers:
        names.append(os.path.abspath(symvers))
        values.append(symvers_key)
    roots = [os.path.abspath(p) for p in paths if os.path.abspath(p) in scan.dirs]
    listings = {d: fingerprint for d, (_, fingerprint) in scan.dirs.items()}
    return treecache.make_signature(names, values, roots, listings)


def _to_summary(result: LinuxCheckResult, report_format: str | None
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a re-check prints, and the rest (see :func:`kmodbuild.linux.treecache.reuse`)."""
    from kmodbuild.linux.depmod import dep_graph
    details = {"diagnostics": [tuple(getattr(d, name) for name in _DIAGNOSTIC_FIELDS)
                               for d in result.diagnostics],
               "resolution": dep_graph(result.resolution),  # type: ignore[arg-type]
               "modules": [(m.path, m.relpath) for m in result.modules]}
    if result._dep_lines is not None:       # made for --write-dep: kept for the next one
        details["dep_lines"] = result._dep_lines
    return ({"reports": {} if report_format is None else {report_format: result.report},
             "notes": result.notes, "errors": result.has_errors}, details)


def _from_summary(summary: dict[str, Any], report_format: str | None) -> LinuxCheckResult:
    modules = [KoModule(path, rel, "", None) for path, rel in summary["modules"]]
    diags = []
    if summary["diagnostics"]:
        from kmodbuild.diagnostics import Diagnostic
        diags = [Diagnostic(**dict(zip(_DIAGNOSTIC_FIELDS, d))) for d in summary["diagnostics"]]
    result = LinuxCheckResult(modules, diags, treecache.stored_dep_lines(summary),
                              list(summary["notes"]), 0, len(modules), True)
    if report_format is not None:
        result.report = summary["reports"].get(report_format)
        if result.report is None:
            result.report = render(report_format, diags, [m.path for m in modules])
    return result


#: A diagnostic's fields before it is made a :class:`~kmodbuild.diagnostics.Diagnostic`.
Record = tuple[str, str, str, "str | None", "str | None", str]


def _record(severity: str, path: str, message: str, symbol: str | None = None,
            hint: str | None = None, rule: str = "") -> Record:
    return (severity, path, message, symbol, hint, rule)


def _diagnostics(modules: list[KoModule], facts: list[KoFacts], res: Resolution,
                 kernel: Symvers | None, duplicates: list[tuple[str, str]],
                 unreadable: Sequence[tuple[str, str]] = ()) -> list[Diagnostic]:
    out: list[Record] = []
    for path, reason in unreadable:      # not a module to depmod: no modules.dep line
        out.append(_record(ERROR, path, f"not a valid kernel module: {reason}",
                           rule=RULE_FORMAT))
    for m, f in zip(modules, facts):
        if f.error:
            out.append(_record(ERROR, m.path, f"not a valid kernel module: {f.error}",
                               rule=RULE_FORMAT))
    hints = _unknown_hints({s for _, s in res.unknown}, facts, kernel)
    for i, sym in res.unknown:
        out.append(_record(ERROR, modules[i].path, f"needs unknown symbol {sym}", sym,
                              hints.get(sym), RULE_UNKNOWN))
    for d in res.disagreements:
        provider = "vmlinux" if d.owner is None else modules[d.owner].relpath
        out.append(_record(ERROR, modules[d.module].path,
                              f"disagrees about version of symbol {d.symbol}", d.symbol,
                              f"module expects {d.expected:#010x}, {provider} has "
                              f"{d.actual:#010x}", RULE_VERSION))
    on_cycle: set[int] = set()
    for path in find_cycles(res):
        on_cycle.update(path)
        chain = " -> ".join(modname_from_path(modules[k].relpath) for k in (*path, path[0]))
        out.append(_record(ERROR, modules[path[0]].path, f"dependency cycle: {chain}", None,
                              "depmod refuses the whole tree", RULE_CYCLE))
    for i, stuck in enumerate(res.in_cycle):
        if stuck and i not in on_cycle:
            out.append(_record(ERROR, modules[i].path, "left out of modules.dep: used by "
                                  "modules in a dependency cycle", None, None, RULE_CYCLE))
    if kernel is not None:
        for line, text in kernel.invalid:
            out.append(_record(WARNING, f"{kernel.path}:{line}",
                                  f"invalid symbol version {text}", None, None, RULE_SYMVERS))
    for ignored, kept in duplicates:
        out.append(_record(WARNING, ignored, "duplicate module name: ignored", None,
                              f"using {kept}", RULE_DUPLICATE))
    out.extend(_vermagic(modules, facts))
    out.extend(_modinfo_depends(modules, facts, res))
    if not out:
        return []               # a clean tree: kmodbuild.diagnostics is not even loaded
    from kmodbuild.diagnostics import Diagnostic, sort_diagnostics
    return sort_diagnostics(Diagnostic(*r) for r in out)


def _modinfo_depends(modules: list[KoModule], facts: list[KoFacts],
                     res: Resolution) -> list[Record]:
    """modpost records a module's direct dependencies in ``.modinfo`` ``depends=``
    when it is built; a different answer now means a stale module or a missing one."""
    out = []
    names: dict[int, str] = {}          # of the modules depended on, as needed

    def name_of(k: int) -> str:
        name = names[k] = modname_from_path(modules[k].relpath)
        return name

    for i, f in enumerate(facts):
        depends = f.depends
        if depends is None or f.error or (not depends and not res.deps[i]):
            continue
        recorded = set(depends.replace("-", "_").split(","))
        recorded.discard("")
        resolved = {names.get(k) or name_of(k) for k in res.deps[i]}
        if recorded == resolved:
            continue
        parts = []
        if recorded - resolved:
            parts.append(f"not provided here: {', '.join(sorted(recorded - resolved))}")
        if resolved - recorded:
            parts.append(f"not recorded: {', '.join(sorted(resolved - recorded))}")
        out.append(_record(WARNING, modules[i].path,
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


def _vermagic(modules: list[KoModule], facts: list[KoFacts]) -> list[Record]:
    counts = Counter(f.vermagic for f in facts if f.vermagic is not None)
    if len(counts) < 2:
        return []
    common = counts.most_common(1)[0][0]
    return [_record(WARNING, m.path, f"vermagic {f.vermagic!r} differs from the tree's",
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
