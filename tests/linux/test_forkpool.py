"""kmodbuild.linux.forkpool: results from forked children, and what happens when one fails."""
from __future__ import annotations

import os

import pytest

from kmodbuild.linux import forkpool

pytestmark = pytest.mark.skipif(not forkpool.available(), reason="no os.fork here")


def square(x: int) -> int:
    return x * x


def test_all_results_arrive_once() -> None:
    got = dict(forkpool.ForkMap(square, list(range(50)), 3))
    assert got == {k: k * k for k in range(50)}


def test_big_results_cross_the_pipe() -> None:
    got = dict(forkpool.ForkMap(lambda n: b"x" * n, [1 << 20, 3 << 20, 10], 2))
    assert {k: len(v) for k, v in got.items()} == {0: 1 << 20, 1: 3 << 20, 2: 10}


def test_a_dying_child_is_made_up_for_in_the_parent() -> None:
    parent = os.getpid()

    def flaky(x: int) -> int:
        if x == 3 and os.getpid() != parent:
            os._exit(7)                          # the child dies on item 3
        return x + 100

    assert dict(forkpool.ForkMap(flaky, list(range(8)), 2)) == {k: k + 100 for k in range(8)}


def test_an_exception_surfaces_in_the_parent() -> None:
    def bad(x: int) -> int:
        raise ValueError(f"item {x}")

    with pytest.raises(ValueError, match="item 0"):
        list(forkpool.ForkMap(bad, [0, 1], 2))


def test_abandoning_the_iteration_reaps_the_children() -> None:
    fm = forkpool.ForkMap(square, list(range(100)), 2)
    it = iter(fm)
    next(it)
    it.close()
    assert fm._children == {}
