"""Fixtures for the emulation tests: kernels whose modcmds run on an emulated CPU.

``example_kernel(target)`` boots a simulated kernel over the example tree that
``built_tree`` (tests/conftest.py) built and installed, with the stub kernel's
real symbol manifest.  ``bug_kernel(target)`` does the same over the
deliberately buggy modules of ``modsrc/``, compiled for real with the project
toolchain against the kernel headers in ``sys/`` and linked with the module
link script, like the build does.  Tests skip with a reason when unicorn is
not installed.
"""
from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from kmodbuild.manifest import load_manifest
from kmodbuild.simulator import (KernelConfig, SimKernel, functions_from_manifest,
                                  symbols_from_manifest)
from kmodbuild.target import TARGETS, NetBSDVersion, Target, get_target
from kmodbuild.toolchain import make_toolchain

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
MODSRC = HERE / "modsrc"
VERSION = NetBSDVersion.parse("10.0")
#: every target, the three the issue asks for first
ALL_TARGETS = [t.name for t in TARGETS]
FIRST_TARGETS = ["amd64", "i386", "evbarm-aarch64"]


def unicorn_or_skip() -> None:
    """Skip the calling test when unicorn is not installed."""
    from kmodbuild.emulate import available
    if not available():
        pytest.skip("unicorn is not installed (pip install 'kmodbuild[emulate]')")


@dataclass
class EmuKernel:
    """A booted simulated kernel with an emulated modcmd strategy."""

    kernel: SimKernel
    strategy: object
    stand: Path

    def load(self, name: str, **props: object) -> tuple[int, list[str]]:
        """modload ``name``: (errno, console lines)."""
        self.kernel.take_console()
        error = self.kernel.modctl_load(name, props=props or None)
        return error, self.kernel.take_console()

    def unload(self, name: str) -> tuple[int, list[str]]:
        """modunload ``name``: (errno, console lines)."""
        self.kernel.take_console()
        error = self.kernel.modctl_unload(name)
        return error, self.kernel.take_console()


def cut_unload_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut kobj's log of freed kobjs after every unload, so that the machine cannot
    read it and has to look at every kobj it holds."""
    from kmodbuild import kobj
    real = kobj.kobj_unload
    monkeypatch.setattr(kobj, "UNLOADED", [])
    monkeypatch.setattr(kobj, "UNLOADED_BASE", 0)

    def unload_and_cut(*args: object) -> None:
        real(*args)  # type: ignore[arg-type]
        kobj.UNLOADED_BASE += len(kobj.UNLOADED) + 1
        kobj.UNLOADED.clear()
    monkeypatch.setattr(kobj, "kobj_unload", unload_and_cut)


def make_kernel(target: Target, stand: Path, manifest: Path, **kw: object) -> EmuKernel:
    """A booted kernel for ``target`` over ``stand`` with the emulated strategy."""
    from kmodbuild.emulate.strategy import EmulatedModcmd
    strategy = EmulatedModcmd(**kw)  # type: ignore[arg-type]
    man = load_manifest(manifest)
    config = KernelConfig(target, VERSION, symbols=symbols_from_manifest(man),
                          functions=functions_from_manifest(man))
    kernel = SimKernel(config, stand, modcmd=strategy, cwd=stand)
    return EmuKernel(kernel, strategy, stand)


def compile_module(target: Target, src: Path, out: Path, work: Path) -> None:
    """Compile and link ``src`` into the module ``out`` as the build does."""
    tc = make_toolchain(target)
    obj = work / f"{src.stem}-{target.name}.o"
    cpp = ["-isystem", str(REPO / "sys"), "-isystem", str(REPO / "sys" / "arch"),
           f"-D__NetBSD_Version__={VERSION.number}"]
    script = str(REPO / "sys" / "modules" / "xldscripts" / "kmodule")
    for argv in (tc.compile_argv(src.name, str(obj), cpp),
                 tc.link_argv(str(out), [str(obj)], script)):
        res = subprocess.run(argv, cwd=src.parent, capture_output=True, text=True)
        if res.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed:\n{res.stderr}")


@pytest.fixture(scope="session")
def example_kernel(built_tree) -> Callable[..., EmuKernel]:
    """``example_kernel(target_name, **strategy_options)``: a fresh emulated kernel over the
    installed example tree (each target has its own DESTDIR when it shares /stand)."""
    def make(name: str, **kw: object) -> EmuKernel:
        unicorn_or_skip()
        target = get_target(name)
        stand = built_tree.root / "stand"
        if not target.primary:
            stand = built_tree.root / f"destdir.{target.name}" / "stand"
        return make_kernel(target, stand, built_tree.manifest(target.key), **kw)
    return make


@pytest.fixture(scope="session")
def bug_kernel(built_tree, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., EmuKernel]:
    """``bug_kernel(target_name, **strategy_options)``: a fresh emulated kernel over the
    modules of ``modsrc/`` (compiled once per target and session)."""
    base = tmp_path_factory.mktemp("emutrees")
    built: dict[str, Path] = {}

    def make(name: str, **kw: object) -> EmuKernel:
        unicorn_or_skip()
        target = get_target(name)
        if name not in built:
            stand = base / name / "stand"
            mdir = stand / target.kmodulearchdir / VERSION.osrelease / "modules"
            work = base / name / "obj"
            work.mkdir(parents=True, exist_ok=True)
            for src in sorted(MODSRC.glob("*.c")):
                (mdir / src.stem).mkdir(parents=True, exist_ok=True)
                compile_module(target, src, mdir / src.stem / f"{src.stem}.kmod", work)
            built[name] = stand
        return make_kernel(target, built[name], built_tree.manifest(target.key), **kw)
    return make
