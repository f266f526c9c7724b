"""``kmodbuild verify``: compare an installed tree with its METALOG records."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

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
    p.add_argument("destdir", nargs="?", default=".", metavar="DESTDIR",
                   help="install root holding stand/ (default: .)")
    p.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    count, findings = verify(Path(args.destdir))
    if args.format == "json":
        print(json.dumps({"version": 1, "files": count, "problems": len(findings),
                          "findings": [{"kind": f.kind, "path": f.path, "detail": f.detail}
                                       for f in findings]}, indent=2))
    else:
        for f in findings:
            print(f)
        print(f"{count} files recorded, {len(findings)} problem(s)")
    return 1 if findings else 0
