"""``kmodbuild package``: reproducible modules-<MACHINE>-<VERSION>.tar.xz sets of installed trees."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from kmodbuild.errors import KmodError, UsageError
from kmodbuild.install import tree_top_hint
from kmodbuild.metalog import metalog_path
from kmodbuild.sets import set_name, write_sets
from kmodbuild.target import TARGETS, NetBSDVersion, Target, parse_targets, stand_dir

HELP = "write reproducible module sets (tar.xz + SHA512) from an installed tree"
DESCRIPTION = """\
Pack each installed stand/<MACHINE>/<VERSION>/modules tree into
modules-<MACHINE>-<VERSION>.tar.xz (a target sharing its MACHINE adds its
MACHINE_ARCH: modules-evbarm-earmv7hf-10.0.tar.xz) with sorted entries, owner
root:wheel, fixed modes and mtime (SOURCE_DATE_EPOCH, default 0), plus a SHA512
file listing the sets written.  A set holds exactly the files the tree's METALOG
records: a tree without a METALOG, or that does not verify against it (see
'kmodbuild verify'), is refused with one line and exit 1, and nothing is
written.  Two builds of the same sources give byte-identical sets.  'scons sets'
does the same as part of a build."""
EPILOG = """\
examples:
  kmodbuild package                            amd64 10.0 from ./stand into build/sets
  kmodbuild package --arch all --version 10.99.10 -o /tmp/sets
  kmodbuild package --arch evbarm-earmv7hf --destdir destdir.evbarm-earmv7hf
                                               a target sharing its MACHINE: its own tree
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--destdir", default=".", help="install root holding stand/ (default: .), "
                   "its stand/, or a target's own DESTDIR/destdir.<MACHINE>-<MACHINE_ARCH>")
    p.add_argument("--arch", default="amd64", help="target(s), comma-separated, or all")
    p.add_argument("--version", default="10.0", help="NetBSD version (default: 10.0)")
    p.add_argument("-o", "--output", default="build/sets", help="output directory")


def _install_root(destdir: Path, target: Target) -> Path:
    """The DESTDIR to give :func:`stand_dir` for ``target`` when ``--destdir`` is spelt as
    ``verify`` and ``sim`` accept it: the install root, its ``stand`` directory, or the
    own tree of a target sharing its MACHINE (``DESTDIR/destdir.evbarm-earmv7hf``, whose
    prefix :func:`stand_dir` adds itself).

    Raises:
        UsageError: ``destdir`` is another target's own tree.
    """
    if destdir.name == "stand" and not (destdir / "stand").is_dir():
        destdir = destdir.parent                    # --destdir stand, as sim --root stand
    own = destdir.name.removeprefix("destdir.") if destdir.name.startswith("destdir.") \
        else None
    if own is not None and any(t.key == own for t in TARGETS):
        if own != target.key:
            raise UsageError(f"--destdir {destdir}: the tree of {own}, not of "
                             f"{target.name} (give the DESTDIR above it)")
        return destdir.parent                       # stand_dir adds destdir.<key> again
    return destdir


def run(args: argparse.Namespace) -> int:
    if args.output == "-":
        raise UsageError("-o -: the sets are files (one per target, and SHA512); "
                         "-o names the directory they are written to")
    if not os.path.isdir(args.destdir):
        raise UsageError(f"--destdir {args.destdir}: " + (
            "not a directory" if os.path.exists(args.destdir) else "no such directory"))
    destdir = Path(args.destdir).resolve()
    version = NetBSDVersion.parse(args.version)
    items = []
    for t in parse_targets(args.arch):
        mods = stand_dir(_install_root(destdir, t), t, version)
        if not os.path.lexists(mods) and not os.path.lexists(metalog_path(mods.parent)):
            hint = None if (destdir / "stand").exists() else tree_top_hint(destdir)
            raise KmodError("no installed modules here" + ("" if hint else "; run scons first"),
                            path=mods, hint=hint)
        # the target's own root: DESTDIR, or DESTDIR/destdir.<MACHINE>-<MACHINE_ARCH>
        items.append((mods, mods.parents[3], set_name(t, version)))
    # write_sets verifies each tree against its METALOG first and packs what it records
    for path in write_sets(items, Path(args.output)):
        print(path)
    return 0
