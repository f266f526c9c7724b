"""kmodbuild.toolchain - compilers and linkers for a target, as argv lists.

Four kinds (``TOOLCHAIN=``):

* ``zig`` (default): the ``zig`` binary inside the ``ziglang`` wheel, called
  directly as ``zig clang --target=...`` and ``zig ld.lld -r`` (not ``zig cc``,
  which adds UBSan calls and misreads ``-march``; not ``python -m ziglang``,
  which costs 15-20 ms per call);
* ``clang``: system ``clang`` + ``ld.lld``;
* ``gcc``: GNU cross tools ``<triple>-gcc`` + ``<triple>-ld``;
* ``hostgcc``: the host ``gcc``/``ld`` (amd64 and i386 only).

Probing runs through an injected runner so tests need no compiler.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kmodbuild.errors import ToolchainError
from kmodbuild.target import COMMON_CFLAGS, Target

TOOLCHAINS = ("zig", "clang", "gcc", "hostgcc")
DEFAULT_TOOLCHAIN = "zig"

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[bytes]"]


def _run(argv: Sequence[str]) -> "subprocess.CompletedProcess[bytes]":
    return subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60, check=False)


def zig_path() -> str:
    """Path of the ``zig`` binary shipped in the ``ziglang`` wheel (or ``$KMOD_ZIG``).

    Raises:
        ToolchainError: ziglang is not installed.
    """
    override = os.environ.get("KMOD_ZIG")
    if override:
        if not os.access(override, os.X_OK):
            raise ToolchainError(f"{override}: KMOD_ZIG is not an executable zig binary")
        return override
    try:
        import ziglang  # only for its location: no code of it runs
    except ImportError:
        raise ToolchainError(
            "the default toolchain needs the ziglang package: pip install ziglang==0.17.1 "
            "(or choose TOOLCHAIN=clang, gcc or hostgcc)") from None
    path = os.path.join(os.path.dirname(ziglang.__file__), "zig")
    if not os.access(path, os.X_OK):
        raise ToolchainError(f"{path}: zig binary missing or not executable; "
                             "reinstall it: pip install --force-reinstall ziglang==0.17.1")
    return path


@dataclass(frozen=True)
class Toolchain:
    """Compiler and linker command prefixes for one target.

    ``cc`` + ``cflags`` + ``-c src -o obj`` compiles; ``ld`` + ``ldflags`` +
    ``-o out objs`` partial-links (``-r``) a module.  ``kind`` is one of
    :data:`TOOLCHAINS`; ``version`` is what the probe printed (first line).
    """

    kind: str
    target: Target
    cc: tuple[str, ...]
    cflags: tuple[str, ...]
    ld: tuple[str, ...]
    ldflags: tuple[str, ...]
    kernel_ldflags: tuple[str, ...]

    def compile_argv(self, src: str, obj: str, cppflags: Sequence[str] = ()) -> list[str]:
        """Full command line compiling ``src`` to ``obj``."""
        return [*self.cc, *self.cflags, *cppflags, "-c", src, "-o", obj]

    def link_argv(self, out: str, objs: Sequence[str], script: str | None = None) -> list[str]:
        """Full command line partial-linking ``objs`` into the module ``out``."""
        argv = [*self.ld, *self.ldflags]
        if script:
            argv += ["-T", script]
        return [*argv, "-o", out, *objs]


def make_toolchain(target: Target, kind: str = DEFAULT_TOOLCHAIN,
                   which: Callable[[str], str | None] = shutil.which) -> Toolchain:
    """Build the :class:`Toolchain` of ``kind`` for ``target`` (no probing).

    Raises:
        ToolchainError: unknown kind, a tool not found on PATH, or hostgcc for a
            non-x86 target; the message says what to install.
    """
    common = COMMON_CFLAGS
    # debug info must not depend on where the tree is (reproducible objects, shared caches,
    # distcc's remote working directory)
    reloc_debug = "-fdebug-compilation-dir=." if kind in ("zig", "clang") else \
        f"-fdebug-prefix-map={os.getcwd()}=."
    common = (*common, reloc_debug)
    kernel = ("-static", "-e", "start")      # the stub kernel: a static image entered at start
    if kind == "zig":
        zig = zig_path()
        return Toolchain(kind, target, (zig, "clang", f"--target={target.triple}"),
                         (*common, *target.cflags, "-Wno-error=constant-conversion"),
                         (zig, "ld.lld"), ("-r",), kernel)
    if kind == "clang":
        cc, ld = which("clang"), which("ld.lld")
        if not cc or not ld:
            raise ToolchainError("TOOLCHAIN=clang needs clang and ld.lld on PATH: "
                                 "apt-get install clang lld")
        extra = ("-fintegrated-as",) if target.machine_arch == "sparc64" else ()
        return Toolchain(kind, target, (cc, f"--target={target.triple}"),
                         (*common, *target.cflags, *extra), (ld,), ("-r",), kernel)
    if kind == "gcc":
        cc, ld = which(f"{target.gnu_triple}-gcc"), which(f"{target.gnu_triple}-ld")
        if not cc or not ld:
            pkg = f"gcc-{target.gnu_triple.replace('_', '-')}"
            raise ToolchainError(f"TOOLCHAIN=gcc needs {target.gnu_triple}-gcc and "
                                 f"{target.gnu_triple}-ld on PATH: apt-get install {pkg}")
        return Toolchain(kind, target, (cc,), (*common, *target.gcc_cflags), (ld,),
                         ("-r", "-d"), kernel)
    if kind == "hostgcc":
        if not target.host_gcc_flags:
            raise ToolchainError(f"TOOLCHAIN=hostgcc builds only amd64 and i386, "
                                 f"not {target.name}; use TOOLCHAIN=zig")
        cc, ld = which("gcc"), which("ld")
        if not cc or not ld:
            raise ToolchainError("TOOLCHAIN=hostgcc needs gcc and ld on PATH: "
                                 "apt-get install gcc binutils")
        emul = ("-m", "elf_i386") if target.elfclass == 32 else ("-m", "elf_x86_64")
        return Toolchain(kind, target, (cc, *target.host_gcc_flags),
                         (*common, *target.gcc_cflags), (ld,), (*emul, "-r", "-d"),
                         (*emul, *kernel))
    raise ToolchainError(f"unknown toolchain {kind!r}; choose one of {', '.join(TOOLCHAINS)}")


def probe(tc: Toolchain, runner: Runner = _run) -> str:
    """Check that the compiler runs; return its first ``--version`` line.

    Raises:
        ToolchainError: the compiler cannot be run or exits non-zero.
    """
    argv = [*tc.cc, "--version"]
    try:
        res = runner(argv)
    except (OSError, subprocess.SubprocessError) as e:
        raise ToolchainError(f"{argv[0]}: cannot run the {tc.kind} compiler: {e}") from None
    if res.returncode != 0:
        msg = (res.stderr or b"").decode(errors="replace").strip().splitlines()
        raise ToolchainError(f"{argv[0]}: the {tc.kind} compiler does not work: "
                             f"{msg[0] if msg else 'exit status ' + str(res.returncode)}")
    out = (res.stdout or b"").decode(errors="replace").strip().splitlines()
    return out[0] if out else tc.kind


def executables(tc: Toolchain, which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """The distinct programs ``tc`` runs (compiler and linker), as absolute paths where
    they can be found."""
    out: list[str] = []
    for word in (tc.cc[0], tc.ld[0]):
        path = word if os.path.isabs(word) else (which(word) or word)
        if path not in out:
            out.append(path)
    return out


def identity(paths: Sequence[str], cache: dict[str, str] | None = None,
             runner: Runner = _run) -> str:
    """What the build signatures record of the tool binaries ``paths``: per program its
    size and a digest of what ``--version`` (``zig version``) prints.

    SCons would otherwise hash each binary's content (0.4-0.5 s for the 185 MB zig
    binary at every clean build); a digest of the file's stat would differ between
    machines sharing a CacheDir.  ``cache`` maps ``path:size:mtime_ns:inode`` to
    earlier answers (the caller keeps it on disk) so a program is asked once.
    """
    import hashlib
    parts = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            parts.append(f"{os.path.basename(path)}:missing")
            continue
        key = f"{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
        ident = cache.get(key) if cache is not None else None
        if ident is None:
            flag = "version" if os.path.basename(path) == "zig" else "--version"
            try:
                res = runner([path, flag])
                said = res.stdout + res.stderr if res.returncode == 0 else None
            except (OSError, subprocess.SubprocessError):
                said = None
            if said is None:                # cannot ask it: its content, the slow way
                from kmodbuild.metalog import sha256_of
                ident = f"{st.st_size}:content:{sha256_of(path)[:16]}"
            else:
                ident = f"{st.st_size}:{hashlib.sha256(said).hexdigest()[:16]}"
            if cache is not None:
                cache[key] = ident
        parts.append(f"{os.path.basename(path)}:{ident}")
    return " ".join(parts)


def identities(toolchains: Sequence[Toolchain], cache_file: str, *, save: bool = True,
               which: Callable[[str], str | None] = shutil.which,
               runner: Runner = _run) -> list[str]:
    """:func:`identity` of each toolchain's programs, with one read of ``cache_file``
    (JSON, the answers of earlier builds) and, when ``save`` and something was asked,
    one atomic write of it."""
    import json
    try:
        with open(cache_file) as f:
            cache = json.load(f)
        if not isinstance(cache, dict):
            cache = {}
    except (OSError, ValueError, RecursionError):
        cache = {}
    before = dict(cache)
    out = [identity(executables(tc, which), cache, runner) for tc in toolchains]
    if save and cache != before:
        from kmodbuild.atomicfile import replace_file
        try:
            replace_file(cache_file, [json.dumps(cache, indent=0).encode()])
        except OSError:
            pass                            # asked again next time
    return out
