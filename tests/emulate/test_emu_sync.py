"""Machine.sync_kernel follows the kernel's log of loads and unloads and must leave the
machine exactly as Machine.sync of the whole list would.

Every call is checked against that definition: the synced kobjs are those of the
listed modules, of the modules whose modcmd is under way and of the module about to run, the regions the CPU's resolver can map
are exactly theirs, and each kobj's regions are the ones it has now.  The scenarios
cover loads with dependencies, failing and crashing modcmds, leaks, a freed kobj
log that is cut, a kernel log that is trimmed, reloads, a direct sync(), and a
modcmd that loads a module (whose own code must stay mapped meanwhile).
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.emulate.conftest import cut_unload_log, unicorn_or_skip


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Check every sync_kernel call; count the calls and the full syncs among them."""
    unicorn_or_skip()
    from kmodbuild.emulate.machine import Machine
    counts: Counter[str] = Counter()
    real_sync_kernel, real_full = Machine.sync_kernel, Machine._full_sync

    def full(self: Machine, kernel: Any, run: Any, active: Any = ()) -> set[str]:
        counts["full"] += 1
        return real_full(self, kernel, run, active)

    def sync_kernel(self: Machine, kernel: Any, run: Any, active: Any = ()) -> set[str]:
        counts["calls"] += 1
        counts["nested"] += bool(active)
        unfit = real_sync_kernel(self, kernel, run, active)
        expected = {id(m.kobj): m for m in [*kernel.loaded, *active, run]
                    if m.kobj is not None}
        assert set(self._synced) == set(expected), (run.name, sorted(
            m.name for m in expected.values()))
        regions = []
        for key, (ko, regs, name, listed) in self._synced.items():
            assert ko is expected[key].kobj and name == expected[key].name
            assert regs is ko.regions and [id(r) for r in listed] == \
                [id(r) for r in ko.regions.values()]
            regions += listed
        region_ids = set(map(id, regions))
        assert len(region_ids) == len(regions) == len(self._avail)
        assert region_ids == {id(a[0]) for a in self._avail}
        assert self._avail_starts == [a[0].base for a in self._avail] == \
            sorted(self._avail_starts)
        for reg, _, _ in self._mapped.values():
            assert id(reg) in region_ids, "a mapped region of a module gone"
        return unfit

    monkeypatch.setattr(Machine, "sync_kernel", sync_kernel)
    monkeypatch.setattr(Machine, "_full_sync", full)
    return counts


@pytest.mark.parametrize("target", ["amd64", "evbarm-aarch64", "sparc64"])
def test_example_tree_validation(checked, built_tree, target) -> None:
    from kmodbuild.simvalidate import validate_tree
    from kmodbuild.target import get_target
    t = get_target(target)
    stand = built_tree.root / ("stand" if t.primary else f"destdir.{t.name}/stand")
    res = validate_tree(stand, t, "10.0", built_tree.manifest(t.key), emulate=True)
    assert res.ok and res.emulated, res.failures
    assert checked["calls"] >= 2 * len(res.order)
    assert checked["full"] <= 2, checked        # the log, not the list, is followed


@pytest.mark.parametrize("log", ["kept", "trimmed", "cut"])
def test_failures_reloads_and_a_trimmed_log(checked, bug_kernel, monkeypatch, log) -> None:
    from kmodbuild import simulator
    if log != "kept":     # the kernel keeps only 2-4 changes
        monkeypatch.setattr(simulator, "_LOADED_LOG_KEEP", 2)
    ek = bug_kernel("amd64")
    names = ["formats", "bug_leak", "bug_null", "callbacks", "bug_nodetach", "bug_panic",
             "bug_finull", "bug_badfree"]
    for _ in range(2):                          # load all, unload all, again
        for name in names:
            ek.load(name)
            if log == "cut":  # changes the machine has not seen dropped: it starts over
                ek.kernel.loaded_log_base += len(ek.kernel.loaded_log) + 1
                ek.kernel.loaded_log.clear()
        for name in reversed(names):
            ek.unload(name)
    assert checked["calls"] > 20
    if log == "cut":
        assert checked["full"] > 10, checked
    else:
        assert checked["full"] == 1, checked
    ek.load("formats")
    machine = ek.strategy.get_machine()
    machine.sync([])                            # a direct sync: sync_kernel starts over
    ek.load("callbacks")
    assert ek.unload("formats")[0] == 0 and ek.unload("callbacks")[0] == 0


def test_freed_kobj_log_cut(checked, bug_kernel, monkeypatch) -> None:
    """When kobj's log of freed kobjs is cut after every unload, the machine looks at
    every kobj instead, and still ends where sync would."""
    cut_unload_log(monkeypatch)
    ek = bug_kernel("amd64")
    for name in ("bug_leak", "bug_null", "formats", "bug_panic"):
        ek.load(name)
    for name in ("formats", "bug_leak"):
        ek.unload(name)
    assert checked["calls"] >= 6


@pytest.mark.parametrize("check", [False, True])
def test_a_load_inside_a_modcmd(request, bug_kernel, check) -> None:
    """loader's INIT autoloads formats: formats' INIT runs while loader's is under way,
    and loader carries on in its own code and data afterwards."""
    counts = request.getfixturevalue("checked") if check else None
    ek = bug_kernel("amd64")
    error, lines = ek.load("loader")
    assert error == 0, lines
    assert "loader: formats autoloaded, error 0, state 8" in lines, lines
    assert {m.name for m in ek.kernel.loaded} >= {"loader", "formats"}
    assert ek.unload("loader")[0] == 0 and ek.unload("formats")[0] == 0
    assert not ek.strategy.reports, [r.message for r in ek.strategy.reports]
    if counts is not None:
        assert counts["calls"] >= 4 and counts["nested"] == 1, counts
