"""The fuzz workspace: scratch stand trees made from the session's real build."""
from __future__ import annotations

import pytest

from tests.fuzz.fuzzlib import Workspace


@pytest.fixture(scope="session")
def workspace(built_tree, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Every target's modules and kernel from ``built_tree``, copied to scratch stand trees."""
    return Workspace(built_tree.root, tmp_path_factory.mktemp("fuzz"))
