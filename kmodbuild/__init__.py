"""kmodbuild - build, check, install and simulate NetBSD kernel module trees."""
from __future__ import annotations

__version__ = "0.1.0"
