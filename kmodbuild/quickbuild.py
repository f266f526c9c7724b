"""kmodbuild.quickbuild - a partial build run without SCons's graph.

When :func:`kmodbuild.fastpath.decide` says "partial" -- only existing ``.c``
files of some module directories changed since the last successful build
with the same command line -- what the build has to do is known before any
SConscript is read: the compile of each changed source (the command the last
build ran for it), the link, debug split and ABI view of its module, the
exports index, the checks (the module's own, and every module's when the
index changed), the installs, METALOG, the check gate and the simulation of
the installed tree.  SCons finds the same by declaring every module's nodes
and walking them (for 500 modules, about 0.5 s before the edited module's
check could start); this module does that work directly, with the same
functions the SCons actions call (:mod:`kmodbuild.buildcheck`,
:mod:`kmodbuild.abiprobe`, :mod:`kmodbuild.install`, :mod:`kmodbuild.metalog`,
:mod:`kmodbuild.simvalidate` and the simulation stream, here forked from this
process once the simulator is imported), and writes the same files.

The last SCons build records what it declared (:func:`module_record`,
:func:`target_record`, stored with the fast-path stamp).  A record is only
made where the SCons build would do exactly this: no ``KMOD_CACHEDIR``, no
compiler wrapper, no command-line targets, not verbose, and module
directories whose SConscripts declared nothing but ``KernelModule`` steps on
their own ``.c`` files.

Anything unexpected -- no record, a changed file that is not a recorded
source, a compile, link or split that fails, a check that finds an error, a
simulation that fails or cannot run -- and :func:`rebuild` answers ``False``:
the caller then runs SCons as before, which redoes the work and reports the
problem in its words (with what the removed stamp recorded:
:data:`HANDED_OVER`).  SCons's signature database does not learn of what
was built here: a source edited, quick-built and then put back as SCons last
saw it would look unchanged to SCons while the object on disk is the edit's.
So the modules rebuilt here are listed in ``build/.quick-dirty.json``
(:func:`write_dirty`, before any file is written) and the next build that
walks the graph rebuilds them and re-checks and re-installs their target's
modules whatever the database says, then takes them off the list.
"""
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from kmodbuild import fastpath

#: Version of the records; records of another version are not used.
RECORD_VERSION = 2

#: The stamp a quick build removed before it handed over to SCons (empty: none did):
#: the SCons build that takes over still needs what the last build declared.
HANDED_OVER: list[dict[str, Any]] = []

Emit = Callable[[str], None]


# --------------------------------------------------------------------------- records

def module_record(name: str, objects: Sequence[tuple[str, str, Sequence[str]]],
                  link: Sequence[str], full: str, kmod: str, debug: str,
                  prefix: Sequence[str], prefix_index: int) -> dict[str, Any]:
    """What the build declared for one module: ``objects`` are ``(object, source,
    compile argv)``, ``link`` the link argv; paths absolute.  ``prefix`` is the
    compiler and its flags (the ABI probe's command), stored once per build as
    ``prefixes[prefix_index]``: a compile argv that starts with it keeps only
    the rest.  :func:`finish_record` adds the check and install."""
    n = len(prefix)
    objs = [[o, s, n, list(a[n:])] if list(a[:n]) == list(prefix) else [o, s, 0, list(a)]
            for o, s, a in objects]
    return {"name": name, "objects": objs, "link": list(link), "full": full, "kmod": kmod,
            "debug": debug, "split": prefix_index}


def _argv(rec_obj: Sequence[Any], prefix: list[str]) -> list[str]:
    """A recorded object's compile argv (see :func:`module_record`)."""
    _, _, n, tail = rec_obj
    return [*prefix[:n], *tail] if n else list(tail)


def finish_record(record: dict[str, Any], check: str, installed: str | None) -> None:
    record["check"] = check
    record["installed"] = installed


def target_record(*, target: str, version: str, stand: str, destdir: str, manifest: str,
                  kernel_abi: str | None, index: str, gate: str, metalog: str,
                  simulate: str, env: dict[str, str], clang: bool, output: str,
                  top: str) -> dict[str, Any]:
    """What the build declared for one target (paths absolute; ``env``: the
    environment its commands ran in; ``output``: compact or quiet)."""
    return {"target": target, "version": version, "stand": stand, "destdir": destdir,
            "manifest": manifest, "kernel_abi": kernel_abi, "index": index, "gate": gate,
            "metalog": metalog, "simulate": simulate, "env": dict(env), "clang": clang,
            "output": output, "top": top}


# --------------------------------------------------------------------------- the build

class _NotQuick(Exception):
    """The quick build cannot (or must not) finish: SCons takes over."""


def rebuild(stamp: Path, argv: Sequence[str], decision: fastpath.Decision, *, jobs: int,
            emit: Emit, emit_err: Emit, simulate: bool = True,
            on_start: Callable[[], None] | None = None) -> bool:
    """Do the partial build ``decision`` describes; True when it is done.

    ``emit`` prints one line of the build's output, ``emit_err`` one of the
    compilers' (their warnings); ``on_start`` is called once the build is
    sure to start.  False: SCons must build (see the module docstring); the
    stamp is removed first, so an interrupted or failed quick build never
    leaves a stamp that claims a finished one.
    """
    data = decision.data or {}
    quick = (data.get("extra") or {}).get("quick")
    if decision.kind != "partial" or not isinstance(quick, dict) \
            or quick.get("version") != RECORD_VERSION:
        return False
    try:
        plan = _plan(quick, decision)
    except Exception:  # noqa: BLE001 - a record it cannot use: SCons builds
        return False
    lock = _lock(Path(stamp).parent / ".lock")
    if lock is None:
        return False                    # another build holds the tree: SCons waits for it
    try:
        fastpath.remove_stamp(stamp)
        HANDED_OVER[:] = [data]             # until the build is done
        # before any file is written: an interrupted quick build leaves them listed too
        try:
            write_dirty(Path(stamp).parent, read_dirty(Path(stamp).parent) | {
                dirty_key(trec["target"], trec["version"], d)
                for trec, _, _ in plan.targets for d in decision.dirs})
        except OSError:
            return False                # unlisted, it must not build: SCons does
        if on_start is not None:
            on_start()
        # the inputs as the build is about to read them (kmodbuild.fastpath.input_hashes)
        files, roots = set(quick["input_files"]), [r.rstrip("/") + "/"
                                                   for r in quick["input_roots"]]
        inputs = [e for e in decision.entries
                  if e[0] in files or any(e[0].startswith(r) for r in roots)]
        hashes = fastpath.input_hashes(inputs, fastpath.known_hashes(data))
        outputs: list[tuple[str, int, int, int]] = []

        def scan_outputs() -> None:
            # everything but the simulation's report is final: the stamp's scan of the
            # outputs runs while the simulation does
            outputs[:] = fastpath.scan([r for r in quick["output_roots"]
                                        if r not in quick["input_roots"]])
        try:
            _build(plan, jobs, emit, emit_err, simulate, scan_outputs)
        except Exception:  # noqa: BLE001 - _NotQuick, or anything unforeseen: SCons
            return False   # builds what is left and reports any problem in its words
        from kmodbuild.simmemo import memo_path
        reports = {p for trec, _, _ in plan.targets
                   for p in (trec["simulate"], str(memo_path(trec["simulate"])))}
        outputs = [e for e in outputs if e[0] not in reports]
        outputs += [e for e in fastpath.scan((), reports) if e[1] >= 0]
        outputs += fastpath.scan((), quick.get("output_files", ()))     # as write_stamp would
        # a file saved while it ran: without its digest the next run cannot take a save
        # of the old contents for a touch (the modules it compiled are listed already)
        for path in fastpath.moved(inputs):
            hashes.pop(path, None)
        fastpath.write_stamp(stamp, argv, quick["output_roots"], quick.get("output_files", ()),
                             data["module_root"], inputs=inputs,
                             input_roots=quick["input_roots"],
                             input_files=quick["input_files"],
                             extra=data["extra"], hashes=hashes, outputs=outputs)
        HANDED_OVER.clear()
        return True
    finally:
        os.close(lock)


# --------------------------------------------------------------------------- dirty modules
# SCons's signature database does not learn of what a quick build wrote: after one, an
# object on disk may be the compile of a source SCons never saw.  Put that source back
# as SCons last saw it (an edit undone) and SCons's next walk of the graph would take
# the object -- the quick build's -- as up to date.  So a quick build first lists the
# modules it rebuilds (``target|osrelease|module directory``: each VERSION has objects of
# its own); the next SCons build of that target and version rebuilds their steps and
# re-checks and re-installs its modules whatever its database says (scons_tool), and
# takes a module off the list once it has compiled it.

#: the list's file, in build/
DIRTY_NAME = ".quick-dirty.json"


def dirty_key(target: str, osrelease: str, moddir: str) -> str:
    """A module's entry in the list: its target, version and directory."""
    return f"{target}|{osrelease}|{moddir}"


def dirty_variant(key: str) -> str:
    """``target|osrelease`` of an entry (:func:`dirty_key`)."""
    return key.rsplit("|", 1)[0]


def read_dirty(build_dir: Path | str) -> set[str]:
    """The modules (:func:`dirty_key`) quick builds rebuilt since SCons last compiled
    them; an unreadable list counts as every module (``{"*"}``), and so does one of an
    older kmodbuild (``target|module directory``: which version's objects it meant is
    not known)."""
    path = Path(build_dir) / DIRTY_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return set()
    except (OSError, ValueError, RecursionError):
        return {"*"}
    keys = data.get("modules") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, str) and k.count("|") == 2
                                             for k in keys):
        return {"*"}
    return set(keys)


def write_dirty(build_dir: Path | str, keys: Iterable[str]) -> None:
    """Replace the list (none left: the file goes)."""
    from kmodbuild.atomicfile import replace_if_changed
    path = Path(build_dir) / DIRTY_NAME
    keys = sorted(set(keys))
    if not keys:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        return
    replace_if_changed(str(path), (json.dumps({"modules": keys}) + "\n").encode())


def _lock(path: Path) -> int | None:
    import fcntl
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


class _Plan:
    """The work of one quick build."""

    def __init__(self) -> None:
        #: per target: (target record, [module records], {rebuilt module names})
        self.targets: list[tuple[dict[str, Any], list[dict[str, Any]], set[str]]] = []
        #: object path -> (compile argv, environment, cwd)
        self.compiles: dict[str, tuple[list[str], dict[str, str], str]] = {}


def _plan(quick: dict[str, Any], decision: fastpath.Decision) -> _Plan:
    plan = _Plan()
    prefixes = quick["prefixes"]
    changed = set(decision.changed)
    compiled: set[str] = set()
    for trec in quick["targets"]:
        modules: list[dict[str, Any]] = []
        rebuilt: set[str] = set()
        for moddir, records in quick["dirs"][trec["target"]].items():
            if records is None:
                raise _NotQuick(moddir)
            for rec in records:
                modules.append(rec)
                if moddir not in decision.dirs:
                    continue
                rebuilt.add(rec["name"])
                prefix = prefixes[rec["split"]]
                for entry in rec["objects"]:
                    obj, src = entry[0], entry[1]
                    if src in changed:
                        plan.compiles[obj] = (_argv(entry, prefix), dict(trec["env"]),
                                              trec["top"])
                        compiled.add(src)
                modules[-1] = {**rec, "split": list(prefix)}
        plan.targets.append((trec, modules, rebuilt))
    if compiled != changed:
        raise _NotQuick("a changed file is not a recorded source")
    return plan


def _build(plan: _Plan, jobs: int, emit: Emit, emit_err: Emit, simulate: bool,
           before_simulation: Callable[[], None]) -> None:
    from kmodbuild.target import NetBSDVersion, get_target
    compiles = _Compiles(plan, jobs)
    links: _Links | None = None
    streams: dict[str, Any] = {}
    try:
        if simulate:
            # while the compiler runs: the simulator's imports, then a stream per big
            # target forked from this process (no interpreter to start, nothing to import)
            from kmodbuild.simvalidate import warm_up
            warm_up()
            streams = _start_streams(plan)
        compiles.finish(emit_err)
        links = _Links([(trec, rec) for trec, modules, rebuilt in plan.targets
                        for rec in modules if rec["name"] in rebuilt], jobs)
        total = len(links.work)
        done = 0
        to_simulate = []
        for trec, modules, rebuilt in plan.targets:
            t, v = get_target(trec["target"]), NetBSDVersion.parse(trec["version"])
            for rec in modules:
                if rec["name"] not in rebuilt:
                    continue
                if trec["output"] == "compact":
                    width = len(str(total))
                    emit(f"[{done + 1:>{width}}/{total}] {trec['target']} {rec['name']}.kmod")
                links.wait(done)        # the next modules' links run meanwhile
                done += 1
                _split(trec, rec)
                stream = streams.get(trec["target"])
                if stream is not None:
                    stream.built(rec["name"])
            if _finish_target(trec, modules, rebuilt, t, v, emit) and simulate:
                to_simulate.append((trec, t, v, modules))
        before_simulation()
        for trec, t, v, modules in to_simulate:
            _simulate(trec, t, v, emit, streams.pop(trec["target"], None), modules)
    finally:
        compiles.stop()
        if links is not None:
            links.stop()
        for stream in streams.values():
            stream.close()


def _popen(argv: Sequence[str], env: dict[str, str], cwd: str) -> subprocess.Popen[str]:
    """``argv`` started, its output (standard error included) on a pipe."""
    try:
        return subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    except OSError as e:
        raise _NotQuick(str(e)) from None


class _Compiles:
    """The changed sources' compiles, ``jobs`` at a time, started at once; a slot is
    refilled as soon as any compile ends (waiting for them in the order they started
    left a core idle a fifth of the time while a long compile held up the queue)."""

    def __init__(self, plan: _Plan, jobs: int) -> None:
        self.todo = sorted(plan.compiles.items())
        self.jobs = max(1, jobs)
        self.running: dict[str, subprocess.Popen[str]] = {}
        self._start()

    def _start(self) -> list[str]:
        started = []
        while self.todo and len(self.running) < self.jobs:
            obj, (argv, env, cwd) = self.todo.pop(0)
            self.running[obj] = _popen(argv, env, cwd)
            started.append(obj)
        return started

    def finish(self, emit: Emit) -> None:
        """Wait for every compile; their output goes to ``emit`` (in the objects' order)
        when all succeed."""
        import selectors
        output: dict[str, list[bytes]] = {}
        failed = ""
        with selectors.DefaultSelector() as sel:

            def watch(objs: list[str]) -> None:
                for obj in objs:
                    output[obj] = []
                    sel.register(self.running[obj].stdout, selectors.EVENT_READ, obj)  # type: ignore[arg-type]

            watch(list(self.running))
            while self.running:
                for key, _ in sel.select():
                    obj = key.data
                    chunk = os.read(key.fd, 1 << 16)
                    if chunk:
                        output[obj].append(chunk)
                        continue
                    sel.unregister(key.fileobj)
                    proc = self.running.pop(obj)
                    proc.stdout.close()             # type: ignore[union-attr]
                    if proc.wait() != 0:
                        failed = failed or obj
                    if not failed:
                        watch(self._start())
        if failed:
            raise _NotQuick(f"compile failed: {failed}")   # SCons compiles and reports it
        for obj in sorted(output):
            for line in b"".join(output[obj]).decode(errors="replace").splitlines():
                emit(line)

    def stop(self) -> None:
        _kill(self.running.values())
        self.running = {}


class _Links:
    """The rebuilt modules' links, ``jobs`` at a time, in the order of ``work``
    (``(target record, module record)``): each module's split runs in this process
    while the next modules link (linked one after the other, a partial build of many
    modules left a core idle while each module linked)."""

    def __init__(self, work: list[tuple[dict[str, Any], dict[str, Any]]], jobs: int) -> None:
        self.work = work
        self.jobs = max(1, jobs)
        self.started = 0
        self.running: dict[int, subprocess.Popen[str]] = {}
        self._start()

    def _start(self) -> None:
        while self.started < len(self.work) and len(self.running) < self.jobs:
            trec, rec = self.work[self.started]
            self.running[self.started] = _popen(rec["link"], trec["env"], trec["top"])
            self.started += 1

    def wait(self, i: int) -> None:
        """Wait for the link of ``work[i]`` (started before every later one)."""
        proc = self.running.pop(i)
        out, _ = proc.communicate()
        if proc.returncode != 0 or out:
            raise _NotQuick(f"link of {self.work[i][1]['name']}")  # SCons shows what it said
        self._start()

    def stop(self) -> None:
        _kill(self.running.values())
        self.running = {}


def _kill(procs: Iterable[subprocess.Popen[str]]) -> None:
    """Stop commands the quick build no longer waits for (SCons takes over)."""
    for proc in procs:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _split(trec: dict[str, Any], rec: dict[str, Any]) -> None:
    from kmodbuild.abiprobe import split_for_build
    split_for_build(Path(rec["full"]), Path(rec["kmod"]), Path(rec["debug"]),
                    [(Path(e[0]), Path(e[1])) for e in rec["objects"]], rec["split"],
                    cwd=trec["top"], clang=trec["clang"])


def _finish_target(trec: dict[str, Any], modules: list[dict[str, Any]], rebuilt: set[str],
                   t: Any, v: Any, emit: Emit) -> bool:
    """Index, checks, installs, METALOG and gate of one target; True when an installed
    file changed (the tree must be simulated again)."""
    from kmodbuild.atomicfile import replace_if_changed
    from kmodbuild.buildcheck import (
        check_built_module,
        exports_index,
        gate_lines,
        gate_summary,
        relative_to,
    )
    from kmodbuild.diagnostics import render_json
    from kmodbuild.install import install_changed
    index = Path(trec["index"])
    text = exports_index([Path(m["kmod"]) for m in modules], t,
                         cache=index.with_name(".exports-cache.json"))
    index_changed = replace_if_changed(str(index), text.encode())
    reports_changed = False
    installed_changed = False
    destdir = Path(trec["destdir"])
    for rec in modules:
        if not index_changed and rec["name"] not in rebuilt:
            continue
        diags = check_built_module(Path(rec["kmod"]), Path(trec["manifest"]), index, t, v,
                                   debug=Path(rec["debug"]),
                                   kernel_abi=Path(trec["kernel_abi"]) if trec["kernel_abi"]
                                   else None)
        if any(d.severity == "error" for d in diags):
            raise _NotQuick(f"{rec['name']}: check failed")   # SCons reports and gates it
        report = render_json(relative_to(diags, trec["top"]), modules=1)
        path = Path(rec["check"])
        try:
            same = path.read_text() == report
        except OSError:
            same = False
        if not same:
            path.write_text(report)
            reports_changed = True
        if rec["installed"] and install_changed(
                Path(rec["kmod"]), destdir, os.path.relpath(rec["installed"], destdir), 0o444):
            installed_changed = True
    if installed_changed:
        _write_metalog(trec, modules)
    if reports_changed:
        warnings, errors = gate_lines([Path(m["check"]) for m in modules])
        if errors:
            raise _NotQuick("check errors")
        if trec["output"] != "quiet":
            for line in warnings:
                emit(line)
        Path(trec["gate"]).write_text(gate_summary(len(warnings)))
    return installed_changed


def _write_metalog(trec: dict[str, Any], modules: list[dict[str, Any]]) -> None:
    from kmodbuild.install import atomic_write, remove_stale_temporaries_in
    from kmodbuild.metalog import file_entry, render
    destdir = Path(trec["destdir"])
    for m in modules:                   # a killed install's leftovers, as SCons's step does
        if m["installed"]:
            remove_stale_temporaries_in(Path(m["installed"]).parent)
    text = render([file_entry(destdir, Path(m["installed"])) for m in modules
                   if m["installed"] and os.path.isfile(m["installed"])])
    atomic_write(Path(trec["metalog"]), text.encode(), 0o644)


def _simulate(trec: dict[str, Any], t: Any, v: Any, emit: Emit, stream: Any,
              modules: list[dict[str, Any]]) -> None:
    from kmodbuild.simmemo import build_answer
    result = build_answer(stream, trec["simulate"], Path(trec["stand"]).parents[2], t, v,
                          Path(trec["manifest"]),
                          {m["name"]: m["kmod"] for m in modules if m["installed"]})
    if not result.ok:
        raise _NotQuick("simulation failed")                 # SCons reports it
    Path(trec["simulate"]).write_text(result.summary() + "\n")
    if trec["output"] != "quiet":
        from kmodbuild.simvalidate import summary_lines
        for line in summary_lines(result, (m["name"] for m in modules), _SAID_NOTES):
            emit(line)


#: the simulation notes this build printed (each once: see simvalidate.summary_lines)
_SAID_NOTES: set[str] = set()


def _start_streams(plan: _Plan) -> dict[str, Any]:
    """The simulation streams the SCons build would start for these targets."""
    from kmodbuild import simmemo, simstream
    from kmodbuild.linux.readers import default_jobs
    from kmodbuild.target import NetBSDVersion, get_target
    mode = os.environ.get("KMOD_SIMSTREAM", "")
    out: dict[str, Any] = {}
    for trec, modules, rebuilt in plan.targets:
        known = [(m["name"], m["kmod"]) for m in modules if m["installed"]]
        if mode == "0" or (mode != "1" and len(known) < simstream.MIN_MODULES) \
                or len(out) >= default_jobs():
            continue
        try:
            out[trec["target"]] = simstream.SimStream(
                Path(trec["stand"]).parents[2], get_target(trec["target"]),
                NetBSDVersion.parse(trec["version"]), Path(trec["manifest"]), known,
                sorted(n for n in rebuilt if any(m["name"] == n and m["installed"]
                                                 for m in modules)), fork=True,
                memo=simmemo.reuse_enabled())
        except OSError:
            continue
    return out
