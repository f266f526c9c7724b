"""Shared names of the ``kmodbuild new`` tests: the golden directory and the module each
class is rendered for (``KMODBUILD_UPDATE_GOLDEN=1`` rewrites the golden files)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from kmodbuild import cli
from tests.conftest import copy_tree

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE_GOLDEN = os.environ.get("KMODBUILD_UPDATE_GOLDEN") == "1"

#: The module each class's golden files are rendered for (also built end to end).
GOLDEN_NAMES = {"vfs": "xyzfs", "driver": "xyzdev", "exec": "exec_xyz", "misc": "xyzlib",
                "secmodel": "secmodel_xyz", "syscall": "xyzcall", "emulation": "compat_xyz",
                "bufq": "bufq_xyz"}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A fresh copy of the source tree for tests that write: the module tree is
    ``<copy>/sys/modules``."""
    return copy_tree(tmp_path / "src") / "sys" / "modules"


def new(tree: Path, *args: str) -> int:
    """``kmodbuild new ARGS --tree TREE``."""
    return cli.main(["new", *args, "--tree", str(tree)])


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line of standard error (no traceback)."""
    _, err = capsys.readouterr()
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]
