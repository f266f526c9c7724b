"""``kmodbuild build``: run SCons on a module tree (the same as ``scons`` in the tree)."""
from __future__ import annotations

import argparse
import os
import sys

from kmodbuild.errors import UsageError

HELP = "build, check and install a module tree (runs scons)"
DESCRIPTION = """\
Run SCons in TREE (default: the current directory) with the given variables
and options, e.g. ARCH=all VERSION=10.99.10 -j2.  Every argument but -C TREE
and -h is passed to scons, in order; 'kmodbuild build -- -h' lists the
variables."""
EPILOG = """\
examples:
  kmodbuild build                          amd64, 10.0, installed into ./stand
  kmodbuild build ARCH=evbarm-aarch64 VERSION=10.99.10
  cd sys && kmodbuild build -C .. ARCH=all -j2    -C: the tree holding the SConstruct
  kmodbuild build -Q --quiet               for CI logs: errors only
"""

#: the names scons looks for (SCons.Script.Main.KnownSConscripts, without importing SCons)
_SCONSTRUCT_NAMES = ("SConstruct", "Sconstruct", "sconstruct", "SConstruct.py",
                     "Sconstruct.py", "sconstruct.py")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-C", "--directory", default=".", metavar="TREE",
                   help="tree holding the SConstruct (default: .)")
    p.add_argument("scons_args", nargs=argparse.REMAINDER, metavar="ARG",
                   help="scons variables and options (ARCH=, VERSION=, -j N, -c, ...)")


def run(args: argparse.Namespace) -> int:
    tree = os.path.abspath(args.directory)
    if not os.path.isdir(tree):
        raise UsageError(f"-C {args.directory}: " + ("not a directory" if os.path.exists(tree)
                                                     else "no such directory"))
    extra = [a for a in args.scons_args if a != "--"]
    # scons finds another file itself with -f FILE, or searches upwards with -u/-U/-D
    searches = any(a in ("-u", "-U", "-D", "--up", "--search-up")
                   or a.startswith(("-f", "--file", "--makefile", "--sconstruct"))
                   for a in extra)
    if not searches and not any(os.path.isfile(os.path.join(tree, name))
                                for name in _SCONSTRUCT_NAMES):
        raise UsageError(f"{os.path.join(args.directory, 'SConstruct')}: no such file: "
                         "not a module tree (pass -C TREE)")
    argv = [sys.executable, "-m", "SCons", "-C", tree, *extra]
    # scons replaces this process: a signal meant for the build (``timeout`` sends
    # SIGTERM to the command it started) reaches scons itself; as a child it kept
    # building and installing after kmodbuild had exited
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        os.execv(sys.executable, argv)
    except OSError as e:
        raise UsageError(f"cannot run {sys.executable}: {e.strerror or e}") from None
    return 2                                # not reached
