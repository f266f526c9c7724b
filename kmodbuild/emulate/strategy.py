"""kmodbuild.emulate.strategy - ``mi_modcmd`` under CPU emulation, for the simulator.

:class:`EmulatedModcmd` is a :class:`~kmodbuild.simulator.ModcmdStrategy`:
``SimKernel(config, stand, modcmd=EmulatedModcmd())``.  The simulator attaches
it at every power-on; the first modcmd builds the :class:`~kmodbuild.emulate.machine.Machine`
for the kernel's target, address layout and symbol table.  Each call maps the
loaded modules, runs the modcmd on the image the in-kernel linker produced
and returns its value as the kernel uses it.  A fault stops it: the console
shows ``panic: ...`` with the faulting address and the modcmd fails with
EFAULT, so the operation fails the way the kernel reports an error, and the
simulator keeps running.  When a module unloads (FINI returned 0, or INIT
failed), memory it allocated and still holds is reported as a leak and what
it registered and did not take back (a file system, a device switch, a
system call...) as left behind.

Modules without an image (built-ins), and targets the emulator cannot run,
fall back to the plain strategy (every modcmd returns 0); :attr:`EmulatedModcmd.note`
says why, once.
"""
from __future__ import annotations

from typing import Any

from kmodbuild.emulate.cpu import CpuUnsupported
from kmodbuild.emulate.machine import DEFAULT_BUDGET, Machine
from kmodbuild.emulate.report import Report
from kmodbuild.kapi import mount, mutex, proplib, syscallvar
from kmodbuild.kapi._kernel import forget
from kmodbuild.kapi.conf import devsw
from kmodbuild.kobj import EFAULT  # what a crashed modcmd returns ("Bad address")
from kmodbuild.simulator import (
    MODULE_CLASS_VFS,
    MODULE_CMD_FINI,
    MODULE_CMD_INIT,
    Module,
    NullModcmd,
)

_CMD_TEXT = {0: "INIT", 1: "FINI", 2: "STAT", 3: "AUTOUNLOAD"}
#: leftover registrations, in words
_KIND_WORDS = {"vfs": "file system", "cdevsw": "character device switch",
               "bdevsw": "block device switch", "syscall": "system call",
               "execsw": "exec switch entry", "secmodel": "security model",
               "kauth": "kauth listener", "bufq": "buffer queue strategy",
               "emulation": "emulation"}
_UNDO = {"vfs": "vfs_detach", "cdevsw": "devsw_detach", "bdevsw": "devsw_detach",
         "syscall": "syscall_disestablish", "execsw": "exec_remove",
         "secmodel": "secmodel_deregister", "kauth": "kauth_unlisten_scope",
         "bufq": "bufq_unregister", "emulation": "exec_remove"}


#: modcmds running inside one another at most (a modcmd that loads a module whose modcmd
#: loads another...): the next one is not run but reported as a fault.  The kernel's
#: stack would overflow far sooner; the emulator's Python and C stacks grow by some
#: 18 frames and a unicorn run per level (50 levels reached Python's recursion limit).
MAX_NESTED = 16


class EmulatedModcmd:
    """Run each module's ``mi_modcmd`` on an emulated CPU (see the module docstring).

    Args:
        budget: instructions one modcmd may run before it counts as an endless loop.

    Attributes:
        reports: every :class:`~kmodbuild.emulate.report.Report` so far.
        note: why modcmds are not emulated on this kernel's target (None when they are).
    """

    def __init__(self, budget: int = DEFAULT_BUDGET) -> None:
        self.budget = budget
        self.fallback = NullModcmd()
        self.kernel: Any = None
        self.machine: Machine | None = None
        self.note: str | None = None
        self.reports: list[Report] = []
        self._emulated: set[str] = set()
        self._running: list[Module] = []    # modcmds under way, outermost first
        #: a kmodbuild.simmemo.TextCoverage told of every text access (None: off)
        self.coverage: Any = None

    # ---- simulator hooks
    def attach(self, kernel: Any) -> None:
        """Power-on of ``kernel`` (:class:`~kmodbuild.simulator.SimKernel`): a new machine."""
        self.kernel = kernel
        self.machine = None
        self._emulated.clear()
        self._running.clear()

    def get_machine(self) -> Machine | None:
        """The machine (built on first use), or None when the target cannot be emulated."""
        if self.machine is None and self.note is None and self.kernel is not None:
            kernel = self.kernel
            try:
                self.machine = Machine(kernel.target, kernel.layout.kernel_base,
                                       kernel.layout.module_base, kernel.ksyms.tables["netbsd"],
                                       dict(kernel.config.symbols), sim=kernel,
                                       budget=self.budget, sink=self._print,
                                       text_end=getattr(kernel, "kernel_text_end", None))
            except CpuUnsupported as e:
                self.note = f"{kernel.target.name}: modcmd is not emulated: {e}"
            if self.machine is not None and self.coverage is not None:
                why = self.machine.record_text(self.coverage)
                if why is not None:
                    self.coverage.unsupported = why
        return self.machine

    def _print(self, line: str) -> None:
        self.kernel.console.append(line)

    def run(self, module: Module, cmd: int) -> int:
        """``mi_modcmd(cmd, arg)`` of ``module``: its return value, EFAULT if it crashed."""
        if module.kobj is None or module.modcmd is None:
            return self.fallback.run(module, cmd)
        m = self.get_machine()
        if m is None:
            return self.fallback.run(module, cmd)
        if module.name in m.sync_kernel(self.kernel, module, self._running):
            why = m.refused.get(module.name, "does not fit the emulated address space")
            self._print(f"emulate: module `{module.name}' {why}: its modcmd is not emulated")
            return self.fallback.run(module, cmd)
        if len(self._running) >= MAX_NESTED:
            names = " -> ".join(r.name for r in self._running[:3])
            report = Report("nested", module.name, _CMD_TEXT.get(cmd, str(cmd)),
                            f"{module.name}: modcmd({_CMD_TEXT.get(cmd, cmd)}): not run: "
                            f"modcmds nested {len(self._running) + 1} deep ({names} -> ... "
                            f"-> {self._running[-1].name} -> {module.name}, each loading "
                            f"the next), more than {MAX_NESTED}: the kernel stack would "
                            "overflow")
            self.reports.append(report)
            self._print(f"panic: {report.message}")
            return EFAULT
        self._emulated.add(module.name)
        arg = 0
        if cmd == MODULE_CMD_INIT and module.props is not None:
            arg = proplib.make_dictionary(m.k, module.props)
        self._running.append(module)        # a module it loads must not unmap it
        try:
            result, report = m.run_modcmd(module, cmd, arg)
        finally:
            self._running.pop()
            if arg:
                proplib.prop_object_release(m.k, arg)
        command = _CMD_TEXT.get(cmd, str(cmd))
        if report is not None:
            self.reports.append(report)
            self._print(f"panic: {report.message}")
            result = EFAULT
            mutex.release(m.k, module.name)
        else:
            self._check_locks(m, module, command)
        if (cmd == MODULE_CMD_FINI and result == 0) or (cmd == MODULE_CMD_INIT and result != 0):
            self._check_unload(m, module, cmd)
        return result

    def _check_unload(self, m: Machine, module: Module, cmd: int) -> None:
        """The module is about to be freed: report its leaks and leftovers."""
        when = "FINI" if cmd == MODULE_CMD_FINI else "a failed INIT"
        for block in m.heap.owned_by(module.name):
            text = (f"{module.name}: memory leak: {block.size} bytes allocated by "
                    f"{block.caller or '?'} in {block.command or '?'} not freed by {when} "
                    f"(kmem {block.address:#x})")
            m.heap.set_owner(block, f"{module.name} (leaked)")
            self._warn(Report("leak", module.name, "FINI" if cmd else "INIT", text,
                              address=block.address))
        for reg in m.k.registry.pointing_into(m.module_ranges(module)):
            what = _KIND_WORDS.get(reg.kind, reg.kind)
            text = (f"{module.name}: unloaded with its {what} `{reg.name}' still registered "
                    f"(registered by {reg.owner or '?'}; {when} did not call "
                    f"{_UNDO.get(reg.kind, 'the undo function')}): the kernel would use "
                    f"freed memory")
            self._warn(Report("dangling", module.name, "FINI" if cmd else "INIT", text,
                              address=reg.key))
            forget(m.k, reg)

    def _check_locks(self, m: Machine, module: Module, command: str) -> None:
        """The modcmd returned: mutexes its code took and still holds are held by a
        thread back in user space (the next mutex_enter of one sleeps for ever)."""
        for mtx, h in mutex.left_held(m.k, module.name, command, m.where):
            text = (f"{module.name}: modcmd({command}) returned holding mutex {m.where(mtx)} "
                    f"(taken by {h.caller or '?'}): the next mutex_enter of it, from any "
                    "other thread, sleeps for ever")
            self._warn(Report("lock", module.name, command, text, address=mtx))
    def _warn(self, report: Report) -> None:
        self.reports.append(report)
        self._print(f"WARNING: {report.message}")

    # ---- what the emulated kernel holds (for the simulator and tests)
    def vfs_names(self) -> list[str] | None:
        """File-system types ``mount -t`` finds: registered with vfs_attach (newest
        first), plus VFS modules that ran without emulation.  None: no machine."""
        m = self.machine
        if m is None or self.kernel is None:
            return None
        extra = [mod.name for mod in self.kernel.loaded
                 if mod.module_class == MODULE_CLASS_VFS and mod.name not in self._emulated]
        return mount.vfs_names(m.k) + extra

    def devices(self) -> dict[str, tuple[int, int]]:
        """Driver name -> (block major, character major) known to devsw (-1: none)."""
        m = self.get_machine()
        return dict(devsw(m.k).conv) if m else {}

    def registrations(self, kind: str) -> list[str]:
        """Names of the live registrations of ``kind`` (``vfs``, ``execsw``, ``secmodel``...)."""
        m = self.get_machine()
        return [r.name for r in m.k.registry.of_kind(kind)] if m else []

    def sysent(self, code: int) -> tuple[int, str]:
        """``sysent[code].sy_call`` of the native emulation and what it points at."""
        m = self.get_machine()
        if m is None:
            return 0, ""
        addr = syscallvar.sysent_call(m.k, code)
        return addr, m.where(addr)

    def messages(self) -> list[str]:
        """Every line printed so far (the message buffer, ``dmesg``)."""
        m = self.get_machine()
        return list(m.k.msgbuf) if m else []
