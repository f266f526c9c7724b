"""docs/emulate.md's Python API example runs as written, at the top of a built tree."""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from tests.emulate.conftest import unicorn_or_skip

DOC = Path(__file__).resolve().parents[2] / "docs" / "emulate.md"


def test_the_python_api_example_runs(built_tree, monkeypatch) -> None:
    unicorn_or_skip()
    text = DOC.read_text()
    code = re.search(r"## Python API\n+```python\n(.*?)```", text, re.S).group(1)
    # each commented expression prints, so that its answer can be compared with the comment
    lines = [f"print({ln.split('#')[0].strip()})" if "  # " in ln and "=" not in ln.split("#")[0]
             else ln for ln in code.splitlines()]
    monkeypatch.chdir(built_tree.root)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile("\n".join(lines), str(DOC), "exec"), {})      # noqa: S102
    printed = out.getvalue().splitlines()
    assert printed[0] == "{'bitbucket': (-1, 256)}"
    assert printed[1].endswith(", 'sysdemo+0x60 (sys_sysdemo+0x0)')")
    assert printed[2] == ("['bitbucket: character major 256', "
                          "'sysdemo: system call 211 established']")
