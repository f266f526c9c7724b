"""depmod's resolution rules on in-memory module facts (no files, no ELF)."""
from __future__ import annotations

from collections.abc import Sequence

from kmodbuild.linux.depmod import dep_lines, resolve
from kmodbuild.linux.kofile import KoFacts, pack_crcs

KERNEL = {"printk": 0x100, "kmalloc": 0x200, "__this_module": 0}


def ko(exports: dict[str, int] | None = None, deps: Sequence[tuple[str, int]] = (),
       weak: Sequence[int] = (), n_undefined: int | None = None) -> KoFacts:
    exports = exports or {}
    return KoFacts(64, 62, "\0".join(exports), pack_crcs(list(exports.values())),
                   "crc" if exports else "", "\0".join(n for n, _ in deps),
                   pack_crcs([c for _, c in deps]), tuple(weak),
                   len(deps) if n_undefined is None else n_undefined, None, None, None, None)


def test_unknown_and_disagreeing_symbols() -> None:
    mods = [ko(deps=[("printk", 0x100), ("nosuch", 1), ("kmalloc", 0x999)])]
    res = resolve(mods, KERNEL)
    assert res.unknown == [(0, "nosuch")]
    assert [(d.module, d.symbol, d.expected, d.actual, d.owner) for d in res.disagreements] == \
        [(0, "kmalloc", 0x999, 0x200, None)]


def test_weak_references_are_exempt_but_still_make_dependencies() -> None:
    mods = [ko({"libfn": 7}), ko(deps=[("libfn", 8), ("gone", 0)], weak=[0, 1])]
    res = resolve(mods, KERNEL)
    assert res.unknown == [] and res.disagreements == []
    assert res.deps == [[], [0]]


def test_module_exports_override_symvers_rows() -> None:
    mods = [ko({"printk": 0x555}), ko(deps=[("printk", 0x555)])]
    res = resolve(mods, KERNEL)
    assert res.disagreements == [] and res.deps[1] == [0]


def test_later_module_export_wins() -> None:
    mods = [ko({"dup": 1}), ko({"dup": 2}), ko(deps=[("dup", 2)])]
    res = resolve(mods, KERNEL)
    assert res.disagreements == [] and res.deps[2] == [1]


def test_versions_only_entries_are_checked() -> None:
    # deps[n_undefined:] come from __versions alone (module_layout): checked too.
    mods = [ko(deps=[("printk", 0x100), ("module_layout", 0x42)], n_undefined=1)]
    assert resolve(mods, KERNEL).unknown == [(0, "module_layout")]


def test_ppc64_dot_symbols() -> None:
    res = resolve([ko(deps=[(".printk", 0x100)])], KERNEL)
    assert res.unknown == [] and res.disagreements == []


def test_no_kernel_table_checks_nothing_but_resolves_dependencies() -> None:
    mods = [ko({"a": 1}), ko(deps=[("a", 2), ("x", 3)])]
    res = resolve(mods, None)
    assert (res.unknown, res.disagreements, res.deps, res.checked) == ([], [], [[], [0]], False)


def test_modules_dep_order_and_transitive_closure() -> None:
    # c uses b, b uses a: c's line lists b before a (topological order).
    mods = [ko({"fa": 1}), ko({"fb": 1}, deps=[("fa", 1)]), ko(deps=[("fb", 1)])]
    res = resolve(mods, KERNEL)
    assert dep_lines(res, ["a.ko", "b.ko", "c.ko"]) == ["a.ko:", "b.ko: a.ko", "c.ko: b.ko a.ko"]


def test_cycles_are_left_out() -> None:
    mods = [ko({"fa": 1}, deps=[("fb", 1)]), ko({"fb": 1}, deps=[("fa", 1)]),
            ko(deps=[("fa", 1)]), ko()]
    res = resolve(mods, KERNEL)
    assert res.in_cycle == [True, True, False, False]
    assert dep_lines(res, ["a.ko", "b.ko", "c.ko", "d.ko"]) == ["c.ko:", "d.ko:"]


def test_dependency_listed_once_in_first_use_order() -> None:
    mods = [ko({"a1": 1, "a2": 1}), ko({"b1": 1}),
            ko(deps=[("b1", 1), ("a1", 1), ("a2", 1), ("b1", 1)])]
    assert resolve(mods, KERNEL).deps[2] == [1, 0]


def test_incremental_resolver_equals_the_whole_resolution() -> None:
    # Random trees: the residue-based Resolver and the all-at-once resolution agree.
    import random

    from kmodbuild.linux.depmod import _resolve_all
    rng = random.Random(7)
    kernel = {f"k{n}": n for n in range(30)}
    for trial in range(200):
        nmods = rng.randint(1, 8)
        exported = [f"m{n}" for n in range(20)]
        if trial % 10 == 0:
            exported.append("k3")                       # an override now and then
        mods = []
        for _ in range(nmods):
            ex = {n: rng.randint(0, 3) for n in rng.sample(exported, rng.randint(0, 3))}
            pool = [*kernel, *exported, "nowhere", ".k1"]
            deps = [(n, rng.choice([kernel.get(n.lstrip("."), 0), rng.randint(0, 3)]))
                    for n in rng.sample(pool, rng.randint(0, 8))]
            weak = [k for k in range(len(deps)) if rng.random() < 0.2]
            mods.append(ko(ex, deps, weak))
        for table in (kernel, None):
            a, b = resolve(mods, table), _resolve_all(mods, table)
            assert (a.deps, a.sort_index, a.in_cycle) == (b.deps, b.sort_index, b.in_cycle)
            assert sorted(a.unknown) == sorted(b.unknown)
            key = lambda d: (d.module, d.symbol, d.expected)  # noqa: E731
            assert sorted(a.disagreements, key=key) == sorted(b.disagreements, key=key)


def test_resolver_takes_modules_in_any_order() -> None:
    # The readers hand modules over in chunk order: the Resolver's symbol table,
    # filled as they arrive, must still let the latest module in array order win
    # a name exported twice, and the residues' dotted names (PPC64) must still
    # find their owners -- whether the reader said so (dotted()) or not.
    import random

    from kmodbuild.linux.depmod import Resolver, _resolve_all, dotted, residue_of
    rng = random.Random(11)
    kernel = {f"k{n}": n for n in range(30)}
    repeated = 0
    for trial in range(300):
        nmods = rng.randint(2, 9)
        exported = [f"m{n}" for n in range(12)]
        mods = []
        for _ in range(nmods):
            ex = {n: rng.randint(0, 2) for n in rng.sample(exported, rng.randint(0, 3))}
            pool = [*kernel, *exported, *(f".{n}" for n in exported[:3]), "nowhere", ".k1"]
            deps = [(n, rng.choice([kernel.get(n.lstrip("."), 0), rng.randint(0, 2)]))
                    for n in rng.sample(pool, rng.randint(0, 8))]
            weak = [k for k in range(len(deps)) if rng.random() < 0.2]
            mods.append(ko(ex, deps, weak))
        names = [n for f in mods for n in f.exports]
        repeated += len(names) != len(set(names))
        for table in (kernel, None):
            want = _resolve_all(mods, table)
            resolver = Resolver(table, nmods)
            for i in rng.sample(range(nmods), nmods):
                f = mods[i]
                dots = dotted(f.dep_blob) if trial % 2 else None
                resolver.add(i, f, residue_of(f.deps, f.dep_crcs, table, dots))
            got = resolver.finish()
            assert (got.deps, got.sort_index, got.in_cycle) == \
                (want.deps, want.sort_index, want.in_cycle)
            assert sorted(got.unknown) == sorted(want.unknown)
            assert sorted(got.disagreements, key=repr) == sorted(want.disagreements, key=repr)
    assert repeated > 50                  # the rebuilt table was exercised
