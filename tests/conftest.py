"""Shared pytest fixtures: a real build of the example tree, made once per session.

``built_tree`` copies the repository's SConstruct, site_scons/ and sys/ into a
temporary directory and runs ``scons ARCH=all`` there with the real (zig)
toolchain, so every end-to-end test reads the real ELF files the build made.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TREE_PARTS = ("SConstruct", "site_scons", "sys")


def copy_tree(dest: Path) -> Path:
    """Copy the parts of the repository a build needs into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in TREE_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / part)
    return dest


def scons(tree: Path, *args: str, check: bool = True, env: dict[str, str] | None = None,
          timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run ``python -m SCons -C tree args...`` with this checkout's kmodbuild importable."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    res = subprocess.run([sys.executable, "-m", "SCons", "-C", str(tree), *args],
                         capture_output=True, text=True, env=full_env, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"scons {' '.join(args)} failed ({res.returncode}):\n"
                             f"{res.stdout[-4000:]}\n{res.stderr[-4000:]}")
    return res


def start_until(argv: list[str], mark: Path, env: dict[str, str] | None = None,
                timeout: float = 120) -> subprocess.Popen[str]:
    """Start ``argv`` (this checkout's kmodbuild importable, a session of its own) and
    return once ``mark`` exists -- a compiler wrapper touches it: the build is compiling."""
    import time
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    proc = subprocess.Popen(argv, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not mark.exists():
        if proc.poll() is not None or time.monotonic() >= deadline:
            proc.kill()
            raise AssertionError(proc.communicate())
        time.sleep(0.02)
    return proc


@dataclass
class BuiltTree:
    """A tree built for every target: ``root`` holds build/ and stand/."""

    root: Path
    version: str
    first_run: subprocess.CompletedProcess[str]

    def kmod(self, target_key: str, name: str) -> Path:
        return self.root / "build" / target_key / self.version / "modules" / name / f"{name}.kmod"

    def kernel(self, target_key: str) -> Path:
        return self.root / "build" / target_key / self.version / "kernel" / "netbsd"

    def manifest(self, target_key: str) -> Path:
        return self.root / "build" / target_key / self.version / "kernel" / "netbsd.syms"


@pytest.fixture(scope="session")
def built_tree(tmp_path_factory: pytest.TempPathFactory) -> BuiltTree:
    """The example tree built, checked and installed for ARCH=all, VERSION=10.0."""
    root = copy_tree(tmp_path_factory.mktemp("tree"))
    res = scons(root, "ARCH=all", "VERSION=10.0", "-j2")
    return BuiltTree(root, "10.0", res)


def example_modules() -> list[str]:
    """Names of the example modules under sys/modules (directories with an SConscript)."""
    return sorted(p.parent.name for p in (REPO / "sys" / "modules").glob("*/SConscript"))
