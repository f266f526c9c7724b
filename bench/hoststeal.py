"""bench/hoststeal.py - how much CPU time the hypervisor took from this machine.

On a virtual machine, ``steal`` in ``/proc/stat`` counts the time a virtual CPU
was ready to run but the host ran something else.  It slows a two-process
check more than one-process depmod, and parallel builds more than serial
steps, so the benchmarks print it beside their ratios: a run with much steal
compares less well with one without.
"""
from __future__ import annotations

from pathlib import Path

_STAT = Path("/proc/stat")


def _cpu_times() -> tuple[int, int] | None:
    """(steal, total) clock ticks of all CPUs since boot, or None where unknown."""
    try:
        first = _STAT.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not first or first[0] != "cpu" or len(first) < 9:
        return None
    ticks = [int(x) for x in first[1:]]
    return ticks[7], sum(ticks[:8])         # guest time is already in user


class StealMeter:
    """Share of CPU time stolen between its creation and :meth:`percent`."""

    def __init__(self) -> None:
        self.start = _cpu_times()

    def percent(self) -> float | None:
        """Stolen ticks over all ticks since the start, in percent (None: unknown)."""
        end = _cpu_times()
        if self.start is None or end is None or end[1] <= self.start[1]:
            return None
        return 100.0 * (end[0] - self.start[0]) / (end[1] - self.start[1])

    def describe(self) -> str:
        """``"CPU stolen by the hypervisor: 12.3%"`` (or that it is unknown)."""
        pct = self.percent()
        return ("CPU stolen by the hypervisor: unknown" if pct is None
                else f"CPU stolen by the hypervisor: {pct:.1f}%")
