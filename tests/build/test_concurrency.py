"""Two builds started at once on one tree do not corrupt each other (the build/.lock).

Both ``scons`` processes must succeed; one of them waits for the other
(``scons: waiting for another build of this tree``); afterwards every
installed module is byte for byte the one built, the METALOG verifies, the
check passes, and a third build finds everything up to date.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kmodbuild.metalog import verify
from kmodbuild.target import NetBSDVersion, get_target, stand_dir
from tests.conftest import REPO, copy_tree, example_modules, scons

ARCHS = ("amd64", "evbmips-mips64eb")


def _start(tree: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "SCons", "-C", str(tree),
                             f"ARCH={','.join(ARCHS)}", "VERSION=10.0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_two_builds_at_once(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path / "tree")
    procs = [_start(tree), _start(tree)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, out[-3000:] + err[-3000:]
        assert "Traceback" not in err
    assert any("waiting for another build of this tree" in out for out, _ in outs), outs

    version = NetBSDVersion.parse("10.0")
    for name in ARCHS:
        t = get_target(name)
        mdir = stand_dir(tree, t, version)
        for m in example_modules():
            built = tree / "build" / t.key / "10.0" / "modules" / m / f"{m}.kmod"
            assert (mdir / m / f"{m}.kmod").read_bytes() == built.read_bytes(), (name, m)
        assert not [p for p in mdir.rglob(".*")], "temporary files left behind"
        simulate = (tree / "build" / t.key / "10.0" / "simulate.txt").read_text()
        assert " 0 failures" in simulate, simulate
    for destdir in {stand_dir(tree, get_target(n), version).parents[3] for n in ARCHS}:
        count, findings = verify(destdir)
        assert count and not findings, findings

    again = scons(tree, f"ARCH={','.join(ARCHS)}", "VERSION=10.0")
    assert "is up to date" in again.stdout, again.stdout[-2000:]
    res = subprocess.run([sys.executable, "-m", "kmodbuild", "check",
                          str(stand_dir(tree, get_target("amd64"), version))],
                         capture_output=True, text=True, cwd=tree, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert res.returncode == 0, res.stdout + res.stderr
