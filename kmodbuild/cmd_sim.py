"""``kmodbuild sim``: a simulated NetBSD kernel loading modules from an installed tree."""
from __future__ import annotations

import argparse
import builtins
import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from kmodbuild.errors import KmodError, ManifestError, UsageError
from kmodbuild.manifest import find_build_manifest
from kmodbuild.scenario import (
    ScenarioError,
    Session,
    StepResult,
    parse_scenario,
    run_scenario,
)
from kmodbuild.simulator import (
    KernelConfig,
    SimKernel,
    builtins_in,
    functions_from_manifest,
    symbols_from_manifest,
)
from kmodbuild.simvalidate import find_module_dir, stand_root, validate_tree
from kmodbuild.target import TARGETS, NetBSDVersion, Target, get_target

HELP = "simulate modload/modunload/modstat, autoload and boot on an installed tree"
DESCRIPTION = """\
Run a simulated NetBSD kernel (kern_module.c and the in-kernel linker, spec
sections 2, 3 and 5) over the modules installed in ROOT/<MACHINE>/<VERSION>/
modules.  Commands come from --script, from standard input, or are typed at
the 'sim>' prompt; see docs/simulator.md for the command language."""
EPILOG = """\
examples (in a tree built with scons):
  kmodbuild sim --root stand --machine amd64 --version 10.0
  kmodbuild sim --root stand --version 10.0 --script sys/modules/example.scn --json
  echo 'modload hello' | kmodbuild sim --root stand --version 10.0
  kmodbuild sim --root stand --arch evbarm-aarch64 --version 10.0 --validate   (after scons ARCH=all)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", "--destdir", dest="root", default="stand", metavar="DIR",
                   help="the installed /stand directory, or a DESTDIR holding stand/ "
                   "(default: stand; --destdir as in package and verify)")
    p.add_argument("--machine", default=None,
                   help="MACHINE (default: the --manifest's, else amd64)")
    p.add_argument("--arch", default=None, metavar="TARGET",
                   help="target name or MACHINE-MACHINE_ARCH (evbarm-aarch64, ...)")
    p.add_argument("--version", default=None,
                   help="kernel version: 10.0 or 10.99.10 (default: the --manifest's, else 10.0)")
    p.add_argument("--manifest", default=None, metavar="FILE",
                   help="kernel symbol manifest (default: build/<key>/<version>/kernel/netbsd.syms "
                   "beside ROOT); its MACHINE and VERSION must be the simulated kernel's")
    p.add_argument("--builtin", action="append", default=[], metavar="NAME[:CLASS[:REQUIRED]]",
                   help="modules built into the kernel (comma-separated; repeatable); a bare "
                   "NAME takes class and requirement from the installed NAME.kmod")
    p.add_argument("--securelevel", type=int, default=None, help="securelevel after boot")
    p.add_argument("--no-insecure", action="store_true",
                   help="a kernel without options INSECURE (securelevel 1 once multi-user)")
    p.add_argument("--no-autoload", action="store_true", help="kern.module.autoload=0")
    p.add_argument("--verbose", action="store_true", help="kern.module.verbose=1")
    p.add_argument("--script", default=None, metavar="FILE",
                   help="run the commands of FILE ('-': standard input)")
    p.add_argument("-x", "--echo", action="store_true", help="print each command before its output")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document on standard output: the final kernel state "
                   "(with --validate: the validation); console output goes to standard error "
                   "(docs/simulator.md)")
    p.add_argument("--format", choices=("text", "json"), default=None,
                   help="--format json is --json (the spelling of check, verify and abi-diff)")
    p.add_argument("--verify", action="store_true",
                   help="refuse (EPERM) modules whose SHA-256 is not the one the install's "
                   "METALOG records (veriexec-style)")
    p.add_argument("--validate", action="store_true",
                   help="load every module in dependency order, then unload them all")
    p.add_argument("--emulate", action=argparse.BooleanOptionalAction, default=None,
                   help="run each module's modcmd on an emulated CPU (unicorn; default: when "
                   "installed); --no-emulate: every modcmd returns 0")


def resolve_target(machine: str | None, arch: str | None) -> Target:
    """The target from ``--arch`` (name or key) or ``--machine`` (its primary target).

    Raises:
        UsageError: unknown or ambiguous.
    """
    if arch:
        target = get_target(arch)
        if machine and machine not in (target.machine, target.name):
            raise UsageError(f"--machine {machine} contradicts --arch {arch} "
                             f"(MACHINE={target.machine})")
        return target
    machine = machine or "amd64"
    matches = [t for t in TARGETS if t.machine == machine or t.name == machine]
    if not matches:
        raise UsageError(f"unknown --machine {machine!r}; known: "
                         f"{', '.join(sorted({t.machine for t in TARGETS}))}")
    if len(matches) > 1:
        raise UsageError(f"--machine {machine} has several targets; choose one with --arch "
                         f"({', '.join(t.name for t in matches)})")
    return matches[0]


def installed_trees(root: Path) -> list[str]:
    """``MACHINE/VERSION`` of each modules directory under ``root`` (a ``stand``
    directory, or a DESTDIR holding one), sorted."""
    return sorted(f"{p.parent.parent.name}/{p.parent.name}"
                  for p in stand_root(root).glob("*/*/modules") if p.is_dir())


def trusted_hashes(mdir: Path) -> dict[str, str]:
    """``--verify``: real path -> SHA-256 of every file the METALOG beside ``mdir`` records.

    Raises:
        KmodError: there is no METALOG (nothing to trust).
    """
    import os

    from kmodbuild.metalog import METALOG_NAME, recorded_hashes
    hashes = recorded_hashes(mdir)
    if not hashes:
        raise KmodError("no install record to verify against (install with scons first)",
                        path=str(mdir.parent / METALOG_NAME))
    return {os.path.realpath(p): h for p, h in hashes.items()}


def resolve_kernel(args: argparse.Namespace
                   ) -> tuple[Target, NetBSDVersion, Path | None, str, str | None]:
    """The simulated kernel's target and version, its manifest (``None``: none found),
    where target and version came from ("" for the options or the defaults) and why the
    options contradict the manifest (``None``: they do not).

    The manifest describes the kernel: without ``--arch``/``--machine`` or
    ``--version`` its header supplies them; an option that names another target
    or version than the header is to be refused, as ``kmodbuild check`` refuses it
    (the caller does, after saying whether the tree is there at all).

    Raises:
        UsageError: unknown target or version.
        ManifestError: the manifest's header cannot be read.
    """
    from kmodbuild.errors import TargetError
    from kmodbuild.manifest import read_manifest_header
    try:
        target = resolve_target(args.machine, args.arch) \
            if args.machine or args.arch else None
        version = NetBSDVersion.parse(args.version) if args.version else None
        origin = ""
        conflict = None
        if args.manifest:
            manifest: Path | None = Path(args.manifest)
        else:
            # the build directory of the version asked for (10.0.3 has one of its own);
            # without --version, 10.0's, or the one patch level of 10.0 that was built
            manifest = find_build_manifest(Path(args.root), target or resolve_target(None, None),
                                           version.build_dir if version else "10.0",
                                           patch_levels=version is None)
        if manifest is not None:
            header = read_manifest_header(manifest)
            mt = header.get_target()
            if target is not None and target != mt:
                option = f"--arch {args.arch}" if args.arch else f"--machine {args.machine}"
                conflict = (f"{option} contradicts the manifest {manifest} "
                            f"(MACHINE={header.machine} MACHINE_ARCH={header.machine_arch})")
            elif version is not None and version != header.version:
                conflict = (f"--version {args.version} contradicts the manifest {manifest} "
                            f"(VERSION {header.version})")
            else:
                if target is None or version is None:
                    origin = f"the kernel of the manifest {manifest}"
                target, version = mt, header.version
    except TargetError as e:
        raise UsageError(e.message) from None
    return (target or resolve_target(None, None), version or NetBSDVersion.parse("10.0"),
            manifest, origin, conflict)


#: ``schema`` of the ``--json`` documents (docs/simulator.md); their ``version`` key is the
#: simulated kernel's version, as it always was.
JSON_SCHEMA = 1


def _check_options(args: argparse.Namespace) -> None:
    """Refuse option combinations that cannot all be honoured.

    Raises:
        UsageError: ``--validate`` with ``--script`` (the script would never run);
            ``--format text`` with ``--json``.
    """
    if getattr(args, "format", None) == "json":
        args.json = True
    elif getattr(args, "format", None) == "text" and args.json:
        raise UsageError("--format text and --json: choose one")
    if args.validate and args.script:
        raise UsageError("--validate loads and unloads every module itself: it cannot run "
                         "--script too; run them one at a time")


def run(args: argparse.Namespace) -> int:
    """Simulate; returns 0, or 1 when a --validate or a test script failed.

    Raises:
        UsageError: bad or conflicting options, or a missing, unreadable or malformed
            --manifest or --script (the CLI exits 2).
    """
    _check_options(args)
    try:
        return _run(args)
    except ManifestError as e:
        raise UsageError(str(e)) from None


def _run(args: argparse.Namespace) -> int:
    root = Path(args.root)
    if not os.path.isdir(root):             # False, not OSError, for a name too long
        from kmodbuild.install import tree_top_hint
        exists = os.path.exists(root)
        hint = tree_top_hint(root.parent) if not exists else None
        raise UsageError(f"--root {root}: " + ("not a directory" if exists
                                               else "no such directory"), hint=hint)
    target, version, manifest, origin, conflict = resolve_kernel(args)
    # "--script -": standard input, as without --script when it is not a terminal
    script = _read_script(None if args.script == "-" else args.script) if args.script else None
    mdir = find_module_dir(root, target, version)
    if not mdir.is_dir():
        there = installed_trees(root)
        what = f"installed here: {', '.join(there)}" if there else "nothing is installed here"
        if origin:
            what += f"; {target.name} {version} is {origin}"
        if args.validate:           # a tree that is not there does not pass a validation
            raise UsageError(f"{mdir}: no such directory ({what})")
        if conflict is None:
            print(f"kmodbuild sim: warning: {mdir}: no such directory ({what}); "
                  "no module can be loaded from it", file=sys.stderr)
    if conflict is not None:
        raise UsageError(conflict)
    if manifest is None:
        print("kmodbuild sim: warning: no kernel symbol manifest found; modules that use "
              "kernel symbols will not link (pass --manifest)", file=sys.stderr)
    builtins = [b for spec in args.builtin for b in spec.split(",") if b]
    verify = trusted_hashes(find_module_dir(root, target, version)) if args.verify else None
    if args.validate:
        res = validate_tree(root, target, version, manifest, builtins=builtins, verify=verify,
                            emulate=args.emulate)
        if res.note:
            print(f"kmodbuild sim: {res.note}", file=sys.stderr)
        if args.json:
            print(json.dumps({"schema": JSON_SCHEMA, "machine": res.target.machine,
                              "machine_arch": res.target.machine_arch,
                              "version": str(res.version), "module_dir": str(res.module_dir),
                              "ok": res.ok, "order": res.order, "loaded": res.loaded,
                              "unloaded": res.unloaded,
                              "failures": [str(f) for f in res.failures],
                              "summary": res.summary()}, indent=2))
        else:
            for f in res.failures:
                print(str(f))
            print(res.summary())
        return 1 if res.failures else 0
    symbols: tuple[tuple[str, int], ...] = ()
    functions: frozenset[str] = frozenset()
    if manifest is not None:
        from kmodbuild.manifest import load_manifest
        loaded = load_manifest(manifest)
        symbols, functions = symbols_from_manifest(loaded), functions_from_manifest(loaded)
    config = KernelConfig(target, version, symbols=symbols, functions=functions,
                          insecure=not args.no_insecure, securelevel=args.securelevel,
                          autoload=not args.no_autoload, verbose=args.verbose)
    stand = stand_root(root, target)
    try:
        config = replace(config, builtins=builtins_in(builtins, mdir, target))
    except KmodError as e:
        if args.json:       # an exit-1 run prints its document: the kernel it did not boot
            print(json.dumps({"schema": JSON_SCHEMA, **SimKernel(config, stand).state(),
                              "status": 1, "error": str(e), "console": []}, indent=2))
        raise

    notes: list[str] = []

    def factory(cfg: KernelConfig) -> SimKernel:
        from kmodbuild.emulate import make_modcmd
        strategy, note = make_modcmd(args.emulate)
        kernel = SimKernel(cfg, stand, modcmd=strategy)  # type: ignore[arg-type]
        kernel.verify_hashes = verify
        if strategy is not None and strategy.get_machine() is None:  # type: ignore[attr-defined]
            note = strategy.note                                       # type: ignore[attr-defined]
        if note and note not in notes:          # said once per run
            notes.append(note)
            print(f"kmodbuild sim: {note}", file=sys.stderr)
        return kernel

    # with --json, standard output holds the JSON document alone: the console goes to
    # standard error, and into the document's "console"
    console: list[str] = []
    stream = sys.stderr if args.json else sys.stdout

    def say(line: str) -> None:
        console.append(line)
        print(line, file=stream)

    session = Session(factory(config), factory)
    for line in session.kernel.take_console():   # a --builtin the kernel refused at boot
        say(line)
    status = 0
    error: KmodError | None = None
    try:
        if script is not None or not sys.stdin.isatty():
            text = script if script is not None else _read_script(None)
            where = args.script if args.script and args.script != "-" else "<stdin>"
            status = _run_script(session, text, where, args.echo, say)
        else:
            _interactive(session, stream, say)
    except KmodError as e:
        error = e
    if args.json:
        print(json.dumps({"schema": JSON_SCHEMA, **session.kernel.state(), "status":
                          1 if error is not None else status,
                          "error": None if error is None else str(error),
                          "console": console}, indent=2))
    if error is not None:
        raise error
    return status


def _read_script(path: str | None) -> str:
    """The commands of ``path`` (``None``: standard input), or one line saying why not."""
    where = path if path is not None else "<stdin>"
    try:
        return Path(path).read_text(encoding="utf-8") if path is not None else sys.stdin.read()
    except UnicodeDecodeError as e:
        raise UsageError(f"--script {where}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise UsageError(f"--script {where}: {e.strerror or e}") from None


def _run_script(session: Session, text: str, path: str, echo: bool,
                say: Callable[[str], None] = print) -> int:
    scenario = parse_scenario(text, path)
    if args_path := Path(path):
        if args_path.is_file():
            session.cwd = args_path.resolve().parent

    def show(step: StepResult) -> None:
        if echo and step.command:
            say(f"sim> {step.command}")
        for line in step.output:
            say(line)

    result = run_scenario(scenario, session, on_step=show)
    if scenario.is_test:
        for p in result.problems:
            print(p, file=sys.stderr)
        print(f"{path}: {'ok' if result.ok else 'FAILED'} ({len(result.steps)} steps)",
              file=sys.stderr)
        return 0 if result.ok else 1
    return 0


def _interactive(session: Session, stream: TextIO | None = None,
                 say: Callable[[str], None] | None = None) -> None:
    """The ``sim>`` loop; each command's output goes through ``say`` (the console
    that ``--json`` keeps in its document), the rest to ``stream``."""
    def print(*a: object) -> None:          # noqa: A001 - the console's own stream
        builtins.print(*a, file=stream or sys.stdout)

    try:
        import readline  # noqa: F401 - line editing for input()
    except ImportError:
        pass

    def prompt() -> str:
        if stream is None or stream is sys.stdout:
            return input("sim> ")
        # --json: standard output holds the document alone, and input() would write
        # its prompt there (when standard output is not a terminal)
        stream.write("sim> ")
        stream.flush()
        return input()

    k = session.kernel
    print(f"NetBSD {k.config.version} ({k.target.machine}) simulated; "
          f"module path {k.module_base}; 'help' lists commands, ^D quits")
    while True:
        try:
            line = prompt()
        except EOFError:
            print()
            return
        if line.strip() in ("help", "?"):
            print("commands: " + ", ".join(session.commands))
            continue
        if line.strip() in ("quit", "exit"):
            return
        try:
            res = session.execute(line)
        except (ScenarioError, KmodError) as e:
            print(f"sim: {e}")
            continue
        for out in res.output:
            if say is not None:
                say(out)
            else:
                print(out)
