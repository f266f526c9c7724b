"""kmodbuild.modstat_format - modstat(8) output (sbin/modstat/main.c 1.23, 2016; spec §3.12).

Pure string rendering of :class:`kmodbuild.simulator.ModStat` records; the
layout is pinned by golden files in tests/sim/golden/.
"""
from __future__ import annotations

from collections.abc import Sequence

from kmodbuild.model import MODULE_CLASS_NAMES
from kmodbuild.simulator import SOURCE_NAMES, ModStat

FLAG_TEXT = ("-", "f", "a", "af")     # ms_flags & 3: f = must force, a = autoloaded


def format_modstat(stats: Sequence[ModStat], name: str | None = None, *,
                   show_address: bool = False) -> str:
    """The listing: sorted by name, name column ``max(16, longest name)`` wide.

    ``name`` limits the rows to that module (the header is always printed);
    ``show_address`` is ``-k`` (an ADDRESS column).
    """
    rows = sorted(stats, key=lambda s: s.name.encode())
    width = max([16, *(len(s.name) for s in rows)])
    out = [f"{'NAME':<{width}} {'CLASS':<8} {'SOURCE':<8} {'FLAG':<4} {'REFS':>5} "
           + (f"{'ADDRESS':<16} " if show_address else "") + f"{'SIZE':>7} {'REQUIRES'} "]
    for s in rows:
        if name is not None and s.name != name:
            continue
        size = "-" if s.size == 0 else str(s.size)
        line = (f"{s.name:<{width}} {MODULE_CLASS_NAMES.get(s.module_class, 'UNKNOWN'):<8} "
                f"{SOURCE_NAMES.get(s.source, 'UNKNOWN'):<8} {FLAG_TEXT[s.flags & 3]:<4} "
                f"{s.refcnt:>5} ")
        if show_address:
            line += f"{s.address:<16x} "
        out.append(line + f"{size:>7} {s.required or '-'}")
    return "\n".join(out) + "\n"


def format_exists(error: int, *, autoload: bool, sysctl_autoload: bool | None = None) -> str:
    """``modstat -e`` (``autoload`` False) or ``-a``/``-A`` (True) for MODCTL_EXISTS's result.

    ``sysctl_autoload`` is given for ``-A``: the ``kern.module.autoload`` value.
    """
    if not autoload:
        return ("You can load modules." if error == 0
                else "You are not allowed to load modules right now.")
    if error != 0:
        return "Modules can not be autoloaded right now."
    tail = ", but kern.module.autoload = 0" if sysctl_autoload is False else ""
    return f"Modules can be autoloaded{tail}."
