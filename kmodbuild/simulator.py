"""kmodbuild.simulator - a NetBSD kernel's module subsystem (kern_module.c 1.161), simulated.

:class:`SimKernel` holds the state of spec §6 (loaded list newest first,
disabled built-ins, boot-loader list, ksyms order, reference counts, flags,
``kern.module.*`` sysctls, securelevel) and implements modload/modunload/
modstat, autoload through the events that trigger it (mount, exec, device
open, missing syscall), the auto-unload thread and boot, check for check in
the kernel's order with the kernel's errno (spec §3.3-§3.8, §5).

Linking is real (:mod:`kmodbuild.kobj`).  ``modcmd`` is an injected
strategy (:class:`ModcmdStrategy`); the default returns 0, and a fault map
(``fail NAME INIT EBUSY`` in scenarios) overrides it per module and command.
Nothing here prints: kernel console lines collect in ``SimKernel.console``.
Boot is in :mod:`kmodbuild.simboot`, the autoload events in
:mod:`kmodbuild.simevents`.
"""
from __future__ import annotations

import errno as _host_errno
import hashlib
import os
import plistlib
import stat
import sys
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kmodbuild import kobj as K
from kmodbuild.errors import KmodError, LoadError, ModuleFormatError
from kmodbuild.kobj import (
    EBUSY,
    EDEADLK,
    EEXIST,
    EFAULT,
    EFBIG,
    EINVAL,
    ENAMETOOLONG,
    ENOENT,
    ENOEXEC,
    ENOMEM,
    ENOTTY,
    EOPNOTSUPP,
    EPERM,
    EPROGMISMATCH,
    Kobj,
    Ksyms,
    ModuleMap,
)
from kmodbuild.kobj_machdep import PLACEMENT_FREE
from kmodbuild.model import MODULE_CLASS_MAX, MODULE_CLASS_NAMES, ModuleObject
from kmodbuild.target import NetBSDVersion, Target, compatible

# module.h 1.48 constants (spec §1.4)
MODULE_CLASS_ANY, MODULE_CLASS_MISC, MODULE_CLASS_VFS, MODULE_CLASS_DRIVER = 0, 1, 2, 3
MODULE_CLASS_EXEC, MODULE_CLASS_SECMODEL, MODULE_CLASS_BUFQ = 4, 5, 6
MODULE_SOURCE_KERNEL, MODULE_SOURCE_BOOT, MODULE_SOURCE_FILESYS = 0, 1, 2
SOURCE_NAMES = {0: "builtin", 1: "boot", 2: "filesys"}
MODFLG_MUST_FORCE, MODFLG_AUTO_LOADED = 0x01, 0x02
MODCTL_LOAD_FORCE, MODCTL_NO_PROP = 0x1, 0x2
MODULE_CMD_INIT, MODULE_CMD_FINI, MODULE_CMD_STAT, MODULE_CMD_AUTOUNLOAD = 0, 1, 2, 3
CMD_NAMES = {"INIT": 0, "FINI": 1, "STAT": 2, "AUTOUNLOAD": 3}
MAXMODNAME = 32
MAXPATHLEN = 1024
NAME_MAX = 255                 # one path component (namei: ENAMETOOLONG beyond)
MAXPROPSLEN = 4096             # sys_module.c: a modload props blob larger is ENOMEM
PLIST_MAX = 8191               # module_load_plist_vfs(): buffer of 8192 with the NUL
_LOADED_LOG_KEEP = 4096        # SimKernel.loaded_log: at least this many recent changes
CLASS_BY_NAME = {v: k for k, v in MODULE_CLASS_NAMES.items()}


class ModcmdStrategy(Protocol):
    """How ``mi_modcmd`` runs (:class:`kmodbuild.emulate.strategy.EmulatedModcmd` emulates it).

    ``run(module, cmd)`` returns the modcmd's result (0 or an errno);
    ``module.kobj`` gives the relocated image (``regions``, ``symvalue``,
    ``find_section``) and ``module.modcmd`` its entry address (``None`` for
    built-ins described without an image).
    """

    def run(self, module: Module, cmd: int) -> int: ...


class NullModcmd:
    """Every modcmd returns 0 (the simulator's default, spec issue §5)."""

    def run(self, module: Module, cmd: int) -> int:
        return 0


@dataclass(eq=False)
class Module:
    """One ``module_t``: identity from its modinfo, plus kernel bookkeeping (spec §6.2)."""

    name: str
    module_class: int
    version: int
    required: str | None
    source: int
    refcnt: int = 0
    flags: int = 0
    autotime: int = 0
    requires: list[Module] = field(default_factory=list)
    kobj: Kobj | None = None
    path: str | None = None
    modcmd: int | None = None
    props: dict[str, Any] | None = None
    exports: tuple[str, ...] = ()

    @property
    def class_name(self) -> str:
        """modstat's CLASS text."""
        return MODULE_CLASS_NAMES.get(self.module_class, "UNKNOWN")


@dataclass(frozen=True)
class BuiltinSpec:
    """A module compiled into the kernel: name, class, ``mi_required``, exported globals."""

    name: str
    module_class: int
    required: str | None = None
    exports: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModStat:
    """One ``modstat_t`` (spec §3.9); ``refcnt`` is -1 for a disabled built-in."""

    name: str
    module_class: int
    source: int
    flags: int
    refcnt: int
    address: int
    size: int
    required: str


#: kern_syscall.c / syscalls.master: system calls whose missing handler autoloads a
#: module (``sys_nomodule``; spec §3.7).  number -> (syscall, module).
SYSCALL_AUTOLOAD: dict[int, tuple[str, str]] = {
    221: ("semget", "sysv_ipc"), 222: ("semop", "sysv_ipc"), 225: ("msgget", "sysv_ipc"),
    226: ("msgsnd", "sysv_ipc"), 227: ("msgrcv", "sysv_ipc"), 228: ("shmat", "sysv_ipc"),
    230: ("shmdt", "sysv_ipc"), 231: ("shmget", "sysv_ipc"),
    247: ("_ksem_init", "ksem"), 248: ("_ksem_open", "ksem"), 249: ("_ksem_unlink", "ksem"),
    250: ("_ksem_close", "ksem"), 251: ("_ksem_post", "ksem"), 252: ("_ksem_wait", "ksem"),
    253: ("_ksem_trywait", "ksem"), 254: ("_ksem_getvalue", "ksem"),
    255: ("_ksem_destroy", "ksem"), 256: ("_ksem_timedwait", "ksem"),
    257: ("mq_open", "mqueue"), 258: ("mq_close", "mqueue"), 259: ("mq_unlink", "mqueue"),
    260: ("mq_getattr", "mqueue"), 261: ("mq_setattr", "mqueue"), 262: ("mq_notify", "mqueue"),
    263: ("mq_send", "mqueue"), 264: ("mq_receive", "mqueue"),
    429: ("aio_cancel", "aio"), 430: ("aio_error", "aio"), 431: ("aio_fsync", "aio"),
    432: ("aio_read", "aio"), 433: ("aio_return", "aio"), 435: ("aio_write", "aio"),
    436: ("lio_listio", "aio"),
}

#: kern_exec.c exec_autoload(): tried, class EXEC, when no exec switch entry takes a
#: binary; the native list when no entry exists at all, else the compat list.
EXEC_AUTOLOAD_NATIVE: tuple[str, ...] = ("exec_elf32", "exec_elf64", "exec_script")
EXEC_AUTOLOAD_COMPAT: tuple[str, ...] = (
    "exec_elf32", "exec_elf64", "exec_script", "exec_aout", "exec_coff", "exec_ecoff",
    "compat_aoutm68k", "compat_netbsd32", "compat_sunos", "compat_sunos32", "compat_ultrix")

#: binary type -> the EXEC module whose exec switch entry runs it.
EXEC_FORMATS: dict[str, str] = {
    "elf32": "exec_elf32", "elf64": "exec_elf64", "script": "exec_script", "aout": "exec_aout",
    "coff": "exec_coff", "ecoff": "exec_ecoff", "demo": "exec_demo",
}


@dataclass
class KernelConfig:
    """The kernel being simulated: target, version, symbol manifest, built-ins, options.

    ``symbols`` are ``(name, size)`` pairs of the kernel's exported globals
    (its manifest).  ``insecure`` is ``options INSECURE`` (securelevel -1 at
    boot); ``securelevel`` overrides the starting level.  ``autoload``
    defaults to true (``options MODULAR_DEFAULT_AUTOLOAD``, as amd64 GENERIC).
    """

    target: Target
    version: NetBSDVersion
    symbols: tuple[tuple[str, int], ...] = ()
    #: the names in ``symbols`` that are functions: laid out first, their pages
    #: read-only and executable (empty: every symbol in one writable image)
    functions: frozenset[str] = frozenset()
    builtins: tuple[BuiltinSpec, ...] = ()
    insecure: bool = True
    securelevel: int | None = None
    autoload: bool = True
    verbose: bool = False
    autotime: int = 10
    syscalls: dict[int, tuple[str, str]] = field(default_factory=lambda: dict(SYSCALL_AUTOLOAD))
    exec_formats: dict[str, str] = field(default_factory=lambda: dict(EXEC_FORMATS))
    exec_native: tuple[str, ...] = EXEC_AUTOLOAD_NATIVE
    exec_compat: tuple[str, ...] = EXEC_AUTOLOAD_COMPAT
    devices: dict[str, str] = field(default_factory=dict)
    layout: K.AddressLayout | None = None

    @property
    def module_base(self) -> str:
        """``module_base`` (spec §3.1): ``/stand/<machine>/<osrelease or MM.mm>/modules``."""
        return f"/stand/{self.target.kmodulearchdir}/{self.version.osrelease}/modules"


Reader = Callable[[str, Target], ModuleObject]


@dataclass(frozen=True)
class DependencyFailure:
    """A dependency load (step 11) that failed, remembered to be answered again
    (:meth:`SimKernel.remember_failed_dependencies`).

    ``state`` is :meth:`SimKernel.dependency_state` when it ran; ``error`` its errno;
    ``console`` the lines it printed; ``names`` the mi_names whose pending check (step
    10) it made, a bit per name (the kernel numbers the names it meets).
    """

    state: tuple[Any, ...]
    error: int
    console: tuple[str, ...]
    names: int


#: One level of module_do_load()/module_do_builtin() as a generator: it yields the
#: generator of a nested level (a dependency) and is sent that level's result, so a
#: chain of any depth runs in a loop (SimKernel._run_steps), not in Python's stack.
Steps = Generator["Steps", tuple[int, "Module | None"], tuple[int, "Module | None"]]


def host_errno(e: OSError) -> int:
    """The NetBSD errno for a host file-system error (ENAMETOOLONG is 63 there, 36 on
    Linux); one NetBSD does not name the same way reads as EIO."""
    name = _host_errno.errorcode.get(e.errno or 0, "")
    return K.ERRNO_BY_NAME.get(name, 5)


def namei_check(kpath: str) -> int:
    """namei()'s length rules for kernel path ``kpath``: 0, or ENAMETOOLONG when the
    path is MAXPATHLEN bytes or longer or one of its components is over NAME_MAX."""
    raw = kpath.encode("utf-8", "surrogateescape")
    if len(raw) >= MAXPATHLEN or any(len(c) > NAME_MAX for c in raw.split(b"/")):
        return ENAMETOOLONG
    return 0


def props_length(props: Mapping[str, Any]) -> int:
    """The length of the props blob modload(8) passes: the dictionary externalized as
    XML (prop_dictionary_externalize(); plistlib writes the same format)."""
    try:
        return len(plistlib.dumps(dict(props), fmt=plistlib.FMT_XML))
    except (TypeError, ValueError, OverflowError):
        # a value plistlib refuses (a control character): count its text at least
        return sum(len(str(k).encode()) + len(str(v).encode()) + 40
                   for k, v in props.items()) + 200


def _default_reader(path: str, target: Target) -> ModuleObject:
    from kmodbuild.elf import read_module
    return read_module(path, target)


def _BUILTIN_PROBLEM(line: str) -> bool:
    """A boot line about a built-in the kernel's description gets wrong (a duplicate
    name, a built-in requiring itself): shown even by a kernel made booted."""
    return line.startswith("WARNING: module error: ") and (
        (line.startswith("builtin ", 23) and " failed: " in line)
        or "circular dependency detected for built-in" in line)


def _plain_below(root: str, rel: str) -> bool:
    """True when ``root/rel`` certainly stays below ``root``: ``rel`` has no ``..`` and
    none of its components that exist is a symlink (one ``lstat`` each, where resolving
    the whole path costs ten times more: a tree load resolves 1,500 paths)."""
    parts = rel.split("/")
    if ".." in parts:
        return False
    path = root
    for part in parts:
        if not part or part == ".":
            continue
        path = f"{path}/{part}"
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return False
        except FileNotFoundError:
            return True                     # the rest does not exist: no link below
        except (OSError, ValueError):       # ValueError: a NUL byte in the name
            return False
    return True


class SimKernel:
    """A running kernel's module subsystem.  See the module docstring.

    Args:
        config: the kernel description.
        stand: host directory standing for ``/stand`` (holds ``<machine>/<rel>/modules``).
        reader: reads a ``.kmod`` into a :class:`ModuleObject`
            (default :func:`kmodbuild.elf.read_module`).
        modcmd: the :class:`ModcmdStrategy` (default :class:`NullModcmd`).
        cwd: directory relative module paths are opened from.
        booted: start as a booted multi-user kernel (root mounted, built-ins initialised).
    """

    def __init__(self, config: KernelConfig, stand: Path | str, *, reader: Reader | None = None,
                 modcmd: ModcmdStrategy | None = None, cwd: Path | str | None = None,
                 booted: bool = True) -> None:
        self.config = config
        self.target = config.target
        self.stand = Path(stand)
        self._stand_real: Path | None = None
        self.cwd = Path(cwd) if cwd is not None else Path.cwd()
        self.reader: Reader = reader or _default_reader
        self.modcmd_strategy: ModcmdStrategy = modcmd or NullModcmd()
        self.faults: dict[tuple[str, int], int] = {}
        self.console: list[str] = []
        self.euid = 0
        self.boot_state: dict[str, Any] = {}
        self._file_cache: dict[str, tuple[float, ModuleObject]] = {}
        #: ``--verify``: host path (realpath) -> SHA-256 recorded at install; None: off.
        self.verify_hashes: dict[str, str] | None = None
        #: failed dependency loads, by (name, flags); None: not remembered (the default)
        self.dependency_failures: dict[tuple[str, int], DependencyFailure] | None = None
        self.reset()
        if booted:
            from kmodbuild.simboot import boot
            boot(self, [], None)
            # the boot's lines are not shown, but those saying the kernel's description
            # is wrong (a built-in refused) are
            self.console[:] = [line for line in self.console if _BUILTIN_PROBLEM(line)]

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Power on: empty lists, kernel symbols, sysctls and securelevel at their defaults."""
        cfg = self.config
        layout = cfg.layout or K.layout_for(self.target)
        self.layout = layout
        self.module_map = ModuleMap(layout.module_base, layout.page_size)
        self.ksyms = Ksyms()
        kernel_syms = list(cfg.symbols)
        for b in cfg.builtins:        # built-in modules are part of the kernel image
            kernel_syms.extend((s, 16) for s in b.exports)
        table, self.kernel_text_end = K.kernel_image_layout(
            kernel_syms, layout.kernel_base, cfg.functions, layout.page_size)
        self.ksyms.add("netbsd", table)
        self.loaded: list[Module] = []        # newest first; changed by enqueue/unload only
        self._by_name: dict[str, Module] = {}   # the first module of each name in loaded
        # every change to loaded, oldest first: (True, module) added, (False, module)
        # removed; entry k is change number loaded_log_base + k (older ones are dropped
        # to bound the list).  Lets an observer (kmodbuild.emulate.machine) follow the
        # list without comparing all of it at each step.
        self.loaded_log: list[tuple[bool, Module]] = []
        self.loaded_log_base = 0
        # module_init(): each built-in onto module_builtins; a second one of a name is
        # refused (EEXIST, spec §3.6), said once the console is cleared below
        self.builtins: list[Module] = []
        duplicates: list[str] = []
        names: set[str] = set()         # (a search of the list: 8,000 built-ins took 7 s)
        for b in cfg.builtins:
            if b.name in names:
                duplicates.append(b.name)
                continue
            names.add(b.name)
            self.builtins.append(Module(b.name, b.module_class, cfg.version.number, b.required,
                                        MODULE_SOURCE_KERNEL, exports=b.exports))
        self.bootlist: list[Module] = []
        self.autoload_on = cfg.autoload
        self.autotime = cfg.autotime
        self.autounload_unsafe = False
        self.verbose = cfg.verbose
        self.securelevel = cfg.securelevel if cfg.securelevel is not None else (
            -1 if cfg.insecure else 0)
        self.now = 0
        self.module_gen = 0
        self.root_mounted = False
        self.fs_loading = False          # module_load_vfs_init() ran
        self.mounts: list[str] = []
        self._pend_stack: list[list[Module]] = []
        #: modules whose modcmd is under way, outermost first: they cannot load or
        #: unload themselves (EEXIST / EBUSY, spec §3.5)
        self.modcmd_running: list[Module] = []
        self._builtin_busy: list[Module] = []     # module_do_builtin() under way
        #: the dependency chain of the last load refused with EDEADLK (mi_names, from the
        #: top-level module to the one met again, or to one requiring itself twice);
        #: read by kmodbuild.simvalidate
        self.last_cycle: list[str] = []
        #: run_modcmd() calls so far (a remembered failure ran none)
        self.modcmd_calls = 0
        # the memo of failed dependency loads (remember_failed_dependencies): emptied at
        # power-on; a bit per mi_name; a mask per dependency load under way
        if self.dependency_failures is not None:
            self.dependency_failures = {}
        self._name_bits: dict[str, int] = {}
        self._dep_frames: list[list[int]] = []
        self.console.clear()
        for name in duplicates:
            self.module_error(f"builtin {name} failed: {EEXIST}")
        attach = getattr(self.modcmd_strategy, "attach", None)
        if attach is not None:         # a strategy with kernel state (emulation) restarts too
            attach(self)

    @property
    def module_base(self) -> str:
        """``kern.module.path``."""
        return self.config.module_base

    def take_console(self) -> list[str]:
        """Return and clear the console lines printed since the last call."""
        out, self.console[:] = list(self.console), []
        return out

    def module_error(self, text: str) -> None:
        """``module_error()``: always printed (spec §3.11)."""
        self.console.append(f"WARNING: module error: {text}")

    def module_print(self, text: str) -> None:
        """``module_print()``: printed only with ``kern.module.verbose``."""
        if self.verbose:
            self.console.append(f"DEBUG: module: {text}")

    def lookup(self, name: str) -> Module | None:
        """``module_lookup()``: a loaded module called ``name``."""
        return self._by_name.get(name)

    def run_modcmd(self, mod: Module, cmd: int) -> int:
        """``mi_modcmd(cmd)``: the fault map first, then the strategy.  While it runs,
        ``mod`` is on :attr:`modcmd_running`."""
        self.modcmd_calls += 1
        fault = self.faults.get((mod.name, cmd))
        if fault is not None:
            return fault
        running = self.modcmd_running
        running.append(mod)
        try:
            return self.modcmd_strategy.run(mod, cmd)
        finally:
            if running and running[-1] is mod:
                running.pop()

    def _modcmd_running(self, name: str) -> Module | None:
        return next((m for m in self.modcmd_running if m.name == name), None)

    # ------------------------------------------------------------------ permissions
    def kauth_module(self, autoload: bool) -> int:
        """``kauth_authorize_system(KAUTH_SYSTEM_MODULE)`` (spec §3.8): 0 or EPERM."""
        if self.securelevel > 0:           # secmodel_securelevel: DENY
            return EPERM
        if autoload:                       # kern_module.c's own listener: ALLOW
            return 0
        return 0 if self.euid == 0 else EPERM   # secmodel_suser

    # ------------------------------------------------------------------ modctl
    def modctl_load(self, filename: str, flags: int = 0,
                    props: Mapping[str, Any] | None = None) -> int:
        """MODCTL_LOAD (modload(8)): 0 or the errno."""
        if len(filename.encode("utf-8", "surrogateescape")) >= MAXPATHLEN:
            return ENAMETOOLONG
        # sys_module.c handle_modctl_load(): the props blob before module_load()
        if props is not None and props_length(props) > MAXPROPSLEN:
            return ENOMEM
        if self.lookup(filename) is not None:              # §3.3 module_load step 1
            self.module_print(f"requested module `{filename}' already loaded")
            return EEXIST
        error = self.kauth_module(False)
        if error:
            return error
        error, _ = self.do_load(filename, False, flags, dict(props) if props else None,
                                MODULE_CLASS_ANY, False)
        return error

    def modload(self, filename: str, *, force: bool = False, no_props: bool = False,
                props: Mapping[str, Any] | None = None) -> None:
        """modload(8) ``[-f] [-P] filename``.

        Raises:
            LoadError: ``modload: <name>: <strerror>`` with the errno as ``code``.
        """
        flags = (MODCTL_LOAD_FORCE if force else 0) | (MODCTL_NO_PROP if no_props else 0)
        error = self.modctl_load(filename, flags, props)
        if error:
            raise LoadError(f"modload: {filename}: {K.strerror(error)}", error)

    def modctl_unload(self, name: str) -> int:
        """MODCTL_UNLOAD (modunload(8)): 0 or the errno."""
        if len(name) >= MAXMODNAME:
            return ENAMETOOLONG
        error = self.kauth_module(False)
        if error:
            return error
        return self.do_unload(name, True)

    def modunload(self, name: str) -> None:
        """modunload(8) ``name``.

        Raises:
            LoadError: ``modunload: <name>: <strerror>``.
        """
        error = self.modctl_unload(name)
        if error:
            raise LoadError(f"modunload: {name}: {K.strerror(error)}", error)

    def modctl_exists(self, autoload: bool) -> int:
        """MODCTL_EXISTS(0|1): the kauth result (does not look at kern.module.autoload)."""
        return self.kauth_module(autoload)

    def modstat(self) -> list[ModStat]:
        """MODCTL_STAT: loaded modules (newest first), then disabled built-ins (refcnt -1).

        Without permission address and size read 0 (spec §3.8).
        """
        visible = self.kauth_module(False) == 0
        out: list[ModStat] = []
        for m in self.loaded:
            addr, size = m.kobj.stat() if (m.kobj is not None and visible) else (0, 0)
            out.append(ModStat(m.name, m.module_class, m.source, m.flags, m.refcnt, addr, size,
                               m.required or ""))
        for m in self.builtins:
            out.append(ModStat(m.name, m.module_class, m.source, 0, -1, 0, 0, m.required or ""))
        return out

    # ------------------------------------------------------------------ autoload
    def module_autoload(self, name: str, module_class: int, comm: str = "sh",
                        pid: int = 100) -> int:
        """``module_autoload()`` (spec §3.3): 0 or the errno."""
        if not self.autoload_on:
            error = EPERM
        elif "/" in name or "@" in name or "." in name:
            error = EPERM
        else:
            error = self.kauth_module(True)
            if not error:
                error, _ = self.do_load(name, False, 0, None, module_class, True)
        self.module_print(f"Autoload for `{name}' requested by pid {pid} ({comm}), "
                          f"status {error}")
        return error

    # ------------------------------------------------------------------ load
    def _read_file(self, name: str, autoload: bool) -> tuple[int, str]:
        """module_load_vfs() path rules (spec §3.1): (0, kernel path) or (errno, '')."""
        if not self.fs_loading:
            return EOPNOTSUPP, ""
        if "/" in name:
            if autoload:
                return ENOENT, ""
            return 0, name
        return 0, f"{self.module_base}/{name}/{name}.kmod"

    def host_path(self, kpath: str) -> Path:
        """The host file standing for kernel path ``kpath``, never outside the stand root.

        A path that leaves it (``..``, a symlink pointing out, an absolute path
        elsewhere) stands for a file that does not exist: the simulator reads no
        host file outside its ``/stand``.
        """
        if kpath.startswith("/stand/"):
            rel = kpath[len("/stand/"):]
            p = self.stand / rel
            if _plain_below(str(self.stand), rel):
                return p
        else:
            p = Path(kpath)
            p = p if p.is_absolute() else self.cwd / p
        try:
            if self._stand_real is None:      # resolved once: a tree load resolves 500 paths
                self._stand_real = self.stand.resolve()
            if p.resolve().is_relative_to(self._stand_real):
                return p
        except (OSError, RuntimeError, ValueError):  # a symlink loop; a NUL byte
            pass
        return self.stand / ".outside-stand-root"

    def verify_file(self, host: Path, koname: str) -> int:
        """``--verify``, veriexec-style with the install's METALOG as the fingerprint table:
        0, or EPERM when the file's SHA-256 is not the one recorded at install."""
        if self.verify_hashes is None:
            return 0
        try:
            if not host.is_file():
                return 0
            digest = hashlib.sha256(host.read_bytes()).hexdigest()
        except OSError:
            return 0                        # load_object() reports it
        want = self.verify_hashes.get(os.path.realpath(host))
        if want == digest:
            return 0
        why = "not in the METALOG" if want is None else "SHA-256 does not match the METALOG"
        self.console.append(f"veriexec: [{koname}]: {why}, not loaded")
        return EPERM

    def read_module(self, host: Path) -> ModuleObject:
        """Read (and cache by mtime) the module file ``host``."""
        key = str(host)
        mtime = host.stat().st_mtime
        hit = self._file_cache.get(key)
        if hit is not None and hit[0] == mtime:
            return hit[1]
        mo = self.reader(key, self.target)
        self._file_cache[key] = (mtime, mo)
        return mo

    def load_object(self, host: Path, koname: str) -> tuple[int, Kobj | None]:
        """Read the host file ``host`` and ``kobj_load()`` it: (0, kobj) or (errno, None).

        A host error (a name too long for the host's file system, EACCES) is the errno
        the kernel's namei() or VOP_READ() gives for it (:func:`host_errno`).
        """
        try:
            if not host.exists():
                return ENOENT, None
            if host.is_dir():
                return K.EISDIR, None
            mo = self.read_module(host)
        except OSError as e:
            return host_errno(e), None
        except ModuleFormatError as e:
            text = e.message[len("linker error: "):] if e.message.startswith("linker error: ") \
                else e.message
            self.console.append(f"kobj_load, 0: [{koname}]: linker error: {text}")
            return ENOEXEC, None
        except KmodError as e:
            self.console.append(f"kobj_load, 0: [{koname}]: linker error: {e.message}")
            return ENOEXEC, None
        try:
            ko = K.kobj_load(mo, self.target, koname, self.module_map, self.ksyms, self.console)
        except LoadError as e:
            return e.code, None
        return 0, ko

    def fetch_info(self, ko: Kobj, mod_source: int, path: str | None) -> tuple[int, Module | None]:
        """``module_fetch_info()``: read ``modinfo_t`` through ``link_set_modules`` (spec §1.2)."""
        psize = self.target.pointer_size
        sec = ko.find_section("link_set_modules")
        if sec is None:
            self.module_error(f"`link_set_modules' section not present, error {ENOENT}")
            return ENOENT, None
        addr, size = sec
        if size != psize:
            if size > psize and size % psize == 0:
                self.module_error(f"`link_set_modules' section wrong size ({size // psize} "
                                  f"different MODULE declarations?)")
            else:
                self.module_error(f"`link_set_modules' section wrong size (got {size}, "
                                  f"wanted {psize})")
            return ENOEXEC, None
        try:
            mi = ko.rd(addr, psize)
            version, mclass = ko.rd(mi, 4), ko.rd(mi + 4, 4)
            mclass -= (1 << 32) if mclass >> 31 else 0          # modclass_t is an int
            modcmd = ko.rd(mi + 8, psize)
            pname = ko.rd(mi + (16 if psize == 8 else 12), psize)
            preq = ko.rd(mi + (24 if psize == 8 else 16), psize)
            # both to their NUL, bounded by the region (spec §1.5: mi_required has no
            # length limit; a name of 32 or more is refused whole in module_do_load)
            name = ko.read_cstring(pname, sys.maxsize)
            required = ko.read_cstring(preq, sys.maxsize) if preq else None
        except LoadError:
            self.module_error(f"modinfo of `{ko.name}' points outside the module")
            return ENOEXEC, None
        return 0, Module(name, mclass, version, required, mod_source, kobj=ko, path=path,
                         modcmd=modcmd)

    def do_load(self, name: str, isdep: bool, flags: int, props: dict[str, Any] | None,
                module_class: int, autoload: bool) -> tuple[int, Module | None]:
        """``module_do_load()`` (spec §3.3 steps 1-19): (errno, module).

        A dependency chain of any depth: each level is a generator (:data:`Steps`)
        run by :meth:`_run_steps` in a loop, not a Python call per level.
        """
        return self._run_steps(self._load_steps(name, isdep, flags, props, module_class,
                                                autoload))

    @staticmethod
    def _run_steps(first: Steps) -> tuple[int, Module | None]:
        """Run a generator of :data:`Steps` and the levels it yields, innermost first;
        an exception unwinds level by level (each one's ``finally`` runs)."""
        stack = [first]
        value: tuple[int, Module | None] | None = None
        failure: BaseException | None = None
        while True:
            top = stack[-1]
            try:
                if failure is not None:
                    nested = top.throw(failure)
                else:
                    nested = top.send(value)  # type: ignore[arg-type]
            except StopIteration as stop:
                stack.pop()
                failure = None
                if not stack:
                    return stop.value  # type: ignore[no-any-return]
                value = stop.value
                continue
            except BaseException as e:     # passed on to the level below
                stack.pop()
                if not stack:
                    raise
                failure, value = e, None
                continue
            stack.append(nested)
            value = failure = None

    def _load_steps(self, name: str, isdep: bool, flags: int, props: dict[str, Any] | None,
                    module_class: int, autoload: bool) -> Steps:
        # 1. a disabled or not yet initialised built-in of this name
        for b in self.builtins:
            if b.name == name:
                if b.flags & MODFLG_MUST_FORCE and not flags & MODCTL_LOAD_FORCE:
                    if not autoload:
                        self.module_error(f"use -f to reinstate builtin module `{name}'")
                    return EPERM, None
                return (yield self._builtin_steps(None, name))
        if not isdep:
            self._pend_stack.append([])
        try:
            return (yield from self._do_load(name, isdep, flags, props, module_class,
                                             autoload))
        finally:
            if not isdep:
                self._pend_stack.pop()

    def _do_load(self, name: str, isdep: bool, flags: int, props: dict[str, Any] | None,
                 module_class: int, autoload: bool) -> Steps:
        pending = self._pend_stack[-1]
        filedict: dict[str, Any] | None = None
        # 2. the boot-loader list
        mod = next((m for m in self.bootlist if m.name == name), None)
        if mod is not None:
            self.bootlist.remove(mod)
        else:
            # 3. already loaded, else read it from the file system.  A module whose
            # modcmd is under way counts as loaded: its INIT cannot load it again
            # (module.9; the kernel would recurse without end)
            existing = self.lookup(name)
            if existing is not None or self._modcmd_running(name) is not None:
                self.module_print(f"{'dependent' if isdep else 'requested'} module `{name}' "
                                  f"already loaded")
                return EEXIST, existing
            error, kpath = self._read_file(name, autoload)
            koname = K.kobj_setname(kpath, self.module_base) if kpath else name
            ko = None
            if not error:
                error = namei_check(kpath)
            if not error:
                error = self.verify_file(self.host_path(kpath), koname)
            if not error:
                error, ko = self.load_object(self.host_path(kpath), koname)
            if error or ko is None:
                if self.fs_loading:     # before mountroot the hook is eopnotsupp: no message
                    self.module_print(f"Cannot {'auto' if autoload else ''}load kernel object "
                                      f"`{name}' error={error}")
                return error, None
            error, filedict = self._load_plist(kpath, flags, autoload)
            if error:
                K.kobj_unload(ko, self.module_map, self.ksyms)
                return error, None
            error, mod = self.fetch_info(ko, MODULE_SOURCE_FILESYS, kpath)
            if error or mod is None:
                K.kobj_unload(ko, self.module_map, self.ksyms)
                return error, None
        error = yield from self._check_and_link(mod, name, isdep, flags, props, filedict,
                                                module_class, pending)
        if error:
            if mod in pending:
                pending.remove(mod)
            if mod.kobj is not None:
                K.kobj_unload(mod.kobj, self.module_map, self.ksyms)
            return error, None
        # 17. success: head of module_list, references on what it requires
        self.enqueue(mod)
        # 18. auto-unload bookkeeping
        if autoload and self.autotime > 0:
            mod.autotime = self.now + self.autotime
            mod.flags |= MODFLG_AUTO_LOADED
        self.module_print(f"module `{mod.name}' loaded successfully")
        return 0, mod

    def _check_and_link(self, mod: Module, name: str, isdep: bool, flags: int,
                        props: dict[str, Any] | None, filedict: dict[str, Any] | None,
                        module_class: int, pending: list[Module]
                        ) -> Generator[Steps, tuple[int, Module | None], int]:
        """Steps 4-16 of module_do_load(); 0 or the errno (the caller unloads)."""
        kver = self.config.version.number
        if len(mod.name) >= MAXMODNAME:                                       # 4
            self.module_error(f"module name `{mod.name}' longer than {MAXMODNAME}")
            return EINVAL
        if mod.module_class <= MODULE_CLASS_ANY or mod.module_class >= MODULE_CLASS_MAX:  # 5
            self.module_error(f"module `{mod.name}' has invalid class {mod.module_class}")
            return EINVAL
        if not compatible(mod.version, kver):                                  # 6
            self.module_error(f"module `{mod.name}' built for `{mod.version}', system `{kver}'")
            if not flags & MODCTL_LOAD_FORCE:
                return EPROGMISMATCH
            self.module_error("forced load, system may be unstable")
        if module_class not in (MODULE_CLASS_ANY, mod.module_class):           # 7
            self.module_error(f"incompatible module class {mod.module_class} for "
                              f"`{mod.name}' (wanted {module_class})")
            return ENOENT
        if isdep and mod.name != name:                                         # 8
            self.module_error(f"dependency name mismatch (`{name}' != `{mod.name}')")
            return ENOENT
        if mod.source == MODULE_SOURCE_FILESYS and (                           # 9
                self.lookup(mod.name) is not None
                or self._modcmd_running(mod.name) is not None):
            self.module_error(f"module with name `{mod.name}' already loaded")
            return EEXIST
        if self._dep_frames:     # the pending check a remembered failure depends on
            self._dep_frames[-1][0] |= self._name_bit(mod.name)
        if any(p.name == mod.name for p in pending):                           # 10
            self.last_cycle = [p.name for p in pending] + [mod.name]
            self.module_error(f"circular dependency detected for `{mod.name}'")
            return EDEADLK
        pending.append(mod)
        for dep in _required_tokens(mod.required):                             # 11
            if len(dep) + 1 >= MAXMODNAME:
                self.module_error(f"required module name `{mod.required}' longer than "
                                  f"{MAXMODNAME}")
                return EINVAL
            if dep == mod.name:
                self.last_cycle = [p.name for p in pending] + [mod.name]
                self.module_error(f"self-dependency detected for `{mod.name}'")
                return EDEADLK
            error, dmod = yield self._dependency_steps(dep, flags)
            if error not in (0, EEXIST) or dmod is None:
                self.module_error(f"recursive load failed for `{mod.name}' (`{dep}' "
                                  f"required), error {error}")
                return error or ENOENT
            mod.requires.append(dmod)
        pending.remove(mod)
        if mod.kobj is not None:                                               # 12
            try:
                K.kobj_affix(mod.kobj, mod.name, self.module_map, self.ksyms)
            except LoadError as e:
                mod.kobj = None          # kobj_affix() destroyed it
                mod.requires.clear()
                self.module_error(f"unable to affix module `{mod.name}', error {e.code}")
                return e.code
            mod.exports = tuple(mod.kobj.exports())
        if filedict is not None:                                               # 13
            merged = dict(filedict)
            merged.update(props or {})
            mod.props = merged
        else:
            mod.props = props
        error = self.run_modcmd(mod, MODULE_CMD_INIT)                          # 14-15
        if error:
            self.module_error(f"modcmd(CMD_INIT) failed for `{mod.name}', error {error}")
            mod.requires.clear()
            return error
        if self.lookup(mod.name) is not None:                                  # 16
            self.run_modcmd(mod, MODULE_CMD_FINI)
            self.module_error(f"recursive load causes duplicate module `{mod.name}'")
            mod.requires.clear()
            return EEXIST
        return 0

    # ------------------------------------------------------------------ failed dependencies
    def remember_failed_dependencies(self) -> None:
        """Answer a dependency load that failed before without doing it again, when the
        kernel is as it was then (:meth:`_dependency_steps`): the same errno and console
        lines.  ``kmodbuild sim --validate`` turns it on (:mod:`kmodbuild.simvalidate`):
        the load of each module of a chain whose bottom fails loads the chain down to
        the bottom again, a time quadratic in the chain's length."""
        if self.dependency_failures is None:
            self.dependency_failures = {}

    def dependency_state(self) -> tuple[Any, ...]:
        """What a dependency load reads of the kernel besides the pending list (step 10),
        the module files and the fault map: the loaded list (``module_gen`` counts its
        changes, built-ins taken onto it or put back included), the ksyms tables and
        where ``module_map`` puts the next modules (:meth:`_placement`), the boot-loader
        list, the modules whose modcmd or built-in initialisation is under way, the
        built-ins and their flags, ``kern.module.verbose``, whether modules can be read
        yet, the ``--verify`` table (set once, before the first load)."""
        return (self.module_gen, len(self.ksyms.tables), self._placement(),
                tuple(map(id, self.bootlist)), tuple(map(id, self.modcmd_running)),
                tuple(map(id, self._builtin_busy)),
                tuple((id(b), b.flags) for b in self.builtins),
                self.verbose, self.fs_loading, id(self.verify_hashes))

    def _placement(self) -> tuple[int, tuple[tuple[int, int], ...]] | None:
        """Where ``module_map`` puts the next modules: its state; None for "one after the
        other from its end" on a port whose links do not depend on addresses
        (:data:`kmodbuild.kobj_machdep.PLACEMENT_FREE`) -- the next modules' layout is then
        the same wherever that end is, and so is what their loads do and say."""
        state = self.module_map.state()
        if not state[1] and self.target.machine_arch in PLACEMENT_FREE:
            return None
        return state

    def _name_bit(self, name: str) -> int:
        bit = self._name_bits.get(name)
        if bit is None:
            bit = self._name_bits[name] = 1 << len(self._name_bits)
        return bit

    def _pending_bits(self) -> int:
        """The name bits of the modules pending in the current load (step 10's list)."""
        mask = 0
        for p in self._pend_stack[-1]:
            mask |= self._name_bits.get(p.name, 0)
        return mask

    def _note_names(self, mask: int) -> None:
        """Tell the dependency load under way (if any) of pending checks made below it."""
        if self._dep_frames:
            self._dep_frames[-1][0] |= mask

    def _dependency_steps(self, name: str, flags: int) -> Steps:
        """Step 11's load of the required module ``name`` (an autoload of class ANY),
        answered from the memo of failed ones when that is on and holds.

        Why a remembered failure is the load's answer: a dependency load is a function
        of its arguments (``name``, ``flags``: the key), of the kernel state in
        :meth:`dependency_state`, of the files it reads, of the fault map and the modcmd
        strategy, and of the pending list.  A failure is remembered only if it ran no
        modcmd (the fault map and the strategy were never asked, no modcmd changed
        anything), did not end in EDEADLK (no cycle: ``last_cycle`` untouched) nor
        EFAULT (whose message has an address), and left ``module_map`` and the rest of
        :meth:`dependency_state` as it found them: a failed load unloads what it
        linked, and the first-fit ``module_map`` merges the freed pages back.  It is
        answered only in the same state, and when none of the mi_names it checked
        against the pending list (step 10) is pending now: each of those checks passed
        then (else EDEADLK) and passes again.  ``module_map`` counts as the same
        when the modules go one after the other from its end on a port whose links do
        not look at addresses (:meth:`_placement`): each load of a chain's bottom lands
        a module further up, and links or fails the same.  Every check then goes as
        before, down to the same failure with the same lines; nothing else happened
        the first time but reads of the files, which a validation's tree does not
        change while it runs.  So the kernel, which retries the bottom of a chain each
        time, prints and returns exactly this.
        """
        memo = self.dependency_failures
        if memo is None:
            return (yield self._load_steps(name, True, flags, None, MODULE_CLASS_ANY, True))
        key, state = (name, flags), self.dependency_state()
        hit = memo.get(key)
        if hit is not None and hit.state == state and not hit.names & self._pending_bits():
            self.console.extend(hit.console)
            self._note_names(hit.names)
            return hit.error, None
        frame = [0]
        self._dep_frames.append(frame)
        start, modcmds, cycle = len(self.console), self.modcmd_calls, self.last_cycle
        placed = self.module_map.state()
        try:
            error, mod = yield self._load_steps(name, True, flags, None, MODULE_CLASS_ANY,
                                                True)
        finally:
            self._dep_frames.pop()
            self._note_names(frame[0])
        if (error not in (0, EEXIST, EDEADLK, EFAULT) and mod is None
                and self.modcmd_calls == modcmds and self.last_cycle is cycle
                and len(self.console) >= start and self.module_map.state() == placed
                and self.dependency_state() == state):
            memo[key] = DependencyFailure(state, error, tuple(self.console[start:]), frame[0])
        return error, mod

    def _load_plist(self, kpath: str, flags: int,
                    autoload: bool) -> tuple[int, dict[str, Any] | None]:
        """``<module>.plist`` beside the file (spec §3.4): (errno, dictionary)."""
        if flags & MODCTL_NO_PROP and not autoload:
            return 0, None
        ppath = kpath[:-5] + ".plist" if kpath.endswith(".kmod") else kpath + ".plist"
        host = self.host_path(ppath)
        try:
            mode = host.stat().st_mode
        except OSError:
            return 0, None                       # ENOENT is fine
        if not stat.S_ISREG(mode):
            # never opened: a FIFO would wait for a writer forever.  A directory reads
            # as EISDIR in the kernel; anything else reads as no dictionary at all.
            error = K.EISDIR if stat.S_ISDIR(mode) else EINVAL
            self.module_print(f"plist load returned error {error} for `{kpath}'")
            return error, None
        try:
            data = host.read_bytes()
        except OSError as e:                     # EACCES...: the kernel's VOP_READ error
            error = host_errno(e)
            self.module_print(f"plist load returned error {error} for `{kpath}'")
            return error, None
        if len(data) >= PLIST_MAX:
            self.module_print(f"plist load returned error {EFBIG} for `{kpath}'")
            return EFBIG, None
        try:
            value = plistlib.loads(data, fmt=plistlib.FMT_XML)
        except Exception:  # noqa: BLE001 - any parse failure is EINVAL (prop_dictionary)
            value = None
        if not isinstance(value, dict):
            self.module_print(f"plist load returned error {EINVAL} for `{kpath}'")
            return EINVAL, None
        if autoload and value.get("noautoload") is True:
            self.module_error(f"autoloading is disallowed for {kpath}")
            return EPERM, None
        return 0, (value if not flags & MODCTL_NO_PROP else None)

    def enqueue(self, mod: Module) -> None:
        """``module_enqueue()``: head of module_list, +1 ref on each required module."""
        self.loaded.insert(0, mod)
        self._by_name[mod.name] = mod
        self._log_loaded(True, mod)
        for r in mod.requires:
            r.refcnt += 1
        self.module_gen += 1

    def _log_loaded(self, added: bool, mod: Module) -> None:
        log = self.loaded_log
        if len(log) >= 2 * _LOADED_LOG_KEEP:
            del log[:_LOADED_LOG_KEEP]
            self.loaded_log_base += _LOADED_LOG_KEEP
        log.append((added, mod))

    def do_builtin(self, parent: Module | None, name: str) -> tuple[int, Module | None]:
        """``module_do_builtin()`` (spec §3.6): initialise a built-in and its requirements.

        A built-in met again while its requirements are initialised (one requiring
        itself, two requiring each other) is EDEADLK, where the kernel would recurse
        without end.
        """
        return self._run_steps(self._builtin_steps(parent, name))

    def _builtin_steps(self, parent: Module | None, name: str) -> Steps:
        mod = next((b for b in self.builtins if b.name == name), None)
        loaded = self.lookup(name)
        if loaded is not None:
            return 0, loaded
        if mod is None:
            pname = parent.name if parent is not None else name
            self.module_error(f"built-in module {pname} can't find builtin dependency `{name}'")
            return ENOENT, None
        if any(b is mod for b in self._builtin_busy):
            self.module_error(f"circular dependency detected for built-in module `{name}'")
            return EDEADLK, None
        self._builtin_busy.append(mod)
        try:
            reqs: list[Module] = []
            for dep in _required_tokens(mod.required):
                error, dmod = yield self._builtin_steps(mod, dep[:MAXMODNAME - 1])
                if error or dmod is None:
                    return error, None
                reqs.append(dmod)
        finally:
            self._builtin_busy.remove(mod)
        error = self.run_modcmd(mod, MODULE_CMD_INIT)
        if error:
            self.module_error(f"built-in module {mod.name} failed its MODULE_CMD_INIT, "
                              f"error {error}")
            return error, None
        mod.requires = reqs
        self.builtins.remove(mod)
        self.enqueue(mod)
        return 0, mod

    # ------------------------------------------------------------------ unload
    def do_unload(self, name: str, load_requires_force: bool) -> int:
        """``module_do_unload()`` (spec §3.5 steps 2-6): 0 or the errno."""
        mod = self.lookup(name)
        if mod is None:
            self.module_error(f"module `{name}' not found")
            return ENOENT
        if any(m is mod for m in self.modcmd_running):     # its own modcmd (module.9)
            self.module_print(f"module `{name}' busy (its modcmd is running)")
            return EBUSY
        if mod.refcnt != 0:
            self.module_print(f"module `{name}' busy ({mod.refcnt} refs)")
            return EBUSY
        if mod.source == MODULE_SOURCE_KERNEL and mod.module_class == MODULE_CLASS_SECMODEL:
            self.module_print(f"cannot unload built-in secmodel module `{name}'")
            return EPERM
        error = self.run_modcmd(mod, MODULE_CMD_FINI)
        if error:
            self.module_print(f"could not unload module `{name}' error={error}")
            return error
        self.loaded.remove(mod)
        self._log_loaded(False, mod)
        if self._by_name.get(mod.name) is mod:
            del self._by_name[mod.name]
            for m in self.loaded:
                if m.name == mod.name:
                    self._by_name[m.name] = m
                    break
        for r in mod.requires:
            r.refcnt -= 1
        mod.requires = []
        if mod.source == MODULE_SOURCE_KERNEL:
            if load_requires_force:
                mod.flags |= MODFLG_MUST_FORCE
            self.builtins.append(mod)
        elif mod.kobj is not None:
            K.kobj_unload(mod.kobj, self.module_map, self.ksyms)
        self.module_gen += 1
        return 0

    # ------------------------------------------------------------------ time
    def tick(self, seconds: int) -> None:
        """Let ``seconds`` pass; the auto-unload thread runs once a second (spec §3.7).

        A pass does something only for a module whose auto-unload time has come, so
        time jumps from one such time to the next (``tick 99999999999999999999`` is
        as quick as ``tick 10``); a pass that loads a module (a modcmd) is followed.
        """
        end = self.now + max(0, int(seconds))
        while self.now < end:
            due = [m.autotime for m in self.loaded if m.autotime != 0
                   and m.flags & MODFLG_AUTO_LOADED and m.source != MODULE_SOURCE_KERNEL]
            # the first second at which a pass has something to do (one due already:
            # the next pass)
            when = max(self.now + 1, min(due)) if due else end
            if when > end:
                self.now = end
                break
            self.now = when
            if due:
                self.module_thread_pass()

    def module_thread_pass(self) -> None:
        """One walk of ``module_thread()``: newest first, one AUTOUNLOAD attempt per module."""
        for mod in list(self.loaded):
            if mod not in self.loaded or mod.source == MODULE_SOURCE_KERNEL:
                continue
            if not mod.flags & MODFLG_AUTO_LOADED:
                continue
            if mod.autotime == 0 or self.now < mod.autotime:
                continue
            mod.autotime = 0
            error = self.run_modcmd(mod, MODULE_CMD_AUTOUNLOAD)
            if error == 0 or (error == ENOTTY and self.autounload_unsafe):
                self.do_unload(mod.name, False)
            else:
                self.module_print(f"module `{mod.name}' declined to be auto-unloaded "
                                  f"error={error}")

    # ------------------------------------------------------------------ sysctl
    SYSCTLS = ("kern.module.autoload", "kern.module.autounload_unsafe", "kern.module.verbose",
               "kern.module.path", "kern.module.autotime", "kern.securelevel")

    def sysctl_get(self, name: str) -> int | str:
        """Read a ``kern.module.*`` node (or ``kern.securelevel``).

        Raises:
            LoadError: ENOENT for an unknown node.
        """
        values: dict[str, int | str] = {
            "kern.module.autoload": int(self.autoload_on),
            "kern.module.autounload_unsafe": int(self.autounload_unsafe),
            "kern.module.verbose": int(self.verbose), "kern.module.path": self.module_base,
            "kern.module.autotime": self.autotime, "kern.securelevel": self.securelevel}
        if name not in values:
            raise LoadError(f"sysctl: {name}: {K.strerror(ENOENT)}", ENOENT)
        return values[name]

    def sysctl_set(self, name: str, value: str) -> None:
        """Write a node (spec §3.10): path is read-only, autotime >= 0, securelevel only up.

        Raises:
            LoadError: EPERM (read-only, lowering securelevel), EINVAL (bad value), ENOENT.
        """
        self.sysctl_get(name)
        if name == "kern.module.path":
            raise LoadError(f"sysctl: {name}: {K.strerror(EPERM)}", EPERM)
        try:
            number = int(value)
        except ValueError:
            number = {"true": 1, "false": 0, "yes": 1, "no": 0}.get(value.lower(), -999999)
            if number == -999999:
                raise LoadError(f"sysctl: {name}: {K.strerror(EINVAL)}", EINVAL) from None
        if name == "kern.module.autotime":
            if number < 0:
                raise LoadError(f"sysctl: {name}: {K.strerror(EINVAL)}", EINVAL)
            self.autotime = number
        elif name == "kern.securelevel":
            self.set_securelevel(number)
        else:
            setattr(self, {"kern.module.autoload": "autoload_on",
                           "kern.module.autounload_unsafe": "autounload_unsafe",
                           "kern.module.verbose": "verbose"}[name], bool(number))

    def set_securelevel(self, level: int) -> None:
        """``sysctl -w kern.securelevel``: it may only be raised (secmodel_securelevel).

        Raises:
            LoadError: EPERM when lowering.
        """
        if level < self.securelevel:
            raise LoadError(f"sysctl: kern.securelevel: {K.strerror(EPERM)}", EPERM)
        self.securelevel = level

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, Any]:
        """The whole kernel state as JSON-ready data (``kmodbuild sim --json``)."""
        def mod(m: Module) -> dict[str, Any]:
            addr, size = m.kobj.stat() if m.kobj is not None else (0, 0)
            return {"name": m.name, "class": m.class_name, "source": SOURCE_NAMES[m.source],
                    "refcnt": m.refcnt, "flags": _flag_text(m.flags), "required": m.required,
                    "requires": [r.name for r in m.requires], "autotime": m.autotime,
                    "address": addr, "size": size, "path": m.path}
        return {
            "machine": self.target.machine, "machine_arch": self.target.machine_arch,
            "version": str(self.config.version), "netbsd_version": self.config.version.number,
            "securelevel": self.securelevel, "insecure": self.config.insecure, "time": self.now,
            "root_mounted": self.root_mounted, "module_gen": self.module_gen,
            "sysctl": {n: self.sysctl_get(n) for n in self.SYSCTLS},
            "loaded": [mod(m) for m in self.loaded],
            "builtins_disabled": [mod(m) for m in self.builtins],
            "bootlist": [mod(m) for m in self.bootlist],
            "ksyms": self.ksyms.order, "mounts": list(self.mounts),
        }

    def vfs_list(self) -> list[str]:
        """``vfs_list``: file-system types ``mount -t`` finds, newest first.  With an emulated
        modcmd, what INIT registered with vfs_attach; else the loaded VFS modules' names."""
        names = getattr(self.modcmd_strategy, "vfs_names", None)
        registered = names() if names is not None else None
        if registered is not None:
            return list(registered)
        return [m.name for m in self.loaded if m.module_class == MODULE_CLASS_VFS]

    def loaded_names(self) -> list[str]:
        """Names on module_list, newest first."""
        return [m.name for m in self.loaded]


def _flag_text(flags: int) -> str:
    return ("-", "f", "a", "af")[flags & 3]


def _required_tokens(text: str | None) -> list[str]:
    """``mi_required`` parsing of module_do_load() (spec §1.5)."""
    from kmodbuild.model import parse_required
    return list(parse_required(text))


def builtin_from_module(mo: ModuleObject) -> BuiltinSpec | None:
    """A :class:`BuiltinSpec` for a module file compiled into the kernel (its modinfo and
    exported globals), or None when its modinfo cannot be read."""
    mi = mo.modinfo
    if mi is None or mi.name is None:
        return None
    return BuiltinSpec(mi.name, mi.module_class, mi.required,
                       tuple(s.name for s in mo.iter_defined_globals()))


def parse_builtin(text: str) -> BuiltinSpec:
    """``NAME[:CLASS[:REQUIRED]]`` (``ffs:vfs``, ``null:vfs:layerfs``).

    Raises:
        LoadError: EINVAL for an unknown class name.
    """
    parts = text.split(":", 2)
    cls = MODULE_CLASS_MISC
    if len(parts) > 1 and parts[1]:
        if parts[1] not in CLASS_BY_NAME:
            raise LoadError(f"builtin {text!r}: unknown class {parts[1]!r} (one of "
                            f"{', '.join(MODULE_CLASS_NAMES.values())})", EINVAL)
        cls = CLASS_BY_NAME[parts[1]]
    return BuiltinSpec(parts[0], cls, parts[2] if len(parts) > 2 and parts[2] else None)


def symbols_from_manifest(manifest: Any) -> tuple[tuple[str, int], ...]:
    """``(name, size)`` pairs from a :class:`kmodbuild.manifest.KernelManifest`."""
    return tuple((s.name, s.size) for s in manifest)


def functions_from_manifest(manifest: Any) -> frozenset[str]:
    """The names of a :class:`kmodbuild.manifest.KernelManifest`'s functions."""
    return frozenset(s.name for s in manifest if s.kind == "func")


def builtins_in(names: Iterable[str], module_dir: Path, target: Target,
                reader: Reader | None = None) -> tuple[BuiltinSpec, ...]:
    """Resolve ``--builtin`` entries: ``NAME[:CLASS[:REQ]]``; a bare NAME takes class,
    requirements and exports from ``module_dir/NAME/NAME.kmod`` when that exists.

    Raises:
        LoadError: EINVAL for a bad class; ENOENT for a bare name without a file.
    """
    read = reader or _default_reader
    out: list[BuiltinSpec] = []
    for text in names:
        text = text.strip()
        if not text:
            continue
        if ":" in text:
            out.append(parse_builtin(text))
            continue
        path = module_dir / text / f"{text}.kmod"
        try:
            if namei_check(f"{text}/{text}.kmod"):
                raise OSError(_host_errno.ENAMETOOLONG, os.strerror(_host_errno.ENAMETOOLONG))
            there = path.exists()
        except OSError as e:
            raise LoadError(f"builtin {_shortened(text)!r}: cannot look for its module file: "
                            f"{K.strerror(host_errno(e))}", host_errno(e)) from None
        if not there:
            raise LoadError(f"builtin {text!r}: no {path} to read its class from; "
                            f"write {text}:CLASS", ENOENT)
        try:
            spec = builtin_from_module(read(str(path), target))
        except OSError as e:
            raise LoadError(f"builtin {text!r}: cannot read {path}: {K.strerror(host_errno(e))}",
                            host_errno(e)) from None
        if spec is None:
            raise LoadError(f"builtin {text!r}: cannot read the modinfo of {path}", ENOEXEC)
        out.append(spec)
    return tuple(out)


def _shortened(text: str, keep: int = 40) -> str:
    """``text``, or its first ``keep`` characters and how long it is (a name of 300
    characters in a one-line message)."""
    return text if len(text) <= keep else f"{text[:keep]}... ({len(text)} characters)"


def validate_tree(*args: Any, **kwargs: Any) -> Any:
    """Load and unload a whole installed tree; see :func:`kmodbuild.simvalidate.validate_tree`."""
    from kmodbuild.simvalidate import validate_tree as _validate_tree
    return _validate_tree(*args, **kwargs)
