"""kmodbuild.simevents - the kernel events that autoload modules (spec §3.7).

Each function plays one caller of ``module_autoload()`` and returns what the
system call would: 0 or an errno.

* :func:`mount`: ``mount -t NAME`` (vfs_syscalls.c ``mount_get_vfsops``: class VFS,
  ``ufs`` read as ``ffs``, ENODEV when still unknown);
* :func:`exec_binary`: exec of a binary type no exec switch entry takes
  (kern_exec.c ``exec_autoload``: class EXEC, native or compat list; ENOEXEC);
* :func:`open_device`: open of a device node whose driver is absent
  (spec_vnops.c: class DRIVER by devsw name; ENXIO);
* :func:`syscall`: a system call without a handler (kern_syscall.c
  ``sys_nomodule``: class ANY by the syscall table; ENOSYS).
"""
from __future__ import annotations

import re

from kmodbuild.kobj import ENODEV, ENOEXEC, ENOSYS, ENXIO
from kmodbuild.simulator import (MODULE_CLASS_ANY, MODULE_CLASS_DRIVER, MODULE_CLASS_EXEC,
                                 MODULE_CLASS_VFS, SimKernel)


def _loaded(kernel: SimKernel, name: str, module_class: int | None = None) -> bool:
    m = kernel.lookup(name)
    return m is not None and (module_class is None or m.module_class == module_class)


def mount(kernel: SimKernel, fstype: str) -> int:
    """``mount -t fstype``: 0, or ENODEV when no VFS module of that name can be had."""
    if fstype == "ufs":
        fstype = "ffs"
    if fstype not in kernel.vfs_list():          # vfs_getopsbyname()
        kernel.module_autoload(fstype, MODULE_CLASS_VFS, comm="mount")
        if fstype not in kernel.vfs_list():
            return ENODEV
    kernel.mounts.append(fstype)
    return 0


def exec_binary(kernel: SimKernel, binary_type: str) -> int:
    """Run a binary of ``binary_type`` (``elf64``, ``script``, ...): 0 or ENOEXEC."""
    handler = kernel.config.exec_formats.get(binary_type)
    if handler is not None and _loaded(kernel, handler, MODULE_CLASS_EXEC):
        return 0
    gen = kernel.module_gen
    nexecs = sum(1 for m in kernel.loaded if m.module_class == MODULE_CLASS_EXEC)
    for name in (kernel.config.exec_native if nexecs == 0 else kernel.config.exec_compat):
        kernel.module_autoload(name, MODULE_CLASS_EXEC, comm="sh")
    if kernel.module_gen != gen and handler is not None and \
            _loaded(kernel, handler, MODULE_CLASS_EXEC):
        return 0
    return ENOEXEC


_UNIT = re.compile(r"^(.*?[a-z_])\d+[a-z]?$")


def devsw_name(kernel: SimKernel, node: str) -> str:
    """The devsw (driver) name of device node ``node`` (``/dev/bitbucket0`` -> ``bitbucket``)."""
    node = node[len("/dev/"):] if node.startswith("/dev/") else node
    if node in kernel.config.devices:
        return kernel.config.devices[node]
    m = _UNIT.match(node)
    return m.group(1) if m else node


def open_device(kernel: SimKernel, node: str) -> int:
    """``open(node)``: 0, or ENXIO when the driver is not attached and cannot be loaded."""
    driver = devsw_name(kernel, node)
    if _loaded(kernel, driver, MODULE_CLASS_DRIVER):
        return 0
    kernel.module_autoload(driver, MODULE_CLASS_DRIVER, comm="cat")
    return 0 if _loaded(kernel, driver, MODULE_CLASS_DRIVER) else ENXIO


def syscall_number(kernel: SimKernel, which: str) -> int | None:
    """A syscall given by number or by name (from the autoload table), or None."""
    if which.isascii() and which.isdigit() and len(which) <= 100:
        return int(which)
    for num, (name, _module) in kernel.config.syscalls.items():
        if name == which:
            return num
    return None


def syscall(kernel: SimKernel, which: str) -> int:
    """Call system call ``which`` (number or name): 0, or ENOSYS."""
    num = syscall_number(kernel, which)
    entry = kernel.config.syscalls.get(num) if num is not None else None
    if entry is None:
        return ENOSYS
    module = entry[1]
    if _loaded(kernel, module):
        return 0
    error = kernel.module_autoload(module, MODULE_CLASS_ANY, comm="a.out")
    # sys_nomodule() returns ERESTART on success: the call runs again, now established.
    return 0 if error == 0 and _loaded(kernel, module) else ENOSYS
