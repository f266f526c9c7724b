"""kmodbuild.linux.names - module file names as depmod sees them (no heavy imports)."""
from __future__ import annotations

import os

#: File name endings read as modules, longest match first.  depmod reads those
#: its kmod was built for (Debian 12: .ko, .ko.xz, .ko.zst).
KO_SUFFIXES = (".ko.zst", ".ko.xz", ".ko.gz", ".ko")


def module_suffix(name: str) -> str | None:
    """The module suffix ``name`` ends with (``.ko``, ``.ko.xz``, ...), or ``None``."""
    if name.endswith(".ko"):
        return ".ko" if len(name) > 3 else None
    for suffix in KO_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return suffix
    return None


def modname_from_path(path: str) -> str:
    """depmod's module name: the basename up to its first dot, ``-`` written ``_``."""
    base = os.path.basename(path)
    return base.split(".", 1)[0].replace("-", "_")


def uncompressed_relpath(relpath: str) -> str:
    """``relpath`` with a compression suffix dropped (``x.ko.xz`` -> ``x.ko``): the
    name modules.order lists it under."""
    suffix = module_suffix(relpath)
    return relpath if suffix in (None, ".ko") else relpath[:-len(suffix)] + ".ko"
