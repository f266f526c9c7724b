"""kmodbuild.cli - the ``kmodbuild`` command: a thin dispatcher over ``cmd_*`` modules.

Each subcommand lives in ``kmodbuild/cmd_<name>.py`` and exports ``HELP`` (one
line), ``add_arguments(parser)`` and ``run(args) -> int``.  This module only
registers them and turns errors into exit codes:

* 0: success, nothing to report;
* 1: problems found, or bad input (a :class:`~kmodbuild.errors.KmodError`,
  printed as one line ``path[:line]: message``);
* 2: usage error (argparse) or a kmodbuild bug (printed with a traceback and a
  request to report it).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from kmodbuild import __version__
from kmodbuild.errors import KmodError, UsageError

#: Subcommands in the order ``--help`` lists them (module kmodbuild.cmd_<name with _>).
COMMANDS = ["build", "check", "manifest", "sim", "new", "abi-diff", "verify", "package"]

EPILOG = """\
examples:
  kmodbuild build ARCH=all -j2            build, check and install every target
  kmodbuild check stand/amd64/10.0/modules
  kmodbuild manifest build/amd64-x86_64/10.0/kernel/netbsd -o netbsd.syms
  kmodbuild sim --root stand --machine amd64 --version 10.0 --script boot.scn
  kmodbuild new xyzfs --class vfs
Run 'kmodbuild COMMAND --help' for the options of one command.
"""


def _load(name: str) -> object | None:
    try:
        return importlib.import_module("kmodbuild.cmd_" + name.replace("-", "_"))
    except ModuleNotFoundError as e:
        if e.name == "kmodbuild.cmd_" + name.replace("-", "_"):
            return None      # command not available in this build
        raise


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="kmodbuild", description="Build, check, install and simulate NetBSD kernel "
        "module trees.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"kmodbuild {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        mod = _load(name)
        if mod is None:
            continue
        p = sub.add_parser(name, help=getattr(mod, "HELP", ""),
                           description=getattr(mod, "DESCRIPTION", getattr(mod, "HELP", "")),
                           epilog=getattr(mod, "EPILOG", None),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)  # type: ignore[attr-defined]
        p.set_defaults(_run=mod.run)  # type: ignore[attr-defined]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args))
    except UsageError as e:
        print(f"kmodbuild {args.command}: {e}", file=sys.stderr)
        return 2
    except KmodError as e:
        print(str(e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kmodbuild: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception:  # noqa: BLE001 - the last line of defence: a bug, not bad input
        traceback.print_exc()
        print("kmodbuild: internal error; this is a kmodbuild bug, please report it with the "
              "traceback above", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
