"""Fixtures shared by the unit tests of installed trees (verify, sets, METALOG)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

#: the second install root of an ARCH=all build (a target sharing its MACHINE)
ARMV7 = "destdir.evbarm-earmv7hf"


@pytest.fixture
def dest(built_tree, tmp_path: Path) -> Path:
    """A DESTDIR holding a copy of the ARCH=all install: stand/ and destdir.evbarm-earmv7hf/."""
    d = tmp_path / "dest"
    d.mkdir()
    shutil.copytree(built_tree.root / "stand", d / "stand", symlinks=True)
    shutil.copytree(built_tree.root / ARMV7, d / ARMV7, symlinks=True)
    return d
