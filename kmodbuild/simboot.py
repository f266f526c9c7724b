"""kmodbuild.simboot - booting the simulated kernel: boot.cfg, the boot loader, class-by-class init.

Follows spec §5 and §3.6: the boot loader reads every ``load=`` module of
``boot.cfg`` (module_add/module_path of the x86 /boot), the kernel primes them
(``module_prime``: early local linking), then ``module_init_class`` runs for
SECMODEL, VFS, DRIVER and ANY, every built-in still unused gets MUST_FORCE,
and ``vfs_mountroot()`` needs the root file system built in or preloaded
(else ``cannot mount root, error = 79``, EFTYPE).  File-system loading is
refused with EOPNOTSUPP until root is mounted.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from kmodbuild import kobj as K
from kmodbuild.kobj import EEXIST, EFTYPE, ENOENT
from kmodbuild.simulator import (
    MODFLG_MUST_FORCE,
    MODULE_CLASS_ANY,
    MODULE_CLASS_DRIVER,
    MODULE_CLASS_SECMODEL,
    MODULE_CLASS_VFS,
    MODULE_SOURCE_BOOT,
    SimKernel,
)

#: init_main.c order of module_init_class() calls (spec §3.6).
INIT_CLASS_ORDER = (MODULE_CLASS_SECMODEL, MODULE_CLASS_VFS, MODULE_CLASS_DRIVER,
                    MODULE_CLASS_ANY)
ROOT_DEVICE = "wd0a"


def parse_bootcfg(text: str) -> list[str]:
    """The ``load=`` values of a boot.cfg (spec §5), in order.

    ``key=value`` with no blanks around ``=``; ``#`` starts a comment; leading
    blanks of a value are skipped and duplicates ignored (module_add_common).
    """
    out: list[str] = []
    seen: set[str] = set()      # (a list's `in` made 50,000 load= lines take 19 s)
    for line in text.splitlines():
        line = line.split("#", 1)[0].rstrip()
        if not line.startswith("load="):
            continue
        value = line[len("load="):].lstrip()
        if value and value not in seen:
            seen.add(value)
            out.append(value)
    return out


def _loader_path(kernel: SimKernel, entry: str) -> list[str]:
    """Kernel-side paths the boot loader tries for ``entry`` (exec.c module_path)."""
    word = entry.split()[0]
    base = kernel.module_base
    if ":" in word and not word.startswith("/"):
        word = word.split(":", 1)[1]
    if word.startswith("/"):
        first = word
    else:
        first = f"{base}/{word}/{word}.kmod"
    return [first, word] if first != word else [first]


def boot(kernel: SimKernel, loads: Sequence[str], root_fstype: str | None, *,
         single_user: bool = False) -> int:
    """Power on and boot with the boot-loader modules ``loads`` (``load=`` values).

    ``root_fstype`` is the type of the file system on the root disk; ``None``
    assumes root mounts (whatever the kernel has).  Returns 0, or EFTYPE when
    root cannot be mounted (the kernel then waits for a root device: no
    file-system loads, securelevel unchanged).
    """
    kernel.reset()
    con = kernel.console
    images: list[tuple[str, Path]] = []
    failed = 0
    seen: set[str] = set()
    for entry in loads:
        entry = entry.lstrip()
        if not entry or entry in seen:
            continue
        seen.add(entry)
        kpath = next((p for p in _loader_path(kernel, entry) if _is_file(kernel, p)), None)
        if kpath is None:
            con.append(f"WARNING: couldn't open {entry.split()[0]} ({K.strerror(ENOENT)})")
            failed += 1
            continue
        host = kernel.host_path(kpath)
        con.append(f"Loading {kpath}")
        images.append((entry.split()[0], host))
    if failed:
        con.append(f"WARNING: {failed} module{'s' if failed != 1 else ''} failed to load")
    for name, host in images:          # module_init_md() -> module_prime()
        module_prime(kernel, name, host)
    for cls in INIT_CLASS_ORDER:
        module_init_class(kernel, cls)
    for b in kernel.builtins:          # module_builtin_require_force()
        b.flags |= MODFLG_MUST_FORCE
    error = mountroot(kernel, root_fstype)
    if error:
        con.append(f"cannot mount root, error = {error}")
        kernel.boot_state = {"loads": list(loads), "root": root_fstype, "error": error}
        return error
    cfg = kernel.config
    if cfg.securelevel is not None:
        kernel.securelevel = cfg.securelevel
    elif not single_user and kernel.securelevel == 0:
        kernel.securelevel = 1         # init(8) going multi-user
    kernel.boot_state = {"loads": list(loads), "root": root_fstype, "error": 0}
    return 0


def _is_file(kernel: SimKernel, kpath: str) -> bool:
    """Whether the boot loader finds a file at ``kpath``.  libsa's file systems answer
    ENOENT for a name component too long (ufs.c), so a host error is "not there"."""
    try:
        return kernel.host_path(kpath).is_file()
    except OSError:
        return False


def module_prime(kernel: SimKernel, name: str, host: Path) -> int:
    """``module_prime()`` (spec §5): check, load from memory (local linking), fetch info."""
    if any(b.name == name for b in kernel.config.builtins):
        kernel.module_error(f"module `{name}' pushed by boot loader already exists")
        return EEXIST
    if any(m.name == name for m in kernel.bootlist):
        kernel.module_error(f"duplicate bootlist entry for module `{name}'")
        return EEXIST
    koname = K.kobj_setname(name, kernel.module_base)
    error, ko = kernel.load_object(host, koname)
    if error or ko is None:
        kernel.module_error(f"unable to load `{name}' pushed by boot loader, error {error}")
        return error
    error, mod = kernel.fetch_info(ko, MODULE_SOURCE_BOOT, name)
    if error or mod is None:
        K.kobj_unload(ko, kernel.module_map, kernel.ksyms)
        kernel.module_error(f"unable to fetch_info for `{name}' pushed by boot loader, "
                            f"error {error}")
        return error
    kernel.bootlist.append(mod)
    return 0


def _matches(cls: int, module_class: int) -> bool:
    return cls == MODULE_CLASS_ANY or cls == module_class


def module_init_class(kernel: SimKernel, cls: int) -> None:
    """``module_init_class()`` (spec §3.6): built-ins of ``cls`` first, then boot modules."""
    failed = []
    while True:
        mod = next((b for b in kernel.builtins if _matches(cls, b.module_class)), None)
        if mod is None:
            break
        if mod.flags & MODFLG_MUST_FORCE or kernel.do_builtin(mod, mod.name)[0] != 0:
            kernel.builtins.remove(mod)
            failed.append(mod)
        elif mod in kernel.builtins:
            # initialised, yet still listed (cannot happen since module_init() drops a
            # second built-in of a name): set aside all the same, so the loop ends
            kernel.builtins.remove(mod)
            failed.append(mod)
    while True:
        mod = next((m for m in kernel.bootlist if _matches(cls, m.module_class)), None)
        if mod is None:
            break
        kernel.do_load(mod.name, False, 0, None, cls, False)
        if mod in kernel.bootlist:     # a failed boot module is freed, not put back
            kernel.bootlist.remove(mod)
    kernel.builtins.extend(failed)


def vfs_names(kernel: SimKernel) -> list[str]:
    """``vfs_list``: file systems registered (newest first), see ``SimKernel.vfs_list``."""
    return kernel.vfs_list()


def mountroot(kernel: SimKernel, root_fstype: str | None) -> int:
    """``vfs_mountroot()`` with ROOT_FSTYPE_ANY on a disk holding ``root_fstype``."""
    if root_fstype is not None:
        fstype = "ffs" if root_fstype == "ufs" else root_fstype
        if fstype not in vfs_names(kernel):
            kernel.console.append(f"no file system for {ROOT_DEVICE} (dev 0x0)")
            kernel.console.append(" ".join(["supported file systems:", *vfs_names(kernel)]))
            kernel.root_mounted = False
            return EFTYPE
    kernel.root_mounted = True
    kernel.fs_loading = True           # module_load_vfs_init()
    kernel.console.append(f"kern.module.path={kernel.module_base}")
    return 0


def boot_loads(lines: Iterable[str]) -> list[str]:
    """``load=`` values from boot.cfg lines given one by one (scenario ``bootcfg``)."""
    return parse_bootcfg("\n".join(lines))
