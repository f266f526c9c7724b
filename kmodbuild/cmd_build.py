"""``kmodbuild build``: run SCons on a module tree (the same as ``scons`` in the tree)."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

HELP = "build, check and install a module tree (runs scons)"
DESCRIPTION = """\
Run SCons in TREE (default: the current directory) with the given variables
and options, e.g. ARCH=all VERSION=10.99.10 -j2.  Everything after the options
is passed to scons unchanged; 'kmodbuild build -- -h' lists the variables."""
EPILOG = """\
examples:
  kmodbuild build                          amd64, 10.0, installed into ./stand
  kmodbuild build ARCH=evbarm-aarch64 VERSION=10.99.10
  kmodbuild build -C ~/src/mymods ARCH=all -j2
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-C", "--directory", default=".", metavar="TREE",
                   help="tree holding the SConstruct (default: .)")
    p.add_argument("scons_args", nargs=argparse.REMAINDER, metavar="ARG",
                   help="scons variables and options (ARCH=, VERSION=, -j N, -c, ...)")


def run(args: argparse.Namespace) -> int:
    extra = [a for a in args.scons_args if a != "--"]
    argv = [sys.executable, "-m", "SCons", "-C", os.path.abspath(args.directory), *extra]
    return subprocess.call(argv)
