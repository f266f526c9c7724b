"""Fixtures for real-toolchain check tests: compile C snippets into ``.kmod`` files.

``kmod_builder`` compiles sources with the target's real (zig) toolchain and
this repository's kernel headers (``-isystem sys -isystem sys/arch``), then
partial-links them with ``sys/modules/xldscripts/kmodule`` exactly as the
build does, into ``<root>/modules/<name>/<file>.kmod``.
"""
from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from kmodbuild.target import NetBSDVersion, Target, get_target
from kmodbuild.toolchain import make_toolchain

REPO = Path(__file__).resolve().parent.parent.parent
SYS = REPO / "sys"
LDSCRIPT = SYS / "modules" / "xldscripts" / "kmodule"


def _run(argv: Sequence[str]) -> None:
    res = subprocess.run(list(argv), capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise AssertionError(f"command failed ({res.returncode}): {' '.join(argv)}\n"
                             f"{res.stderr[-3000:]}")


@dataclass
class KmodBuilder:
    """Builds modules under ``root/modules``."""

    root: Path

    @property
    def modules_dir(self) -> Path:
        return self.root / "modules"

    def build(self, target: Target | str, name: str, sources: dict[str, str] | Sequence[Path],
              *, cflags: Sequence[str] = (), version: str = "10.0", file: str | None = None,
              link: str = "r", triple: str | None = None) -> Path:
        """Compile ``sources`` (a {filename: text} dict, or paths) into
        ``modules/<name>/<file or name>.kmod`` and return its path.

        ``link="exec"`` links a non-relocatable executable instead (for the
        ET_EXEC case); ``triple`` overrides ``--target=``.
        """
        t = get_target(target) if isinstance(target, str) else target
        tc = make_toolchain(t)
        out_dir = self.modules_dir / name
        src_dir = self.root / "src" / name
        src_dir.mkdir(parents=True, exist_ok=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths: list[Path] = []
        if isinstance(sources, dict):
            for fname, text in sources.items():
                p = src_dir / fname
                p.write_text(text)
                paths.append(p)
        else:
            paths = [Path(p) for p in sources]
        cppflags = ["-isystem", str(SYS), "-isystem", str(SYS / "arch"),
                    f"-D__NetBSD_Version__={NetBSDVersion.parse(version).number}",
                    "-I", str(paths[0].parent), *cflags]
        objs = []
        for p in paths:
            obj = src_dir / (p.stem + ".o")
            argv = tc.compile_argv(str(p), str(obj), cppflags)
            if triple:
                argv = [a if not a.startswith("--target=") else f"--target={triple}"
                        for a in argv]
            _run(argv)
            objs.append(str(obj))
        kmod = out_dir / f"{file or name}.kmod"
        if link == "exec":
            _run([*tc.ld, "-e", "0", "--unresolved-symbols=ignore-all", "-o", str(kmod), *objs])
        elif link == "r-noscript":
            _run(tc.link_argv(str(kmod), objs))
        else:
            _run(tc.link_argv(str(kmod), objs, str(LDSCRIPT) if LDSCRIPT.exists() else None))
        return kmod


@pytest.fixture
def kmod_builder(tmp_path: Path) -> KmodBuilder:
    """A :class:`KmodBuilder` writing under a fresh temporary directory."""
    return KmodBuilder(tmp_path)
