"""kmodbuild.simstream - the build's load simulation, run beside the checks and installs.

A build of a big tree ends with a serial tail in the SCons process: every
module's check and install (Python actions: one core), then the simulation of
the whole installed tree (one core again), while the machine's other cores
idle.  A *stream* moves the simulation into a process of its own and
simulates the tree the installs are about to make: each module's installed
``NAME.kmod`` is a byte copy of its built file, so the stream loads the
built file wherever the kernel opens the installed one, and everything else
(a ``NAME.plist`` beside it, the kernel symbol manifest) as it is.  A full
build starts it when the exports index is written (every module is linked);
a partial build (only some modules' sources changed) starts it as soon as
the graph is declared, and the stream waits for each module being rebuilt
when the load order reaches it, until the build says its file is written.
The build's ``simulate`` step then only collects the answer.

The answer is used only if it is the answer
:func:`kmodbuild.simvalidate.validate_tree` gives on the finished tree,
which the ``simulate`` step proves before taking it (otherwise it simulates
itself, as it always did):

* the tree's module list is the one the stream simulated (every module this
  build installs, no other), so the load order is the same;
* every installed ``NAME.kmod`` the stream stood a built file in for is a
  regular file with that file's bytes (and the built file is as it was);
* every other file the kernel opened (a ``NAME.plist``, or its absence) is as
  it was when it did (``lstat``: type, size, mtime, ctime, inode), as is the
  manifest, and no directory above them is a symbolic link (files the kernel
  never opens, such as an install's temporary file, do not count);
* the stream opened nothing outside the module directories and no symbolic
  link (it gives up at once on either), no load failed (a failure's
  message could name the built file where the kernel's names the installed
  one), and each built file it loaded requires the modules the load order
  was made for (a module being rebuilt: from its last build's file).

The simulation is a function of those files, so the answers are equal.  The
stream is for big trees (:data:`MIN_MODULES`: a process and its imports cost
more than simulating a small tree); ``KMOD_SIMSTREAM=1`` forces it, ``0``
turns it off.  Protocol: the build writes one JSON line (stand, target,
version, manifest, ``[[name, built path], ...]``, the modules being rebuilt),
then ``+NAME`` when a rebuilt module's file is written and ``=`` when every
install is done; the stream answers with one JSON document and exits (and
gives up when its input ends while it waits for a module: the build stopped).
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

#: Below this many modules the build simulates in its own process (auto mode).
MIN_MODULES = 48


def lstat_state(path: str) -> list[int] | None:
    """``[mode, size, mtime_ns, ctime_ns, inode]`` of ``path`` itself (``None``: missing)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError:
        return [-1, -1, -1, -1, -1]
    return [st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def file_key(path: str) -> list[int] | None:
    """``[size, mtime_ns, ctime_ns, inode]`` of ``path`` (``None``: missing)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def file_kind(path: str) -> int:
    """The file type of ``path`` itself (``stat.S_IFMT``; 0: missing)."""
    try:
        return stat.S_IFMT(os.lstat(path).st_mode)
    except OSError:
        return 0


def links_above(stand_root: Path, module_dir: Path) -> bool:
    """Whether a directory from ``stand_root`` down to ``module_dir`` is a symbolic link."""
    path = module_dir
    while True:
        if path.is_symlink():
            return True
        if path == stand_root or path.parent == path:
            return False
        path = path.parent


def changed_since(dirs: dict[str, int], files: dict[str, Any]) -> str | None:
    """The first path whose type (``dirs``: :func:`file_kind`) or state (``files``:
    :func:`lstat_state`) is no longer the one recorded, or ``None``."""
    for path, kind in dirs.items():
        if file_kind(path) != kind:
            return path
    for path, state in files.items():
        if lstat_state(path) != state:
            return path
    return None


# --------------------------------------------------------------------------- the stream

class _GiveUp(Exception):
    """The stream cannot answer for the finished tree (the build simulates itself)."""


class _Tree:
    """The tree the installs are about to make, as the simulated kernel opens it.

    ``pending`` modules are being rebuilt: the stream stands their built file in
    only once the build says it is written (a ``+NAME`` line on ``inp``) or that
    every install is done (``=``)."""

    def __init__(self, module_dir: Path, built: dict[str, str], pending: set[str] = frozenset(),
                 inp: IO[str] | None = None) -> None:
        self.module_dir = module_dir
        self._mdir = str(module_dir).rstrip("/")      # host_path joins strings: no Path
        self.built = built
        self.pending = set(pending)
        self.inp = inp
        self.ended = False
        self.base = ""
        #: each path opened but the stood-in files -> its :func:`lstat_state` then,
        #: and each module directory of a module not stood in for -> its type then
        self.files: dict[str, list[int] | None] = {}
        self.dirs: dict[str, int] = {}
        #: module name -> [its built file, that file's key before it was first loaded]
        self.stood_in: dict[str, list[Any]] = {}
        #: called once, the first time the stream would wait for a module
        self.while_waiting: Callable[[], None] | None = None
        #: why the stream gave up, if it did
        self.gave_up: str | None = None

    def attach(self, kernel: Any) -> None:
        """Route the kernel's host paths through :meth:`host_path`."""
        self.base = kernel.module_base + "/"
        rel = self.base[len("/stand/"):-1] if self.base.startswith("/stand/") else None
        if rel is None or Path(kernel.stand) / rel != self.module_dir:
            # host_path maps below module_dir as the kernel maps below its stand
            self._give_up(f"the kernel's {kernel.module_base} is not {self.module_dir}")
        kernel.host_path = self.host_path

    def host_path(self, kpath: str) -> Path:
        """The host file for ``kpath``: a stood-in module's built file, else
        ``module_dir/NAME/LEAF`` -- what the kernel's own ``host_path`` gives for a path
        below the module directory while no directory on the way is a symbolic link.
        That is not asked of the kernel's (six ``lstat`` calls a path, 1,500 paths a
        tree): every directory on the way is in the proof the build checks
        when it takes the answer (:func:`links_above` from the stand root to the module
        directory, each module's directory by its type, each file opened by its state),
        so a link anywhere refuses the answer as surely as giving up here would."""
        rest = kpath[len(self.base):] if kpath.startswith(self.base) else ""
        name, _, leaf = rest.partition("/")
        if not name or not leaf or "/" in leaf or name in (".", "..") or leaf in (".", ".."):
            self._give_up(f"the simulation opened {kpath}")
        if name in self.built and leaf == f"{name}.kmod":
            return Path(self.stand_in(name))
        mine = f"{self._mdir}/{name}"
        host = f"{mine}/{leaf}"
        if name not in self.built and mine not in self.dirs:
            kind = self.dirs[mine] = file_kind(mine)
            if kind == stat.S_IFLNK:
                self._give_up(f"{mine} is a symbolic link")
        if host not in self.files:
            state = self.files[host] = lstat_state(host)
            if state is not None and stat.S_ISLNK(state[0]):
                # what a link leads to is not in its state: the build reads it itself
                self._give_up(f"{host} is a symbolic link")
        return Path(host)

    def _give_up(self, why: str) -> NoReturn:
        # remembered as well as raised: the answer is refused even if something on the
        # way out of the simulated kernel caught the exception
        self.gave_up = self.gave_up or why
        raise _GiveUp(why)

    def stand_in(self, name: str) -> str:
        """Module ``name``'s built file, once final; its key is recorded before it is read."""
        got = self.stood_in.get(name)
        if got is None:
            if name in self.pending and not self.ended and self.while_waiting is not None:
                work, self.while_waiting = self.while_waiting, None
                work()
            while name in self.pending and not self.ended:
                self._take_line()
            built = self.built[name]
            got = self.stood_in[name] = [built, file_key(built)]
        return got[0]

    def _take_line(self) -> None:
        line = self.inp.readline() if self.inp is not None else ""
        if not line:
            self._give_up("the build stopped")
        if line == "=\n":
            self.ended = True
        elif line.startswith("+"):
            self.pending.discard(line[1:].rstrip("\n"))


def run_stream(config: dict[str, Any], inp: IO[str] | None = None) -> dict[str, Any]:
    """Simulate the tree described by ``config`` as its installs will leave it (the
    stream process's work); returns the answer :meth:`SimStream.result` checks."""
    from kmodbuild.elf import read_module
    from kmodbuild.simvalidate import (
        find_module_dir,
        module_requires,
        stand_root,
        validate_tree,
    )
    from kmodbuild.target import NetBSDVersion, get_target
    target = get_target(config["target"])
    version = NetBSDVersion.parse(config["version"])
    stand = Path(config["stand"])
    manifest = config["manifest"]
    built: dict[str, str] = dict(config["modules"])
    names = sorted(built)
    mdir = find_module_dir(stand, target, version)
    if links_above(stand_root(stand, target), mdir):
        raise _GiveUp(f"a directory above {mdir} is a symbolic link")
    tree = _Tree(mdir, built, set(config.get("pending", ())), inp)
    parsed: dict[Any, Any] = {}     # (file, key) -> ModuleObject: read once for both uses

    def reader(path: str, target: Any) -> Any:
        key = (path, *(file_key(path) or ()))
        mo = parsed.get(key)
        if mo is None:
            mo = parsed[key] = read_module(path, target)
        return mo

    def requires_of(n: str) -> tuple[str, ...]:
        return module_requires(lambda p: reader(str(p), target), Path(built[n]))

    # the load order from the built files as they are now (a module being rebuilt: its
    # last build's file); each one loaded must require the same, checked below
    requires = {n: requires_of(n) for n in names}

    def decode_ahead() -> None:
        # what the loads will decode anyway (symbols, relocations), done while the build
        # still writes a module: off the critical path of an edit.  A decoding error
        # is left where it would happen (the lazy parts raise it again when used).
        for mo in list(parsed.values()):
            for lazy in (mo.sections, mo.symbols,
                         *(rs.relocations for rs in mo.relocation_sections)):
                try:
                    len(lazy)
                except Exception:  # noqa: BLE001, S112 - raised again at first real use
                    continue

    tree.while_waiting = decode_ahead
    manifest_key = file_key(manifest)
    coverage = None
    if config.get("memo"):
        from kmodbuild.simmemo import TextCoverage
        coverage = TextCoverage()

    def first_failure(failure: Any) -> None:
        # a failed load is not an answer the build takes (below): give up at once,
        # not after simulating the rest (a 300-module dependency cycle went round
        # the whole cycle once per module, to 1.15 GB)
        tree._give_up(f"a module failed ({failure.module}: {failure.operation}): the build "
                      "simulates the installed files themselves")

    result = validate_tree(stand, target, version, manifest, names=names, requires=requires,
                           attach=tree.attach, reader=reader, coverage=coverage,
                           on_failure=first_failure)
    if tree.gave_up:
        raise _GiveUp(tree.gave_up)
    if file_key(manifest) != manifest_key:
        raise _GiveUp("the kernel manifest changed while it was read")
    if result.failures:
        raise _GiveUp("a module failed: the build simulates the installed files themselves")
    for n in names:
        tree.stand_in(n)
        if requires_of(n) != requires[n]:
            raise _GiveUp(f"{built[n]} requires other modules than the order was made for")
    answer = {"names": names, "files": tree.files, "dirs": tree.dirs,
              "stood_in": tree.stood_in, "manifest": manifest_key,
              "result": _result_to_json(result)}
    if coverage is not None:
        from kmodbuild.errors import KmodError
        from kmodbuild.simmemo import identity, module_entries
        loaded = {n: parsed.get((built[n], *(tree.stood_in[n][1] or ()))) for n in names}
        try:
            if all(mo is not None for mo in loaded.values()):
                answer["memo"] = {"identity": identity(), "modules": module_entries(
                    loaded, {n: tree.stood_in[n][1] for n in names}, coverage)}
        except (OSError, ValueError, KmodError):
            pass                        # no memo: the answer stands without one
    return answer


def _result_to_json(result: Any) -> dict[str, Any]:
    return {"order": result.order, "loaded": result.loaded, "unloaded": result.unloaded,
            "failures": [[f.module, f.operation, f.code, list(f.messages)]
                         for f in result.failures],
            "seconds": result.seconds, "emulated": result.emulated, "note": result.note}


def result_from_json(r: dict[str, Any], stand: Path, target: Any, version: Any) -> Any:
    """The :class:`~kmodbuild.simvalidate.ValidationResult` :func:`_result_to_json` wrote,
    for the tree of ``stand``."""
    from kmodbuild.simvalidate import (
        ValidationFailure,
        ValidationResult,
        find_module_dir,
    )
    result = ValidationResult(target, version, find_module_dir(stand, target, version))
    result.order, result.loaded, result.unloaded = r["order"], r["loaded"], r["unloaded"]
    result.failures = [ValidationFailure(m, op, code, tuple(msgs))
                       for m, op, code, msgs in r["failures"]]
    result.seconds, result.emulated, result.note = r["seconds"], r["emulated"], r["note"]
    return result


def main() -> int:
    """``python -m kmodbuild.simstream``: one stream (see the module docstring)."""
    return serve(sys.stdin, sys.stdout)


def serve(inp: IO[str], out: IO[str]) -> int:
    """One stream reading the protocol from ``inp`` and answering on ``out``."""
    import gc
    gc.disable()
    try:
        answer = run_stream(json.loads(inp.readline()), inp)
    except _GiveUp as e:
        answer = {"error": str(e)}
    except BaseException as e:  # noqa: BLE001 - the build simulates itself and reports it
        answer = {"error": f"{type(e).__name__}: {e}"}
    try:
        out.write(json.dumps(answer))
        out.flush()
    except OSError:
        return 1                        # nobody is listening any more
    return 0


class _Forked:
    """A stream forked from the build process (the part of ``Popen`` SimStream uses)."""

    def __init__(self, pid: int, stdin: IO[str], stdout: IO[str]) -> None:
        self.pid, self.stdin, self.stdout = pid, stdin, stdout
        self.returncode: int | None = None

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        import signal
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _fork() -> _Forked:
    """Fork this process into a stream (:func:`serve` on two pipes).

    For a build process that has no other thread and has imported the
    simulator already (kmodbuild.quickbuild): the stream then starts at once,
    where a new interpreter takes 100-150 ms to start and import it.  The child
    keeps only its pipes (no lock or other file of the build's), never runs
    the parent's exit handlers and ends with ``os._exit``.
    """
    for f in (sys.stdout, sys.stderr):
        if f is not None:
            f.flush()
    r_in, w_in = os.pipe()
    r_out, w_out = os.pipe()
    pid = os.fork()
    if pid == 0:                                        # the stream
        code = 1
        try:
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(null, 2)                            # as the spawned stream's stderr
            keep = sorted({r_in, w_out})
            os.closerange(3, keep[0])
            os.closerange(keep[0] + 1, keep[1])
            os.closerange(keep[1] + 1, 1 << 16)
            with os.fdopen(r_in, "r") as inp, os.fdopen(w_out, "w") as out:
                code = serve(inp, out)
        finally:
            os._exit(code)
    os.close(r_in)
    os.close(w_out)
    return _Forked(pid, os.fdopen(w_in, "w"), os.fdopen(r_out, "r"))


# --------------------------------------------------------------------------- the build's side

class SimStream:
    """The build's handle on one stream process (one target's tree); see the module
    docstring.  Starting it raises OSError when the process cannot be started."""

    def __init__(self, stand: Path, target: Any, version: Any, manifest: Path,
                 modules: Sequence[tuple[str, str]], pending: Sequence[str] = (),
                 fork: bool = False, memo: bool = False) -> None:
        self.stand, self.target, self.version, self.manifest = stand, target, version, manifest
        self.why_not: str | None = None
        #: see _compare_copies (made by result())
        self._copies: dict[str, tuple[str, Any, Any]] = {}
        #: each stood-in module's installed file's lstat state when it was proved a copy
        self._verified: dict[str, Any] = {}
        #: the memo of the answer (kmodbuild.simmemo), once result() took it
        self.memo: dict[str, Any] | None = None
        self.started = ""               # when, for the build's verbose output
        self.proc: subprocess.Popen[str] | _Forked | None
        if fork:                        # see _fork: only from a process without threads
            self.proc = _fork()
        else:
            env = dict(os.environ)
            here = str(Path(__file__).resolve().parents[1])       # the same kmodbuild
            env["PYTHONPATH"] = os.pathsep.join([here, *filter(None, [env.get("PYTHONPATH")])])
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kmodbuild.simstream"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self._lock = threading.Lock()
        self.modules = [(str(n), str(b)) for n, b in modules]
        config = {"stand": str(stand), "target": target.name, "version": str(version),
                  "manifest": str(manifest), "modules": [list(m) for m in modules],
                  "pending": list(pending), "memo": memo}
        self._send(json.dumps(config) + "\n")

    def _send(self, text: str, close: bool = False) -> None:
        with self._lock:                # build actions run on several threads
            stdin = self.proc.stdin if self.proc is not None else None
            if stdin is None or stdin.closed:
                return
            try:
                stdin.write(text)
                stdin.flush()
                if close:
                    stdin.close()
            except (OSError, ValueError):
                pass                    # it stopped: result() says so

    def built(self, name: str) -> None:
        """Module ``name``'s built file is written (a pending module's)."""
        self._send(f"+{name}\n")

    def result(self) -> Any:
        """The stream's :class:`~kmodbuild.simvalidate.ValidationResult`, once every
        install is done, if it is provably the finished tree's (see the module
        docstring); else ``None`` (:attr:`why_not` says why)."""
        self._send("=\n", close=True)
        with self._lock:
            proc, self.proc = self.proc, None
        if proc is None:
            return None
        try:
            # while the stream still simulates: which installed files are byte copies
            # of the built ones (what _disproved needs, off the critical path)
            self._copies = self._compare_copies()
        except OSError:
            self._copies = {}
        try:
            out = proc.stdout.read() if proc.stdout is not None else ""
            proc.wait()
        except (OSError, ValueError):
            out = ""
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
        try:
            answer = json.loads(out)
        except ValueError:
            self.why_not = f"the stream process ended ({proc.returncode})"
            return None
        if "error" in answer:
            self.why_not = str(answer["error"])
            return None
        try:
            self.why_not = self._disproved(answer)
            if self.why_not:
                return None
            self.memo = self._memo(answer)
            return self._result(answer["result"])
        except (OSError, LookupError, TypeError, ValueError) as e:
            self.why_not = f"cannot check the stream's answer: {e}"
            return None

    def _compare_copies(self) -> dict[str, tuple[str, Any, Any]]:
        """``name -> (built file, its key, installed file's lstat state)`` for each module
        whose installed ``NAME.kmod`` is a regular file with its built file's bytes, the
        states taken before the bytes were read (a change during or after the read
        changes them)."""
        from kmodbuild.simvalidate import find_module_dir
        mdir = find_module_dir(self.stand, self.target, self.version)
        copies: dict[str, tuple[str, Any, Any]] = {}
        for name, built in self.modules:
            installed = str(mdir / name / f"{name}.kmod")
            key, state = file_key(built), lstat_state(installed)
            if key is None or state is None or not stat.S_ISREG(state[0]) \
                    or key[0] != state[1]:
                continue
            try:
                with open(installed, "rb") as a, open(built, "rb") as b:
                    if a.read() != b.read():
                        continue
            except OSError:
                continue
            copies[name] = (built, key, state)
        return copies

    def _disproved(self, answer: dict[str, Any]) -> str | None:
        """Why the stream's tree is not the finished one (``None``: it is)."""
        from kmodbuild.simvalidate import find_module_dir, module_names, stand_root
        mdir = find_module_dir(self.stand, self.target, self.version)
        if answer["names"] != module_names(mdir):
            return "the installed modules are not the ones simulated"
        if answer["manifest"] != file_key(str(self.manifest)):
            return "the kernel manifest changed"
        if links_above(stand_root(self.stand, self.target), mdir):
            return f"a directory above {mdir} is a symbolic link"
        stood_in: dict[str, list[Any]] = answer["stood_in"]
        moved = changed_since(answer["dirs"], answer["files"])
        if moved is not None:
            return f"{moved} changed after it was simulated"
        for name, (built, key) in stood_in.items():
            installed = mdir / name / f"{name}.kmod"
            if file_kind(str(installed.parent)) != stat.S_IFDIR:
                return f"{installed.parent} is not a directory"
            copy = self._copies.get(name)
            state = lstat_state(str(installed))
            if copy is not None and copy[0] == built and copy[1] == key \
                    and state == copy[2] and file_key(built) == key:
                self._verified[name] = state
                continue                # compared while the stream ran, and unchanged since
            try:
                same = (file_key(built) == key and state is not None
                        and stat.S_ISREG(state[0])
                        and installed.read_bytes() == Path(built).read_bytes())
            except OSError:
                same = False
            if not same:
                return f"{installed} is not the file simulated ({built})"
            self._verified[name] = state
        return None

    def _memo(self, answer: dict[str, Any]) -> dict[str, Any] | None:
        """The memo of a proven answer (kmodbuild.simmemo), or None when it has none."""
        from kmodbuild.simmemo import MEMO_VERSION
        part = answer.get("memo")
        if not part or answer["result"]["failures"]:
            return None
        modules = {}
        for name in answer["names"]:
            m, state = part["modules"].get(name), self._verified.get(name)
            if m is None or state is None or m["key"] != answer["stood_in"][name][1]:
                return None
            modules[name] = dict(m, installed=state)
        return {"version": MEMO_VERSION, "identity": part["identity"],
                "target": self.target.name, "os_version": str(self.version),
                "manifest": str(self.manifest), "manifest_key": answer["manifest"],
                "names": answer["names"], "files": answer["files"], "dirs": answer["dirs"],
                "modules": modules, "result": answer["result"]}

    def _result(self, r: dict[str, Any]) -> Any:
        return result_from_json(r, self.stand, self.target, self.version)

    def close(self) -> None:
        """Stop the stream process (a build that ends without its simulate step)."""
        with self._lock:
            proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            proc.kill()
            proc.wait()
        except OSError:
            pass
        for f in (proc.stdin, proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass


if __name__ == "__main__":
    sys.exit(main())
