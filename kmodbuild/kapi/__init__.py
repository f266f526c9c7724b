"""kmodbuild.kapi - the NetBSD kernel API, implemented in Python for the emulated kernel.

One module per interface header, mirroring ``sys/``: :mod:`~kmodbuild.kapi.systm`
(``sys/sys/systm.h``), :mod:`~kmodbuild.kapi.mount` (``sys/sys/mount.h``),
:mod:`~kmodbuild.kapi.secmodel` (``sys/secmodel/secmodel.h``) and so on.  Each
registers, with :func:`~kmodbuild.kapi._kernel.kfunc`, one hook per function
its header declares, under the header's own prototype text, and, with
:func:`~kmodbuild.kapi._kernel.kdata`, the initial value of its data symbols
(``hz``, ``sysent``...).  ``tests/emulate/test_kapi_drift.py`` parses the
headers and proves every prototype has its hook, so the two cannot drift
apart.  The emulator (:mod:`kmodbuild.emulate`) calls the hooks; nothing here
imports it.
"""
from __future__ import annotations

import importlib

from kmodbuild.kapi._kernel import (DATA, HOOKS, GuestFault, Kernel, KData, KFunc, Panic,
                                    Registration, Registry)

#: header module names (kmodbuild.kapi.<name>) and the headers they implement
HEADER_MODULES: tuple[str, ...] = (
    "systm", "libkern", "kmem", "mount", "conf", "syscallvar", "syscallargs", "exec", "proc",
    "lwp", "secmodel", "kauth", "bufq", "bufq_impl", "buf", "mutex", "module", "vnode",
    "vnode_if", "select", "signalvar", "uio", "proplib")

#: headers whose functions are not the kernel's: layerfs exports them (spec §2.3)
NOT_KERNEL_HEADERS: tuple[str, ...] = ("sys/miscfs/genfs/layer_extern.h",)

_loaded = False


def load() -> dict[str, KFunc]:
    """Import every header module (registering its hooks); return :data:`HOOKS`."""
    global _loaded
    if not _loaded:
        for name in HEADER_MODULES:
            importlib.import_module(f"kmodbuild.kapi.{name}")
        _loaded = True
    return HOOKS


__all__ = ["DATA", "HOOKS", "HEADER_MODULES", "NOT_KERNEL_HEADERS", "GuestFault", "KData",
           "KFunc", "Kernel", "Panic", "Registration", "Registry", "load"]
