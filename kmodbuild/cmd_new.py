"""``kmodbuild new``: a module skeleton that builds, checks and loads with zero edits.

A thin shell over :mod:`kmodbuild.skeleton`: parse the options, plan, write,
print the files and the next step.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from kmodbuild.errors import UsageError
from kmodbuild.skeleton import CLASSES, plan_skeleton, write_skeleton

HELP = "create a new module from a template: C source, SConscript and simulator scenario"
DESCRIPTION = """\
Render the skeleton of a kernel module of class CLASS into TREE/NAME/:
NAME.c (MODULE(), a complete modcmd, the class's registration and
deregistration), the two-line SConscript and NAME.scn, a simulator scenario
that loads and unloads it.  The result builds for every target, passes the
check and passes its scenario as it is.

NAME must be a C identifier of at most 31 characters (30 for misc and
emulation modules, which other modules require), not a module of the tree
already (nor declared by another directory's SConscript, nor the compat_/
bufq_/secmodel_ twin of one), and must not clash with a kernel name (the stub
kernel's symbol manifest when built, and the declarations in the tree's sys/
headers) or a global symbol of another module.
Existing files are never overwritten without --force."""
EPILOG = """\
examples:
  kmodbuild new xyzfs --class vfs              sys/modules/xyzfs/{xyzfs.c,SConscript,xyzfs.scn}
  kmodbuild new exec_xyz --class exec --requires compat_demo
  kmodbuild new --list-classes
then:
  scons                                        (or: kmodbuild build) build, check, install
  kmodbuild sim --root stand --machine amd64 --version 10.0 --script sys/modules/xyzfs/xyzfs.scn
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register the ``new`` options on ``p``."""
    p.add_argument("name", nargs="?", metavar="NAME", help="the module name")
    p.add_argument("--class", dest="module_class", choices=list(CLASSES), metavar="CLASS",
                   help=f"module class: {', '.join(CLASSES)} (see --list-classes)")
    p.add_argument("--requires", action="append", default=None, metavar="A,B",
                   help="modules this one requires (MODULE()'s required list), in the tree; "
                        "may be repeated")
    p.add_argument("--tree", default="sys/modules", metavar="DIR",
                   help="the module tree (default: sys/modules)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument("--templates", default=None, metavar="DIR",
                   help="render from DIR instead of kmodbuild's templates (same layout)")
    p.add_argument("--list-classes", action="store_true",
                   help="list the classes, one line each, and exit")


def run(args: argparse.Namespace) -> int:
    if args.list_classes:
        width = max(len(k) for k in CLASSES)
        for key, mc in CLASSES.items():
            print(f"{key:<{width}}  {mc.summary}")
        return 0
    if not args.name:
        raise UsageError("a module NAME is required (or --list-classes)")
    if not args.module_class:
        raise UsageError("--class is required: " + ", ".join(CLASSES))
    requires: list[str] = []
    for value in args.requires or ():
        names = [r.strip() for r in value.split(",")]
        if any(not r for r in names):
            raise UsageError(f"--requires {value!r}: empty module name")
        requires += names
    plan = plan_skeleton(args.name, args.module_class, Path(args.tree), requires=requires,
                         overwrite=args.force, templates_dir=args.templates)
    write_skeleton(plan)
    mc = plan.module_class
    article = "an" if mc.key[0] in "aeiou" else "a"
    print(f"kmodbuild new: {plan.name}: {article} {mc.key} module ({mc.constant})")
    print(f"  name checked against {plan.checked_against}")
    for f in plan.files:
        print(f"  wrote {f.path}")
    for note in plan.notes:
        print(f"kmodbuild new: note: {note}", file=sys.stderr)
    # the next steps run at the source root (scons, --root stand): say so from elsewhere
    root = Path(args.tree).resolve().parent.parent
    scn = plan.files[-1].path
    cd = ""
    if Path.cwd().resolve() != root:
        cd = f"cd {shlex.quote(str(root))} && "
        scn = Path(os.path.relpath(scn.resolve(), root))
    print(f"next: {cd}scons (or kmodbuild build) to build, check and install it, then")
    print(f"      {cd}kmodbuild sim --root stand --machine amd64 --version 10.0 "
          f"--script {shlex.quote(str(scn))}")
    return 0
