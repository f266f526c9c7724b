"""Architecture rules (STYLE.md §7-8): one importer per third-party library, thin shells."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "kmodbuild"
MODULES = sorted(p for p in PKG.rglob("*.py"))

#: third-party package -> the only module allowed to import it
ONLY_IMPORTER = {"elftools": "elf.py", "SCons": "scons_tool.py", "jinja2": "skeleton.py",
                 "unicorn": "emulate/cpu.py"}
SHELLS = {"cli.py", "scons_tool.py", "__main__.py", "linux/command.py"}


def rel(p: Path) -> str:
    return p.relative_to(PKG).as_posix()


def is_shell(p: Path) -> bool:
    r = rel(p)
    return r in SHELLS or Path(r).name.startswith("cmd_")


def imports(p: Path) -> set[str]:
    """Modules imported at run time (``if TYPE_CHECKING:`` blocks are left out)."""
    tree = ast.parse(p.read_text(), str(p))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) \
                and node.test.id == "TYPE_CHECKING":
            node.body = []
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_third_party_imports_live_in_one_module(path: Path) -> None:
    for name in imports(path):
        top = name.split(".")[0]
        if top in ONLY_IMPORTER:
            assert rel(path) == ONLY_IMPORTER[top], f"{rel(path)} imports {name}"


@pytest.mark.parametrize("path", [p for p in MODULES if not is_shell(p)], ids=rel)
def test_core_does_not_print_or_parse_arguments(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    prints = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call)
              and isinstance(n.func, ast.Name) and n.func.id == "print"]
    assert not prints, f"{rel(path)} prints at lines {prints}"
    assert "argparse" not in imports(path), f"{rel(path)} imports argparse"


@pytest.mark.parametrize("path", [p for p in MODULES if not is_shell(p)], ids=rel)
def test_core_does_not_import_the_shells(path: Path) -> None:
    for name in imports(path):
        mod = name.split(".")
        if mod[0] == "kmodbuild" and len(mod) > 1:
            assert mod[1] not in ("cli", "scons_tool") and not mod[1].startswith("cmd_"), \
                f"{rel(path)} imports the shell module {name}"
