"""Fetch, unpack and cache a real Debian kernel module tree (tests and bench).

Downloads Debian's ``linux-image-<version>-unsigned`` (uncompressed ``.ko``)
and the matching ``linux-headers-<version>`` (``Module.symvers``) with
``apt-get download`` and unpacks them with ``dpkg-deb -x`` into a cache
directory -- ``$KMODBUILD_TEST_CACHE`` or ``~/.cache/kmodbuild-tests/debian``
-- never into the repository.  A complete unpacked tree is reused without
touching the network; ``depmod`` comes from the ``kmod`` package, installed
with apt-get when missing and possible.

Everything that cannot be done raises :class:`Unavailable` with the reason,
so that tests skip with a clear message instead of failing.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

STAMP = ".kmodbuild-complete"
#: The meta packages naming the current kernel (their Depends line).
META_IMAGE = "linux-image-amd64"


class Unavailable(Exception):
    """The Debian tree or depmod cannot be had here; the message says why."""


@dataclass(frozen=True)
class DebianKernel:
    """An unpacked kernel: ``basedir/lib/modules/<version>`` and its Module.symvers."""

    version: str
    basedir: Path

    @property
    def moddir(self) -> Path:
        return self.basedir / "lib" / "modules" / self.version

    @property
    def symvers(self) -> Path:
        return self.basedir / "usr" / "src" / f"linux-headers-{self.version}" / "Module.symvers"


def cache_dir() -> Path:
    """Where downloads and unpacked trees live."""
    env = os.environ.get("KMODBUILD_TEST_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "kmodbuild-tests" / "debian"


def _run(argv: list[str], cwd: Path | None = None, timeout: float = 900) -> str:
    try:
        res = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    except (OSError, subprocess.SubprocessError) as e:
        raise Unavailable(f"{argv[0]}: {e}") from None
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        raise Unavailable(f"{' '.join(argv[:3])} failed: {' / '.join(tail)}")
    return res.stdout


def find_cached() -> DebianKernel | None:
    """The newest complete unpacked tree in the cache, if any."""
    root = cache_dir()
    if not root.is_dir():
        return None
    found = []
    for d in root.iterdir():
        if (d / STAMP).is_file():
            k = DebianKernel(d.name, d / "root")
            if k.moddir.is_dir() and k.symvers.is_file():
                found.append(k)
    return max(found, key=lambda k: k.version) if found else None


def _current_version() -> str:
    for attempt in range(2):
        if shutil.which("apt-cache") is None:
            raise Unavailable("apt-cache not found (not a Debian system)")
        try:
            out = _run(["apt-cache", "depends", META_IMAGE], timeout=120)
        except Unavailable:
            out = ""
        m = re.search(r"Depends: linux-image-(\S+)", out)
        if m:
            return m.group(1)
        if attempt == 0 and os.geteuid() == 0:
            try:
                _run(["apt-get", "update", "-q"], timeout=600)
            except Unavailable:
                pass
    raise Unavailable(f"apt-cache knows no {META_IMAGE} (run apt-get update?)")


def fetch_debian_kernel() -> DebianKernel:
    """A complete unpacked Debian kernel tree: from the cache, else downloaded now.

    Concurrent callers (parallel test runs) wait for each other on a lock file.

    Raises:
        Unavailable: no cached tree and no way to download one.
    """
    cached = find_cached()
    if cached is not None:
        return cached
    if os.environ.get("KMODBUILD_NO_NETWORK"):
        raise Unavailable("KMODBUILD_NO_NETWORK is set and no Debian tree is cached in "
                          f"{cache_dir()}")
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cached = find_cached()          # another process may have finished meanwhile
        return cached if cached is not None else _download()


def _download() -> DebianKernel:
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise Unavailable(f"{tool} not found (not a Debian system)")
    version = _current_version()
    work = cache_dir() / version
    work.mkdir(parents=True, exist_ok=True)
    packages = [f"linux-image-{version}-unsigned", f"linux-headers-{version}"]
    _run(["apt-get", "download", "-q", *packages], cwd=work, timeout=1800)
    debs = sorted(work.glob("*.deb"))
    if len(debs) < 2:
        raise Unavailable(f"apt-get download gave {len(debs)} packages in {work}")
    tmp = work / "root.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    for deb in debs:
        _run(["dpkg-deb", "-x", str(deb), str(tmp)], timeout=900)
    shutil.rmtree(work / "root", ignore_errors=True)
    tmp.rename(work / "root")
    kernel = DebianKernel(version, work / "root")
    if not kernel.moddir.is_dir() or not kernel.symvers.is_file():
        raise Unavailable(f"unpacked packages lack {kernel.moddir} or {kernel.symvers}")
    for deb in debs:            # the unpacked tree is the cache
        deb.unlink()
    (work / STAMP).write_text(" ".join(packages) + "\n")
    return kernel


def depmod_path() -> str:
    """The ``depmod`` program, installing Debian's kmod package if needed and possible.

    Raises:
        Unavailable: no depmod and no way to install it.
    """
    for cand in (shutil.which("depmod"), "/usr/sbin/depmod", "/sbin/depmod"):
        if cand and os.access(cand, os.X_OK):
            return cand
    if os.environ.get("KMODBUILD_NO_NETWORK") or os.geteuid() != 0 \
            or shutil.which("apt-get") is None:
        raise Unavailable("depmod (package kmod) is not installed")
    try:
        _run(["apt-get", "install", "-y", "-q", "kmod"], timeout=900)
    except Unavailable:
        _run(["apt-get", "update", "-q"], timeout=600)
        _run(["apt-get", "install", "-y", "-q", "kmod"], timeout=900)
    for cand in (shutil.which("depmod"), "/usr/sbin/depmod", "/sbin/depmod"):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise Unavailable("kmod installed but depmod not found")


# --------------------------------------------------------------------------- depmod output

@dataclass
class DepmodRun:
    """What ``depmod -n -e -E`` said: modules.dep lines and the two kinds of warning."""

    dep_lines: list[str]
    unknown: set[tuple[str, str]]
    disagree: set[tuple[str, str]]
    other: list[str]


_UNKNOWN = re.compile(r"^depmod: WARNING: (.*) needs unknown symbol (.*)$")
_DISAGREE = re.compile(r"^depmod: WARNING: (.*) disagrees about version of symbol (.*)$")


def run_depmod(depmod: str, basedir: Path, version: str, symvers: Path | None) -> DepmodRun:
    """Run ``depmod -b basedir -n [-e -E symvers] version``; paths relative to the module dir."""
    argv = [depmod, "-b", str(basedir), "-n"]
    if symvers is not None:
        argv += ["-e", "-E", str(symvers)]
    # Bytes decoded as latin-1 (as kmodbuild decodes symbol names) and split at "\n" only:
    # a damaged module's names may hold any byte, "\r" and "\f" too.
    res = subprocess.run([*argv, version], capture_output=True, timeout=600, check=False)
    stdout, stderr = res.stdout.decode("latin-1"), res.stderr.decode("latin-1")
    if res.returncode != 0:
        raise AssertionError(f"depmod failed ({res.returncode}): {stderr[-2000:]}")
    lines = []
    for line in stdout.split("\n"):
        if line.startswith("#"):
            break
        if line:
            lines.append(line)
    moddir = os.path.abspath(basedir / "lib" / "modules" / version)
    unknown, disagree, other = set(), set(), []
    for line in stderr.split("\n"):
        for rx, acc in ((_UNKNOWN, unknown), (_DISAGREE, disagree)):
            m = rx.match(line)
            if m:
                acc.add((os.path.relpath(os.path.abspath(m.group(1)), moddir), m.group(2)))
                break
        else:
            other.append(line)
    return DepmodRun(lines, unknown, disagree, other)
