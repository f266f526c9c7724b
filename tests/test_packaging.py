"""How kmodbuild installs: the wheel carries the skeleton templates, and an editable
install (the README's ``pip install -e .``) is a plain path entry, not an import hook.

The top-level ``templates/`` reaches the package as ``kmodbuild/templates``, a
symbolic link; with a package directory mapped elsewhere instead, setuptools
makes an editable install a ``.pth`` import hook, which imports ``pathlib`` and
more at every interpreter start (20 ms, measured in docs/linux.md).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from tests.conftest import REPO


def _pip(*args: str, cwd: Path) -> None:
    # where the build backend (setuptools, with wheel for older ones) is here already,
    # use it instead of downloading it
    here = all(importlib.util.find_spec(m) is not None for m in ("setuptools", "wheel"))
    isolation = ["--no-build-isolation"] if here else []
    res = subprocess.run([sys.executable, "-m", "pip", *args, "--no-deps", *isolation,
                          "--disable-pip-version-check", "-q"], cwd=cwd, capture_output=True,
                         text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


def test_templates_reach_the_package_through_the_link() -> None:
    link = REPO / "kmodbuild" / "templates"
    assert link.is_symlink() and os.readlink(link) == "../templates"
    assert sorted(p.name for p in link.iterdir()) == \
        sorted(p.name for p in (REPO / "templates").iterdir())


def test_wheel_holds_the_templates(tmp_path: Path) -> None:
    # built from a copy: setuptools works in the project's build/
    src = tmp_path / "src"
    src.mkdir()
    for part in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / part, src / part)
    for part in ("kmodbuild", "templates"):
        shutil.copytree(REPO / part, src / part, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    _pip("wheel", "-w", str(tmp_path), str(src), cwd=tmp_path)
    wheel, = tmp_path.glob("kmodbuild-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for t in (REPO / "templates").iterdir():
            assert z.read(f"kmodbuild/templates/{t.name}") == t.read_bytes()
    assert "kmodbuild/py.typed" in names
    tops = {n.split("/")[0] for n in names} - {"kmodbuild"}
    assert len(tops) == 1 and tops.pop().endswith(".dist-info")     # nothing else at the top


def test_editable_install_is_a_plain_path(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    # --ignore-installed: without it pip uninstalls the kmodbuild installed where the
    # tests run (the README's `pip install -e`) before installing into the prefix
    _pip("install", "--ignore-installed", "-e", str(REPO), "--prefix", str(prefix),
         cwd=tmp_path)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(prefix),
                                                    "platbase": str(prefix)}))
    pth = list(site.glob("*.pth"))
    assert len(pth) == 1, pth
    assert pth[0].read_text().split() == [str(REPO)]       # a path, no "import" line
    assert not list(site.glob("*finder*.py"))
    # a fresh interpreter that only has this site directory finds the package and its
    # templates there
    probe = ("import site, sys; site.addsitedir(sys.argv[1]); import kmodbuild.templates; "
             "print(kmodbuild.__file__); print(kmodbuild.templates.__path__[0])")
    res = subprocess.run([sys.executable, "-S", "-c", probe, str(site)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
                         check=False)
    assert res.returncode == 0, res.stderr
    init, templates = res.stdout.split()
    assert Path(init) == REPO / "kmodbuild" / "__init__.py"
    assert Path(templates) == REPO / "kmodbuild" / "templates"
    assert (Path(templates) / "module.c.j2").is_file()


def test_the_packaging_tests_leave_the_installed_kmodbuild_alone(tmp_path: Path) -> None:
    site = Path(sysconfig.get_path("purelib"))
    installed = sorted(p for p in site.glob("*kmodbuild*"))     # dist-info, editable .pth
    test_editable_install_is_a_plain_path(tmp_path)
    assert sorted(p for p in site.glob("*kmodbuild*")) == installed
    assert all(p.exists() for p in installed)

