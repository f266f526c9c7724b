"""kmodbuild.simvalidate - validate an installed module tree by loading and unloading it all.

:func:`validate_tree` boots a simulated kernel for the tree's target and
version, loads every module of ``stand/<KMODULEARCHDIR>/<osrelease>/modules``
with ``modload NAME`` in dependency order (dependencies first), then unloads
everything newest first, and returns every failure with the kernel's errno
and console messages.  It is pure (no printing): the SCons build and
``kmodbuild sim --validate`` render the result.
"""
from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmodbuild import kobj as K
from kmodbuild.errors import KmodError
from kmodbuild.simulator import (
    MODULE_SOURCE_KERNEL,
    KernelConfig,
    ModcmdStrategy,
    Reader,
    SimKernel,
    builtins_in,
    functions_from_manifest,
    symbols_from_manifest,
)
from kmodbuild.target import NetBSDVersion, Target

#: The console line of a module whose modcmd the emulator does not run
#: (kmodbuild.emulate.strategy: the module does not fit, or unicorn cannot run it).
_DECLINED = "emulate: module `"
#: A load or unload whose calls nested deeper than Python allows (modcmds loading
#: modules whose modcmds load modules...; dependency chains themselves run in a loop).
_TOO_DEEP = ("the simulator's calls nested too deeply (modcmds loading modules whose "
             "modcmds load modules...): not simulated")
#: A failure shows at most this many of the kernel's lines (the first and the last).
MAX_MESSAGES = 10
#: Answer a dependency load that failed before, in the same kernel state, from memory
#: (:meth:`SimKernel.remember_failed_dependencies`): the same lines and errno, without
#: loading the chain below it again (a chain of 2,000 modules failing at the bottom made
#: two million loads).  False: load it again (the tests compare the two).
REMEMBER_FAILED_DEPENDENCIES = True


def _shorten(messages: Sequence[str], keep: int = MAX_MESSAGES) -> tuple[str, ...]:
    """``messages``, or the first and last of them around a count of those left out
    (the load of the top of a chain of 2,000 modules that fails at the bottom prints
    a line per module)."""
    if len(messages) <= keep:
        return tuple(messages)
    head, tail = keep - keep // 3 - 1, keep // 3
    return (*messages[:head], f"... ({len(messages) - head - tail} more lines)",
            *messages[-tail:])


def _path_text(names: Sequence[str], keep: int = 8) -> str:
    """``a -> b -> c``; a long path shortened to its first names and the last two, with
    how many modules it has."""
    count = len(set(names))
    if len(names) <= keep:
        text = " -> ".join(names)
    else:
        text = " -> ".join([*names[:keep - 2], "...", *names[-2:]])
    return f"{text} ({count} module{'s' if count != 1 else ''})"


@dataclass(frozen=True)
class ValidationFailure:
    """One failed operation: ``operation`` is ``load`` or ``unload``; ``code`` the errno;
    ``messages`` the kernel console lines it printed."""

    module: str
    operation: str
    code: int
    messages: tuple[str, ...] = ()

    def __str__(self) -> str:
        if not self.code and self.messages:   # found by emulation, not the kernel (a leak)
            return f"{self.module}: {self.operation} failed: {self.messages[0]}" + "".join(
                f"\n    {m}" for m in self.messages[1:])
        head = (f"{self.module}: {self.operation} failed: {K.strerror(self.code)} "
                f"({K.ERRNO_NAME.get(self.code, self.code)})")
        return head + "".join(f"\n    {m}" for m in self.messages)


@dataclass
class ValidationResult:
    """What :func:`validate_tree` did: the load order, what loaded and unloaded, failures."""

    target: Target
    version: NetBSDVersion
    module_dir: Path
    order: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    unloaded: list[str] = field(default_factory=list)
    failures: list[ValidationFailure] = field(default_factory=list)
    seconds: float = 0.0
    emulated: bool = False
    note: str | None = None

    @property
    def ok(self) -> bool:
        """True when every module loaded and unloaded."""
        return not self.failures

    def summary(self) -> str:
        """One line: ``amd64 10.0: 10 modules loaded and unloaded, 0 failures``."""
        return (f"{self.target.name} {self.version}: {len(self.order)} modules, "
                f"{len(self.loaded)} loaded, {len(self.unloaded)} unloaded, "
                f"{len(self.failures)} failure{'s' if len(self.failures) != 1 else ''}")


def kernel_reads(module_dir: str, installs: set[str]) -> list[str]:
    """The files of ``module_dir`` the kernel reads that the build does not install:
    every ``NAME/NAME.plist``, and ``NAME/NAME.kmod`` of the modules not in ``installs``
    (a module removed from the tree, one installed by hand)."""
    out = []
    try:
        with os.scandir(module_dir) as it:
            names = sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
    except OSError:
        return []                       # not installed yet
    for name in names:
        for f in (f"{name}.plist", *(() if name in installs else (f"{name}.kmod",))):
            path = os.path.join(module_dir, name, f)
            if os.path.isfile(path):
                out.append(path)
    return out


def summary_lines(result: ValidationResult, built: Iterable[str],
                  said: set[str] | None = None) -> list[str]:
    """What a build prints after its simulation: the summary, the note, the strays.

    ``said``: the notes this build printed already, updated -- a note every target
    shares (unicorn not installed) is printed once, not once per target."""
    note = result.note
    if note and said is not None:
        if note in said:
            note = None
        else:
            said.add(note)
    notes = (result.summary(), note, strays_note(result, built))
    return [f"simulate: {n}" for n in notes if n]


def strays_note(result: ValidationResult, built: Iterable[str]) -> str | None:
    """A line naming the installed modules the simulation loaded that the build does
    not make (a module since removed from the tree, or installed by hand), or None."""
    strays = sorted(set(result.order) - set(built))
    if not strays:
        return None
    names = ", ".join(strays[:8]) + (f" and {len(strays) - 8} more" if len(strays) > 8 else "")
    return (f"{len(strays)} installed module{'s' if len(strays) > 1 else ''} the tree does not "
            f"build, simulated too: {names} (kmodbuild verify lists them; delete them to "
            f"leave them out)")


def target_stand(root: Path, target: Target) -> Path:
    """The stand directory of ``target`` given ``root``, a stand directory or a DESTDIR.

    A target sharing its KMODULEARCHDIR with the primary one (evbarm-earmv7hf beside
    evbarm-aarch64) is installed under ``DESTDIR/destdir.<MACHINE>-<MACHINE_ARCH>/stand``
    (:func:`kmodbuild.target.stand_dir`): given the DESTDIR or its ``stand``, that one
    (``root/stand/evbarm`` holds the other target's modules).
    """
    root = Path(root)
    if not target.primary:
        for destdir in (root, root.parent):
            own = destdir / f"destdir.{target.key}" / "stand"
            if own.is_dir():
                return own
    return root


def find_module_dir(stand: Path, target: Target, version: NetBSDVersion) -> Path:
    """``<stand>/<KMODULEARCHDIR>/<osrelease>/modules``; ``stand`` may also be a DESTDIR
    (holding ``stand/``); for a target sharing its KMODULEARCHDIR, its own tree
    (:func:`target_stand`)."""
    stand = target_stand(Path(stand), target)
    if not (stand / target.kmodulearchdir).is_dir() and (stand / "stand").is_dir():
        stand = stand / "stand"
    return stand / target.kmodulearchdir / version.osrelease / "modules"


def stand_root(stand: Path, target: Target | None = None) -> Path:
    """The directory standing for ``/stand`` given a stand dir or a DESTDIR (with
    ``target``: that target's own, :func:`target_stand`)."""
    stand = Path(stand) if target is None else target_stand(Path(stand), target)
    return stand / "stand" if (stand / "stand").is_dir() else stand


def module_names(module_dir: Path) -> list[str]:
    """Names of the modules installed in ``module_dir`` (``NAME/NAME.kmod``), sorted."""
    if not module_dir.is_dir():
        return []
    # not is_file(): a FIFO or a directory named NAME.kmod is a module the kernel would
    # try to load (and refuse); skipping it hid it from the simulation
    return sorted(p.name for p in module_dir.iterdir()
                  if os.path.lexists(p / f"{p.name}.kmod"))


def module_requires(read: Callable[[Path], Any], path: Path) -> tuple[str, ...]:
    """The modules the file at ``path`` requires (``read`` makes a ModuleObject of it);
    ``()`` when it cannot be read: the load reports that in the kernel's words."""
    try:
        mo = read(path)
        return mo.modinfo.requires if mo.modinfo is not None else ()
    except (KmodError, OSError):
        return ()


def dependency_order(requires: dict[str, tuple[str, ...]]) -> list[str]:
    """Names with their (present) requirements first; cycles broken at the first revisit."""
    order: list[str] = []
    seen: set[str] = set()
    for first in sorted(requires):
        if first in seen:
            continue
        # depth first over an explicit stack: a chain of any length (no recursion)
        seen.add(first)
        stack = [(first, iter(requires.get(first, ())))]
        while stack:
            n, deps = stack[-1]
            for d in deps:
                if d in requires and d not in seen:
                    seen.add(d)
                    stack.append((d, iter(requires.get(d, ()))))
                    break
            else:
                stack.pop()
                order.append(n)
    return order


def _load_manifest(manifest: Any) -> tuple[tuple[tuple[str, int], ...], frozenset[str]]:
    """The kernel's symbols and which of them are functions."""
    if manifest is None:
        return (), frozenset()
    if isinstance(manifest, (str, Path)):
        from kmodbuild.manifest import load_manifest
        manifest = load_manifest(manifest)
    return symbols_from_manifest(manifest), functions_from_manifest(manifest)


def validate_tree(stand: Path | str, target: Target, version: NetBSDVersion | str,
                  manifest: Any = None, *, builtins: Iterable[str] = (),
                  reader: Reader | None = None, modcmd: ModcmdStrategy | None = None,
                  names: Sequence[str] | None = None,
                  verify: dict[str, str] | None = None,
                  emulate: bool | None = None,
                  requires: dict[str, tuple[str, ...]] | None = None,
                  attach: Callable[[SimKernel], None] | None = None,
                  coverage: Any = None,
                  on_failure: Callable[[ValidationFailure], None] | None = None
                  ) -> ValidationResult:
    """Load every installed module in dependency order, then unload them all.

    Args:
        stand: the ``stand`` directory (or a DESTDIR holding ``stand/``).
        target: the :class:`~kmodbuild.target.Target` the tree is for.
        version: ``NetBSDVersion`` or its text (``10.0``).
        manifest: the kernel symbol manifest: a path, a ``KernelManifest``, or
            None (no kernel symbols: modules needing any will fail to affix).
        builtins: built-in module specs (``NAME[:CLASS[:REQ]]``).
        reader, modcmd: passed to :class:`~kmodbuild.simulator.SimKernel`.
        names: only these modules (default: every module of the tree).
        verify: real path -> SHA-256 (``kmodbuild sim --verify``): refuse other files.
        emulate: run each modcmd under CPU emulation (:mod:`kmodbuild.emulate`); None:
            when unicorn is installed and no ``modcmd`` is given.  Where it cannot, the
            result's ``note`` says so in one line; leaks and leftover registrations are
            failures (``NAME: unload failed: memory leak: ...``).
        requires: each module's required modules as its file says, when the caller
            has them (:mod:`kmodbuild.simstream` reads them from the built files,
            before the installed ones exist); default: read from the tree.
        attach: called with the simulated kernel before the first load
            (:mod:`kmodbuild.simstream` watches its file accesses).
        coverage: a :class:`kmodbuild.simmemo.TextCoverage` told of every read of a
            loaded module's text (the build's memo of its simulation).
        on_failure: called with each failure as it is found (:mod:`kmodbuild.simstream`
            gives up at the first by raising from it).

    A module on a dependency cycle another module's load met (EDEADLK) is not loaded
    again: it fails the same way, said in one line; a failure keeps the first and
    last of the kernel's lines when there are more than :data:`MAX_MESSAGES`.

    Returns:
        A :class:`ValidationResult` (never raises for a module's failure).

    Raises:
        KmodError: the manifest cannot be read, or a built-in spec is bad.
    """
    # No garbage collection while the tree loads: it makes many objects and few
    # cycles, and in a build process every full collection also walked the build
    # graph (a fifth of a 500-module validation).  Whatever is garbage is collected
    # after.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    watch = K.ACCESS_WATCH
    if coverage is not None:
        K.ACCESS_WATCH = coverage.note
    try:
        return _validate_tree(stand, target, version, manifest, builtins, reader, modcmd,
                              names, verify, emulate, requires, attach, coverage, on_failure)
    finally:
        K.ACCESS_WATCH = watch
        if gc_was_enabled:
            gc.enable()


def _validate_tree(stand: Path | str, target: Target, version: NetBSDVersion | str,
                   manifest: Any, builtins: Iterable[str], reader: Reader | None,
                   modcmd: ModcmdStrategy | None, names: Sequence[str] | None,
                   verify: dict[str, str] | None, emulate: bool | None,
                   known: dict[str, tuple[str, ...]] | None,
                   attach: Callable[[SimKernel], None] | None,
                   coverage: Any = None,
                   on_failure: Callable[[ValidationFailure], None] | None = None
                   ) -> ValidationResult:
    start = time.perf_counter()
    if isinstance(version, str):
        version = NetBSDVersion.parse(version)
    mdir = find_module_dir(Path(stand), target, version)
    result = ValidationResult(target, version, mdir)
    symbols, functions = _load_manifest(manifest)
    config = KernelConfig(target, version, symbols=symbols, functions=functions,
                          builtins=builtins_in(builtins, mdir, target, reader),
                          insecure=True, autoload=True)
    note = None
    if modcmd is None and emulate is not False:
        from kmodbuild.emulate import make_modcmd
        modcmd, note = make_modcmd(emulate)   # type: ignore[assignment]
    if coverage is not None and modcmd is not None:
        if hasattr(modcmd, "coverage"):
            modcmd.coverage = coverage        # type: ignore[attr-defined]
        else:
            coverage.unsupported = "a modcmd strategy that does not tell what it runs"
    kernel = SimKernel(config, stand_root(Path(stand), target), reader=reader, modcmd=modcmd)
    get_machine = getattr(modcmd, "get_machine", None)
    if get_machine is not None:
        result.emulated = get_machine() is not None
        note = getattr(modcmd, "note", None) or note
    result.note = note
    kernel.verify_hashes = verify
    if REMEMBER_FAILED_DEPENDENCIES:
        kernel.remember_failed_dependencies()
    if attach is not None:
        attach(kernel)
    todo = list(names) if names is not None else module_names(mdir)
    requires: dict[str, tuple[str, ...]] = {}
    for n in todo:
        requires[n] = known[n] if known is not None else module_requires(kernel.read_module,
                                                                         mdir / n / f"{n}.kmod")
    result.order = dependency_order(requires)
    # modules whose modcmd the emulator declined (it says why on the console once
    # per modcmd): told in the note, since their loads succeed
    declined: dict[str, None] = {}

    def failed(failure: ValidationFailure) -> None:
        result.failures.append(failure)
        if on_failure is not None:
            on_failure(failure)

    # module -> the module whose load met it on a dependency cycle (EDEADLK): loading
    # it again would go round the same cycle and fail the same way
    on_cycle: dict[str, str] = {}
    for n in result.order:
        if kernel.lookup(n) is not None:
            continue                  # already loaded as a dependency
        if n in on_cycle:
            why = (f"on the dependency cycle the load of `{on_cycle[n]}' met (above); "
                   "not loaded again")
            failed(ValidationFailure(n, "load", K.EDEADLK, (why,)))
            continue
        kernel.take_console()
        kernel.last_cycle = []
        # a modcmd may return any int, -1 (ERESTART) too: too deep is None, not an errno
        error: int | None
        try:
            error = kernel.modctl_load(n)
        except RecursionError:
            error = None
        messages = tuple(kernel.take_console())
        declined.update(dict.fromkeys(m for m in messages if m.startswith(_DECLINED)))
        if error is None:
            failed(ValidationFailure(n, "load", 0, (_TOO_DEEP,)))
        elif error and error != K.EEXIST:
            chain = kernel.last_cycle
            if error == K.EDEADLK and chain[:1] == [n]:
                for m in chain[1:-1]:
                    if m in requires and m != n:
                        on_cycle.setdefault(m, n)
            if len(messages) > MAX_MESSAGES and error == K.EDEADLK and chain[:1] == [n]:
                # the chain, where its lines are cut
                messages = (*_shorten(messages), f"dependency chain: {_path_text(chain)}")
            else:
                messages = _shorten(messages)
            failed(ValidationFailure(n, "load", error, messages))
    result.loaded = [m.name for m in reversed(kernel.loaded) if m.source != MODULE_SOURCE_KERNEL]
    for mod in list(kernel.loaded):
        if mod.source == MODULE_SOURCE_KERNEL:
            continue
        kernel.take_console()
        try:
            error = kernel.modctl_unload(mod.name)
        except RecursionError:
            error = None
        messages = tuple(kernel.take_console())
        declined.update(dict.fromkeys(m for m in messages if m.startswith(_DECLINED)))
        if error is None:
            failed(ValidationFailure(mod.name, "unload", 0, (_TOO_DEEP,)))
        elif error:
            failed(ValidationFailure(mod.name, "unload", error, _shorten(messages)))
        else:
            result.unloaded.append(mod.name)
    if declined:
        result.note = "; ".join([*([result.note] if result.note else []),
                                 *(m.removeprefix("emulate: ") for m in declined)])
    for report in getattr(modcmd, "reports", ()):
        if not report.fatal:          # leaks, leftovers; fatal ones failed their operation
            text = report.message.removeprefix(f"{report.module}: ")
            failed(ValidationFailure(
                report.module, "load" if report.command == "INIT" else "unload", 0, (text,)))
    result.seconds = time.perf_counter() - start
    return result


def warm_up() -> None:
    """Import the emulator and the kernel API's hooks (a build calls this on a thread
    of its own while it waits for compilers: 80-90 ms its simulation step no longer
    spends).  Anything going wrong is left for the simulation to meet and report."""
    try:
        from kmodbuild.emulate import available
        if available():
            import kmodbuild.emulate.strategy  # noqa: F401
            from kmodbuild import kapi
            kapi.load()
    except Exception:  # noqa: BLE001, S110 - the simulation step reports it in its words
        pass
