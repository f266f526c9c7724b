"""kmodbuild.emulate - run modules' ``mi_modcmd`` on an emulated CPU (optional: unicorn).

``pip install 'kmodbuild[emulate]'`` installs unicorn; then the simulator runs
``mi_modcmd(MODULE_CMD_INIT|FINI|AUTOUNLOAD|STAT, arg)`` of every module it
loads or unloads, on the image its in-kernel linker produced, against the
kernel API of :mod:`kmodbuild.kapi`, and turns crashes into reports
(docs/emulate.md).  Layout: :mod:`~kmodbuild.emulate.arch` (per-port data),
:mod:`~kmodbuild.emulate.cpu` (the only unicorn importer),
:mod:`~kmodbuild.emulate.callconv`, :mod:`~kmodbuild.emulate.machine` (the
dispatcher), :mod:`~kmodbuild.emulate.heap`, :mod:`~kmodbuild.emulate.sparc`,
:mod:`~kmodbuild.emulate.report`, :mod:`~kmodbuild.emulate.strategy`.
"""
from __future__ import annotations

from kmodbuild.emulate.cpu import IMPORT_ERROR, available, version

#: the one line said when the simulator cannot emulate at all
NOT_INSTALLED = ("unicorn is not installed: modcmd is not emulated (every modcmd returns 0); "
                 "pip install 'kmodbuild[emulate]'")


def make_modcmd(enabled: bool | None = None, budget: int | None = None) -> tuple[object | None,
                                                                                 str | None]:
    """The modcmd strategy for a simulated kernel: (strategy or None, note or None).

    ``enabled`` None means "when unicorn is importable"; False gives (None, None) (the
    simulator's plain strategy); without unicorn the note says so.
    """
    if enabled is False:
        return None, None
    if not available():
        return None, NOT_INSTALLED
    from kmodbuild.emulate.machine import DEFAULT_BUDGET
    from kmodbuild.emulate.strategy import EmulatedModcmd
    return EmulatedModcmd(budget or DEFAULT_BUDGET), None


def unsupported_reason(machine_arch: str) -> str | None:
    """Why ``machine_arch`` cannot be emulated here, or None when it can."""
    if not available():
        return NOT_INSTALLED
    from kmodbuild.emulate.arch import get_arch
    from kmodbuild.emulate.cpu import Cpu, CpuUnsupported
    spec = get_arch(machine_arch)
    if spec is None:
        return f"no calling convention known for {machine_arch}"
    try:
        Cpu(spec)
    except CpuUnsupported as e:
        return str(e)
    return None


__all__ = ["IMPORT_ERROR", "NOT_INSTALLED", "available", "make_modcmd", "unsupported_reason",
           "version"]
