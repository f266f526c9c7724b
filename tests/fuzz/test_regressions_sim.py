"""The bugs a fuzzer of ``kmodbuild sim``'s command loop found (garbled command lines and
scripts on installed trees whose modules were damaged), each pinned here.

1. ``sim --json`` at a terminal (standard input a terminal, standard output a pipe:
   ``kmodbuild sim --json | python3 -m json.tool``) wrote the ``sim>`` prompt of every
   command to standard output, before the document: not JSON.  Now the prompt goes
   where the console goes, standard error.  The document's ``"console"`` was empty there
   too (the loop printed each command's output without keeping it): now it holds them, as
   after a script.
"""
from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_interactive_json_prompt_stays_off_stdout(tmp_path: Path) -> None:
    (tmp_path / "stand").mkdir()
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kmodbuild", "sim", "--root", str(tmp_path / "stand"),
             "--arch", "amd64", "--version", "10.0", "--no-emulate", "--json"],
            stdin=secondary, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=tmp_path)
        os.close(secondary)
        secondary = -1
        os.write(primary, b"modstat\nsysctl kern.securelevel\n\x04")
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(primary)
        if secondary != -1:
            os.close(secondary)
    assert proc.returncode == 0, err
    doc = json.loads(out)                   # the document alone
    assert doc["status"] == 0 and "kern.securelevel = -1" in doc["console"], doc
    assert b"sim> " in err and b"sim> " not in out
