"""kmodbuild.linux.depmod - depmod's symbol resolution and modules.dep, as pure functions.

Input: the modules in depmod's array order (``modules.order`` first) with
their :class:`~kmodbuild.linux.kofile.KoFacts`, and the kernel's symbols from
Module.symvers.  Output: a :class:`Resolution` -- each module's direct
dependencies, the unknown symbols, the CRC disagreements, the dependency
cycles -- and :func:`dep_lines`, the text of ``modules.dep``.

The rules are kmod's ``tools/depmod.c`` (https://github.com/kmod-project/kmod):

* the symbol table starts with Module.symvers' vmlinux rows and depmod's fake
  symbols (``depmod_load_symvers``), then every module's exports are added
  in array order, a later definition replacing an earlier one
  (``depmod_load_modules``: hash_add replaces) -- so a module's own exports
  override Module.symvers rows;
* for each dependency symbol of each module (``depmod_load_module_dependencies``),
  a leading ``.`` is ignored (PPC64); a missing symbol is an unknown symbol
  unless the reference is weak; a found one whose CRC differs from the one
  the module expects is a disagreement unless weak; every found symbol
  owned by a module adds that module to the dependencies (once, in first-use
  order);
* ``depmod_calculate_dependencies``: a topological sort over a stack of
  modules without users, seeded in array order; modules left over are in
  dependency cycles and are left out of modules.dep;
* ``output_deps``: one line per module in array order, ``relpath:`` and the
  module's transitive dependencies sorted by their topological index.

Without Module.symvers depmod checks nothing (``-e needs -E or -F``) but still
computes dependencies; so does :func:`resolve` with ``kernel=None``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import accumulate, chain, compress, repeat
from operator import itemgetter, ne
from typing import NamedTuple

from kmodbuild.linux.facts import KoFacts, unpack_crcs


class Disagreement(NamedTuple):
    """A CRC mismatch: ``module`` expects ``expected`` for ``symbol``, the provider has ``actual``.

    ``owner`` is the providing module's index, or ``None`` for the kernel.
    """

    module: int
    symbol: str
    expected: int
    actual: int
    owner: int | None


class Resolution:
    """What depmod computes for a set of modules (indices are array positions).

    Attributes:
        deps: each module's direct dependencies, in first-use order.
        sort_index: each module's topological index (``dep_sort_idx``).
        in_cycle: modules in dependency cycles (omitted from modules.dep).
        unknown: ``(module, symbol)`` for each unknown, non-weak symbol.
        disagreements: CRC mismatches of non-weak references.
        checked: whether symbols were checked at all (a kernel table was given).
    """

    __slots__ = ("deps", "sort_index", "in_cycle", "unknown", "disagreements", "checked")

    def __init__(self, deps: list[list[int]], sort_index: list[int], in_cycle: list[bool],
                 unknown: list[tuple[int, str]] | None = None,
                 disagreements: list[Disagreement] | None = None, checked: bool = True) -> None:
        self.deps, self.sort_index, self.in_cycle = deps, sort_index, in_cycle
        self.unknown = [] if unknown is None else unknown
        self.disagreements = [] if disagreements is None else disagreements
        self.checked = checked

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"Resolution({fields})"


def resolve(facts: Sequence[KoFacts], kernel: Mapping[str, int] | None) -> Resolution:
    """Resolve every module's dependency symbols as depmod does.

    ``facts`` is in depmod's array order; ``kernel`` is the starting symbol
    table (:meth:`Symvers.kernel_symbols`), or ``None`` to compute
    dependencies without checking symbols.
    """
    resolver = Resolver(kernel, len(facts))
    for i, f in enumerate(facts):
        resolver.add(i, f)
    return resolver.finish()


#: The dependency symbols of one module that the kernel table does not settle,
#: as plain lists because it crosses process boundaries (marshal makes them
#: in C): their names, their expected CRCs, their positions among all the
#: module's dependency symbols, ``[index, kernel CRC]`` pairs for those
#: the kernel has with another CRC, and whether a name may begin with ``.``.
Residue = tuple[list[str], list[int], list[int], list[tuple[int, int]], bool]


def kernel_residue(f: KoFacts, kernel: Mapping[str, int] | None) -> Residue | None:
    """Check ``f``'s dependency symbols against the ``kernel`` table; return the rest.

    ``None`` means nothing is left: every symbol is the kernel's, with the CRC
    the module expects.  Without a kernel table everything is left.  Runs in
    the reader processes, where the work is spread over all CPUs.
    """
    blob = f.dep_blob
    if not blob:
        return None
    return residue_of(blob.split("\0"), unpack_crcs(f.dep_crc_blob), kernel, dotted(blob))


def dotted(blob: str) -> bool:
    """Whether a name of the NUL-joined ``blob`` begins with ``.`` (one search in C)."""
    return blob[:1] == "." or "\0." in blob


def residue_of(names: list[str], crcs: list[int], kernel: Mapping[str, int] | None,
               dots: bool | None = None) -> Residue | None:
    """:func:`kernel_residue` of a module whose dependency ``names`` and expected
    ``crcs`` are at hand as lists; ``dots``: whether a name begins with ``.``
    (:func:`dotted` of their joined text; ``None``: find out here)."""
    if not names:
        return None
    if dots is None:
        dots = min(names)[:1] <= "."    # only then can a name start with "." (stays in C)
    if kernel is None:
        return names, crcs, list(range(len(names))), [], dots
    keys = names
    if dots:
        keys = [n[1:] if n[:1] == "." else n for n in names]         # PPC64: .foo == foo
    found = list(map(kernel.get, keys))
    if found == crcs:           # the common case stays in C: all provided by the kernel
        return None
    pos = list(compress(range(len(names)), map(ne, found, crcs)))
    mismatched = [(j, found[k]) for j, k in enumerate(pos) if found[k] is not None]
    return ([names[k] for k in pos], [crcs[k] for k in pos], pos,  # type: ignore[misc]
            mismatched, dots)


class Resolver:
    """:func:`resolve` in two steps, so that most of the work happens while modules are read.

    :meth:`add` takes each module's facts as they arrive (any order) with the
    *residue* of its dependency symbols -- those the kernel's table does not
    provide with the expected CRC (:func:`kernel_residue`, computed by the
    reader processes or here).  :meth:`finish` resolves the residues against
    the modules' exports.  When a module exports a symbol the kernel table also
    has (an override), the early answers may be wrong, and :meth:`finish`
    resolves everything again in one go -- from ``full()`` when given: the
    facts passed to :meth:`add` may then lack their dependency symbols (only
    exports, ``weak`` and the residue are used otherwise).
    """

    def __init__(self, kernel: Mapping[str, int] | None, count: int,
                 full: Callable[[], Sequence[KoFacts]] | None = None) -> None:
        self.kernel = kernel
        self.full = full
        self.facts: list[KoFacts | None] = [None] * count
        self._exports: dict[int, tuple[list[str], list[int]]] = {}
        self._residue: dict[int, Residue] = {}
        # name -> (owner, CRC), filled as modules arrive: one lookup per symbol in
        # one dict (two dicts cost twice the cache misses).  Right while no name is
        # exported twice (then the latest module in array order must win, and
        # finish() builds it again in that order).
        self._exported: dict[str, tuple[int, int]] = {}
        self._repeated = False
        self._overrides = False         # a module exports a name the kernel has

    def add(self, i: int, f: KoFacts, residue: Residue | None | bool = True) -> None:
        """Take module ``i``'s facts; ``residue`` is its :func:`kernel_residue`
        against this resolver's kernel table, or True to compute it here."""
        self.facts[i] = f
        if f.export_blob:
            names = f.export_blob.split("\0")
            crcs = unpack_crcs(f.export_crc_blob)
            self._exports[i] = (names, crcs)
            exported = self._exported
            before = len(exported)
            exported.update(zip(names, zip(repeat(i), crcs)))
            if len(exported) - before != len(names):
                self._repeated = True
            if self.kernel is not None and not self._overrides:
                self._overrides = not self.kernel.keys().isdisjoint(names)
        if residue is True:
            residue = kernel_residue(f, self.kernel)
        if residue:
            self._residue[i] = residue

    def finish(self) -> Resolution:
        """The resolution of every module added (all must have been)."""
        facts: list[KoFacts] = self.facts  # type: ignore[assignment]
        exported = self._exported
        if self._repeated:
            exported = {}
            for i in sorted(self._exports):      # array order: a later module's export wins
                names, crcs = self._exports[i]
                exported.update(zip(names, zip(repeat(i), crcs)))
        kernel = self.kernel
        if self._overrides:
            return _resolve_all(facts if self.full is None else self.full(), kernel)
        checked = kernel is not None
        res = Resolution([[] for _ in facts], [], [], checked=checked)
        users = [0] * len(facts)
        # Every residue symbol of every module in one list, so that the lookups
        # run in C: module order[m] owns positions bounds[m]:bounds[m + 1].
        order = sorted(self._residue)
        residues = [self._residue[i] for i in order]
        names = list(chain.from_iterable([r[0] for r in residues]))
        crcs = list(chain.from_iterable([r[1] for r in residues]))
        bounds = list(accumulate([len(r[0]) for r in residues], initial=0))
        keys = names
        if any(r[4] for r in residues):
            keys = [n[1:] if n[:1] == "." else n for n in names]      # PPC64: .foo == foo
        # (owner -1: no module exports it -- ints all through, so that every test
        # below compares ints in C rather than ints with None)
        found = list(map(exported.get, keys, repeat(_NOWHERE)))
        owners = list(map(itemgetter(0), found))
        have = list(map(itemgetter(1), found))
        clean = [True] * len(order)           # every symbol a module's, with its CRC
        if (owners and min(owners) < 0) or (checked and have != crcs):
            clean = [-1 not in owners[a:b] and (not checked or have[a:b] == crcs[a:b])
                     for a, b in zip(bounds, bounds[1:])]
        deps = res.deps
        for m, i in enumerate(order):
            a, b = bounds[m], bounds[m + 1]
            if clean[m]:
                seg = owners[a:b]
                if seg.count(seg[0]) == b - a:      # one provider (stays in C)
                    direct = deps[i] = seg[:1]  # type: ignore[assignment]
                else:
                    direct = deps[i] = list(dict.fromkeys(seg))  # type: ignore[arg-type]
                for o in direct:
                    users[o] += 1
                continue
            rnames, rcrcs, pos, pairs, _ = residues[m]
            weak = set(facts[i].weak)
            in_kernel = dict(pairs)
            direct = []
            for j, (name, crc, k) in enumerate(zip(rnames, rcrcs, pos)):
                owned = owners[a + j]
                if owned >= 0:
                    got = have[a + j]
                    if checked and got != crc and k not in weak:
                        res.disagreements.append(Disagreement(i, name, crc, got, owned))
                    if owned not in direct:
                        direct.append(owned)
                        users[owned] += 1
                elif not checked or k in weak:
                    continue
                elif j in in_kernel:
                    res.disagreements.append(Disagreement(i, name, crc, in_kernel[j], None))
                else:
                    res.unknown.append((i, name))
            deps[i] = direct
        res.sort_index, res.in_cycle = _topological_order(res.deps, users)
        return res


#: What the symbol table gives for a name no module exports: ``(owner, CRC)``.
_NOWHERE = (-1, -1)


def _resolve_all(facts: Sequence[KoFacts], kernel: Mapping[str, int] | None) -> Resolution:
    """The whole resolution over all modules' symbols at once (the general case)."""
    sym_crc: dict[str, int] = dict(kernel) if kernel is not None else {}
    sym_owner: dict[str, int] = {}
    for i, f in enumerate(facts):
        if f.export_blob:
            names = f.export_blob.split("\0")
            sym_crc.update(zip(names, unpack_crcs(f.export_crc_blob)))
            sym_owner.update(dict.fromkeys(names, i))
    checked = kernel is not None
    res = Resolution([[] for _ in facts], [], [], checked=checked)
    # All modules' dependency symbols in one list, so that the lookups run in C:
    # module i owns positions bounds[i]:bounds[i + 1].
    bounds = [0, *accumulate(len(f.dep_crc_blob) // 8 for f in facts)]
    joined = "\0".join([f.dep_blob for f in facts if f.dep_blob])
    names = joined.split("\0") if joined else []
    keys = names
    if joined.startswith(".") or "\0." in joined:
        keys = [n[1:] if n[:1] == "." else n for n in names]     # PPC64: .foo == foo
    if checked and names:
        crcs = unpack_crcs(b"".join(f.dep_crc_blob for f in facts))
        found = list(map(sym_crc.get, keys))
        if found != crcs:       # the common case (all known, all equal) stays in C
            for i, f in enumerate(facts):
                a, b = bounds[i], bounds[i + 1]
                if found[a:b] != crcs[a:b]:
                    _report(res, i, f, names[a:b], keys[a:b], crcs[a:b], found[a:b],
                            sym_owner.get)
    # Dependencies: the owners of the module-exported symbols each module uses,
    # unique, in first-use order (mod_add_dependency).
    users = [0] * len(facts)
    owners = list(map(sym_owner.get, keys))
    for i in range(len(facts)):
        seg = owners[bounds[i]:bounds[i + 1]]
        if seg.count(None) != len(seg):
            unique: dict[int | None, None] = dict.fromkeys(seg)
            unique.pop(None, None)
            direct = res.deps[i] = [o for o in unique if o is not None]
            for o in direct:
                users[o] += 1
    res.sort_index, res.in_cycle = _topological_order(res.deps, users)
    return res


def _report(res: Resolution, i: int, f: KoFacts, names: list[str], keys: list[str],
            crcs: list[int], found: list[int | None],
            owner_get: Callable[[str], int | None]) -> None:
    weak = set(f.weak)
    for k, (name, key, crc, have) in enumerate(zip(names, keys, crcs, found)):
        if have == crc or k in weak:
            continue
        if have is None:
            res.unknown.append((i, name))
        else:
            res.disagreements.append(Disagreement(i, name, crc, have, owner_get(key)))


def _topological_order(deps: list[list[int]], users: list[int]) -> tuple[list[int], list[bool]]:
    """depmod_calculate_dependencies: a stack-based sort from the modules nobody uses."""
    n = len(deps)
    users = list(users)
    roots = [i for i in range(n) if users[i] == 0]
    sort_index = [0] * n
    done = 0
    while roots:
        src = roots.pop()
        sort_index[src] = done
        done += 1
        for dst in deps[src]:
            users[dst] -= 1
            if users[dst] == 0:
                roots.append(dst)
    in_cycle = [u != 0 for u in users]
    for i in range(n):
        if in_cycle[i]:
            sort_index[i] = 0x7FFFFFFF
    return sort_index, in_cycle


def all_dependencies(res: Resolution, i: int) -> list[int]:
    """Module ``i``'s transitive dependencies in modules.dep order (cycles left out)."""
    seen: set[int] = set()
    stack = list(res.deps[i])
    while stack:
        d = stack.pop()
        if d in seen:
            continue
        seen.add(d)
        stack.extend(res.deps[d])
    in_cycle, sort_index = res.in_cycle, res.sort_index
    return sorted((d for d in seen if not in_cycle[d]), key=sort_index.__getitem__)


#: What a cache keeps of a :class:`Resolution` to write modules.dep again:
#: ``(deps, sort_index, in_cycle)``.
DepGraph = tuple[list[list[int]], list[int], list[bool]]


def dep_graph(res: Resolution) -> DepGraph:
    """The part of ``res`` that :func:`dep_lines` reads (plain lists: it is marshalled)."""
    return res.deps, res.sort_index, res.in_cycle


def dep_lines_of(graph: DepGraph, relpaths: Sequence[str]) -> list[str]:
    """:func:`dep_lines` from a :func:`dep_graph`."""
    deps, sort_index, in_cycle = graph
    return dep_lines(Resolution(list(deps), list(sort_index), list(in_cycle)), relpaths)


def dep_lines(res: Resolution, relpaths: Sequence[str]) -> list[str]:
    """The lines of modules.dep (without newlines), in depmod's order."""
    deps, in_cycle, order = res.deps, res.in_cycle, res.sort_index.__getitem__
    closures: list[set[int] | None] = [None] * len(deps)
    if True in in_cycle:
        for i in range(len(deps)):
            if deps[i] and not in_cycle[i]:
                closures[i] = set(all_dependencies(res, i))
    else:
        # A DAG: each module's closure from its dependencies' (they sort after it).
        for i in sorted(range(len(deps)), key=order, reverse=True):
            direct = deps[i]
            if direct:
                closure = set(direct)
                for d in direct:
                    sub = closures[d]
                    if sub:
                        closure |= sub
                closures[i] = closure
    lines = []
    for i, rel in enumerate(relpaths):
        if in_cycle[i]:
            continue
        done = closures[i]
        if not done:
            lines.append(rel + ":")
        else:
            lines.append(rel + ": " + " ".join(map(relpaths.__getitem__,
                                                    sorted(done, key=order))))
    return lines
