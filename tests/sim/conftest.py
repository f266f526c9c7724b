"""Fixtures for the simulator tests: module trees compiled for real with zig.

``sim_tree(version, machine)`` compiles every ``modsrc/*.c`` (self-contained
MODULE() modules, one per rule to exercise) with the project toolchain and
installs them as ``stand/<machine>/<osrelease>/modules/<name>/<name>.kmod``,
with the property lists and the malformed files the rules need, plus a kernel
symbol manifest.  Trees are built once per session and shared.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kmodbuild.manifest import ManifestSymbol, make_manifest, write_if_changed
from kmodbuild.scenario import Session
from kmodbuild.simulator import KernelConfig, SimKernel, symbols_from_manifest
from kmodbuild.target import NetBSDVersion, Target, get_target
from kmodbuild.toolchain import make_toolchain

HERE = Path(__file__).resolve().parent
MODSRC = HERE / "modsrc"

#: Kernel symbols the test modules use (the simulated kernel's manifest).
KERNEL_SYMBOLS = (("printf", "func", 64), ("hz", "object", 4), ("some_kernel_var", "object", 4))

#: Extra compiler flags per module directory.
EXTRA_FLAGS: dict[str, tuple[str, ...]] = {
    "xyzfs": ("-DMODVERSION=900000000",),          # built for 9.0
    "picmod": ("-fPIC", "-mcmodel=small"),         # GOT-relative relocations
    "nearby": ("-DMODVERSION=(__NetBSD_Version__+100)",),   # next patch level
}
#: Directory name -> compiled as another target (a foreign object in the tree).
FOREIGN = {"i386mod": ("i386", "alpha")}


@dataclass
class SimTree:
    """A compiled test tree: ``stand`` (the /stand directory), target, version, manifest."""

    stand: Path
    target: Target
    version: NetBSDVersion
    manifest: Path
    symbols: tuple[tuple[str, int], ...] = field(default=())

    @property
    def module_dir(self) -> Path:
        return self.stand / self.target.kmodulearchdir / self.version.osrelease / "modules"

    def config(self, **kw: object) -> KernelConfig:
        return KernelConfig(self.target, self.version, symbols=self.symbols,
                            **kw)  # type: ignore[arg-type]

    def kernel(self, **kw: object) -> SimKernel:
        return SimKernel(self.config(**kw), self.stand, cwd=self.stand)

    def session(self, **kw: object) -> Session:
        stand = self.stand
        return Session(self.kernel(**kw), lambda cfg: SimKernel(cfg, stand, cwd=stand),
                       cwd=self.stand)


def _compile(target: Target, version: NetBSDVersion, src: Path, out: Path, work: Path,
             extra: tuple[str, ...] = ()) -> None:
    tc = make_toolchain(target)
    obj = work / (out.stem + f"-{target.name}.o")
    cpp = [f"-D__NetBSD_Version__={version.number}", *extra]
    for argv in (tc.compile_argv(src.name, str(obj), cpp), tc.link_argv(str(out), [str(obj)])):
        res = subprocess.run(argv, cwd=src.parent, capture_output=True, text=True)
        if res.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed:\n{res.stderr}")


def build_tree(root: Path, target: Target, version: NetBSDVersion) -> SimTree:
    """Compile and install the test modules for ``target``/``version`` under ``root``."""
    stand = root / "stand"
    tree = SimTree(stand, target, version, root / "netbsd.syms")
    mdir = tree.module_dir
    work = root / "obj"
    work.mkdir(parents=True, exist_ok=True)
    for src in sorted(MODSRC.glob("*.c")):
        name = src.stem
        dest = mdir / name
        dest.mkdir(parents=True, exist_ok=True)
        _compile(target, version, src, dest / f"{name}.kmod", work, EXTRA_FLAGS.get(name, ()))
    for name, (tname, srcname) in FOREIGN.items():
        dest = mdir / name
        dest.mkdir(parents=True, exist_ok=True)
        _compile(get_target(tname), version, MODSRC / f"{srcname}.c", dest / f"{name}.kmod", work)
    (mdir / "notelf").mkdir(exist_ok=True)
    (mdir / "notelf" / "notelf.kmod").write_text("this is not an ELF file\n")
    plist = ('<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0">\n<dict>\n'
             '\t<key>noautoload</key>\n\t<true/>\n</dict>\n</plist>\n')
    (mdir / "noauto" / "noauto.plist").write_text(plist)
    (mdir / "bigplist" / "bigplist.plist").write_text(
        plist.replace("<dict>", "<dict>\n\t<key>pad</key>\n\t<string>" + "x" * 8200
                      + "</string>"))
    (mdir / "badplist" / "badplist.plist").write_text("<plist><dict><key>oops</dict>\n")
    man = make_manifest(target, version, (ManifestSymbol(n, k, s) for n, k, s in KERNEL_SYMBOLS))
    write_if_changed(tree.manifest, man.render())
    tree.symbols = symbols_from_manifest(man)
    return tree


@pytest.fixture(scope="session")
def sim_trees(tmp_path_factory: pytest.TempPathFactory):
    """``get(version='10.0', target='amd64') -> SimTree``, each built once per session."""
    if shutil.which("true") is None:  # pragma: no cover - keeps the fixture honest on odd hosts
        pytest.skip("no POSIX userland")
    cache: dict[tuple[str, str], SimTree] = {}
    base = tmp_path_factory.mktemp("simtrees")

    def get(version: str = "10.0", target: str = "amd64") -> SimTree:
        key = (version, target)
        if key not in cache:
            t, v = get_target(target), NetBSDVersion.parse(version)
            cache[key] = build_tree(base / f"{t.name}-{v.osrelease}", t, v)
        return cache[key]
    return get


@pytest.fixture()
def amd64_tree(sim_trees) -> SimTree:
    """The amd64 10.0 test tree."""
    return sim_trees("10.0", "amd64")
