"""kmodbuild.scons_tool - the SCons shell: compile, link, check and install kernel modules.

This is the only module that imports SCons.  It translates command-line
variables into core objects (:mod:`kmodbuild.target`, :mod:`kmodbuild.toolchain`)
and core results back into SCons errors; the domain logic lives in the core.

Use it from an SConstruct (``site_scons/site_tools/kmod.py`` makes it loadable
as ``tools=['kmod']``)::

    env = Environment(tools=['kmod'])
    env.KernelTree('sys')                       # the whole tree, every ARCH given

or, for modules in a user's own tree (``KMOD_SYSDIR``: kmodbuild's ``sys``, whose
headers they compile against and whose ``kern`` makes the stub kernel)::

    for tenv in env.KmodTargetEnvs():
        tenv.KernelModule('hello', ['hello.c'])

Construction variables read (all have defaults, set with ``SetDefault``):
``KMOD_ARCH``, ``KMOD_VERSION``, ``KMOD_TOOLCHAIN``, ``KMOD_DESTDIR``,
``KMOD_SYSDIR`` (the ``sys`` directory whose headers modules compile against),
``KMOD_LDSCRIPT``, ``KMOD_MANIFEST`` (a ready-made kernel symbol manifest instead
of the stub kernel's), ``KMOD_CCWRAPPER``.
"""
from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import SCons.Action
import SCons.Builder
import SCons.Errors
import SCons.Node.FS
import SCons.Platform.posix
import SCons.Scanner.C
import SCons.Script
import SCons.Subst
from SCons.Variables import BoolVariable, EnumVariable, Variables

from kmodbuild import modflags, quickbuild
from kmodbuild import target as ktarget
from kmodbuild import toolchain as ktoolchain
from kmodbuild.atomicfile import replace_if_changed
from kmodbuild.errors import KmodError
from kmodbuild.install import (install_file, is_temporary_name, remove_installed, safe_dest,
                               validate_module_name)

#: Bumped whenever the check, manifest or install logic changes, so that
#: function actions (whose signature is only their own bytecode) re-run.  With it in
#: their signature: a digest of kmodbuild's own code (:func:`_code_digest`).
ACTIONS_VERSION = "3"

_CODE_DIGEST: list[str] = []
#: What no build step runs: the commands' front ends (their edits need no re-check) and
#: the Linux checker (the build takes only a job count from it, linux.readers.default_jobs).
_NOT_IN_BUILD = re.compile(r"(cli|__main__|cmd_\w+|skeleton)\.py|templates/.*|linux/.*")


def _build_code_files(root: str) -> list[str]:
    """kmodbuild's files the build's Python steps may run, in a fixed order: those
    :func:`_code_digest` digests and the fast path's stamp watches."""
    out = []
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for f in sorted(files):
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            # an editor's lock link, swap or backup file is not code (nor a reason to
            # re-check every module, or a traceback when it leads nowhere)
            if (_NOT_IN_BUILD.fullmatch(rel) or f.startswith(".") or f.endswith("~")
                    or f.endswith((".pyc", ".pyo")) or not os.path.isfile(path)):
                continue
            out.append(path)
    return out


def _code_digest(root: str | None = None) -> str:
    """A digest of the contents of kmodbuild's files the build's Python steps may run
    (split, index, check, install, METALOG, simulation).

    A step whose function is unchanged may call changed code: a new check rule
    re-checks every module, and a ``KMOD_CACHEDIR`` filled by another version of
    kmodbuild serves none of its reports (it served a report without the new rule's
    error, and the module was installed).  By content, not by file times: two
    checkouts of the same kmodbuild share a cache.  About 3 ms."""
    if root is None:
        if not _CODE_DIGEST:
            _CODE_DIGEST.append(_code_digest(os.path.dirname(os.path.abspath(__file__))))
        return _CODE_DIGEST[0]
    import hashlib
    h = hashlib.sha256()
    for path in _build_code_files(root):
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        try:
            with open(path, "rb") as fh:
                digest = hashlib.sha256(fh.read()).digest()
        except OSError as e:                # counted as it is: unreadable
            digest = f"unreadable {e.errno}".encode()
        h.update(rel.encode() + b"\0" + digest)
    return h.hexdigest()[:16]

_ENV = Any  # SCons environments are untyped


def _precise_getmtime(self: Any) -> float | None:
    """A node's modification time with sub-second precision.

    SCons reads ``st[ST_MTIME]``, whole seconds (its own TODO says so).  With
    the ``content-timestamp`` decider and ``max_drift`` a file rewritten in the
    same second as the build recorded it counts as unchanged and its old content
    signature is carried forward (SCons issue #2980): a module relinked twice
    within one second, or a source reverted right after a failed build, left a
    stale object or check behind.  ``st_mtime`` (a float, nanosecond clock)
    removes that window; the first build after this change sees every stored
    timestamp as different and simply re-hashes.
    """
    st = self.stat()
    return st.st_mtime if st else None


SCons.Node.FS.Base.getmtime = _precise_getmtime  # type: ignore[method-assign]


def _size_differs(node: Any, ninfo: Any) -> bool:
    """Whether ``node``'s file (its source's, in a variant directory) has another size
    than the one SCons stored in ``ninfo`` (stored without one: no)."""
    size = getattr(ninfo, "size", None)
    return size is not None and (node.rfile().getsize() if node.rexists() else None) != size


def _timestamp_or_size_changed(self: Any, target: Any, prev_ni: Any,
                               repo_node: Any = None) -> bool:
    """SCons's ``changed_timestamp_match`` (true: look at the contents), and the size.

    With the ``content-timestamp`` decider and ``max_drift`` an unchanged
    modification time carries the old content signature forward: a file rewritten
    with another size but the same time (a tool that restores times, ``cp -p`` or
    ``tar x`` of another version, a rewrite within the clock's resolution) kept its
    stale object on a graph walk -- and the build then recorded the new size with the
    old signature.  SCons stores the size beside the time; a different one is a
    change (the fast path's stamp has always held it, kmodbuild.fastpath)."""
    try:
        return self.get_timestamp() != prev_ni.timestamp or _size_differs(self, prev_ni)
    except AttributeError:
        return True


def _max_drift_csig_same_size(self: Any) -> str:
    """SCons's ``get_max_drift_csig`` (the stored signature of a file whose time is as
    stored and older than ``max_drift``), not for a file of another size."""
    csig = _MAX_DRIFT_CSIG(self)
    if csig and _size_differs(self, self.get_stored_info().ninfo):
        return ""
    return csig


_MAX_DRIFT_CSIG = SCons.Node.FS.File.get_max_drift_csig
SCons.Node.FS.File.changed_timestamp_match = _timestamp_or_size_changed  # type: ignore[method-assign]
SCons.Node.FS.File.get_max_drift_csig = _max_drift_csig_same_size  # type: ignore[method-assign]


def _install_decider(dependency: Any, target: Any, prev_ni: Any, repo_node: Any = None) -> bool:
    """``content-timestamp``, and an installed file changed since SCons installed it
    (edited, replaced, truncated by hand) is installed again.

    SCons judges a target by its sources only: an altered install stayed as it was,
    and METALOG, written again from the installed files, then recorded it as the
    build's (``kmodbuild verify`` found nothing wrong).  The target's state as SCons
    stored it after the install (size and mtime) against its state now.
    """
    try:
        ninfo = target.get_stored_info().ninfo
        stamp, size = ninfo.timestamp, ninfo.size
    except AttributeError:
        stamp = size = None             # never installed by SCons: its sources decide
    if stamp is not None:
        try:
            st = os.stat(target.abspath)
        except OSError:
            st = None                   # missing: SCons installs it anyway
        if st is not None and (st.st_mtime != stamp or st.st_size != size):
            return True
    return bool(dependency.changed_timestamp_then_content(target, prev_ni, repo_node))


class _Shared(list):  # type: ignore[type-arg]
    """A list that ``env.Clone()`` shares instead of copying (SCons copies plain lists):
    a module SConscript may clone the environment and still register its module."""


_ACTIONS: dict[str, Any] = {}


#: Words a POSIX shell passes on unchanged (no quoting, expansion, globbing or
#: redirection): a command made only of such words means the same run without it.
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
_WHICH: dict[tuple[str, str], str | None] = {}


def _unquoted(word: str) -> str | None:
    """The argument the shell makes of ``word``, if it is plain or one double-quoted
    string with nothing the shell expands inside (as SCons's ``ESCAPE`` quotes
    file names); else ``None``."""
    if _PLAIN_WORD.fullmatch(word):
        return word
    if len(word) >= 2 and word[0] == word[-1] == '"' and not any(c in word[1:-1] for c in '"$`\\'):
        return word[1:-1]
    return None


def _spawn(sh: str, escape: Any, cmd: str, args: Sequence[str], env: dict[str, str]) -> int:
    """SCons's ``SPAWN`` on POSIX without the shell when the shell would change nothing.

    SCons runs every command as ``sh -c "..."``: for a 500-module build that is
    1,500 extra ``sh`` processes (about 1 ms of CPU each, on the cores the
    compiler needs).  A command whose words are all plain or simply quoted
    (:func:`_unquoted`; no assignment as its first word) and whose program is
    found on the command's ``PATH`` is started directly, as GNU make starts
    such recipes; anything else -- shell syntax, a shell builtin, a script the
    kernel cannot execute -- goes to ``sh -c`` as before.  The return value is
    the one SCons's own spawn gives (the shell's: 128 + the signal for a
    program killed by one).

    The program is started by :class:`subprocess.Popen` (file descriptors
    closed, the signals Python ignores restored), not ``os.posix_spawn``:
    that one holds the GIL until the child has executed the program, 1.3 ms
    a command on a busy machine, while the build's other threads wait with
    their checks, splits and bookkeeping (2 s of a 500-module build; the
    whole build took 3 % longer, six alternating pairs)."""
    words = [_unquoted(str(a)) for a in args]
    argv = [w for w in words if w is not None]
    if argv and argv[0] and len(argv) == len(words) and "=" not in str(args[0]):
        key = (argv[0], env.get("PATH", os.defpath))
        path = _WHICH.get(key, "")
        if path == "":
            path = _WHICH[key] = shutil.which(key[0], path=key[1]) if "/" not in key[0] else key[0]
        if path is not None:
            try:        # close_fds (the default) also keeps Popen off os.posix_spawn
                proc = subprocess.Popen(argv, executable=path, env=env)
            except OSError:
                pass
            else:
                code = proc.wait()
                if code >= 0:
                    return code
                _say_killed(argv[0], -code)
                return 128 - code                   # killed: as sh reports it
    return SCons.Platform.posix.subprocess_spawn(sh, escape, cmd, args, env)


#: signals a build's interruption sends (SCons reports those itself)
_INTERRUPTS = {"SIGINT", "SIGTERM", "SIGHUP", "SIGPIPE"}


def _say_killed(program: str, signum: int) -> None:
    """One line naming the signal that killed a command, which SCons only reports as
    ``Error 128+N`` (``Error 153``: a file size limit; ``Error 137``: often the
    kernel's out-of-memory killer)."""
    import signal
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    if name in _INTERRUPTS:
        return
    why = signal.strsignal(signum) or name
    hint = " (out of memory? the kernel's OOM killer sends it)" if name == "SIGKILL" else ""
    with _PROGRESS_LOCK:
        print(f"scons: {os.path.basename(program)} killed by {name}: {why}{hint}",
              file=sys.stderr, flush=True)


def _action(func: Any, strfunc: Any, *varlist: str) -> Any:
    """One shared SCons Action per Python action function.

    Creating an Action computes the signature of the function's bytecode;
    doing that once per module cost ~1.5 ms each (0.16 s for 100 modules).
    """
    act = _ACTIONS.get(func.__name__)
    if act is None:
        act = _ACTIONS[func.__name__] = SCons.Action.Action(func, strfunc, varlist=list(varlist))
    return act


def _fail(e: KmodError | str) -> SCons.Errors.StopError:
    """A configuration error while reading SConscripts: one line, ``scons: *** msg  Stop.``"""
    return SCons.Errors.StopError(str(e))


def _action_fail(e: KmodError | str) -> SCons.Errors.UserError:
    """An error inside a build action: SCons shows only the message."""
    return SCons.Errors.UserError(str(e))


# --------------------------------------------------------------------------- variables

def add_variables(vars: Variables) -> None:
    """Declare the command-line variables ``scons -h`` lists."""
    names = ", ".join(t.name for t in ktarget.TARGETS)
    vars.Add("ARCH", f"target(s): {names}; a comma-separated list, or all",
             ktarget.DEFAULT_TARGET)
    vars.Add("VERSION", "NetBSD version the modules are built for: MM.mm (release), "
             "MM.mm.pp (a release's patch level: installs into MM.mm, builds in "
             "build/<target>/MM.mm.pp) or MM.99.pp (-current)", ktarget.DEFAULT_VERSION)
    vars.Add(EnumVariable("TOOLCHAIN", "compiler and linker: zig (embedded, default), clang "
                          "(+ld.lld), gcc (<triple>-gcc/-ld), hostgcc (amd64, i386)",
                          ktoolchain.DEFAULT_TOOLCHAIN, allowed_values=ktoolchain.TOOLCHAINS))
    vars.Add("DESTDIR", "install root: modules go to $DESTDIR/stand/<MACHINE>/<VERSION>/modules",
             "#")
    vars.Add("NETBSDSRCDIR", "compile against a real NetBSD source tree (its sys/ headers and "
             "machine links) instead of this repository's sys/", "")
    vars.Add("KERNSRCDIR", "like NETBSDSRCDIR, but the path of the tree's sys/ directory", "")
    vars.Add("MANIFEST", "kernel symbol manifest to check against (default: generated from "
             "the stub kernel built from sys/kern)", "")
    vars.Add("CCWRAPPER", "command put in front of every compile (e.g. ccache, distcc; "
             "must not change what is compiled: not in the build signature)", "")
    vars.Add(BoolVariable("CCACHE", "compile through ccache (apt-get install ccache)", False))
    vars.Add("DISTCC_HOSTS", "compile through distcc on these hosts (e.g. 127.0.0.1/2)", "")
    vars.Add("KMOD_CACHEDIR", "shared SCons CacheDir: reuse objects and modules built by "
             "other machines or trees", "")
    vars.Add(BoolVariable("VERBOSE", "print every command instead of one line per module", False))


_HELP_HEAD = """\
kmodbuild: build, check, install and simulate the kernel modules under sys/modules.

usage: scons [VARIABLE=value ...] [TARGET ...] [-j N] [-s] [-c]

  scons                     amd64 10.0: build, check, install into ./stand, simulate
  scons ARCH=all -j2        all eight targets
  scons VERSION=10.99.10    a -current kernel (stand/amd64/10.99.10/modules)
  scons VERSION=10.0.3      a release's patch level (stand/amd64/10.0/modules, build/.../10.0.3)
  scons DESTDIR=/tmp/root   install into /tmp/root/stand/...
  scons -s                  errors only, for CI logs (VERBOSE=1: every command)
  scons -c                  remove what the build made

targets (default: check, install and simulate):
  install        every module that passes its check, into
                 DESTDIR/stand/MACHINE/VERSION/modules/NAME/NAME.kmod, and METALOG
  install-debug  NAME.kmod.debug into DESTDIR/usr/libdata/debug/stand/...
  check          the check of every module (build/MACHINE-ARCH/VERSION/check-report.json)
                 and the installs of those that pass
  simulate       load and unload the installed tree in the simulator
  kernel         the stub kernel and its symbol manifest only
  sets           reproducible module sets (tar.xz + SHA512) in build/sets

variables (this run's value in brackets):
"""

_HELP_TAIL = """
More: README.md and docs/ in the kmodbuild repository.
"""


def help_text(vars: Variables, env: _ENV) -> str:
    """What ``scons -h`` prints: what the build does, its targets and its variables
    with this run's values (SCons's own options are behind ``scons -H``)."""
    import textwrap
    lines = [_HELP_HEAD]
    for opt in vars.options:
        value = env.get(opt.key, opt.default)
        if isinstance(value, bool):
            value = "yes" if value else "no"
        shown = "repository root" if opt.key == "DESTDIR" and value == "#" else value
        text = f"{opt.help} [{shown}]" if shown not in ("", None) else opt.help
        lines.append(textwrap.fill(text, width=79, initial_indent=f"  {opt.key:<14} ",
                                   subsequent_indent=" " * 17) + "\n")
    lines.append(_HELP_TAIL)
    return "".join(lines)


#: the BoolVariables of add_variables, and the words SCons's BoolVariable takes
_BOOL_VARIABLES = ("CCACHE", "VERBOSE")
_BOOL_WORDS = frozenset({"y", "yes", "true", "t", "1", "on", "all",
                         "n", "no", "false", "f", "0", "off", "none"})


def check_arguments(vars: Variables, arguments: dict[str, str]) -> None:
    """Refuse a bad ``TOOLCHAIN=`` in one line (SCons's own error names a line of the
    SConstruct too) and warn of an undeclared variable that looks like a misspelt one
    (``ARHC=``); others are left alone, for SConscripts that read their own."""
    import difflib
    tc = arguments.get("TOOLCHAIN")
    if tc is not None and tc not in ktoolchain.TOOLCHAINS:
        raise _fail(f"unknown TOOLCHAIN '{tc}'; known: {', '.join(ktoolchain.TOOLCHAINS)}")
    for name in _BOOL_VARIABLES:        # SCons's own error is three lines
        value = arguments.get(name)
        if value is not None and value.lower() not in _BOOL_WORDS:
            raise _fail(f"{name}={value}: not a yes/no value (1, 0, yes, no, true, false, "
                        "on, off)")
    known = list(vars.keys())
    for name in arguments:
        if name in known:
            continue
        close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.7)
        if close:
            print(f"scons: warning: unknown variable {name} (did you mean {close[0]}?), "
                  "ignored; 'scons -h' lists the variables", file=sys.stderr)
    for name, values in ENV_SWITCHES.items():
        value = os.environ.get(name, "")
        if value and value not in values:   # KMOD_ABIPROBE=off would probe: say so
            print(f"scons: warning: {name}={value}: not one of {', '.join(values)}; "
                  "taken as unset", file=sys.stderr)


#: the environment variables that switch a part of the build off (or on), and their values
ENV_SWITCHES = {"KMOD_FASTPATH": ("0", "1"), "KMOD_QUICKBUILD": ("0", "1"),
                "KMOD_QUICK_EXIT": ("0", "1"),
                "KMOD_SIMSTREAM": ("0", "1"), "KMOD_SIMMEMO": ("0", "1"),
                "KMOD_ABIPROBE": ("0", "1", "always")}


#: the compiler and linker enter the build signatures as their identity
#: (kmodbuild.toolchain.identities), not as SCons's implicit command dependency
_TOOLS_VARLIST = ["KMOD_TOOLS_ID"]


#: the compile command, default ``KMOD_CCCOM``: this prefix, then ``-c $SOURCE -o $TARGET``
#: (the wrappers and the programs' paths between ``$(`` and ``$)``: not in the build
#: signature, which has the toolchain's identity, KMOD_TOOLS_ID, instead -- so a
#: KMOD_CACHEDIR serves trees, venvs and machines whose zig is elsewhere, and an
#: object does not compile again when ccache or distcc is put in front)
_CC_PREFIX = "$( $KMOD_CCWRAPPER $) $KMOD_CC $KMOD_CFLAGS $KMOD_CPPFLAGS"
_DEFAULT_CCCOM = _CC_PREFIX + " -c $SOURCE -o $TARGET"
#: the link command, default ``KMOD_LINKCOM``: this prefix, then ``-o $TARGET $SOURCES``
_LINK_PREFIX = "$KMOD_LD $KMOD_LDFLAGS -T $KMOD_LDSCRIPT_PATH"
_DEFAULT_LINKCOM = _LINK_PREFIX + " -o $TARGET $SOURCES"


def generate(env: _ENV) -> None:
    """Register the kmodbuild builders and methods on ``env`` (never overwrites user values)."""
    env.SetDefault(
        KMOD_ARCH=ktarget.DEFAULT_TARGET,
        KMOD_VERSION=ktarget.DEFAULT_VERSION,
        KMOD_TOOLCHAIN=ktoolchain.DEFAULT_TOOLCHAIN,
        KMOD_DESTDIR="#",
        KMOD_SYSDIR="#sys",
        KMOD_LDSCRIPT="$KMOD_SYSDIR/modules/xldscripts/kmodule",
        KMOD_MANIFEST="",
        KMOD_CCWRAPPER="",
        KMOD_CCCOM=_DEFAULT_CCCOM,
        KMOD_LINKCOM=_DEFAULT_LINKCOM,
        KMOD_KERNLINKCOM="$KMOD_LD $KMOD_KERNEL_LDFLAGS -o $TARGET $SOURCES",
        KMOD_OUTPUT="compact",
    )
    env["BUILDERS"]["KmodObject"] = SCons.Builder.Builder(
        action=_PrefixedAction("KMOD_CCCOM", strfunction=_quiet_unless_verbose,
                               varlist=_TOOLS_VARLIST),
        suffix=".o", src_suffix=".c", single_source=True, source_scanner=_C_SCANNER)
    env["BUILDERS"]["KmodLink"] = SCons.Builder.Builder(
        action=_PrefixedAction("KMOD_LINKCOM", strfunction=_link_str,
                               varlist=_TOOLS_VARLIST), suffix=".kmod")
    env["BUILDERS"]["KmodKernelLink"] = SCons.Builder.Builder(
        action=SCons.Action.Action("$KMOD_KERNLINKCOM", strfunction=_kernel_link_str,
                                   varlist=_TOOLS_VARLIST))
    env["BUILDERS"]["KmodInstallFile"] = SCons.Builder.Builder(
        action=_action(_install_action, _install_str, "KMOD_ACTIONS"))
    env["KMOD_ACTIONS"] = f"{ACTIONS_VERSION}:{_code_digest()}"
    # KMOD_ABIPROBE (environment) decides what the split writes into NAME.kmod.debug
    env["KMOD_ABIPROBE_MODE"] = os.environ.get("KMOD_ABIPROBE", "")
    # with unicorn installed or not, the simulation runs modcmd or not: another answer
    from kmodbuild.fastpath import emulator_identity
    env["KMOD_EMULATOR"] = emulator_identity()
    if env.get("SPAWN") is SCons.Platform.posix.subprocess_spawn:   # a user's own stays
        env["SPAWN"] = _spawn
    env.AddMethod(KmodTargetEnvs)
    env.AddMethod(KernelModule)
    env.AddMethod(KernelTree)
    env.AddMethod(KmodStubKernel)


def exists(env: _ENV) -> bool:
    """True when the configured toolchain exists for the default target."""
    try:
        tc = ktoolchain.make_toolchain(ktarget.get_target(env.get("KMOD_ARCH", "amd64")),
                                       env.get("KMOD_TOOLCHAIN", "zig"))
        ktoolchain.probe(tc)
    except KmodError:
        return False
    return True


# --------------------------------------------------------------------------- per-target envs

def _check_destdir(given: str, destdir: str) -> None:
    """``DESTDIR``: a directory the build can create its ``stand/`` in, or one line why
    not (before anything is built, rather than when the first install fails)."""
    path = destdir
    while not os.path.exists(path):          # the nearest part that exists
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    if not os.path.isdir(path):
        raise _fail(f"DESTDIR={given}: {path} is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        what = "is" if path == destdir else f"cannot be created: {path} is"
        raise _fail(f"DESTDIR={given}: {what} not writable")


def _sys_include_flags(env: _ENV, t: ktarget.Target, variant: str) -> tuple[list[str], list[Any]]:
    """Return (-isystem flags, CPPPATH for the scanner) for our sys/ or a real NetBSD tree."""
    srcdir = env.get("KMOD_NETBSDSRCDIR", "")
    kernsrc = env.get("KMOD_KERNSRCDIR", "")
    if srcdir or kernsrc:
        sysdir = Path(kernsrc) if kernsrc else Path(srcdir) / "sys"
        if not (sysdir / "sys" / "module.h").is_file():
            raise _fail(f"{sysdir}: not a NetBSD sys/ directory (no sys/module.h); check "
                        f"{'KERNSRCDIR' if kernsrc else 'NETBSDSRCDIR'}")
        common = sysdir.parent / "common" / "include"
        # bsd.klinks.mk: the machine and MACHINE_CPU include links.
        klinks = Path(env.Dir("#build").abspath) / t.key / "klinks"
        klinks.mkdir(parents=True, exist_ok=True)
        links = {"machine": sysdir / "arch" / t.machine / "include",
                 t.machine_cpu: sysdir / "arch" / t.machine_cpu / "include"}
        if t.machine_cpu in ("x86_64", "i386"):
            links["x86"] = sysdir / "arch" / "x86" / "include"
        for name, dest in links.items():
            link = klinks / name
            if os.path.islink(link) and os.readlink(link) != str(dest):
                os.unlink(link)
            if not os.path.lexists(link):
                os.symlink(dest, link)
        dirs = [str(klinks), str(sysdir), str(sysdir / "arch"), str(common)]
    else:
        top = env.Dir(env["KMOD_SYSDIR"])
        rel = os.path.relpath(top.abspath, env.Dir("#").abspath)
        dirs = [rel, os.path.join(rel, "arch")]
    flags: list[str] = []
    for d in dirs:
        flags += ["-isystem", d]
    return flags, [env.Dir(d if os.path.isabs(d) else "#" + d) for d in dirs]


def KmodTargetEnvs(env: _ENV) -> list[_ENV]:
    """One cloned environment per target in ``KMOD_ARCH`` (``all`` = every target), for a
    SConstruct of one's own: ``tenv.KernelModule(...)`` in each builds, checks, installs
    and simulates as :func:`KernelTree` does, against ``KMOD_MANIFEST`` or the stub kernel
    built from ``$KMOD_SYSDIR/kern``."""
    _lock_tree(env)
    configure_wrappers(env)
    envs = _target_envs(env)
    kern_srcs = _kernel_sources(env, env.Dir(env["KMOD_SYSDIR"]))
    for tenv in envs:
        _target_manifest(tenv, kern_srcs, hint="set KMOD_MANIFEST=FILE, or KMOD_SYSDIR to a "
                         "sys/ directory with kern/*.c (kmodbuild's own builds a stub kernel)")
        tenv["KMOD_LATE_STEPS"] = _LateSteps(tenv)
    return envs


def _target_envs(env: _ENV) -> list[_ENV]:
    """One cloned environment per target in ``KMOD_ARCH`` (``all`` = every target)."""
    try:
        targets = ktarget.parse_targets(env["KMOD_ARCH"])
        version = ktarget.NetBSDVersion.parse(env["KMOD_VERSION"])
    except KmodError as e:
        raise _fail(e) from None
    try:
        toolchains = [ktoolchain.make_toolchain(t, env["KMOD_TOOLCHAIN"]) for t in targets]
    except KmodError as e:
        raise _fail(e) from None
    # the programs themselves are inputs of the fast path's stamp (a clang upgraded)
    _FAST.setdefault("tools", set()).update(
        path for tc in toolchains for path in ktoolchain.executables(tc, env.WhereIs)
        if os.path.isabs(path))
    # SCons would hash the compiler binary itself at every clean build: the signatures
    # carry the toolchain's identity instead (IMPLICIT_COMMAND_DEPENDENCIES off)
    tools_ids = ktoolchain.identities(
        toolchains, os.path.join(env.Dir("#build").abspath, "toolchain", "identity.json"),
        save=not SCons.Script.GetOption("clean"), which=env.WhereIs)
    envs = []
    for t, tc, tools_id in zip(targets, toolchains, tools_ids):
        # keyed by the full version: 10.0.3's objects and kernel are not 10.0's, although
        # both install into stand/<machine>/10.0 (the kernel's module path, spec §3.1)
        variant = f"#build/{t.key}/{version.build_dir}"
        inc, cpppath = _sys_include_flags(env, t, variant)
        cc_words, script_dir = _compiler_words(env, tc, tools_id)
        destdir = env.Dir(env["KMOD_DESTDIR"]).abspath
        if not SCons.Script.GetOption("clean"):
            _check_destdir(env["KMOD_DESTDIR"], destdir)
        tenv = env.Clone(
            KMOD_TARGET_NAME=t.name,
            KMOD_OSRELEASE=version.osrelease,
            KMOD_BUILD_VERSION=version.build_dir,
            KMOD_VARIANT=variant,
            KMOD_CC=cc_words,
            # DWARF for ABI checks (docs/abi.md); v4 without columns (no source MD5s, no
            # macro-expanded columns): distcc or ccache on preprocessed source give the same object
            KMOD_CFLAGS=" ".join([*tc.cflags, "-g", "-gdwarf-4", "-gno-column-info"]),
            KMOD_CPPFLAGS=" ".join([*inc, f"-D__NetBSD_Version__={version.number}"]),
            KMOD_LD=_unsigned_program(list(tc.ld), 2 if tc.kind == "zig" else 1),
            IMPLICIT_COMMAND_DEPENDENCIES=0,
            KMOD_TOOLS_ID=tools_id,
            KMOD_LDFLAGS=" ".join(tc.ldflags),
            KMOD_KERNEL_LDFLAGS=" ".join(tc.kernel_ldflags),
            KMOD_LDSCRIPT_PATH=env.File(env["KMOD_LDSCRIPT"]).path,
            KMOD_STAND=str(ktarget.stand_dir(Path(destdir), t, version)),
            KMOD_DESTDIR_ABS=destdir,
            CPPPATH=cpppath,
            KMOD_SYS_CPPPATH=list(cpppath),     # a module's own CPPPATH is what it adds
        )
        if not SCons.Script.GetOption("clean"):
            # a symlink on the way to stand/: refused now, before SCons makes the
            # directories of the installs through it (the install itself refuses, later)
            try:
                safe_dest(Path(destdir), os.path.relpath(tenv["KMOD_STAND"], destdir))
            except KmodError as e:
                raise _fail(e) from None
        if script_dir is not None:      # the zig-clang-ID script is run by its name
            tenv["ENV"] = dict(tenv["ENV"], PATH=os.pathsep.join(
                [script_dir, *filter(None, [tenv["ENV"].get("PATH")])]))
        if _uses_ccache(env["KMOD_CCWRAPPER"]) and "CCACHE_COMPILERCHECK" not in os.environ:
            # ccache would check the compiler by the mtime of the program it is given:
            # zig-clang, rewritten by a clean build (no hit), or zig, reinstalled on a
            # fresh CI runner; the toolchain's identity (size and version) instead
            tenv["ENV"] = dict(tenv["ENV"], CCACHE_COMPILERCHECK=f"string:{tools_id}")
        tenv["KMOD_REGISTRY"] = _Shared()
        # installs decide with their own decider (an installed file altered by hand)
        ienv = tenv.Clone()
        ienv.Decider(_install_decider)
        tenv["KMOD_INSTALL_ENV"] = ienv
        tenv["KMOD_INDEX_SOURCES"] = _Shared()
        tenv["KMOD_CHECK_REPORTS"] = _Shared()
        tenv["KMOD_INDEX_NODE"] = tenv.File(f"{variant}/modules/exports.json")
        tenv["KMOD_TARGET_OBJ"] = t
        tenv["KMOD_VERSION_OBJ"] = version
        tenv["KMOD_TOOLCHAIN_OBJ"] = tc
        envs.append(tenv)
    return envs


def _unsigned_program(argv: list[str], n: int) -> list[str]:
    """``argv`` as the words of a command variable, its first ``n`` (the program's path,
    and zig's ``clang``/``ld.lld``) between ``$(`` and ``$)``: SCons runs them but leaves
    them out of the build signature, where KMOD_TOOLS_ID identifies the programs by
    their size and version (a path differs between trees, venvs and CI machines).
    Words, not a string: a path with a space stays one argument."""
    return ["$(", *argv[:n], "$)", *argv[n:]]


def _compiler_words(env: _ENV, tc: ktoolchain.Toolchain,
                    tools_id: str = "") -> tuple[list[str], str | None]:
    """``KMOD_CC`` (:func:`_unsigned_program` words), and the directory to put first on
    the build's ``PATH`` when a wrapper runs the compiler script by name (else None).

    The compiler argv goes through a one-file wrapper when ccache or distcc is in front.

    ccache and distcc take the first word as the compiler, so ``zig clang``
    becomes a small script that execs it, ``build/toolchain/zig-clang-ID``
    (``ID``: of the toolchain's identity -- zig's size and version), run by that
    bare name with its directory first on the build's ``PATH``.  distcc sends
    the name as it is given, and a distcc server runs it from its own ``PATH``
    (or masquerade directory): an absolute path, the tree's, meant nothing on
    another machine, and distccd refuses one without ``--enable-tcp-insecure``;
    a server with another zig has no script of that name (distcc then compiles
    locally) instead of compiling with it.
    """
    if not env.get("KMOD_CCWRAPPER") or tc.kind != "zig":
        return _unsigned_program(list(tc.cc), 2 if tc.kind == "zig" else 1), None
    import hashlib
    name = f"zig-clang-{hashlib.sha256(tools_id.encode()).hexdigest()[:12]}"
    script = Path(env.Dir("#build").abspath, "toolchain", name)
    replace_if_changed(str(script), f'#!/bin/sh\nexec "{tc.cc[0]}" clang "$@"\n'.encode(),
                       mode=0o755)
    _WRAPPER_SCRIPTS[name] = str(script)
    return _unsigned_program([name, *tc.cc[2:]], 1), str(script.parent)


#: zig-clang-ID -> the script's path (the ABI probe runs it outside the build's PATH)
_WRAPPER_SCRIPTS: dict[str, str] = {}


def configure_wrappers(env: _ENV) -> None:
    """Translate CCACHE=1, DISTCC_HOSTS=... and KMOD_CACHEDIR=... into the environment."""
    wrappers: list[list[str]] = []
    given = env.get("KMOD_CCWRAPPER", "")
    if isinstance(given, (list, tuple)):
        if given:                       # words already (an SConstruct's own, or set here)
            wrappers.append([str(w) for w in given])
    elif given:
        wrappers.append(_wrapper_words(str(given)))
    if env.get("CCACHE"):
        wrappers.insert(0, ["ccache"])
    if env.get("DISTCC_HOSTS"):
        wrappers.append(["distcc"])
        env["ENV"]["DISTCC_HOSTS"] = env["DISTCC_HOSTS"]
    for w in wrappers:
        prog = w[0]
        if os.sep in prog:
            if not (os.path.isfile(prog) and os.access(prog, os.X_OK)):
                raise _fail(f"CCWRAPPER: {prog}: no such program")
        elif not env.WhereIs(prog):
            hint = f": apt-get install {prog}" if prog in ("ccache", "distcc") else ""
            raise _fail(f"{prog} not found on PATH{hint}")
    for k, v in os.environ.items():
        if k.startswith(("CCACHE_", "DISTCC_")) or k in ("HOME", "TMPDIR"):
            env["ENV"].setdefault(k, v)
    words = [word for w in wrappers for word in w]
    if _uses_ccache(words):
        # the objects do not depend on the tree's path (-fdebug-compilation-dir=.): ccache
        # need not hash the working directory, which it does for -g (no hit between two
        # checkouts at different paths); the user's own CCACHE_* settings win
        env["ENV"].setdefault("CCACHE_NOHASHDIR", "1")
        if len(wrappers) > 1:
            # ccache takes the word after it for the compiler: "ccache distcc cc" was
            # never cached ("multiple source files"); distcc goes behind it instead
            # (ccache splits CCACHE_PREFIX at spaces: no quoting)
            behind = " ".join(word for w in wrappers[1:] for word in w)
            own = env["ENV"].get("CCACHE_PREFIX")
            if own and own != behind:
                raise _fail(f"CCACHE_PREFIX={own} is set: ccache would run it instead of "
                            f"{behind}; unset it, or leave out DISTCC_HOSTS/CCWRAPPER")
            env["ENV"]["CCACHE_PREFIX"] = behind
            words = wrappers[0]
    env["KMOD_CCWRAPPER"] = words
    _configure_cachedir(env)


def _uses_ccache(words: Sequence[Any]) -> bool:
    """Whether the compiles go through ccache first (the wrapper words' first)."""
    return bool(words) and os.path.basename(str(words[0])) == "ccache"


def _wrapper_words(given: str) -> list[str]:
    """``CCWRAPPER=...`` as words: a program and its arguments, quoted as a shell would
    (``'/opt/my tools/wrap' -v``); an existing program's path as it is, spaces and all."""
    if os.path.isfile(given) and os.access(given, os.X_OK):
        return [given]
    try:
        words = shlex.split(given)
    except ValueError as e:
        raise _fail(f"CCWRAPPER={given}: {e}") from None
    if not words:
        raise _fail(f"CCWRAPPER={given!r}: no program")
    return words


def _configure_cachedir(env: _ENV) -> None:
    """``KMOD_CACHEDIR=DIR``: SCons's CacheDir there, or one line why it cannot be."""
    _quiet_cache_retrievals()
    if env.get("KMOD_CACHEDIR"):
        try:
            env.CacheDir(env["KMOD_CACHEDIR"])
        except (SCons.Errors.SConsEnvironmentError, OSError) as e:
            cause = e.__cause__ if isinstance(e.__cause__, OSError) else e
            why = getattr(cause, "strerror", None) or str(cause).rstrip(":")
            raise _fail(f"KMOD_CACHEDIR {env['KMOD_CACHEDIR']}: cannot use it as a cache "
                        f"directory: {why}") from None


# --------------------------------------------------------------------------- builders

#: The one C scanner of every compile and split: SCons remembers a file's includes per
#: scanner, so a scanner per module would resolve every header's includes again for
#: each module (2,089 resolutions instead of 677 in a 100-module build).
_C_SCANNER = SCons.Scanner.C.CScanner()
_C_SPLIT_SCANNER = SCons.Scanner.Selector({".c": _C_SCANNER})


def KernelModule(env: _ENV, name: str, sources: list[Any], install: bool = True,
                 **flags: Any) -> Any:
    """Compile ``sources`` and partial-link them into ``NAME.kmod``; check and install it.

    Must be called with a per-target environment (see :func:`KmodTargetEnvs`),
    normally from a module directory's SConscript.  The module's own compiler
    flags (NetBSD's ``CPPFLAGS+=``/``COPTS+=``) are SCons's ``CPPDEFINES``,
    ``CPPPATH`` and ``CFLAGS`` (or ``CCFLAGS``), given as keywords here or set on
    the environment (a clone of it: ``env.Clone()``); kmodbuild.modflags.
    Returns the ``.kmod`` node.
    """
    if "KMOD_TARGET_OBJ" not in env:
        raise _fail(
            "KernelModule() needs a per-target environment: use env.KmodTargetEnvs() "
            "or env.KernelTree()")
    here = f"{env.Dir('.').srcnode().path}/SConscript"
    try:
        validate_module_name(name)
    except KmodError as e:
        raise _fail(f"{here}: {e}") from None
    env = _with_module_flags(env, name, here, flags)
    if not env.Flatten([sources]):      # the linker's "no input files", Error 1, otherwise
        raise _fail(f"{here}: KernelModule('{name}'): no sources")
    first = _NAMES.setdefault((env["KMOD_TARGET_NAME"], name), here)
    if first != here:           # both would be NAME/NAME.kmod, and the kernel finds one
        raise _fail(f"{here}: module name '{name}' is already declared by {first}; "
                    "module names must be unique")
    if env.get("KMOD_PREBUILT"):
        # a partial build (kmodbuild.fastpath): this module's sources did not change
        kmod = [env.File(f"{name}.kmod"), env.File(f"{name}.kmod.debug")]
        if env.get("KMOD_MODDIR"):          # declared without its compiles: no record
            _QUICK_DIRS.setdefault(env["KMOD_TARGET_NAME"], {})[env["KMOD_MODDIR"]] = None
        return _check_and_install(env, name, kmod, install)
    objs = [env.KmodObject(src)[0] for src in env.Flatten([sources])]
    _PROGRESS["total"] += 1
    full = env.KmodLink(f"{name}.kmod.full", objs)
    env.Depends(full, env.File(env["KMOD_LDSCRIPT"]))
    # NAME.kmod (stripped: checked, installed, loaded) + NAME.kmod.debug (MKDEBUG, docs/abi.md)
    # the probe reads the sources and their headers too: a header change that leaves the
    # object as it was may still change a declaration the module was compiled against
    kmod = env.Command([f"{name}.kmod", f"{name}.kmod.debug"],
                       [full, *objs, *(o.sources[0] for o in objs)],
                       _action(_split_action, _quiet_str, "KMOD_ACTIONS", "KMOD_ABIPROBE_MODE",
                               "KMOD_CFLAGS", "KMOD_CPPFLAGS"),
                       source_scanner=_C_SPLIT_SCANNER)
    key = quickbuild.dirty_key(env["KMOD_TARGET_NAME"], env["KMOD_BUILD_VERSION"],
                               env.get("KMOD_MODDIR", ""))
    _DIRTY["declared"].add(key)
    _DIRTY["objects"].setdefault(key, []).extend(objs)
    if key in _DIRTY["keys"] or "*" in _DIRTY["keys"]:
        env.AlwaysBuild(objs, full, kmod)   # a quick build wrote them: see _arrange_dirty
        _DIRTY["compiled"].add(key)
    for obj in objs:                        # the fast path's record of who compiles what
        _SOURCES.setdefault(obj.sources[0].srcnode().abspath, set()).add(
            env.get("KMOD_MODDIR", ""))
        _OBJECTS.append(obj)
    with _at_top():
        commands = _record_compile_commands(env, objs)
        if env.get("KMOD_MODDIR"):
            _quick_module(env, name, objs, commands, full[0], kmod)
    return _check_and_install(env, name, kmod, install)


def _with_module_flags(env: _ENV, name: str, here: str, given: dict[str, Any]) -> _ENV:
    """``env``, or a clone of it whose compile command has the module's own flags: the
    ``CPPDEFINES``/``CPPPATH``/``CFLAGS``/``CCFLAGS`` set on ``env`` (beyond the
    system include directories) and then those ``given`` as keywords."""
    here = _with_line(here)
    unknown = sorted(set(given) - set(modflags.FLAG_VARIABLES))
    if unknown:
        raise _fail(f"{here}: KernelModule('{name}'): unknown keyword {unknown[0]!r} (a "
                    f"module's own flags: {', '.join(modflags.FLAG_VARIABLES)})")
    base = env.get("KMOD_SYS_CPPPATH", [])
    paths = [p for p in env.Flatten([env.get("CPPPATH", [])]) if p not in base]
    paths += env.Flatten([given.get("CPPPATH", [])])
    try:
        defines = [*modflags.define_flags(env.get("CPPDEFINES")),
                   *modflags.define_flags(given.get("CPPDEFINES"))]
        cflags = [w for var in ("CCFLAGS", "CFLAGS")
                  for w in (*modflags.flag_words(env.get(var), var),
                            *modflags.flag_words(given.get(var), var))]
    except KmodError as e:
        raise _fail(f"{here}: KernelModule('{name}'): {e}") from None
    if not (paths or defines or cflags):
        return env
    top = env.Dir("#").abspath
    dirs, incflags = [], []
    for p in paths:
        node = env.Dir(p) if isinstance(p, str) else p
        if not isinstance(node, SCons.Node.FS.Dir):
            raise _fail(f"{here}: KernelModule('{name}'): CPPPATH: {p!r} is not a directory")
        src = node.srcnode()
        if not os.path.isdir(src.abspath):
            raise _fail(f"{here}: KernelModule('{name}'): CPPPATH: {p}: no such directory "
                        f"({src.abspath})")
        rel = os.path.relpath(src.abspath, top)
        word = src.abspath if rel.startswith("..") else rel
        if re.search(r"\s", word):      # the command line is split on white space
            raise _fail(f"{here}: KernelModule('{name}'): CPPPATH: {word!r}: a directory "
                        "whose path has white space cannot be given to the compiler here")
        incflags += ["-I", word]
        dirs.append(src)
        _watch_include_dir(src.abspath)
    words = [*incflags, env["KMOD_CPPFLAGS"], *defines]
    return env.Clone(KMOD_CPPFLAGS=" ".join(words),
                     KMOD_CFLAGS=" ".join([env["KMOD_CFLAGS"], *cflags]),
                     CPPPATH=[*dirs, *base])


def _with_line(here: str) -> str:
    """``here`` (an SConscript's path) with the line of it being read, as SCons names
    the place of a Python error in it: ``sys/modules/foo/SConscript:3``."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if name == here or name.endswith(os.sep + here):
            return f"{here}:{frame.f_lineno}"
        frame = frame.f_back
    return here


def _watch_include_dir(path: str) -> None:
    """An include directory outside what the fast path watches (sys/, site_scons/): the
    stamp could not tell its headers changed, so this build records none (SCons's graph
    decides every run, as with NETBSDSRCDIR's headers)."""
    roots = _FAST.get("input_roots")
    if roots is None:
        return
    real = os.path.realpath(path)
    if not any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
        _FAST["outside_includes"] = path


class _at_top:  # noqa: N801 - a context manager used as a statement
    """Substitute paths as the build runs its commands: relative to the top directory
    (an SConscript is read from its own directory, where ``$TARGET`` is a bare name)."""

    def __enter__(self) -> None:
        fs = SCons.Node.FS.get_default_fs()
        self.cwd = fs.getcwd()
        fs.chdir(fs.Top, change_os_dir=False)

    def __exit__(self, *exc: object) -> None:
        SCons.Node.FS.get_default_fs().chdir(self.cwd, change_os_dir=False)


def _check_and_install(env: _ENV, name: str, kmod: list[Any], install: bool = True,
                       where: Any = None) -> Any:
    """The check and install nodes of one linked module (see :func:`_finish_installs`).

    ``where`` is the module's build directory (default: the SConscript's).
    """
    moddir = env.get("KMOD_MODDIR")
    if moddir:      # remembered for partial builds (_DECLARED, the fast-path stamp)
        _DECLARED.setdefault(f"{env['KMOD_TARGET_NAME']}|{moddir}", []).append([name, install])
    here = where if where is not None else env.Dir(".")
    abi_node = env.get("KMOD_KERNEL_ABI_NODE")
    check = env.Command(here.File(f"{name}.kmod.check"), [kmod[0], env["KMOD_MANIFEST_NODE"],
                                               env["KMOD_INDEX_NODE"], kmod[1],
                                               *([abi_node] if abi_node is not None else [])],
                        _action(_check_action, _check_str, "KMOD_ACTIONS", "KMOD_TARGET_NAME",
                                "KMOD_BUILD_VERSION"))
    env["KMOD_INDEX_SOURCES"].append(kmod[0])
    env["KMOD_CHECK_REPORTS"].append(check[0])
    dest = env.File(os.path.join(env["KMOD_STAND"], name, f"{name}.kmod")) if install else None
    record = _QUICK_PENDING.pop((env["KMOD_TARGET_NAME"], moddir, name), None) \
        if moddir else None
    if record is not None:
        quickbuild.finish_record(record, check[0].abspath, dest.abspath if dest else None)
    if install:
        # the check report is a source: a module that fails its check is not installed
        inst = env.get("KMOD_INSTALL_ENV", env).KmodInstallFile(dest, [kmod[0], check])
        _modules_registry(env).append((name, kmod[0], inst[0]))
        pending = env.get("KMOD_PENDING")
        if pending is not None:          # KernelTree finishes them in one go (speed)
            pending.append((name, kmod[1], check[0], inst[0]))
        else:
            _finish_installs(env, [(name, kmod[1], check[0], inst[0])])
    if _dirty_target(env):
        env.AlwaysBuild(check, *([inst] if install else []))
    late = env.get("KMOD_LATE_STEPS")
    if late is not None:                # KmodTargetEnvs outside KernelTree
        late.add(kmod[0], check[0], inst[0] if install else None)
    return kmod


def _finish_installs(env: _ENV, items: list[tuple[str, Any, Any, Any]]) -> None:
    """Mark installed modules precious and uncached, alias them ``install``, and declare
    their ``install-debug`` copies when that target was asked for.

    ``items`` are ``(name, NAME.kmod.debug node, check node, installed node)``.
    """
    installed = [inst for (_, _, _, inst) in items]
    env.Precious(installed)     # never delete the installed file before replacing it
    env.NoCache(installed)      # installs are never fetched from a CacheDir
    env.Alias("install", installed)
    if "install-debug" not in SCons.Script.COMMAND_LINE_TARGETS \
            and not SCons.Script.GetOption("clean"):
        return                  # not asked for: not declared (hundreds of nodes less to walk)
    # scons install-debug: NAME.kmod.debug where MKDEBUG puts it (DEBUGDIR, spec §4.2)
    destdir = env["KMOD_DESTDIR_ABS"]
    rel = os.path.relpath(env["KMOD_STAND"], destdir)
    for name, debug, check, _ in items:
        dbg = env.File(os.path.join(destdir, "usr", "libdata", "debug", rel, name,
                                    f"{name}.kmod.debug"))
        dinst = env.get("KMOD_INSTALL_ENV", env).KmodInstallFile(dbg, [debug, check])
        env.Precious(dinst)
        env.NoCache(dinst)
        env.Alias("install-debug", dinst)


def _given_manifest_path(env: _ENV) -> str:
    """``MANIFEST=FILE`` as an absolute path (relative: to the top directory); one line
    when it names a directory (SCons's own lookup of it as a file is a traceback)."""
    given = env["KMOD_MANIFEST"]
    path = env.Entry(given).abspath
    if os.path.isdir(path):
        raise _fail(f"MANIFEST={given}: is a directory, not a manifest file")
    return path


def _read_given_manifest(given: str, path: str, t: ktarget.Target,
                         version: ktarget.NetBSDVersion) -> None:
    """``MANIFEST=FILE``: refuse a missing or malformed one, or one of a kernel the
    target's modules could not load into, before anything is built, in one line (every
    module's check would otherwise report it, once per job)."""
    if not os.path.isfile(path):
        raise _fail(f"MANIFEST={given}: no such file")
    from kmodbuild import buildcheck
    try:
        manifest = buildcheck.read_kernel_manifest(Path(path))     # kept for the checks
    except KmodError as e:
        raise _fail(e) from None
    if manifest.key != t.key:
        raise _fail(f"MANIFEST={given}: the manifest of a {manifest.machine} "
                    f"{manifest.machine_arch} kernel; ARCH={t.name} builds for {t.machine} "
                    f"{t.machine_arch}")
    if not ktarget.compatible(version.number, manifest.netbsd_version):
        raise _fail(f"MANIFEST={given}: the manifest of a {manifest.version} kernel; modules "
                    f"built for VERSION={version} do not load into it (spec §3.2)")


def _kernel_sources(env: _ENV, sysdir: Any) -> list[Any]:
    """The stub kernel's sources: ``sysdir/kern/*.c`` (none: no stub kernel)."""
    return [env.File(str(p)) for p in sorted(Path(sysdir.abspath, "kern").glob("*.c"))]


def _target_manifest(tenv: _ENV, kern_srcs: list[Any], prebuilt: bool = False,
                     hint: str = "building against NETBSDSRCDIR/KERNSRCDIR needs MANIFEST=FILE"
                     ) -> None:
    """Set the target's kernel symbol manifest (``KMOD_MANIFEST_NODE``) and ABI description
    (``KMOD_KERNEL_ABI_NODE``): the one given, else the stub kernel's (``prebuilt``: as the
    last build made it, else built from ``kern_srcs``)."""
    variant = tenv["KMOD_VARIANT"]
    if tenv.get("KMOD_MANIFEST"):
        path = _given_manifest_path(tenv)
        _read_given_manifest(tenv["KMOD_MANIFEST"], path, tenv["KMOD_TARGET_OBJ"],
                             tenv["KMOD_VERSION_OBJ"])
        tenv["KMOD_MANIFEST_NODE"] = tenv.File(path)
        sidecar = _abi_sidecar(tenv["KMOD_MANIFEST_NODE"].abspath)
        tenv["KMOD_KERNEL_ABI_NODE"] = tenv.File(sidecar) if sidecar else None
    elif prebuilt:
        tenv["KMOD_MANIFEST_NODE"] = tenv.File(f"{variant}/kernel/netbsd.syms")
        tenv["KMOD_KERNEL_ABI_NODE"] = tenv.File(f"{variant}/kernel/netbsd.abi")
    elif kern_srcs and not tenv.get("KMOD_NETBSDSRCDIR") and not tenv.get("KMOD_KERNSRCDIR"):
        kernel = tenv.KmodStubKernel(kern_srcs)
        syms = tenv.Command([f"{variant}/kernel/netbsd.syms", f"{variant}/kernel/netbsd.abi"],
                            kernel, _action(_manifest_action, _manifest_str,
                                            "KMOD_ACTIONS", "KMOD_TARGET_NAME",
                                            "KMOD_BUILD_VERSION"))
        tenv.Alias("kernel", [kernel, syms])
        tenv["KMOD_MANIFEST_NODE"] = syms[0]
        tenv["KMOD_KERNEL_ABI_NODE"] = syms[1]
    else:
        raise _fail(f"no kernel symbol manifest: {hint} (make one with "
                    "'kmodbuild manifest /netbsd -o FILE')")


def _target_steps(tenv: _ENV) -> tuple[Any, Any, Any]:
    """Declare what follows a target's modules: exports index, check gate, METALOG and the
    simulation (sources: the modules registered so far).  Returns (gate, METALOG,
    simulation) nodes."""
    variant = tenv["KMOD_VARIANT"]
    index = tenv.Command(tenv["KMOD_INDEX_NODE"], tenv["KMOD_INDEX_SOURCES"],
                         _action(_index_action, _quiet_str, "KMOD_ACTIONS",
                                 "KMOD_TARGET_NAME"))
    tenv.Precious(index)             # not removed first: rewritten only if it changed
    tenv.Clean(index, index[0].File(".exports-cache.json"))    # its cache (_index_action)
    gate = tenv.Command(f"{variant}/check-report.json", tenv["KMOD_CHECK_REPORTS"],
                        _action(_check_gate_action, _quiet_str, "KMOD_ACTIONS"))
    tenv.Default(tenv.Alias("check", gate))
    installed = [inst for (_, _, inst) in tenv["KMOD_REGISTRY"]]
    stand_version_dir = Path(tenv["KMOD_STAND"]).parent
    # with the installs' decider: a METALOG altered by hand is written again
    metalog = tenv.get("KMOD_INSTALL_ENV", tenv).Command(
        str(stand_version_dir / "METALOG"), installed,
        _action(_metalog_action, _metalog_str, "KMOD_ACTIONS"))
    tenv.Precious(metalog)
    tenv.NoCache(metalog)
    tenv.Alias("install", metalog)
    if not SCons.Script.GetOption("clean") and _stale_temporaries(installed):
        tenv.AlwaysBuild(metalog)       # a killed install's leftovers: removed by the step
    # the gate fails the build last, after every module that passed is installed:
    # an order-only prerequisite, so that it reruns only when a check report
    # changed (an edit that leaves a module's report as it was does not read
    # every report again)
    tenv.Requires(gate, [*installed, metalog])
    # ``scons install`` (and ``scons sets``, below) fail as ``scons`` does when a check
    # failed: they exited 0, silently leaving the module out of stand/ and the set
    tenv.Alias("install", gate)
    tenv["KMOD_GATE"] = gate[0]
    tenv.Default(tenv.Alias("install"))
    # the simulation loads what the kernel would find: also plists and modules this
    # tree does not install (their changes must simulate again, too)
    from kmodbuild.simvalidate import kernel_reads
    others = kernel_reads(tenv["KMOD_STAND"], {n for n, _, _ in tenv["KMOD_REGISTRY"]})
    validate = tenv.Command(f"{variant}/simulate.txt",
                            [*installed, metalog, *map(tenv.File, others),
                             tenv["KMOD_MANIFEST_NODE"]],
                            _action(_validate_action, _quiet_str, "KMOD_ACTIONS",
                                    "KMOD_EMULATOR"))
    tenv.Default(tenv.Alias("simulate", validate))
    tenv.Clean(validate, f"{variant}/simulate.txt.memo")   # kmodbuild.simmemo
    # never fetched from a KMOD_CACHEDIR: fetched, the gate printed no warning and the
    # simulation no summary (and did not run); both are cheap next to the compiles
    tenv.NoCache(gate, validate)
    if _dirty_target(tenv):
        tenv.AlwaysBuild(index, gate, metalog, validate)
    return gate[0], metalog[0], validate[0]


class _LateSteps:
    """The steps after the modules of a target of :func:`KmodTargetEnvs` used outside
    :func:`KernelTree` (nobody says when the last module is declared): declared with the
    first module (:func:`_target_steps`), each later one added to their sources, as
    SCons's ``multi`` builders add theirs."""

    def __init__(self, tenv: _ENV) -> None:
        self.tenv = tenv
        self.nodes: tuple[Any, Any, Any] | None = None

    def add(self, kmod: Any, check: Any, inst: Any) -> None:
        if self.nodes is None:
            self.nodes = _target_steps(self.tenv)
            return
        gate, metalog, validate = self.nodes
        _add_sources(self.tenv["KMOD_INDEX_NODE"], kmod)
        _add_sources(gate, check)
        if inst is not None:
            _add_sources(metalog, inst)
            _add_sources(validate, inst)
            self.tenv.Requires(gate, inst)


def _add_sources(node: Any, source: Any) -> None:
    """Add ``source`` to a declared node's sources (what a ``multi`` builder does)."""
    node.get_executor().add_sources([source])
    node.add_source([source])


def KmodStubKernel(env: _ENV, sources: list[Any]) -> Any:
    """Build the stub kernel image ``<variant>/kernel/netbsd`` from ``sources`` (sys/kern/*.c).

    Kernel objects are compiled without ``-D_MODULE``; the image is linked as an
    executable so its symbol table is what ``kmodbuild manifest`` reads.
    """
    variant = env["KMOD_VARIANT"]
    cflags = env["KMOD_CFLAGS"].replace(" -D_MODULE", "")
    cppflags = env["KMOD_CPPFLAGS"]
    objs = [env.KmodObject(f"{variant}/kernel/{Path(str(s)).stem}.o", s,
                           KMOD_CFLAGS=cflags, KMOD_CPPFLAGS=cppflags)[0]
            for s in sources]
    _record_compile_commands(env, objs)
    return env.KmodKernelLink(f"{variant}/kernel/netbsd", objs)


def KernelTree(env: _ENV, sysdir: str = "sys",
               rebuild_only: tuple[str, ...] | None = None) -> list[Any]:
    """Build the whole tree under ``sysdir`` for every target: stub kernel, modules, install.

    Module directories are ``sysdir/modules/*/`` with an SConscript each.
    ``rebuild_only`` (from kmodbuild.fastpath.plan): only these module
    directories' sources changed since the last successful build, so every
    other module's ``.kmod`` and the kernel manifest are taken as they are
    (no compile, link or #include walk for them); checks, installs, METALOG
    and the simulation are declared as always.
    Returns the list of per-target environments.

    The garbage collector is off while the graph is declared, and what exists
    at the end is frozen (:func:`gc.freeze`): the graph lives until SCons
    exits, and full collections that walked it again and again took a fifth
    of a 500-module edit build (0.4-1.2 s of gen-2 collections).
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _kernel_tree(env, sysdir, rebuild_only)
    finally:
        gc.freeze()
        if gc_was_enabled:
            gc.enable()


def _refuse_dollar(path: str, what: str) -> None:
    """SCons expands ``$NAME`` in file names and commands: a ``$`` in a path would name
    another file (``/tmp/a$b`` is ``/tmp/a`` with ``b`` unset) -- one line instead."""
    if "$" in path:
        raise _fail(f"{path}: {what} contains '$', which SCons expands in file names "
                    "and commands; rename it")


def _kernel_tree(env: _ENV, sysdir: str, rebuild_only: tuple[str, ...] | None) -> list[Any]:
    _refuse_dollar(env.Dir("#").abspath, "the tree's path")
    _lock_tree(env)
    configure_wrappers(env)
    _arrange_quick_exit()                   # before the stamp's exit handler: runs after it
    _say_interrupted()
    _store_only_changes()
    _keep_action_signatures()
    previous = _fast_path(env, sysdir)
    _FAST["declared_all"] = rebuild_only is None
    _arrange_dirty(env)
    if rebuild_only is None:
        previous = {}
    top = env.Dir(sysdir if sysdir.startswith("#") else "#" + sysdir)
    _refuse_dollar(top.abspath, "the sys/ directory's path")
    moddirs = sorted(p.parent.name for p in Path(top.abspath, "modules").glob("*/SConscript"))
    for d in moddirs:
        _refuse_dollar(os.path.join(top.abspath, "modules", d), "a module directory's name")
    kern_srcs = _kernel_sources(env, top)
    envs = _target_envs(env)
    for tenv in envs:
        variant = tenv["KMOD_VARIANT"]
        _target_manifest(tenv, kern_srcs, prebuilt=rebuild_only is not None)
        if rebuild_only is not None and previous:
            # a partial build: the other modules' files are final now, so the simulation
            # starts at once, from the modules the last build declared, and waits only
            # for those being rebuilt (a different list this time: the step simulates
            # itself, kmodbuild.simstream)
            prefix = f"{tenv['KMOD_TARGET_NAME']}|"
            known = [(name, tenv.Dir(f"{variant}/modules/{key[len(prefix):]}")
                      .File(f"{name}.kmod").abspath)
                     for key, entries in previous.items() if key.startswith(prefix)
                     for name, install in entries if install]
            rebuilt = sorted(name for d in rebuild_only
                             for name, install in previous.get(prefix + d, ()) if install)
            _start_stream(tenv, len(known), rebuilt, when="with the graph", modules=known)
        tenv["KMOD_PENDING"] = _Shared()
        for d in moddirs:
            prebuilt = rebuild_only is not None and d not in rebuild_only
            tenv["KMOD_PREBUILT"] = prebuilt
            tenv["KMOD_MODDIR"] = d
            key = f"{tenv['KMOD_TARGET_NAME']}|{d}"
            _DECLARED[key] = []
            known = previous.get(key) if prebuilt else None
            quick_dirs = _QUICK_DIRS.setdefault(tenv["KMOD_TARGET_NAME"], {})
            if known is not None:
                # partial build, SConscript and sources unchanged since the last build:
                # declare its modules' check and install as that build did, unread
                where = tenv.Dir(f"{variant}/modules/{d}")
                for name, install in known:
                    _check_and_install(tenv, name, [where.File(f"{name}.kmod"),
                                                    where.File(f"{name}.kmod.debug")],
                                       bool(install), where=where)
                quick_dirs[d] = _previous_quick_dir(tenv["KMOD_TARGET_NAME"], d)
                continue
            quick_dirs[d] = []
            script = f"{top.path}/modules/{d}/SConscript"
            try:
                tenv.SConscript(script, variant_dir=f"{variant}/modules/{d}",
                                duplicate=False, exports={"env": tenv})
            except _SCONS_ERRORS:
                raise
            except Exception as e:  # noqa: BLE001 - the module's own Python: one line
                raise _fail(_script_error(e, tenv.File(script).srcnode())) from None
            _quick_dir_done(tenv, d, tenv.Dir(f"{variant}/modules/{d}"),
                            tenv.Dir(f"{top.path}/modules/{d}"))
        tenv["KMOD_PREBUILT"] = False
        tenv["KMOD_MODDIR"] = ""
        _finish_installs(tenv, tenv["KMOD_PENDING"])
        tenv["KMOD_PENDING"] = None
        _quick_target(tenv, *_target_steps(tenv))
    _declare_sets(env, envs)
    if rebuild_only is None:
        _write_compile_commands(env)
    _FAST["module_root"] = os.path.join(top.abspath, "modules")
    _FAST["extra_roots"] = sorted({str(Path(t["KMOD_STAND"]).parent) for t in envs})
    if not all(tenv["KMOD_VARIANT"] in _STREAMS for tenv in envs):
        _prewarm_simulation()               # now that the graph is declared
    return envs


# --------------------------------------------------------------------------- quick builds
# What this build declared, for a later partial build without the graph (kmodbuild.quickbuild).

#: target name -> {module directory: [module record, ...], or None: not quick-buildable}
_QUICK_DIRS: dict[str, dict[str, list[dict[str, Any]] | None]] = {}
#: (target name, module directory, module name) -> record awaiting its check and install
_QUICK_PENDING: dict[tuple[str, str, str], dict[str, Any]] = {}
_QUICK_TARGETS: list[dict[str, Any]] = []
#: the compilers and flags of the records (each stored once), and their indexes
_PREFIXES: list[list[str]] = []
_PREFIX_INDEX: dict[tuple[str, ...], int] = {}


def _prefix_index(prefix: Sequence[str]) -> int:
    key = tuple(prefix)
    k = _PREFIX_INDEX.get(key)
    if k is None:
        k = _PREFIX_INDEX[key] = len(_PREFIXES)
        _PREFIXES.append(list(prefix))
    return k


def _quick_module(env: _ENV, name: str, objs: list[Any], commands: list[list[str]],
                  full: Any, kmod: list[Any]) -> None:
    moddir, tname = env["KMOD_MODDIR"], env["KMOD_TARGET_NAME"]
    records = _QUICK_DIRS.get(tname, {}).get(moddir)
    if records is None:
        return
    prefix = _split_prefix(env)
    link = _command_argv(env, "KMOD_LINKCOM", [full], objs)
    record = quickbuild.module_record(
        name, [(o.abspath, o.sources[0].srcnode().abspath, c) for o, c in zip(objs, commands)],
        link, full.abspath, kmod[0].abspath, kmod[1].abspath, prefix, _prefix_index(prefix))
    records.append(record)
    _QUICK_PENDING[(tname, moddir, name)] = record


def _quick_dir_done(env: _ENV, moddir: str, build_dir: Any, source_dir: Any) -> None:
    """After a module directory's SConscript: its records stand for everything it
    declared there (else the directory is not quick-buildable)."""
    dirs = _QUICK_DIRS[env["KMOD_TARGET_NAME"]]
    records = dirs.get(moddir)
    if records is None:
        return
    ours = {p for r in records
            for p in (*(e[0] for e in r["objects"]), r["full"], r["kmod"], r["debug"],
                      r.get("check"))}
    for where in (build_dir, source_dir):
        for node in getattr(where, "entries", {}).values():
            if not isinstance(node, SCons.Node.FS.Dir) and node.has_builder() \
                    and node.abspath not in ours:
                dirs[moddir] = None
                return
    if any("check" not in r for r in records):
        dirs[moddir] = None


def _previous_quick_dir(tname: str, moddir: str) -> list[dict[str, Any]] | None:
    prev = _FAST.get("previous_quick")
    if not isinstance(prev, dict) or prev.get("version") != quickbuild.RECORD_VERSION:
        return None
    records = prev.get("dirs", {}).get(tname, {}).get(moddir)
    if not isinstance(records, list):
        return None
    prefixes = prev.get("prefixes", [])
    return [{**r, "split": _prefix_index(prefixes[r["split"]])} for r in records]


def _quick_target(env: _ENV, gate: Any, metalog: Any, validate: Any) -> None:
    abi_node = env.get("KMOD_KERNEL_ABI_NODE")
    _QUICK_TARGETS.append(quickbuild.target_record(
        target=env["KMOD_TARGET_NAME"], version=env["KMOD_BUILD_VERSION"],
        stand=env["KMOD_STAND"], destdir=env["KMOD_DESTDIR_ABS"],
        manifest=env["KMOD_MANIFEST_NODE"].abspath,
        kernel_abi=abi_node.abspath if abi_node is not None else None,
        index=env["KMOD_INDEX_NODE"].abspath, gate=gate.abspath, metalog=metalog.abspath,
        simulate=validate.abspath, env={k: str(v) for k, v in env["ENV"].items()},
        clang=env["KMOD_TOOLCHAIN_OBJ"].kind in ("zig", "clang"), output=env["KMOD_OUTPUT"],
        top=env.Dir("#").abspath))


def _quick_data(env: _ENV, input_roots: list[str], input_files: list[str],
                output_roots: list[str], output_files: list[str]) -> dict[str, Any] | None:
    """The records for the stamp, when a quick build could do what this build's next
    partial build would (None: it could not)."""
    if (SCons.Script.COMMAND_LINE_TARGETS or env.get("KMOD_CACHEDIR")
            or env.get("KMOD_CCWRAPPER") or env["KMOD_OUTPUT"] == "verbose"
            or not _QUICK_TARGETS or set(_QUICK_DIRS) != {t["target"] for t in _QUICK_TARGETS}
            or os.environ.get("KMOD_QUICKBUILD") == "0"):
        return None
    return {"version": quickbuild.RECORD_VERSION, "targets": _QUICK_TARGETS,
            "dirs": _QUICK_DIRS, "prefixes": _PREFIXES, "input_roots": list(input_roots),
            "input_files": list(input_files), "output_roots": list(output_roots),
            "output_files": list(output_files)}


# --------------------------------------------------------------------------- no-op fast path

_FAST: dict[str, Any] = {}

#: quick builds' modules awaiting SCons (kmodbuild.quickbuild.read_dirty), and those this
#: build compiles
_DIRTY: dict[str, Any] = {"keys": set(), "compiled": set(), "declared": set(), "objects": {}}
#: every compiled source -> the module directories whose modules compile it; the objects
_SOURCES: dict[str, set[str]] = {}
_OBJECTS: list[Any] = []


def _source_records(previous: dict[str, Any]) -> dict[str, Any]:
    """For the stamp (kmodbuild.fastpath.decide): every compiled ``.c`` with the module
    directories compiling it, and the ``.c`` files a compile includes (SCons's
    scanner found them).  A partial build declared only some compiles: the others are
    the last build's.  ``{}`` when that is not known (the next change walks the graph)."""
    included = {n.abspath for obj in _OBJECTS for n in (obj.implicit or ())
                if n.abspath.endswith(".c")}
    sources = {p: set(d) for p, d in _SOURCES.items()}
    if not _FAST.get("declared_all"):
        old, old_included = previous.get("sources"), previous.get("included_c")
        if not isinstance(old, dict) or not isinstance(old_included, list):
            return {}
        compiled = {d for dirs in _SOURCES.values() for d in dirs}
        for path, dirs in old.items():
            kept = {d for d in dirs if d not in compiled}
            if kept:
                sources.setdefault(path, set()).update(kept)
        included.update(old_included)
    return {"sources": {p: sorted(d) for p, d in sorted(sources.items())},
            "included_c": sorted(included)}


def _dirty_target(env: _ENV) -> bool:
    """Does a module of ``env``'s target wait for SCons after a quick build?  Then every
    check, install, index, gate, METALOG and simulation of the target runs again: the
    quick build may have rewritten any of them from files SCons's database never saw."""
    keys = _DIRTY["keys"]
    variant = quickbuild.dirty_variant(quickbuild.dirty_key(env["KMOD_TARGET_NAME"],
                                                            env["KMOD_BUILD_VERSION"], ""))
    return bool(keys) and ("*" in keys or any(quickbuild.dirty_variant(k) == variant
                                              for k in keys))


def _build_failed() -> bool:
    """Whether this scons run failed or was interrupted (for the hooks run at exit):
    SIGINT or SIGTERM to the scons process alone lets the running commands finish,
    so nothing is in GetBuildFailures() -- SCons only sets its exit status to 2."""
    if SCons.Script.GetBuildFailures():
        return True
    main = sys.modules.get("SCons.Script.Main")
    return main is not None and (getattr(main, "exit_status", 0) != 0
                                 or getattr(main, "this_build_status", 0) != 0)


def _arrange_dirty(env: _ENV) -> None:
    """Read the quick builds' list (kmodbuild.quickbuild) and, when this build succeeds,
    take off it the modules this build compiled."""
    import atexit
    build_dir = env.Dir("#build").abspath
    _DIRTY["keys"] = quickbuild.read_dirty(build_dir)
    if SCons.Script.GetOption("clean") or SCons.Script.GetOption("no_exec"):
        return

    def clear() -> None:
        saved = _saved_during_build()
        if _build_failed():
            if saved:                   # what it compiled is in SCons's database all the same
                with contextlib.suppress(OSError):
                    quickbuild.write_dirty(build_dir, quickbuild.read_dirty(build_dir) | saved)
            return
        if not _DIRTY["keys"] and not saved:
            return
        left = {k for k in _DIRTY["keys"] if k not in _DIRTY["compiled"]}
        if "*" in left:                 # an unreadable list: gone once all was compiled
            left = set() if _FAST.get("declared_all") else left
        if _FAST.get("declared_all"):
            # a module no SConscript of a target and version this build declared declares
            # any more (removed, renamed): nothing of it is left to rebuild
            declared = _DIRTY["declared"]
            variants = {quickbuild.dirty_variant(k) for k in declared}
            left = {k for k in left if k in declared
                    or quickbuild.dirty_variant(k) not in variants}
        try:
            quickbuild.write_dirty(build_dir, left | saved)
        except OSError:
            pass                        # kept: the next build re-runs those steps again
    atexit.register(clear)


def _saved_during_build() -> set[str]:
    """The modules (:func:`quickbuild.dirty_key`) this build may have compiled from a file
    saved while it ran: SCons's database records a source's content as the build found
    it before compiling, so with the file changed back to that content later, SCons
    would take the object -- compiled from the other content -- as up to date (make
    would rebuild: the file is newer).  Listed like a quick build's modules, so that
    SCons's next walk rebuilds them: for a ``.c`` file the modules compiling it, for a
    header (or a ``.c`` some source includes) those whose compiles include it (SCons's
    scan).  Other files (a README, an SConscript, kmodbuild's code) are in no object;
    the stamp alone makes the next run look at them."""
    if "saved" in _FAST:
        return set(_FAST["saved"])
    keys: set[str] = set()
    if "before" in _FAST:
        from kmodbuild import fastpath
        _FAST["moved"] = paths = fastpath.moved(_FAST["before"])
        declared = _DIRTY["declared"]
        included: dict[str, set[str]] | None = None
        for path in paths:
            users = _SOURCES.get(path) if path.endswith(".c") else None
            if users is not None:
                keys.update(k for k in declared if k.rsplit("|", 1)[1] in users)
                continue
            if included is None:        # what each module's compiles include, once
                included = {key: {str(dep.abspath) for obj in objs
                                  for dep in (obj.implicit or ())}
                            for key, objs in _DIRTY["objects"].items()}
            keys.update(k for k, deps in included.items() if path in deps)
    _FAST["saved"] = keys
    return set(keys)


def _fast_inputs(env: _ENV, sysdir: str) -> tuple[list[str], list[str]]:
    import kmodbuild
    top = env.Dir("#").abspath
    roots = [os.path.join(top, sysdir.lstrip("#")), os.path.join(top, "site_scons")]
    files = [os.path.join(top, "SConstruct")]
    # kmodbuild's code the build's steps may run, as the steps' signatures digest it: a
    # no-op that ran no check (imported no checker) must still see a check rule edited
    files += _build_code_files(os.path.dirname(os.path.abspath(kmodbuild.__file__)))
    try:
        files.append(ktoolchain.zig_path())
    except KmodError:
        pass
    if env.get("KMOD_MANIFEST"):        # MANIFEST=FILE, anywhere: it and its ABI sidecar
        from kmodbuild.abi import sidecar_path
        manifest = _given_manifest_path(env)
        files += [manifest, sidecar_path(manifest)]     # (a missing file is a state too)
    return roots, files


#: "TARGET|moddir" -> [[module name, installed?], ...] declared by this run's SConscripts
_DECLARED: dict[str, list[list[Any]]] = {}
#: (target, module name) -> the SConscript that declared it
_NAMES: dict[tuple[str, str], str] = {}


def _fast_path(env: _ENV, sysdir: str) -> dict[str, list[list[Any]]]:
    """Arrange for this build to record a fast-path stamp when it succeeds.

    The SConstruct checks the stamp first thing (kmodbuild.fastpath); when it
    gets here the stamp is stale or absent, so it is removed until the build
    finishes without failures.  Only plain builds record one.  Returns the
    modules the last successful build declared per target and module
    directory (what a partial build need not read SConscripts for).
    """
    import atexit
    import sys

    from kmodbuild import fastpath
    stamp = Path(env.Dir("#build").abspath, ".fastpath.json")
    extra = fastpath.read_extra(stamp)
    known = fastpath.known_hashes(stamp)
    if not extra and quickbuild.HANDED_OVER:     # a quick build removed it, then gave up
        extra = quickbuild.HANDED_OVER[0].get("extra") or {}
        known = fastpath.known_hashes(quickbuild.HANDED_OVER[0])
    previous_extra = extra
    previous = extra.get("modules", {})
    _FAST["previous_quick"] = extra.get("quick")
    fastpath.remove_stamp(stamp)
    if fastpath.skip_reason(SCons.Script.GetOption):
        return {}
    if env.get("KMOD_NETBSDSRCDIR") or env.get("KMOD_KERNSRCDIR"):
        # headers of a tree outside this one: watching them all would cost every no-op
        # a walk (and the first build a digest) of a NetBSD sys/; SCons decides instead
        return {}
    sources, files = _fast_inputs(env, sysdir)
    _FAST["input_roots"] = [os.path.realpath(r) for r in sources]
    before = fastpath.scan(sources, files, sources)     # inputs as the build began
    hashes = fastpath.input_hashes(before, known)   # and their contents, before it reads them
    _FAST["before"] = before
    build_dir = env.Dir("#build").abspath
    # outside build/: deleting it must not leave a no-op that does not write it again
    output_files = [os.path.join(env.Dir("#").abspath, "compile_commands.json")]
    argv = fastpath.build_argv(sys.argv[1:], env.Dir("#").abspath)   # as the SConstruct's

    def record() -> None:
        if _build_failed() or "extra_roots" not in _FAST or _FAST.get("outside_includes"):
            return
        _saved_during_build()
        # a file saved while the build ran: its entry stays as the build began (the next
        # run sees it changed), without the digest that would let a save of the old
        # contents pass for a touch
        for path in _FAST.get("moved", ()):
            hashes.pop(path, None)
        outputs = _stamp_output_roots(build_dir, SCons.Script.COMMAND_LINE_TARGETS)
        watched = list(files)
        keep = set(watched)
        inputs = list(before)
        tools = sorted(set(_FAST.get("tools", ())) - keep)      # compilers, linkers
        watched += tools
        inputs = sorted([*inputs, *fastpath.scan((), tools)])
        extra: dict[str, Any] = {"modules": _DECLARED, **_source_records(previous_extra)}
        quick = _quick_data(env, sources, watched, [*outputs, *_FAST["extra_roots"]],
                            output_files)
        if quick is not None:
            extra["quick"] = quick
        roots = [*outputs, *_FAST["extra_roots"]]
        made = fastpath.scan([r for r in roots if r not in sources],
                             [f for f in output_files if f not in watched])
        if any(is_temporary_name(os.path.basename(e[0])) for e in made):
            # another build's install in progress, or a killed one's too young to remove:
            # no stamp, so that the next run walks the graph and removes it once stale
            return
        fastpath.write_stamp(stamp, argv, roots, output_files,
                             _FAST["module_root"], inputs=inputs, input_roots=sources,
                             input_files=watched, extra=extra,
                             hashes={e[0]: hashes[e[0]] for e in inputs if e[0] in hashes},
                             outputs=made)
    atexit.register(record)
    return previous if isinstance(previous, dict) else {}


def _stamp_output_roots(build_dir: str, targets: Sequence[str]) -> list[str]:
    """What under ``build/`` the stamp watches: everything but ``build/sets`` unless this
    command line makes the sets -- ``kmodbuild package`` writes there (its default
    output) without being a part of this build, and must not cost its next no-op the
    fast path."""
    def wants_sets(t: str) -> bool:
        parts = Path(t).parts
        return t in (".", "sets") or "sets" in parts
    if any(wants_sets(str(t)) for t in targets):
        return [build_dir]
    try:
        with os.scandir(build_dir) as it:
            # its directories: the files beside them are the stamp, the lock and the
            # quick build's list of modules SCons must redo -- bookkeeping, not outputs
            return sorted(e.path for e in it if e.name != "sets" and e.is_dir())
    except OSError:
        return [build_dir]


#: what SCons reports in its own words (one line, or a failed build step)
_SCONS_ERRORS = (SCons.Errors.UserError, SCons.Errors.StopError, SCons.Errors.BuildError,
                 SCons.Errors.ExplicitExit, SCons.Errors.InternalError)


def _script_error(e: Exception, script: Any) -> str:
    """``FILE:LINE: Type: message`` of an exception raised by a module's SConscript (a
    typo, a wrong argument): where in the SConscript, not SCons's stack."""
    path, line, message = script.path, None, str(e)
    if isinstance(e, SyntaxError) and e.filename == script.abspath:
        line, message = e.lineno, e.msg
    tb = e.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == script.abspath:
            line = tb.tb_lineno
        tb = tb.tb_next
    first = message.strip().splitlines()[0] if message.strip() else ""
    return f"{path}{f':{line}' if line else ''}: {type(e).__name__}: {first}"


def _declare_sets(env: _ENV, envs: list[_ENV]) -> None:
    """``scons sets``: one reproducible modules-<MACHINE>-<VERSION>.tar.xz per target + SHA512.

    What ``kmodbuild package`` writes, byte for byte: entry names relative to the
    target's own root (``DESTDIR/destdir.evbarm-earmv7hf`` for a target sharing its
    MACHINE), the files the METALOG records, refused when the tree does not verify.
    """
    from kmodbuild.sets import set_name, watched_files
    outdir = env.Dir("#build/sets")
    items, sources = [], []
    for tenv in envs:
        name = set_name(tenv["KMOD_TARGET_OBJ"], tenv["KMOD_VERSION_OBJ"])
        stand = Path(tenv["KMOD_STAND"])
        items.append((str(stand), str(stand.parents[3]), name))
        installs = [inst for (_, _, inst) in tenv["KMOD_REGISTRY"]]
        # a set holds what the METALOG records; any other file there (a plist, a module
        # installed by hand or no longer built) makes it again, and it is refused
        mine = {i.abspath for i in installs}
        sources += [*installs, env.File(str(stand.parent / "METALOG")),
                    *(env.File(f) for f in watched_files(stand) if f not in mine)]
    targets = [outdir.File(name) for (_, _, name) in items] + [outdir.File("SHA512")]
    # the entries' mtime is SOURCE_DATE_EPOCH's: another value makes other archives
    sets = env.Command(targets, sources, SCons.Action.Action(
        _sets_action, "making sets in $TARGET.dir",
        varlist=["KMOD_ACTIONS", "KMOD_SOURCE_DATE_EPOCH"]),
        KMOD_SET_ITEMS=items, KMOD_SOURCE_DATE_EPOCH=os.environ.get("SOURCE_DATE_EPOCH", ""))
    env.Alias("sets", sets)
    env.Requires(sets, [tenv["KMOD_GATE"] for tenv in envs if "KMOD_GATE" in tenv])


def _sets_action(target: list[Any], source: list[Any], env: _ENV) -> int:
    from kmodbuild.sets import write_sets
    items = [(Path(stand), Path(destdir), name) for stand, destdir, name in env["KMOD_SET_ITEMS"]]
    try:
        write_sets(items, Path(target[0].abspath).parent)
    except KmodError as e:
        raise _action_fail(e) from None
    return 0


def _metalog_action(target: list[Any], source: list[Any], env: _ENV) -> int:
    """Write the METALOG of the installed ``source`` (and their directories), then
    remove the stale temporaries a killed install left in those directories."""
    from kmodbuild.install import atomic_write, make_dirs, remove_stale_temporaries_in
    from kmodbuild.metalog import file_entry, render
    destdir = Path(env["KMOD_DESTDIR_ABS"])
    log = Path(target[0].abspath)
    try:
        installed = [Path(s.abspath) for s in source if os.path.isfile(s.abspath)]
        text = render([file_entry(destdir, p) for p in installed])
        make_dirs(destdir, os.path.relpath(log.parent, destdir))     # 0755, as recorded
        atomic_write(log, text.encode(), 0o644)
        for d in sorted({p.parent for p in installed}):
            remove_stale_temporaries_in(d)
    except OSError as e:
        raise _action_fail(f"{target[0].path}: cannot record the install: {e}") from None
    except KmodError as e:
        raise _action_fail(e) from None
    return 0


def _metalog_str(target: list[Any], source: list[Any], env: _ENV) -> str:
    return f"record {target[0].path}" if env["KMOD_OUTPUT"] == "verbose" else ""


def _stale_temporaries(installed: list[Any]) -> bool:
    """Whether a directory of the ``installed`` nodes holds an install's temporary
    older than STALE_AFTER (the METALOG step removes them)."""
    from kmodbuild.install import is_stale, is_temporary_name
    for d in sorted({os.path.dirname(n.abspath) for n in installed}):
        try:
            with os.scandir(d) as it:
                if any(is_temporary_name(e.name) and e.is_file(follow_symlinks=False)
                       and is_stale(e.stat(follow_symlinks=False)) for e in it):
                    return True
        except OSError:
            pass
    return False


# --------------------------------------------------------------------------- check

def _target_version(env: _ENV) -> tuple[ktarget.Target, ktarget.NetBSDVersion]:
    return env["KMOD_TARGET_OBJ"], env["KMOD_VERSION_OBJ"]


def _manifest_action(target: list[Any], source: list[Any], env: _ENV) -> int:
    from kmodbuild.buildcheck import write_kernel_manifest
    t, v = _target_version(env)
    try:
        write_kernel_manifest(Path(source[0].abspath), t, v, Path(target[0].abspath),
                              abi_out=Path(target[1].abspath) if len(target) > 1 else None)
    except KmodError as e:
        raise _action_fail(e) from None
    return 0


def _manifest_str(target: list[Any], source: list[Any], env: _ENV) -> str:
    return f"manifest {target[0].path}" if env["KMOD_OUTPUT"] == "verbose" else ""


def _index_action(target: list[Any], source: list[Any], env: _ENV) -> int:
    from kmodbuild.buildcheck import exports_index
    out = Path(target[0].abspath)
    text = exports_index([Path(s.abspath) for s in source], env["KMOD_TARGET_OBJ"],
                         cache=out.with_name(".exports-cache.json"))
    # unchanged exports: the file keeps its timestamp, so the check of every module
    # (each depends on the index) is up to date on the timestamp alone and its
    # .sconsign entry is not rewritten (_store_only_changes); precious, so SCons
    # does not remove it first
    changed = replace_if_changed(str(out), text.encode())
    # what the tail of the build still has to do before its simulation: a check and
    # an install for every module when the index changed, else for those linked now
    _start_stream(env, len(env.get("KMOD_REGISTRY") or ()) if changed else
                  sum(1 for s in source if s.get_state() == SCons.Node.executed))
    return 0


def _quiet_str(target: list[Any], source: list[Any], env: _ENV) -> str:
    return ""


def _check_action(target: list[Any], source: list[Any], env: _ENV) -> int:
    """Check one module and write its report; the gate node fails the build on errors.

    Failing here would stop SCons at the first bad module; writing the report
    lets every module be checked (and every good one installed) first.
    """
    from kmodbuild.buildcheck import check_built_module, relative_to
    from kmodbuild.diagnostics import render_json
    t, v = _target_version(env)
    try:
        diags = check_built_module(Path(source[0].abspath), Path(source[1].abspath),
                                   Path(source[2].abspath), t, v,
                                   debug=Path(source[3].abspath) if len(source) > 3 else None,
                                   kernel_abi=Path(source[4].abspath) if len(source) > 4
                                   else None)
    except KmodError as e:
        raise _action_fail(e) from None
    Path(target[0].abspath).write_text(render_json(relative_to(diags, env.Dir("#").abspath),
                                                   modules=1))
    return 0


def _split_action(target: list[Any], source: list[Any], env: _ENV) -> int:
    """Split the linked module into NAME.kmod and NAME.kmod.debug, with the module's ABI view
    in the debug file (from the objects' own declarations where they declare every symbol
    used, else a probe compile; kmodbuild.abiprobe).  KMOD_ABIPROBE=0: no view;
    KMOD_ABIPROBE=always: always the probe."""
    from kmodbuild.abiprobe import split_for_build
    prefix = _split_prefix(env)
    objs = [(Path(o.abspath), Path(o.sources[0].srcnode().abspath)) for o in source[1:]
            if o.path.endswith(".o")]
    try:
        split_for_build(Path(source[0].abspath), Path(target[0].abspath),
                        Path(target[1].abspath), objs, prefix, cwd=env.Dir("#").abspath,
                        clang=env["KMOD_TOOLCHAIN_OBJ"].kind in ("zig", "clang"))
    except KmodError as e:
        raise _action_fail(e) from None
    stream = _STREAMS.get(env["KMOD_VARIANT"])
    if stream is not None:                  # a partial build's stream waits for it
        stream.built(Path(target[0].abspath).name.removesuffix(".kmod"))
    return 0


def _abi_sidecar(manifest: str) -> str | None:
    from kmodbuild.abi import sidecar_path
    path = sidecar_path(manifest)
    return path if os.path.isfile(path) else None


def _report_problems(path: str) -> list[tuple[str, str]]:
    """(severity, rendered line) of every diagnostic in a check report."""
    from kmodbuild.buildcheck import read_report
    return [(d.severity, d.render()) for d in read_report(Path(path))]


def _check_gate_action(target: list[Any], source: list[Any], env: _ENV) -> int:
    """Print every problem of every module of the target, sorted; fail if any is an error."""
    from kmodbuild.buildcheck import gate_lines, gate_summary
    try:
        warnings, errors = gate_lines([Path(s.abspath) for s in source])
    except KmodError as e:
        raise _action_fail(e) from None
    if env["KMOD_OUTPUT"] != "quiet":
        _say(warnings)
    if errors:
        raise _action_fail("\n".join(errors) + f"\ncheck: {len(errors)} error(s) in "
                           f"{env['KMOD_TARGET_NAME']} modules; those modules were not installed")
    Path(target[0].abspath).write_text(gate_summary(len(warnings)))
    return 0


def _check_str(target: list[Any], source: list[Any], env: _ENV) -> str:
    return f"check {source[0].path}" if env["KMOD_OUTPUT"] == "verbose" else ""


def _validate_action(target: list[Any], source: list[Any], env: _ENV) -> int:
    """Load every installed module in dependency order in the simulator, then unload all."""
    from kmodbuild.simmemo import build_answer
    t, v = _target_version(env)
    stream = _STREAMS.pop(env["KMOD_VARIANT"], None)
    verbose = env["KMOD_OUTPUT"] == "verbose"
    try:
        result = build_answer(stream, target[0].abspath, Path(env["KMOD_STAND"]).parents[2],
                              t, v, Path(env["KMOD_MANIFEST_NODE"].abspath),
                              dict(stream.modules) if stream is not None else {},
                              say=(lambda line: _say([line])) if verbose else None)
    except KmodError as e:
        raise _action_fail(e) from None
    if not result.ok:
        # the modules the tree no longer builds are named here too: a failure may be theirs
        from kmodbuild.simvalidate import strays_note
        strays = strays_note(result, (name for name, _, _ in env["KMOD_REGISTRY"]))
        raise _action_fail("\n".join(str(f) for f in result.failures)
                           + f"\nsimulate: {result.summary()}"
                           + (f"\nsimulate: {strays}" if strays else ""))
    Path(target[0].abspath).write_text(result.summary() + "\n")
    if env["KMOD_OUTPUT"] != "quiet":
        from kmodbuild.simvalidate import summary_lines
        with _PROGRESS_LOCK:            # a note two targets share: said once
            _say(summary_lines(result, (name for name, _, _ in env["KMOD_REGISTRY"]),
                               _SAID_NOTES), locked=True)
    return 0


#: the simulation notes this build printed (each once: see simvalidate.summary_lines)
_SAID_NOTES: set[str] = set()


#: The simulation streams of this build, by target variant (kmodbuild.simstream).
_STREAMS: dict[str, Any] = {}
_STREAMS_CLOSED_AT_EXIT: list[bool] = []


def _start_stream(env: _ENV, work: int, rebuilt: Sequence[str] = (),
                  when: str = "after the last link",
                  modules: Sequence[tuple[str, str]] | None = None) -> bool:
    """Start the target's simulation beside the rest of the build (kmodbuild.simstream)
    when ``work`` (the modules it has to simulate or the build still has to check and
    install) is worth a process of its own (``KMOD_SIMSTREAM``: 1 always, 0 never);
    ``rebuilt``: modules whose built files the build is still writing; ``when``: for
    the verbose output; ``modules``: ``(name, built file)`` of the modules to simulate
    (default: the target's registry).  True when a stream runs for the target."""
    from kmodbuild import simmemo, simstream
    variant = env["KMOD_VARIANT"]
    if variant in _STREAMS:
        return True                     # started with the graph (a partial build)
    mode = os.environ.get("KMOD_SIMSTREAM", "")
    registry = env.get("KMOD_REGISTRY") or []
    if (mode == "0" or not _simulation_wanted()
            or (mode != "1" and work < simstream.MIN_MODULES)):
        return False
    from kmodbuild.linux.readers import default_jobs
    if len(_STREAMS) >= default_jobs():
        return False                    # one core each: the others simulate in the build
    t, v = _target_version(env)
    try:
        stream = simstream.SimStream(Path(env["KMOD_STAND"]).parents[2], t, v,
                                     Path(env["KMOD_MANIFEST_NODE"].abspath),
                                     list(modules) if modules is not None else
                                     [(name, kmod.abspath) for name, kmod, _ in registry],
                                     rebuilt, memo=simmemo.reuse_enabled())
    except OSError:
        return False                    # the simulate step simulates, as without a stream
    if not _STREAMS_CLOSED_AT_EXIT:
        import atexit
        atexit.register(_close_streams)
        _STREAMS_CLOSED_AT_EXIT.append(True)
    stream.started = when
    _STREAMS[variant] = stream
    return True


def _close_streams() -> None:
    while _STREAMS:
        _STREAMS.popitem()[1].close()


# --------------------------------------------------------------------------- install

def _install_action(target: list[Any], source: list[Any], env: _ENV) -> int:
    """Install the module atomically, unless its check report has errors."""
    destdir = env["KMOD_DESTDIR_ABS"]
    dest, kmod, report = target[0], source[0], source[1]
    rel = os.path.relpath(dest.abspath, destdir)
    try:
        errors = [line for sev, line in _report_problems(report.abspath) if sev == "error"]
        if errors:
            remove_installed(Path(destdir), rel)
            try:                # SCons made NAME/ for the install: not left empty
                os.rmdir(os.path.dirname(dest.abspath))
            except OSError:
                pass            # not empty (the user's files), or gone
            if dest.abspath in _requested_files():
                # asked for by name (``scons stand/.../NAME.kmod``): no gate runs to say
                # why it is not there -- it was removed with exit status 0
                raise _action_fail(f"{dest.path}: not installed: {errors[0]}"
                                   + (f" (and {len(errors) - 1} more)"
                                      if len(errors) > 1 else ""))
        else:
            install_file(Path(kmod.abspath), Path(destdir), rel, 0o444)
    except KmodError as e:
        raise _action_fail(e) from None
    return 0


def _requested_files() -> set[str]:
    """The absolute paths of the command line's targets (files asked for by name)."""
    if not _REQUESTED:
        top = SCons.Script.Dir("#").abspath
        _REQUESTED.append({os.path.normpath(os.path.join(top, t))
                           for t in SCons.Script.COMMAND_LINE_TARGETS})
    return _REQUESTED[0]


_REQUESTED: list[set[str]] = []


def _install_str(target: list[Any], source: list[Any], env: _ENV) -> str:
    if env["KMOD_OUTPUT"] != "verbose":
        return ""
    return "\n".join(f"install {t.path}" for t in target)


# --------------------------------------------------------------------------- progress output
# compact (default): one line per module linked, "[ 12/80] amd64 null.kmod";
# verbose (VERBOSE=1): every command; quiet (--quiet): errors only.

_PROGRESS = {"total": 0, "done": 0}
#: numbering and printing a progress line are one step: with -j, two links' lines
#: numbered first and printed after could come out as [8/10] before [7/10]
_PROGRESS_LOCK = threading.Lock()


def _quiet_unless_verbose(target: list[Any], source: list[Any], env: _ENV) -> str:
    if env["KMOD_OUTPUT"] == "verbose":
        return _shown_command(env, "KMOD_CCCOM", target, source)
    return ""


def _shown_command(env: _ENV, var: str, target: list[Any], source: list[Any]) -> str:
    """``$var`` as ``VERBOSE=1`` prints it: a line a shell runs as the build ran it --
    the zig-clang-ID script by its path (the build's own PATH finds it by name), a
    word holding white space quoted (a tree or zig path with a space)."""
    lines = env.subst_list("$" + var, target=target, source=source)
    if len(lines) != 1:                 # a command of the user's own, with shell syntax
        return str(env.subst("$" + var, target=target, source=source))
    words = [_WRAPPER_SCRIPTS.get(str(w), str(w)) for w in lines[0]]
    return " ".join(shlex.quote(w) if any(c.isspace() for c in w) else w for w in words)


def _link_str(target: list[Any], source: list[Any], env: _ENV) -> str:
    mode = env["KMOD_OUTPUT"]
    if mode == "verbose":
        return _shown_command(env, "KMOD_LINKCOM", target, source)
    with _PROGRESS_LOCK:
        _PROGRESS["done"] += 1
        if mode == "quiet":
            return ""
        total = max(_PROGRESS["total"], _PROGRESS["done"])
        width = len(str(total))
        line = (f"[{_PROGRESS['done']:>{width}}/{total}] {env['KMOD_TARGET_NAME']} "
                f"{target[0].name.removesuffix('.full')}")
        if env.get("PRINT_CMD_LINE_FUNC"):
            return line                 # a printer of the user's own prints it
        sys.stdout.write(line + "\n")   # as SCons's own printer does, in numbering order
        sys.stdout.flush()
    return ""


def _quiet_cache_retrievals() -> None:
    """A file fetched from a ``KMOD_CACHEDIR`` says "Retrieved `...' from cache" only with
    ``VERBOSE=1``; by default a module's link fetched prints its progress line, as one
    made does, and nothing else (a 10-module build printed 81 such lines and no
    progress; 500 modules, thousands)."""
    import SCons.CacheDir
    retrieve = SCons.CacheDir.CacheRetrieve
    if getattr(retrieve, "kmod_quiet", False):
        return
    said = SCons.CacheDir.CacheRetrieveString

    def retrieve_str(target: list[Any], source: list[Any], env: _ENV) -> str:
        mode = env.get("KMOD_OUTPUT")
        if mode is None or mode == "verbose":
            return said(target, source, env)
        t = target[0]
        cachefile = env.get_CacheDir().cachepath(t)[1]
        if not t.fs.exists(cachefile):
            return ""                   # not there: built, and said as built
        if t.name.endswith(".kmod.full") and _fetched_problem(cachefile, t.name) is None:
            return _link_str([t], source, env)
        return ""                       # (a damaged link: said when it is built)

    action = SCons.Action.Action(_verified_retrieve, retrieve_str)
    action.kmod_quiet = True  # type: ignore[attr-defined]
    SCons.CacheDir.CacheRetrieve = action


#: Products whose copy from a cache is checked before it is used (:func:`_fetched_problem`)
_ELF_PRODUCTS = (".o", ".kmod", ".kmod.full", ".kmod.debug")
_JSON_PRODUCTS = (".kmod.check", ".json")


def _fetched_problem(path: str, name: str) -> str | None:
    """Why the file at ``path`` (fetched, or in the cache) cannot be the build's ``name``,
    or ``None``: an object or module whose ELF layout runs past its end (a cache entry
    cut short by a full disk or an interrupted copy), a check report that is not JSON."""
    if not name.endswith(_ELF_PRODUCTS + _JSON_PRODUCTS):
        return None
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return e.strerror or str(e)
    if name.endswith(_ELF_PRODUCTS):
        from kmodbuild.elfraw import layout_problem
        return layout_problem(data)
    try:
        json.loads(data)
    except (ValueError, RecursionError) as e:
        return f"not JSON: {e}"
    return None


def _verified_retrieve(target: list[Any], source: list[Any], env: _ENV) -> int:
    """SCons's CacheRetrieveFunc, then a look at what it fetched: SCons keys a cache entry
    by the build signature and copies it as it is, so an entry cut short (a full disk,
    an interrupted CI cache restore) gave every build that used it the linker's or the
    check's error on a file it had not made.  A damaged entry is said in one warning
    line, removed (unless ``--cache-readonly``) so that this build's push replaces it,
    and the step is built instead."""
    import SCons.CacheDir
    code = SCons.CacheDir.CacheRetrieveFunc(target, source, env)
    if code != 0 or not SCons.Action.execute_actions:
        return code
    t = target[0]
    problem = _fetched_problem(t.get_internal_path(), t.name)
    if problem is None:
        return 0
    cachefile = env.get_CacheDir().cachepath(t)[1]
    with contextlib.suppress(OSError):
        os.unlink(t.get_internal_path())
    if not SCons.CacheDir.cache_readonly:
        with contextlib.suppress(OSError):
            os.unlink(cachefile)
    with _PROGRESS_LOCK:
        print(f"scons: warning: KMOD_CACHEDIR: damaged cache entry {cachefile} for {t.path} "
              f"({problem}): building it", file=sys.stderr, flush=True)
    return 1


def _say(lines: Iterable[str], locked: bool = False) -> None:
    """Print whole lines from an action: with -j, two targets' lines printed at once came
    out run together (``... 0 failuressimulate: evbarm-earmv7hf ...``); ``locked``: the
    caller holds the output lock."""
    text = "".join(f"{line}\n" for line in lines)
    if text:
        with contextlib.nullcontext() if locked else _PROGRESS_LOCK:
            sys.stdout.write(text)
            sys.stdout.flush()


def _kernel_link_str(target: list[Any], source: list[Any], env: _ENV) -> str:
    mode = env["KMOD_OUTPUT"]
    if mode == "verbose":
        return _shown_command(env, "KMOD_KERNLINKCOM", target, source)
    return "" if mode == "quiet" else f"[kernel] {env['KMOD_TARGET_NAME']} {target[0].path}"


# --------------------------------------------------------------------------- bookkeeping

_LOCK_FD: list[int] = []


def _lock_tree(env: _ENV) -> None:
    """Hold ``build/.lock`` for the life of this scons process.

    Two builds started at once on one tree would otherwise write the same
    objects, .sconsign and stand/ files; the second waits for the first.
    """
    import fcntl
    if _LOCK_FD:
        return
    path = Path(env.Dir("#build").abspath, ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise _fail(f"{path}: cannot take the build lock: {e.strerror or e} "
                    "(the tree's build/ must be writable)") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print(f"scons: waiting for another build of this tree ({path})", flush=True)
        fcntl.flock(fd, fcntl.LOCK_EX)
    _LOCK_FD.append(fd)


def _modules_registry(env: _ENV) -> list[tuple[str, Any, Any]]:
    """Per-target list of (name, kmod node, installed node), shared by the clones."""
    reg = env.get("KMOD_REGISTRY")
    if reg is None:
        raise _fail("internal: KernelModule() called with an environment lacking KMOD_REGISTRY")
    return reg


_COMPILE_DB: list[dict[str, str]] = []


def _record_compile_commands(env: _ENV, objs: list[Any]) -> list[list[str]]:
    """Record the objects' compile commands for compile_commands.json; returns them
    (the argv SCons runs)."""
    top = env.Dir("#").abspath
    given = env.get("KMOD_CCWRAPPER")
    wrapper = [str(w) for w in given] if isinstance(given, (list, tuple)) else []
    out = []
    for o in objs:
        src = o.sources[0]
        cmd = _command_argv(env, "KMOD_CCCOM", [o], [src])
        # without the wrappers (ccache, distcc, CCWRAPPER): a tool reading the file takes
        # its first word for the compiler; the zig-clang-ID script by its path: an
        # editor's clangd has no build PATH
        shown = cmd[len(wrapper):] if wrapper and cmd[:len(wrapper)] == wrapper else cmd
        _COMPILE_DB.append({"directory": top, "file": src.srcnode().path,
                            "output": o.path,
                            "arguments": [_WRAPPER_SCRIPTS.get(w, w) for w in shown]})
        out.append(cmd)
    return out


#: substitutions by what they substitute and the raw values of the variables they read
_BY_VALUES: dict[tuple[str, ...], Any] = {}


#: a ``$`` that refers to something (``$(`` and ``$)`` only mark signature-free words)
_REFERENCE = re.compile(r"\$(?![()])")


def _once_per_values(env: _ENV, what: str, names: Sequence[str], make: Any,
                     otherwise: Any = None) -> Any:
    """``make()``, remembered per set of raw values of the variables ``names`` -- unless
    one of them refers to another variable (a ``$``): then ``otherwise()`` (default:
    ``make()``) every time."""
    raw = tuple(str(env.get(n, "")) for n in names)
    if any(_REFERENCE.search(r) for r in raw):
        return (otherwise or make)()
    key = (what, *raw)
    if key not in _BY_VALUES:
        _BY_VALUES[key] = make()
    return _BY_VALUES[key]


def _split_prefix(env: _ENV) -> list[str]:
    """The compiler and its flags as the ABI probe runs them (a module's split step)."""
    return _once_per_values(env, "split", ("KMOD_CC", "KMOD_CFLAGS", "KMOD_CPPFLAGS"),
                            lambda: [_WRAPPER_SCRIPTS.get(str(w), str(w)) for w in
                                     env.subst_list("$KMOD_CC $KMOD_CFLAGS $KMOD_CPPFLAGS",
                                                    SCons.Subst.SUBST_CMD)[0]])


class _Shape(NamedTuple):
    """A default command line: ``prefix`` (flag variables only), then words made of
    the targets and sources (``tail``: ``(word or file node, is a file)`` pairs)."""

    prefix: str
    default: str
    names: tuple[str, ...]
    tail: Callable[[Sequence[Any], Sequence[Any]], list[tuple[Any, bool]]]


_SHAPES = {
    "KMOD_CCCOM": _Shape(_CC_PREFIX, _DEFAULT_CCCOM,
                         ("KMOD_CCWRAPPER", "KMOD_CC", "KMOD_CFLAGS", "KMOD_CPPFLAGS"),
                         lambda t, s: [("-c", False), (s[0], True), ("-o", False), (t[0], True)]),
    "KMOD_LINKCOM": _Shape(_LINK_PREFIX, _DEFAULT_LINKCOM,
                           ("KMOD_LD", "KMOD_LDFLAGS", "KMOD_LDSCRIPT_PATH"),
                           lambda t, s: [("-o", False), (t[0], True), *((x, True) for x in s)]),
}


class _Prefix:
    """One shape's prefix substituted for one set of flag values, in the three forms
    SCons uses: the command it runs (``cmd``: its words, files marked literal), the
    text of the build signature (``sig``: files by name) and plain strings
    (``argv``: compile_commands.json, the quick build's record).  ``checked``: per
    form, whether the first whole command made of it equalled SCons's own."""

    def __init__(self, env: _ENV, prefix: str) -> None:
        self.words = list(env.subst_list(prefix, SCons.Subst.SUBST_CMD)[0])
        self.sig = env.subst_target_source(prefix, SCons.Subst.SUBST_SIG)
        self.checked: dict[str, bool] = {}

    def make(self, form: str, tail: list[tuple[Any, bool]]) -> Any:
        if form == "argv":
            return [*(str(w) for w in self.words), *(str(x) for x, _ in tail)]
        if form == "sig":
            return " ".join([self.sig, *(x.for_signature() if f else x for x, f in tail)])
        holder = SCons.Subst.CmdStringHolder
        return [[*self.words, *(holder(str(x), True if f else None) for x, f in tail)]], \
            False, False

    @staticmethod
    def same(form: str, a: Any, b: Any) -> bool:
        if form == "cmd":           # the words, which of them are files, the @/- flags
            def norm(r: Any) -> Any:
                return [[(str(w), bool(w.is_literal())) for w in line] for line in r[0]], \
                    bool(r[1]), bool(r[2])         # SCons 4.5 says None, 4.11 False
            return norm(a) == norm(b)
        return bool(a == b)


def _prefixed(env: _ENV, var: str, form: str, targets: Sequence[Any], sources: Sequence[Any],
              full: Callable[[], Any]) -> Any:
    """``$var`` for ``targets`` and ``sources`` in ``form`` (see :class:`_Prefix`).

    SCons substitutes a whole command each time it runs one, once more for its
    signature, and the build once more for its records: 0.3 ms an object each,
    the substitution of the flags every time (about 1 s of a 500-module build,
    a part of it while the build's second core waits for its first compile).
    While ``var`` holds its default and the flag variables refer to nothing
    else (no ``$``), a command is a prefix that only depends on their values,
    then the files: the prefix is substituted once per set of values and form,
    and the first command made of it checked against ``full()``, SCons's own
    substitution -- a difference, and every command of those values is
    substituted in full."""
    shape = _SHAPES[var]
    if str(env.get(var, "")) != shape.default:
        return full()
    pre = _once_per_values(env, "prefix:" + var, shape.names,
                           lambda: _Prefix(env, shape.prefix), otherwise=lambda: None)
    if pre is None or pre.checked.get(form) is False:
        return full()
    got = pre.make(form, shape.tail(targets, sources))
    if form not in pre.checked:
        want = full()
        pre.checked[form] = _Prefix.same(form, got, want)
        return want
    return got


def _command_argv(env: _ENV, var: str, targets: Sequence[Any],
                  sources: Sequence[Any]) -> list[str]:
    """The argv SCons runs for ``$var`` (``KMOD_CCCOM``, ``KMOD_LINKCOM``)."""
    return _prefixed(env, var, "argv", targets, sources, lambda: [
        str(a) for a in env.subst_list("$" + var, target=list(targets),
                                       source=list(sources))[0]])


class _PrefixedAction(SCons.Action.LazyAction):
    """SCons's action for ``$VAR`` (KMOD_CCCOM, KMOD_LINKCOM), substituting the
    command it runs and the text of its signature with :func:`_prefixed`."""

    def __init__(self, var: str, **kw: Any) -> None:
        super().__init__(var, kw)

    def process(self, target: Any, source: Any, env: _ENV, executor: Any = None,
                overrides: Any = None) -> Any:
        def full() -> Any:
            return SCons.Action.CommandAction.process(self, target, source, env, executor,
                                                      overrides)
        if overrides:
            return full()
        t, s = (executor.get_all_targets(), executor.get_all_sources()) if executor \
            else (target, source)
        return _prefixed(env, self.var, "cmd", t, s, full)

    def get_presig(self, target: Any, source: Any, env: _ENV, executor: Any = None) -> Any:
        def full() -> Any:      # SCons 4.5's LazyAction.get_presig takes no executor
            if executor is None:
                return SCons.Action.LazyAction.get_presig(self, target, source, env)
            return SCons.Action.LazyAction.get_presig(self, target, source, env, executor)
        t, s = (executor.get_all_targets(), executor.get_all_sources()) if executor \
            else (target, source)
        return _prefixed(env, self.var, "sig", t, s, full)


def _write_compile_commands(env: _ENV) -> None:
    text = json.dumps(_COMPILE_DB, indent=1, sort_keys=True) + "\n"
    path = os.path.join(env.Dir("#").abspath, "compile_commands.json")
    try:
        replace_if_changed(path, text.encode())
    except OSError as e:
        raise _fail(f"{path}: cannot write: {e.strerror or e}") from None


# --------------------------------------------------------------------------- prewarm

def _simulation_wanted() -> bool:
    """Whether this run may simulate: it builds, and the simulation is among its targets."""
    get = SCons.Script.GetOption
    if get("clean") or get("help") or get("no_exec") or get("question"):
        return False
    targets = SCons.Script.COMMAND_LINE_TARGETS
    return not targets or "simulate" in targets


def _prewarm_simulation() -> None:
    """Import the simulator and the emulator (and the kernel API's hooks) on a thread
    of their own, started once the graph is declared: they load while the build
    waits for compilers.

    The load simulation is the build's last step and used to start by importing
    them: 80-90 ms (unicorn's library, the emulator, 60 header modules of hooks)
    of a one-source edit spent after everything else was done.  Only when the
    simulation is among the targets and something will be built; anything
    going wrong here is left for the simulation step to meet and report.
    """
    if not _simulation_wanted():
        return
    import threading

    def work() -> None:
        from kmodbuild.simvalidate import warm_up
        warm_up()

    thread = threading.Thread(target=work, name="kmodbuild-prewarm", daemon=True)
    _when_signals_are_sconss(thread.start)


def _when_signals_are_sconss(start: Callable[[], None]) -> None:
    """Call ``start`` once SCons's build phase has put its own SIGINT/SIGTERM handlers in
    place (they only stop the task master), else at once.

    Until then a Ctrl-C raises KeyboardInterrupt in the main thread wherever it is --
    also inside CPython's import machinery, between taking the global import lock and
    the ``try`` that releases it (a module lock's weakref callback).  With a thread
    importing meanwhile (the simulator's warm-up), that lock stayed taken: the
    interrupted build hung for good holding ``build/.lock``, deaf to further signals
    (seen once in 37 interrupts of a build 0.4 s in).  Under SCons's handlers no
    exception is raised asynchronously, and the build's own threads import freely."""
    try:
        from SCons.Taskmaster.Job import Jobs
    except ImportError:
        start()
        return
    setup = getattr(Jobs, "_setup_sig_handler", None)
    if setup is None:
        start()
        return
    _AFTER_SIGNALS.append(start)
    if getattr(setup, "kmod_starts", False):
        return

    def setup_then_start(self: Any) -> None:
        setup(self)
        while _AFTER_SIGNALS:
            _AFTER_SIGNALS.pop(0)()

    setup_then_start.kmod_starts = True  # type: ignore[attr-defined]
    Jobs._setup_sig_handler = setup_then_start  # type: ignore[method-assign]


#: what waits for SCons's signal handlers (:func:`_when_signals_are_sconss`)
_AFTER_SIGNALS: list[Callable[[], None]] = []


# --------------------------------------------------------------------------- quick exit

#: Set when SCons writes its signature database, i.e. when the build phase ran to its end.
_BUILD_DONE = [False]


def _arrange_quick_exit() -> None:
    """Skip the interpreter's teardown after a successful build.

    Tearing down a 500-module build graph (deallocating a million objects, a last
    garbage collection) took 0.3-0.5 s after the build had finished -- a sixth
    of a one-source edit.  When the build phase ran to its end (SCons wrote its
    signature database), nothing failed and SCons's exit status is 0, the exit
    handlers that matter are run by hand (SCons's own, pending ``weakref``
    finalizers, logging), the output flushed, and the process ends with
    ``os._exit(0)``.  In every other case -- a failure, an interrupted build,
    an error in an SConscript, ``KMOD_QUICK_EXIT=0`` -- Python exits as usual,
    with the status SCons chose.
    """
    if os.environ.get("KMOD_QUICK_EXIT") == "0":
        return
    import atexit

    import SCons.SConsign
    write = SCons.SConsign.write

    def write_and_mark(*args: Any, **kwargs: Any) -> Any:
        try:
            result = write(*args, **kwargs)
        except OSError as e:
            _database_not_written(e)
            return None
        _BUILD_DONE[0] = True
        return result

    SCons.SConsign.write = write_and_mark
    atexit.register(_quick_exit)     # registered before the stamp's: runs after it


def _database_not_written(e: OSError) -> None:
    """SCons's signature database could not be written (a full disk, a file size limit):
    one line instead of SCons's traceback and dblite's second one at exit, no stamp
    (the build counts as failed, exit status 2), no temporary left.  The database on
    disk is the last build's: the next build decides from it and rebuilds what changed
    since, this build's work included where its signatures differ."""
    import SCons.SConsign
    for db in getattr(SCons.SConsign, "DB_sync_list", ()):
        if hasattr(db, "_needs_sync"):
            db._needs_sync = False          # dblite's close() at exit would try again
        tmp = getattr(db, "_tmp_name", None)
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    main = sys.modules.get("SCons.Script.Main")
    if main is not None:
        main.exit_status = main.this_build_status = 2
    where = f" {e.filename}" if e.filename else ""
    print(f"scons: *** cannot write the signature database{where}: {e.strerror or e}",
          file=sys.stderr, flush=True)


def banner_already_shown() -> None:
    """A quick build printed "done reading SConscript files." and "Building targets ..."
    before it handed over to SCons (a compile error in an edit, the most common case):
    SCons's own two lines, printed next, are left out once each."""
    import SCons.Script.Main as main
    display = getattr(main, "progress_display", None)
    if display is None:
        return
    said = {"scons: done reading SConscript files.", "scons: Building targets ..."}

    class _OnceEach:
        def __call__(self, msg: str, *args: Any, **kw: Any) -> Any:
            if msg in said:
                said.discard(msg)
                return None
            return display(msg, *args, **kw)

        def __getattr__(self, name: str) -> Any:
            return getattr(display, name)

    main.progress_display = _OnceEach()


def _say_interrupted() -> None:
    """``scons: Build interrupted.`` on standard error also under ``-s``/``--quiet`` and
    ``-Q``, which SCons silences with its progress messages: an interrupted CI build
    (a timeout's SIGINT) printed nothing at all, exit status 2.  Errors only, and an
    interruption is one."""
    import sys

    try:
        from SCons.Taskmaster.Job import Jobs
    except ImportError:                 # another SCons layout: its own messages stand
        return
    were_interrupted = getattr(Jobs, "were_interrupted", None)
    if were_interrupted is None or getattr(were_interrupted, "kmod_says", False):
        return                          # (or this process declared a tree before)
    told: list[bool] = []

    def were_interrupted_said(self: Any) -> bool:
        got = bool(were_interrupted(self))
        get = SCons.Script.GetOption
        if got and not told and (get("silent") or get("no_progress")):
            told.append(True)
            sys.stderr.write("scons: Build interrupted.\n")
        return got

    were_interrupted_said.kmod_says = True  # type: ignore[attr-defined]
    Jobs.were_interrupted = were_interrupted_said  # type: ignore[method-assign]


def _quick_exit() -> None:
    import sys
    import weakref

    import SCons.exitfuncs
    main = sys.modules.get("SCons.Script.Main")
    if (not _BUILD_DONE[0] or main is None or getattr(main, "exit_status", 1) != 0
            or SCons.Script.GetBuildFailures() or "multiprocessing" in sys.modules):
        return
    try:
        SCons.exitfuncs._run_exitfuncs()
        weakref.finalize._exitfunc()            # type: ignore[attr-defined]
        if "logging" in sys.modules:
            sys.modules["logging"].shutdown()
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            if stream is not None:
                stream.flush()
    except BaseException:            # anything unexpected: the ordinary exit
        return
    os._exit(0)


# --------------------------------------------------------------------------- signature database

_MISSING = object()
_SLOTS: dict[type, tuple[str, ...]] = {}


def _slots(info: Any) -> tuple[str, ...]:
    """The fields of a node-info object that SCons pickles (its slots)."""
    cls = type(info)
    slots = _SLOTS.get(cls)
    if slots is None:
        slots = _SLOTS[cls] = tuple(s for k in cls.mro() for s in getattr(k, "__slots__", ())
                                    if s not in ("__weakref__", "__dict__"))
    return slots


def _same_info(old: Any, new: Any, merged: bool) -> bool:
    """Whether storing ``new`` leaves ``old`` as it is: field by field when SCons
    merges it into the stored object (absent fields keep their stored values),
    every field when it replaces it."""
    if type(old) is not type(new) or hasattr(new, "__dict__"):
        return False                     # not a plain slotted info object: store it
    for field in _slots(new):
        value = getattr(new, field, _MISSING)
        if getattr(old, field, _MISSING) != value and not (merged and value is _MISSING):
            return False
    return True


def _already_recorded(entry: Any, node: Any) -> bool:
    """True when storing ``node`` would leave its ``.sconsign`` entry as it is.

    That is what ``Base.store_info`` and ``Base.merge`` would do to ``entry``:
    the node's own info is merged into it field by field; a target's build
    info is replaced -- action, action signature, and for every source,
    dependency and implicit dependency its name and its signature.
    """
    if entry is None or not _same_info(getattr(entry, "ninfo", None), node.get_ninfo(), True):
        return False
    if not node.has_builder():
        return True                      # File.visited() merged the stored build info in
    old, new = entry.binfo, node.get_binfo()
    if (getattr(old, "bactsig", None) != new.bactsig
            or getattr(old, "bact", None) != getattr(new, "bact", None)):
        return False
    for names, sigs in (("bsources", "bsourcesigs"), ("bdepends", "bdependsigs"),
                        ("bimplicit", "bimplicitsigs")):
        old_names, new_names = getattr(old, names, None), getattr(new, names, None)
        old_sigs, new_sigs = getattr(old, sigs, None), getattr(new, sigs, None)
        if (old_names is None or new_names is None or old_sigs is None or new_sigs is None
                or len(old_names) != len(new_names) or len(old_sigs) != len(new_sigs)
                or any(a != str(b) for a, b in zip(old_names, new_names))
                or not all(_same_info(a, b, False) for a, b in zip(old_sigs, new_sigs))):
            return False
    return True


def _keep_action_signatures() -> None:
    """Compute each build step's action signature once per build, not once per target.

    SCons clears a step's memo (``Executor.cleanup``) every time one of its
    targets is built, and then computes the action's signature contents again
    to store the target's ``.sconsign`` entry: every step's command line was
    substituted twice, a two-target step's three times -- about a tenth of the
    SCons process's CPU in a clean build (100 modules: 3.04-3.38 -> 2.65-3.10
    s, docs/performance.md).  The contents depend on the
    step's environment, action, targets and sources, none of which building
    changes (the clearing is for SCons's interactive mode, which rebuilds in
    one process); they are kept across the cleanup, everything else is cleared
    as before.
    """
    import SCons.Executor
    cls = SCons.Executor.Executor
    if getattr(cls.cleanup, "kmodbuild", False):
        return

    def cleanup(self: Any) -> None:
        kept = self._memo.get("get_contents")
        self._memo = {} if kept is None else {"get_contents": kept}

    cleanup.kmodbuild = True            # type: ignore[attr-defined]
    cls.cleanup = cleanup


def _store_only_changes() -> None:
    """Leave a directory's ``.sconsign`` entries alone when nothing in them changed.

    SCons stores every node it visits, up to date or not, and rewrites -- merges,
    converts and pickles -- every entry of each directory that holds one: after a
    one-source edit that was every module's directory (504 of 1,010 for 500
    modules), all to write back what was already there; the edit now rewrites 5
    and takes 2.96 s instead of 3.49 s (interleaved medians, together with the
    emulator's smaller mapped-region cap).  Here a node that was not
    built in this run and whose info would merge into its stored entry without
    changing it is not stored, so its directory is written only if something in
    it changed.  Anything else -- a rebuilt node, a new entry, a timestamp that
    changed without the contents (the content-timestamp decider records it so the
    next build does not hash the file again), a different dependency list or
    action -- is stored as SCons would.
    """
    import SCons.Node
    import SCons.SConsign
    base = SCons.SConsign.Base
    if getattr(base.store_info, "kmodbuild", False):
        return
    store = base.store_info
    executed = SCons.Node.executed

    def store_info(self: Any, filename: str, node: Any) -> None:
        if (node.get_state() == executed or filename in self.to_be_merged
                or not _already_recorded(self.entries.get(filename), node)):
            store(self, filename, node)

    store_info.kmodbuild = True          # type: ignore[attr-defined]
    base.store_info = store_info
