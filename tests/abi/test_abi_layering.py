"""Layering of the ABI modules: pyelftools only through kmodbuild.elf, the core stays pure."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PKG = REPO / "kmodbuild"


def imported(path: Path) -> set[str]:
    """Modules imported at run time (``if TYPE_CHECKING:`` blocks left out)."""
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
                   for n in ast.walk(node)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_elf_imports_pyelftools() -> None:
    users = sorted(p.relative_to(REPO).as_posix() for p in PKG.rglob("*.py")
                   if any(n.split(".")[0] == "elftools" for n in imported(p)))
    assert users == ["kmodbuild/elf.py"]


def test_abi_core_is_pure() -> None:
    for name in ("abi.py", "debugsplit.py"):
        mods = imported(PKG / name)
        assert not any(m.split(".")[0] in ("elftools", "SCons", "argparse", "subprocess")
                       for m in mods), (name, mods)
        assert "kmodbuild.elf" not in mods, name
