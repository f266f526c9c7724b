"""kmodbuild.cli - the ``kmodbuild`` command: a thin dispatcher over ``cmd_*`` modules.

Each subcommand lives in ``kmodbuild/cmd_<name>.py`` and exports ``HELP`` (one
line), ``add_arguments(parser)`` and ``run(args) -> int``.  This module only
registers them and turns errors into exit codes:

* 0: success, nothing to report;
* 1: problems found (a :class:`~kmodbuild.errors.KmodError` the command could
  not turn into a report is printed as one line ``path[:line]: message``);
* 2: usage error (argparse, or a :class:`~kmodbuild.errors.UsageError`: bad options,
  and a missing, unreadable or malformed input the user named -- --manifest,
  KERNEL, --destdir, --script -- which the commands raise as one), or a
  kmodbuild bug (printed with a traceback and a request to report it).
"""
from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Sequence

from kmodbuild import __version__
from kmodbuild.errors import KmodError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

#: Subcommands in the order ``--help`` lists them (module kmodbuild.cmd_<name with _>),
#: with the one-line help shown there.  Only the command being run is imported,
#: so a quick command does not pay for the others' imports.
COMMANDS = {
    "build": "build, check and install a module tree (runs scons)",
    "check": "check .kmod files, directories or stand/ trees as the kernel's loader would",
    "manifest": "write the kernel symbol manifest of a linked kernel image",
    "sim": "simulate modload/modunload/modstat, autoload and boot on an installed tree",
    "new": "create a new module from a template: C source, SConscript and simulator scenario",
    "abi-diff": "compare two kernel manifests: removed, added and changed symbols, and "
                "broken modules",
    "verify": "report modified, missing and unexpected files under DESTDIR/stand",
    "package": "write reproducible module sets (tar.xz + SHA512) from an installed tree",
}

EPILOG = """\
examples:
  kmodbuild build ARCH=all -j2            build, check and install every target
  kmodbuild check stand/amd64/10.0/modules
  kmodbuild manifest build/amd64-x86_64/10.0/kernel/netbsd -o netbsd.syms
  kmodbuild sim --root stand --version 10.0 --script sys/modules/example.scn
  kmodbuild new xyzfs --class vfs
Run 'kmodbuild COMMAND --help' for the options of one command.
"""


def _load(name: str) -> object | None:
    try:
        import importlib
        return importlib.import_module("kmodbuild.cmd_" + name.replace("-", "_"))
    except ModuleNotFoundError as e:
        if e.name == "kmodbuild.cmd_" + name.replace("-", "_"):
            return None      # command not available in this build
        raise


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; with ``only``, just that subcommand gets its options."""
    import argparse
    parser = argparse.ArgumentParser(
        prog="kmodbuild", description="Build, check, install and simulate NetBSD kernel "
        "module trees.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"kmodbuild {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        mod = _load(name)
        if mod is None:
            continue
        p = sub.add_parser(name, help=help_text,
                           description=getattr(mod, "DESCRIPTION", getattr(mod, "HELP", "")),
                           epilog=getattr(mod, "EPILOG", None),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)  # type: ignore[attr-defined]
        p.set_defaults(_run=mod.run)  # type: ignore[attr-defined]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = "check"
    # Everything, the parser and the subcommand's import included, runs inside the
    # handlers: a Ctrl-C (or a bad input) at any moment ends with one line, not a traceback.
    try:
        command, run = _dispatch(argv)
        if run is None:
            return 2
        code = int(run())
        sys.stdout.flush()              # a write error is reported here, not at exit
        return code
    except UsageError as e:
        print(f"kmodbuild {command}: {e}", file=sys.stderr)
        return 2
    except KmodError as e:
        print(str(e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kmodbuild: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:         # `kmodbuild check | head`: nothing more to say
        _silence_stdout()
        return 1
    except OSError as e:
        if e.errno not in _OUTPUT_ERRNOS:
            return _internal_error()
        # the report could not be written (a full disk under `> report.sarif`); what is
        # left in stdout's buffer must not fail again, with a traceback, at exit
        _silence_stdout()
        print(f"kmodbuild {command}: cannot write the output: {e.strerror}", file=sys.stderr)
        return 2
    except Exception:  # noqa: BLE001 - the last line of defence: a bug, not bad input
        return _internal_error()


#: errors of writing the output (disk full, quota, file too large, I/O error)
_OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _internal_error() -> int:
    """The last line of defence: a bug, not bad input."""
    import traceback
    traceback.print_exc()
    print("kmodbuild: internal error; this is a kmodbuild bug, please report it with the "
          "traceback above", file=sys.stderr)
    return 2


def _subparser(parser: argparse.ArgumentParser, name: str | None) -> argparse.ArgumentParser:
    """The parser of subcommand ``name`` (``parser`` itself when there is none)."""
    import argparse
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            return action.choices[name]  # type: ignore[no-any-return]
    return parser


def _dispatch(argv: list[str]) -> tuple[str, Callable[[], object] | None]:
    """The command's name and a callable running it (``None``: help printed, exit 2)."""
    if argv[:1] == ["check"] and "linux" in argv[1:] + [a.partition("=")[2] for a in argv]:
        # the Linux check runs its lean path (docs/linux.md, "Speed") before the parser
        # loads every command; options that path does not know fall through to it
        from kmodbuild.linux.command import quick_main, quick_parse_check
        if quick_parse_check(argv):
            return "check", lambda: quick_main(argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(first if first in COMMANDS else None)
    if first == "build":
        # every option kmodbuild does not know is scons's (-j2, -Q, -k ...), in order
        args, unknown = parser.parse_known_args(argv)
        args.scons_args = [*unknown, *getattr(args, "scons_args", [])]
    else:
        args, unknown = parser.parse_known_args(argv)
        if unknown:
            # said with the subcommand's usage, not the top-level one (argparse's own
            # parse_args reports them from the top-level parser)
            _subparser(parser, getattr(args, "command", None)).error(
                f"unrecognized arguments: {' '.join(unknown)}")
    if not getattr(args, "_run", None):
        parser.print_help()
        return "check", None
    return args.command, lambda: args._run(args)


if __name__ == "__main__":
    raise SystemExit(main())
