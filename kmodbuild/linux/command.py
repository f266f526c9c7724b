"""kmodbuild.linux.command - the ``kmodbuild check --flavor linux`` shell: options in, report out.

The only part of :mod:`kmodbuild.linux` that prints.  :func:`run` is what
``kmodbuild.cmd_check`` calls (through :func:`kmodbuild.linux.run_linux`);
:func:`main` is ``python -m kmodbuild.linux``, the same check without loading
every other ``kmodbuild`` command first.

Both try the cache first (:func:`kmodbuild.linux.treecache.cached_report`):
when nothing changed since the last run, the stored report is printed
without importing the checker, or even :mod:`argparse` -- :func:`main`
recognises the usual command lines itself (:func:`quick_parse`) and leaves
anything unusual to argparse.  A cached re-check's time is then Python's
start-up and one ``stat`` per module and directory.
"""
from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any

#: --format choices.
FORMATS = ("text", "json", "junit", "sarif", "github")
_OPTIONS = {"--symvers": "symvers", "--write-dep": "write_dep", "--jobs": "jobs",
            "--cache": "cache", "--format": "format"}


def add_linux_arguments(p: argparse.ArgumentParser) -> None:
    """The ``--flavor linux`` options (for a parser that has ``paths`` and ``--format``)."""
    g = p.add_argument_group("Linux modules (--flavor linux)")
    g.add_argument("--symvers", metavar="FILE",
                   help="the kernel's Module.symvers (as depmod -E): check unknown symbols "
                        "and symbol versions against it")
    g.add_argument("--write-dep", metavar="FILE",
                   help="write the modules.dep of the checked modules to FILE ('-': "
                        "standard output; the report then goes to standard error)")
    g.add_argument("--jobs", "-j", type=int, default=0, metavar="N",
                   help="processes reading modules (default: all CPUs)")
    g.add_argument("--cache", metavar="FILE",
                   help="result cache: unchanged modules are not read again, an unchanged "
                        "tree not at all")


#: The last run's result (see :func:`run`).
_LAST: list[object] = []


def run(args: argparse.Namespace, cache_tried: bool = False) -> int:
    """Run the Linux check for parsed ``args``; returns the exit status (1: problems found).

    ``cache_tried``: the caller already knows the cache holds no reusable report.

    Raises:
        UsageError: bad options or paths.
        KmodError: unreadable Module.symvers.
    """
    from kmodbuild.errors import UsageError
    if getattr(args, "manifest", None):
        raise UsageError("--manifest is for NetBSD modules; Linux modules use --symvers "
                         "Module.symvers")
    jobs = getattr(args, "jobs", 0) or 0
    if jobs < 0:
        raise UsageError(f"--jobs {jobs}: must be 0 (all CPUs) or more")
    fmt = getattr(args, "format", "text")
    symvers = getattr(args, "symvers", None)
    cache = getattr(args, "cache", None)
    write_dep = getattr(args, "write_dep", None)
    if cache and not cache_tried:
        code = _print_cached(cache, args.paths, symvers, fmt, write_dep)
        if code is not None:
            return code
    from kmodbuild.linux.check import check_linux
    result = check_linux(args.paths, symvers, jobs=jobs, cache=cache, report_format=fmt,
                         dep_lines=bool(write_dep))
    # Kept until the next run: freeing a big tree's facts costs milliseconds that a
    # process about to exit need not spend (python -m kmodbuild.linux ends with
    # os._exit; see kmodbuild/linux/__main__.py).
    _LAST[:] = [result]
    return _print(result.report or "", result.dep_lines if write_dep else [], result.notes,
                  result.has_errors, write_dep)


def _print(report: str, dep_lines: Sequence[str], notes: Sequence[str], errors: bool,
           write_dep: str | None) -> int:
    for note in notes:
        print(f"kmodbuild check: {note}", file=sys.stderr)
    if write_dep == "-":
        # modules.dep is the output a pipe wants (as depmod -n prints it): the report
        # goes to standard error, where it cannot mix with it
        _write(sys.stderr, report)
        sys.stderr.flush()
        _write(sys.stdout, "".join(line + "\n" for line in dep_lines))
        return 1 if errors else 0
    if write_dep:
        from kmodbuild.linux.depfile import write_dep_file
        try:
            write_dep_file(write_dep, dep_lines)
        except OSError as e:
            from kmodbuild.errors import UsageError
            raise UsageError(f"{write_dep}: cannot write: {e.strerror or e}") from None
    _write(sys.stdout, report)
    return 1 if errors else 0


def _write(stream: Any, text: str) -> None:
    """``stream.write(text)``; a path that is not UTF-8 (os.listdir's surrogateescape)
    goes out as its own bytes when the stream's encoding refuses it (a UTF-8 locale
    other than C, whose standard streams are strict)."""
    try:
        stream.write(text)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            data = text.encode(encoding, "surrogateescape")
        except UnicodeEncodeError:          # (an ASCII stream: then escaped)
            data = text.encode(encoding, "backslashreplace")
        buffer = getattr(stream, "buffer", None)
        if buffer is None:
            stream.write(data.decode("ascii", "backslashreplace"))
            return
        stream.flush()
        buffer.write(data)


def _print_cached(cache: str, paths: Sequence[str], symvers: str | None, fmt: str,
                  write_dep: str | None) -> int | None:
    """Print the cached report if the tree is unchanged; ``None`` if it cannot be reused."""
    from kmodbuild.linux.treecache import cached_report
    got = cached_report(cache, paths, symvers, fmt, dep_lines=bool(write_dep))
    if got is None:
        return None
    report, dep_lines, notes, errors = got
    return _print(report, dep_lines, notes, errors, write_dep)


def quick_parse(argv: Sequence[str]) -> dict[str, object] | None:
    """The options of a plain ``python -m kmodbuild.linux`` command line, as argparse would
    read them, or ``None`` for anything else (help, abbreviations, errors...: argparse's)."""
    opts: dict[str, object] = {"symvers": None, "write_dep": None, "jobs": "0", "cache": None,
                               "format": "text"}
    paths: list[str] = []
    ended = False                      # argparse takes one run of positionals
    k = 0
    while k < len(argv):
        a = argv[k]
        if a[:1] != "-":
            if ended and paths:
                return None
            paths.append(a)
            k += 1
            continue
        ended = bool(paths)
        if a[:2] == "-j" and _digits(a[2:]):
            name, value = "--jobs", a[2:]
        else:
            name, eq, value = a.partition("=")
            if name == "-j":
                name = "--jobs"
                if eq:
                    return None
            if name not in _OPTIONS:
                return None
            if not eq:
                k += 1
                if k == len(argv) or argv[k][:1] == "-":
                    return None
                value = argv[k]
        if not value:
            return None
        opts[_OPTIONS[name]] = value
        k += 1
    jobs = opts["jobs"]
    if not paths or opts["format"] not in FORMATS or not (isinstance(jobs, str)
                                                          and _digits(jobs)):
        return None
    opts["jobs"] = int(jobs)
    opts["paths"] = paths
    return opts


def _digits(text: str) -> bool:
    """True for a plain decimal number (``str.isdigit`` also takes ``²``, which ``int``
    refuses: such a --jobs is argparse's to report)."""
    return text.isascii() and text.isdigit()


def _linux_check_args(argv: Sequence[str]) -> list[str] | None:
    """The options and paths of ``check --flavor linux ...`` without those two words;
    ``None`` for any other command line."""
    args = list(argv)
    if not args or args[0] != "check":
        return None
    rest = args[1:]
    for k, a in enumerate(rest):
        if a == "--flavor=linux":
            del rest[k]
            break
        if a == "--flavor" and rest[k + 1:k + 2] == ["linux"]:
            del rest[k:k + 2]
            break
    else:
        return None
    if "--flavor" in rest or any(a.startswith("--flavor=") for a in rest):
        return None
    return rest


def quick_parse_check(argv: Sequence[str]) -> bool:
    """True when ``argv`` (after the program name) is ``check --flavor linux ...`` with
    options the quick parser understands: :func:`quick_main` can run it."""
    rest = _linux_check_args(argv)
    return rest is not None and quick_parse(rest) is not None


def quick_main(argv: Sequence[str]) -> int:
    """Run ``kmodbuild check --flavor linux ...`` (see :func:`quick_parse_check`) the way
    ``python -m kmodbuild.linux`` does -- the cache first, then the check -- for
    ``kmodbuild.cli.main`` to call before it loads every command."""
    return main(_linux_check_args(argv) or [])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m kmodbuild.linux [options] PATH...``: ``kmodbuild check --flavor linux``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    quick = quick_parse(argv)
    tried = False
    if quick is not None and quick["cache"]:
        try:
            code = _print_cached(quick["cache"], quick["paths"],  # type: ignore[arg-type]
                                 quick["symvers"], quick["format"],  # type: ignore[arg-type]
                                 quick["write_dep"])  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - the full path below reports it properly
            from kmodbuild.errors import UsageError
            if isinstance(e, UsageError):
                print(f"kmodbuild check: {e}", file=sys.stderr)
                return 2
            code = None
        if code is not None:
            return code
        tried = True
    if quick is not None:
        from types import SimpleNamespace
        return _run_reporting(SimpleNamespace(**quick), tried)
    import argparse
    p = argparse.ArgumentParser(prog="python -m kmodbuild.linux",
                                description="Check Linux kernel modules as depmod would "
                                            "(same as: kmodbuild check --flavor linux).")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help=".ko[.xz|.zst|.gz] file or module directory (/lib/modules/VERSION)")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="report format (default: text)")
    add_linux_arguments(p)
    return _run_reporting(p.parse_args(argv), tried)


def _run_reporting(args: Any, tried: bool) -> int:
    """:func:`run`, with usage errors and an unreadable ``--symvers`` (exit 2) and bad
    input (exit 1) as one line."""
    from kmodbuild.errors import KmodError, ManifestError, UsageError
    try:
        return run(args, cache_tried=tried)
    except (UsageError, ManifestError) as e:
        # an unreadable --symvers is the caller's input, not a finding (as --manifest)
        print(f"kmodbuild check: {e}", file=sys.stderr)
        return 2
    except KmodError as e:
        print(str(e), file=sys.stderr)
        return 1
