"""kmodbuild.depgraph - the ``mi_required`` graph: closures, cycles, load order.

Nodes are module names (``mi_name``); edges go from a module to each module
it requires (spec §1.5, §3.3 step 11).  Pure functions over a plain mapping,
so the check, the installer and the simulator share them.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from kmodbuild.errors import DependencyError

Graph = Mapping[str, Sequence[str]]


def closure(graph: Graph, name: str) -> set[str]:
    """Every module ``name`` requires, directly or not (``name`` itself excluded
    unless it is on a cycle).  Unknown names are included but not expanded."""
    seen: set[str] = set()
    stack = list(graph.get(name, ()))
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(graph.get(n, ()))
    return seen


def find_cycles(graph: Graph) -> list[list[str]]:
    """Every elementary dependency cycle through distinct modules, as ``[a, b, a]``.

    Self-dependencies (``a`` requiring ``a``) are not reported here (the kernel
    reports them differently, spec §1.5).  Each cycle is reported once,
    rotated to start at its smallest name; the list is sorted.  Cycles are
    found per strongly connected component (Tarjan), then one cycle is traced
    per component member, which is enough to name every module that cannot
    load.
    """
    comps = strongly_connected(graph)
    cycles: set[tuple[str, ...]] = set()
    for comp in comps:
        if len(comp) < 2:
            continue
        members = set(comp)
        for start in sorted(comp):
            path = _cycle_from(graph, start, members)
            if path:
                cycles.add(_canonical(path))
    return [list(c) + [c[0]] for c in sorted(cycles)]


def cycle_of(graph: Graph, name: str) -> list[str] | None:
    """A shortest cycle through ``name`` as ``[name, ..., name]``, or ``None``."""
    path = _cycle_from(graph, name, None)
    return path + [name] if path else None


def strongly_connected(graph: Graph) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            succ = [s for s in graph.get(node, ()) if s in graph and s != node]
            if i < len(succ):
                work.append((node, i + 1))
                nxt = succ[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                out.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out


def load_order(graph: Graph, names: Iterable[str] | None = None) -> list[str]:
    """Modules in an order where each comes after everything it requires.

    Ties are broken by name, so the order is stable.  Unknown required names
    are ignored (the check reports them).

    Raises:
        DependencyError: a cycle (the message names it, ``a -> b -> a``).
    """
    cycles = find_cycles(graph)
    if cycles:
        raise DependencyError("dependency cycle: " + " -> ".join(cycles[0]))
    wanted = sorted(graph) if names is None else sorted(set(names))
    order: list[str] = []
    done: set[str] = set()

    def visit(n: str) -> None:
        # Depth-first, iterative over an explicit stack (no recursion limit).
        stack = [(n, iter(sorted(graph.get(n, ()))))]
        done.add(n)
        while stack:
            node, it = stack[-1]
            for dep in it:
                if dep in graph and dep not in done:
                    done.add(dep)
                    stack.append((dep, iter(sorted(graph.get(dep, ())))))
                    break
            else:
                stack.pop()
                order.append(node)

    for n in wanted:
        if n not in done:
            visit(n)
    return order


# ---- PRIVATE --------------------------------------------------------------

def _cycle_from(graph: Graph, start: str, within: set[str] | None) -> list[str] | None:
    """Shortest path start -> ... -> start (breadth first), without the final start."""
    prev: dict[str, str] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        nxt: list[str] = []
        for node in frontier:
            for dep in sorted(graph.get(node, ())):
                if within is not None and dep not in within:
                    continue
                if dep == start and node != start:
                    path = [node]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return list(reversed(path))
                if dep not in seen and dep != start:
                    seen.add(dep)
                    prev[dep] = node
                    nxt.append(dep)
        frontier = nxt
    return None


def _canonical(path: list[str]) -> tuple[str, ...]:
    i = path.index(min(path))
    return tuple(path[i:] + path[:i])
