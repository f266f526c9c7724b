"""Shared names of the ``kmodbuild new`` tests: the golden directory and the module each
class is rendered for (``KMODBUILD_UPDATE_GOLDEN=1`` rewrites the golden files)."""
from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE_GOLDEN = os.environ.get("KMODBUILD_UPDATE_GOLDEN") == "1"

#: The module each class's golden files are rendered for (also built end to end).
GOLDEN_NAMES = {"vfs": "xyzfs", "driver": "xyzdev", "exec": "exec_xyz", "misc": "xyzlib",
                "secmodel": "secmodel_xyz", "syscall": "xyzcall", "emulation": "compat_xyz",
                "bufq": "bufq_xyz"}
