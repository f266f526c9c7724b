"""Every example module's INIT and FINI on an emulated CPU, on every target, with effects.

The modules are the ones ``scons ARCH=all`` built and installed (``built_tree``);
the kernel symbol table is the stub kernel's real manifest.  Loading must print
what the module prints, register what it registers (a file system ``mount -t``
then finds, a character major, a system call in ``sysent``, an exec switch entry
and its emulation, a security model, a buffer-queue strategy); unloading must
undo all of it, print the FINI lines, and leave no leak and no report.
"""
from __future__ import annotations

import pytest

from kmodbuild.simevents import mount
from kmodbuild.simulator import MODULE_CMD_STAT
from kmodbuild.target import TARGETS

ALL_TARGETS = [t.name for t in TARGETS]

#: load order (dependencies first) and what INIT prints
INIT_LINES: dict[str, list[str]] = {
    "hello": ["Hello, world! (kernel 1000000000, hz 100)"],
    "layerfs": ["layerfs: layered file system support loaded"],
    "null": ["nullfs: loopback file system registered"],
    "ffs": ["ffs: Berkeley Fast File System registered"],
    "bitbucket": ["devsw_attach: bitbucket: mknod /dev/bitbucket c 256 0",
                  "bitbucket: character major 256"],
    "compat_demo": ["compat_demo: emulation `demo' ready (8 syscalls)"],
    "exec_demo": ["exec_demo: `demo' executables enabled"],
    "sysdemo": ["sysdemo: system call 211 established"],
    "secmodel_example": ["secmodel_example: `Example security model' registered"],
    "bufq_demo": ["bufq_demo: strategy `demo' registered"],
}
#: what FINI prints (modules are unloaded newest first)
FINI_LINES: dict[str, list[str]] = {
    "hello": ["Goodbye, world!"], "layerfs": ["layerfs: unloaded"],
    "null": ["nullfs: unregistered"], "ffs": ["ffs: unregistered"],
    "bitbucket": ["bitbucket: detached after 0 KiB"],
    "compat_demo": ["compat_demo: emulation `demo' gone"],
    "exec_demo": ["exec_demo: disabled after 0 image(s)"],
    "sysdemo": ["sysdemo: removed after 0 call(s)"],
    "secmodel_example": ["secmodel_example: deregistered (0 denials)"],
    "bufq_demo": ["bufq_demo: strategy `demo' unregistered"],
}
SYS_SYSDEMO = 211


@pytest.mark.parametrize("target", ALL_TARGETS)
def test_every_example_init_and_fini(example_kernel, target: str) -> None:
    ek = example_kernel(target)
    s, k = ek.strategy, ek.kernel
    nosys, where = s.sysent(SYS_SYSDEMO)
    assert "sys_nosys" in where
    for name, lines in INIT_LINES.items():
        error, out = ek.load(name)
        assert error == 0, (name, out)
        assert out == lines, (name, out)
    assert s.note is None and s.machine is not None
    # the effects of INIT, read back from the emulated kernel
    assert k.vfs_list() == ["ffs", "null"]
    assert mount(k, "ffs") == 0 and mount(k, "null") == 0
    assert s.devices() == {"bitbucket": (-1, 256)}
    call, where = s.sysent(SYS_SYSDEMO)
    assert call != nosys and where.startswith("sysdemo+") and "(sys_sysdemo+0x0)" in where
    assert s.registrations("execsw") == ["demo"]
    assert s.registrations("emulation") == ["demo"]
    assert s.registrations("secmodel") == ["org.netbsd.secmodel.example"]
    assert s.registrations("kauth") == ["org.netbsd.kauth.system"]
    assert s.registrations("bufq") == ["demo"]
    # unload everything, newest first
    for mod in list(k.loaded):
        error, out = ek.unload(mod.name)
        assert error == 0, (mod.name, out)
        assert out == FINI_LINES[mod.name], (mod.name, out)
    assert k.loaded == []
    assert s.sysent(SYS_SYSDEMO)[0] == nosys      # restored by syscall_disestablish
    for kind in ("vfs", "execsw", "emulation", "secmodel", "kauth", "bufq", "cdevsw"):
        assert s.registrations(kind) == [], kind
    assert k.vfs_list() == []
    assert s.reports == []
    assert [b for b in s.machine.heap.blocks.values() if b.owner != "netbsd"] == []


@pytest.mark.parametrize("target", ["amd64", "i386", "evbarm-aarch64"])
def test_mount_autoloads_and_needs_vfs_attach(example_kernel, target: str) -> None:
    ek = example_kernel(target)
    k = ek.kernel
    k.take_console()
    assert mount(k, "ufs") == 0                    # ufs is ffs: autoloaded, then found
    assert k.take_console() == INIT_LINES["ffs"]
    assert [m.name for m in k.loaded] == ["ffs"] and k.vfs_list() == ["ffs"]
    k.tick(11)                                     # auto-unload: AUTOUNLOAD returns 0
    assert k.take_console() == FINI_LINES["ffs"]
    assert k.loaded == [] and k.vfs_list() == []


@pytest.mark.parametrize("target", ["amd64", "evbarm-aarch64", "sparc64"])
def test_properties_stat_and_autounload_refusal(example_kernel, target: str) -> None:
    ek = example_kernel(target)
    error, out = ek.load("hello", who="you")       # modload -s who=you hello
    assert (error, out) == (0, ["Hello, you! (kernel 1000000000, hz 100)"])
    mod = ek.kernel.lookup("hello")
    assert ek.kernel.run_modcmd(mod, MODULE_CMD_STAT) == 0
    assert ek.kernel.take_console() == ["hello: status requested 1 time(s)"]
    assert ek.unload("hello") == (0, ["Goodbye, you!"])
    # a security model in force refuses to be auto-unloaded (AUTOUNLOAD -> EBUSY)
    assert ek.kernel.module_autoload("secmodel_example", 5) == 0
    ek.kernel.tick(11)
    assert ek.kernel.lookup("secmodel_example") is not None
    assert ek.strategy.messages()[-1] == "secmodel_example: `Example security model' registered"


def test_reboot_gives_a_fresh_kernel(example_kernel) -> None:
    ek = example_kernel("amd64")
    assert ek.load("ffs")[0] == 0
    from kmodbuild.simboot import boot
    boot(ek.kernel, [], None)                      # power-cycle: nothing registered
    assert ek.kernel.vfs_list() == [] and ek.strategy.machine is None
    assert ek.load("ffs") == (0, INIT_LINES["ffs"])
