"""Fixtures for the ABI tests: stub kernels built from edited copies of sys/.

The modules under test are the session's ``built_tree`` (built against the
unchanged sys/); the "new" kernels are built by the real build (scons, only
the kernel manifest targets) from copies of the tree with one change each:

* ``struct``: ``struct vfsops`` reordered, so ``vfs_name`` moves (null, ffs, layerfs);
* ``prototype``: ``strlcpy`` returns ``int`` instead of ``size_t`` (hello);
* ``object``: ``hz`` becomes ``long long`` (hello reads it);
* ``remove``: ``vfs_getnewfsid`` is gone (null, ffs call it);
* ``all``: the four at once, for every target.
"""
from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from kmodbuild.target import TARGETS, get_target
from tests.conftest import REPO, BuiltTree, copy_tree, scons

VERSION = "10.0"


def _replace(path: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        f = root / path
        text = f.read_text()
        assert old in text, f"{path}: {old!r} not found"
        f.write_text(text.replace(old, new, 1))
    return edit


def _remove_function(path: str, name: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        f = root / path
        text, n = re.subn(rf"\nvoid\n{name}\([^)]*\)\n\{{.*?\n\}}\n", "\n", f.read_text(),
                          count=1, flags=re.S)
        assert n == 1, f"{name} not found in {path}"
        f.write_text(text)
    return edit


EDITS: dict[str, list[Callable[[Path], None]]] = {
    "struct": [_replace("sys/sys/mount.h", "\tconst char *vfs_name;\n\tsize_t\tvfs_min_mount_data;",
                        "\tsize_t\tvfs_min_mount_data;\n\tconst char *vfs_name;")],
    "prototype": [_replace("sys/lib/libkern/libkern.h",
                           "size_t\tstrlcpy(char *, const char *, size_t);",
                           "int\tstrlcpy(char *, const char *, size_t);"),
                  _replace("sys/kern/subr_libkern.c", "size_t\nstrlcpy(char *dst",
                           "int\nstrlcpy(char *dst")],
    "object": [_replace("sys/sys/systm.h", "extern int hz;", "extern long long hz;"),
               _replace("sys/kern/init_main.c", "int\thz = 100;", "long long\thz = 100;")],
    "remove": [_remove_function("sys/kern/vfs_subr.c", "vfs_getnewfsid")],
}
EDITS["all"] = [e for k in ("struct", "prototype", "object", "remove") for e in EDITS[k]]


@dataclass
class Kernels:
    """Manifests of the unchanged kernel (``old``) and of the edited ones."""

    tree: BuiltTree
    roots: dict[str, Path]

    def old(self, key: str) -> Path:
        return self.tree.manifest(key)

    def new(self, variant: str, key: str) -> Path:
        return self.roots[variant] / "build" / key / VERSION / "kernel" / "netbsd.syms"

    def modules(self, key: str) -> Path:
        return self.tree.root / "build" / key / VERSION / "modules"


def build_kernel_variant(root: Path, variant: str, keys: list[str]) -> Path:
    """Copy the repository tree to ``root``, apply ``variant``'s edits and build only
    the kernel manifests (and ABI sidecars) of ``keys``."""
    copy_tree(root)
    for edit in EDITS[variant]:
        edit(root)
    arch = ",".join(get_target(k).name for k in keys)
    targets = [f"build/{k}/{VERSION}/kernel/netbsd.syms" for k in keys]
    scons(root, f"ARCH={arch}", f"VERSION={VERSION}", "-j2", *targets)
    return root


@pytest.fixture(scope="session")
def kernels(built_tree: BuiltTree, tmp_path_factory: pytest.TempPathFactory) -> Kernels:
    """The edited kernels: ``all`` for every target, each single change for amd64."""
    roots = {"all": build_kernel_variant(tmp_path_factory.mktemp("kernel-all"), "all",
                                         [t.key for t in TARGETS])}
    for variant in ("struct", "prototype", "object", "remove"):
        roots[variant] = build_kernel_variant(tmp_path_factory.mktemp(f"kernel-{variant}"),
                                              variant, ["amd64-x86_64"])
    return Kernels(built_tree, roots)


def kmodbuild(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m kmodbuild ARGS`` (this checkout) and return the result."""
    import os
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "kmodbuild", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)
