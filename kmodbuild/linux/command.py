"""kmodbuild.linux.command - the ``kmodbuild check --flavor linux`` shell: options in, report out.

The only part of :mod:`kmodbuild.linux` that prints.  :func:`run` is what
``kmodbuild.cmd_check`` calls (through :func:`kmodbuild.linux.run_linux`);
:func:`main` is ``python -m kmodbuild.linux``, the same check without loading
every other ``kmodbuild`` command first (a cached re-check is dominated by
start-up time).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kmodbuild.diagnostics import render_json, render_text
from kmodbuild.errors import UsageError
from kmodbuild.linux.check import check_linux, write_dep_file


def add_linux_arguments(p: argparse.ArgumentParser) -> None:
    """The ``--flavor linux`` options (for a parser that has ``paths`` and ``--format``)."""
    g = p.add_argument_group("Linux modules (--flavor linux)")
    g.add_argument("--symvers", metavar="FILE",
                   help="the kernel's Module.symvers (as depmod -E): check unknown symbols "
                        "and symbol versions against it")
    g.add_argument("--write-dep", metavar="FILE",
                   help="write the modules.dep of the checked modules to FILE")
    g.add_argument("--jobs", "-j", type=int, default=0, metavar="N",
                   help="processes reading modules (default: all CPUs)")
    g.add_argument("--cache", metavar="FILE",
                   help="result cache: unchanged modules are not read again")


def run(args: argparse.Namespace) -> int:
    """Run the Linux check for parsed ``args``; returns the exit status (1: problems found).

    Raises:
        UsageError: bad options or paths.
        KmodError: unreadable Module.symvers.
    """
    if getattr(args, "manifest", None):
        raise UsageError("--manifest is for NetBSD modules; Linux modules use --symvers "
                         "Module.symvers")
    jobs = getattr(args, "jobs", 0) or 0
    if jobs < 0:
        raise UsageError(f"--jobs {jobs}: must be 0 (all CPUs) or more")
    result = check_linux(args.paths, getattr(args, "symvers", None), jobs=jobs,
                         cache=getattr(args, "cache", None))
    for note in result.notes:
        print(f"kmodbuild check: {note}", file=sys.stderr)
    write_dep = getattr(args, "write_dep", None)
    if write_dep:
        try:
            write_dep_file(write_dep, result.dep_lines)
        except OSError as e:
            raise UsageError(f"{write_dep}: cannot write: {e.strerror or e}") from None
    fmt = getattr(args, "format", "text")
    if fmt == "json":
        sys.stdout.write(render_json(result.diagnostics, len(result.modules)))
    elif fmt == "text":
        sys.stdout.write(render_text(result.diagnostics))
    else:
        from kmodbuild.reports import render_report
        sys.stdout.write(render_report(fmt, result.diagnostics,
                                       [m.path for m in result.modules]))
    return 1 if result.has_errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m kmodbuild.linux [options] PATH...``: ``kmodbuild check --flavor linux``."""
    from kmodbuild.errors import KmodError
    p = argparse.ArgumentParser(prog="python -m kmodbuild.linux",
                                description="Check Linux kernel modules as depmod would "
                                            "(same as: kmodbuild check --flavor linux).")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help=".ko[.xz|.zst|.gz] file or module directory (/lib/modules/VERSION)")
    p.add_argument("--format", choices=("text", "json", "junit", "sarif", "github"),
                   default="text", help="report format (default: text)")
    add_linux_arguments(p)
    args = p.parse_args(argv)
    try:
        return run(args)
    except UsageError as e:
        print(f"kmodbuild check: {e}", file=sys.stderr)
        return 2
    except KmodError as e:
        print(str(e), file=sys.stderr)
        return 1
