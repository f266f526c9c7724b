"""``kmodbuild verify``: compare an installed tree with its METALOG records."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from kmodbuild.errors import KmodError, UsageError
from kmodbuild.metalog import verify

HELP = "report modified, missing and unexpected files under DESTDIR/stand"
DESCRIPTION = """\
Every install writes stand/<MACHINE>/<VERSION>/METALOG (path, mode, size and
SHA-256 of each installed file, and its directories, 0755).  verify re-reads
the files and reports any that were modified, are missing, or were never
installed, and any stand/<MACHINE>/<VERSION> holding modules but no METALOG
(an interrupted install).  Symbolic links are never followed: a recorded file
reached through one is "modified (symlink in path: X)", an unrecorded one is
"unexpected (symlink)".  A temporary file a killed install left (older than a
minute) is a "stale temporary of an interrupted install; run scons" (the next
scons that records the install removes it).  The trees of targets sharing a MACHINE (DESTDIR/destdir.<MACHINE>-
<MACHINE_ARCH>, e.g. evbarm-earmv7hf) are verified with DESTDIR; each can also
be verified on its own.  Exit status: 0 when the tree matches, 1 when anything
differs or a METALOG is unreadable or malformed, 2 on usage errors."""
EPILOG = """\
examples:
  kmodbuild verify                 the repository's own stand/
  kmodbuild verify /tmp/root       a DESTDIR
  kmodbuild verify --format json
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("destdir", nargs="?", default=None, metavar="DESTDIR",
                   help="install root holding stand/ (default: .)")
    p.add_argument("--destdir", dest="destdir_option", default=None, metavar="DESTDIR",
                   help="the same, spelt as in package and sim")
    p.add_argument("--format", choices=("text", "json"), default="text")


def _error_finding(e: KmodError, destdir: Path) -> dict[str, str]:
    """The JSON finding of a METALOG that cannot be read (``unreadable``) or is malformed
    (``malformed``): its path as the other findings give theirs (``./stand/...``)."""
    path = e.path or ""
    try:
        path = "./" + Path(os.path.relpath(path, destdir)).as_posix() if path and \
            not os.path.relpath(path, destdir).startswith("..") else path
    except ValueError:
        pass
    detail = (f"line {e.line}: " if e.line is not None else "") + e.message + \
        (f" ({e.hint})" if e.hint else "")
    return {"kind": "malformed" if e.line is not None else "unreadable", "path": path,
            "detail": detail}


def run(args: argparse.Namespace) -> int:
    if args.destdir_option is not None:
        if args.destdir is not None and args.destdir != args.destdir_option:
            raise UsageError(f"two DESTDIRs: {args.destdir} and --destdir "
                             f"{args.destdir_option}")
        args.destdir = args.destdir_option
    if args.destdir is None:
        args.destdir = "."
    try:
        count, findings = verify(Path(args.destdir))
    except UsageError:
        raise
    except KmodError as e:
        # an unreadable or malformed METALOG is a finding (exit 1): --format json still
        # prints its report, the one line going to standard error as in the text format
        if args.format == "json":
            print(json.dumps({"version": 1, "files": 0, "problems": 1,
                              "findings": [_error_finding(e, Path(args.destdir))]}, indent=2))
        raise
    if args.format == "json":
        print(json.dumps({"version": 1, "files": count, "problems": len(findings),
                          "findings": [{"kind": f.kind, "path": f.path, "detail": f.detail}
                                       for f in findings]}, indent=2))
    else:
        for f in findings:
            print(f)
        print(f"{count} files recorded, {len(findings)} problem(s)")
    return 1 if findings else 0
