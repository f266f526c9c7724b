"""``kmodbuild package``: reproducible modules-<MACHINE>-<VERSION>.tar.xz sets of installed trees."""
from __future__ import annotations

import argparse
from pathlib import Path

from kmodbuild.errors import KmodError
from kmodbuild.sets import set_name, write_sets
from kmodbuild.target import NetBSDVersion, parse_targets, stand_dir

HELP = "write reproducible module sets (tar.xz + SHA512) from an installed tree"
DESCRIPTION = """\
Pack each installed stand/<MACHINE>/<VERSION>/modules tree into
modules-<MACHINE>-<VERSION>.tar.xz with sorted entries, owner root:wheel,
fixed modes and mtime (SOURCE_DATE_EPOCH, default 0), plus a SHA512 file.
Two builds of the same sources give byte-identical sets.  'scons sets' does
the same as part of a build."""
EPILOG = """\
examples:
  kmodbuild package                            amd64 10.0 from ./stand into build/sets
  kmodbuild package --arch all --version 10.99.10 -o /tmp/sets
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--destdir", default=".", help="install root holding stand/ (default: .)")
    p.add_argument("--arch", default="amd64", help="target(s), comma-separated, or all")
    p.add_argument("--version", default="10.0", help="NetBSD version (default: 10.0)")
    p.add_argument("-o", "--output", default="build/sets", help="output directory")


def run(args: argparse.Namespace) -> int:
    destdir = Path(args.destdir).resolve()
    version = NetBSDVersion.parse(args.version)
    items = []
    for t in parse_targets(args.arch):
        mods = stand_dir(destdir, t, version)
        if not mods.is_dir():
            raise KmodError("no installed modules here; run scons first", path=mods)
        root = mods.parents[3]
        items.append((mods, root, set_name(t, version)))
    for path in write_sets(items, Path(args.output)):
        print(path)
    return 0
