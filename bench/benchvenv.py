"""A clean virtual environment holding copies of packages, as ``pip install`` leaves them.

Used by the benchmarks to time kmodbuild without the ``.pth`` start-up hooks a
development interpreter's site-packages may hold (an editable-install finder, a
sandbox's certificate hook: 10-25 ms per process on this project's machine).
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import venv
from collections.abc import Sequence
from pathlib import Path


def package_dir(name: str) -> Path:
    """The directory of the importable package ``name`` (this interpreter's)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"the package {name} is not installed for {name!r}")
    return Path(next(iter(spec.submodule_search_locations)))


def make_venv(where: Path, packages: Sequence[Path], linked: Sequence[Path] = ()) -> Path:
    """A virtual environment at ``where`` holding copies of the package directories
    ``packages``, compiled, and symbolic links to the (large) package directories
    ``linked``; returns its python."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(where)
    python = where / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path("
                           "'purelib'))"], capture_output=True, text=True, check=True)
    purelib = Path(site.stdout.strip())
    for package in packages:
        dest = purelib / package.name
        shutil.copytree(package, dest, ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run([str(python), "-m", "compileall", "-q", str(dest)], check=True)
    for package in linked:
        (purelib / package.name).symlink_to(package, target_is_directory=True)
    return python
