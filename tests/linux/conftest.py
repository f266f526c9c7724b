"""Fixtures for the Linux checker tests: zig-built .ko-like objects, depmod, the Debian tree.

``ko_builder`` compiles small C modules with the zig toolchain (kmodbuild.toolchain):
exports, CRCs, ``.modinfo`` and ``__versions`` are made with section attributes
and asm labels, the way the kernel's headers make them.  ``debian_kernel``
downloads (once, cached outside the repository) Debian's real module tree; it
and ``depmod`` skip with a reason when they cannot be had.
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.linux.debian_tree import DebianKernel, Unavailable, depmod_path, fetch_debian_kernel


@dataclass
class KoSpec:
    """A module to compile.

    exports: name -> CRC (None: no CRC for it); crc_style: ``kcrctab`` (Linux >= 5.19:
    ``__crc_`` labels in ``__kcrctab``), ``abs`` (absolute ``__crc_`` symbols, older
    kernels) or ``none`` (only ``__ksymtab_strings``, no modversions).
    imports/weak: symbols used (strong/weak references); versions: ``__versions``
    entries in order; modinfo: ``key=value`` entries.
    """

    exports: Mapping[str, int | None] = field(default_factory=dict)
    crc_style: str = "kcrctab"
    imports: Sequence[str] = ()
    weak: Sequence[str] = ()
    versions: Sequence[tuple[str, int]] = ()
    modinfo: Sequence[str] = ("vermagic=6.1.0 SMP mod_unload modversions ",)
    namespaces: Sequence[str] = ()
    #: ``__ksymtab_<name>`` labels in a ``__ksymtab`` section and no ``__ksymtab_strings``.
    ksymtab_labels_only: bool = False


def module_source(spec: KoSpec) -> str:
    """C source for ``spec``."""
    out = ["struct modversion_info { unsigned long crc; char name[64 - sizeof(unsigned long)]; };"]
    for name in spec.imports:
        out.append(f"extern int {name}(int);")
    for name in spec.weak:
        out.append(f"extern int {name}(int) __attribute__((weak));")
    arg = "__kmodbuild_arg"
    calls = [f"{n}({arg})" for n in spec.imports] + [f"({n} ? {n}({arg}) : 0)" for n in spec.weak]
    out.append(f"int __kmodbuild_use(int {arg}) {{ return 0" + "".join(f" + {c}" for c in calls)
               + "; }")
    strings = []
    for name, crc in spec.exports.items():
        out.append(f"int {name}(int {arg}) {{ return {arg} + {len(name)}; }}")
        strings.append(f'__kstrtab_{name}: .asciz \\"{name}\\"\\n')
        if crc is None or spec.crc_style == "none":
            continue
        if spec.crc_style == "kcrctab":
            out.append(f'__asm__(".section \\"__kcrctab\\",\\"a\\"\\n'
                       f'__crc_{name}: .long {crc:#x}\\n.previous\\n");')
        else:
            out.append(f'__asm__(".globl __crc_{name}\\n.set __crc_{name}, {crc:#x}\\n");')
    for ns in spec.namespaces:
        strings.append(f'.asciz \\"{ns}\\"\\n')
    if spec.ksymtab_labels_only:
        labels = "".join(f"__ksymtab_{name}: .long 0\\n" for name in spec.exports)
        out.append(f'__asm__(".section \\"__ksymtab\\",\\"a\\"\\n{labels}.previous\\n");')
    elif strings:
        out.append('__asm__(".section \\"__ksymtab_strings\\",\\"aMS\\",%progbits,1\\n'
                   + "".join(strings) + '.previous\\n");')
    if spec.modinfo:
        body = "".join(e.replace('"', '\\"') + "\\000" for e in spec.modinfo)
        out.append(f'static const char __kmodbuild_modinfo[] __attribute__((section(".modinfo"), '
                   f'used, aligned(1))) = "{body}";')
    if spec.versions:
        rows = ", ".join(f'{{ {crc:#x}UL, "{name}" }}' for name, crc in spec.versions)
        out.append("static const struct modversion_info __kmodbuild_versions[] "
                   f'__attribute__((section("__versions"), used, aligned(8))) = {{ {rows} }};')
    return "\n".join(out) + "\n"


KoBuilder = Callable[..., Path]


@pytest.fixture(scope="session")
def zig() -> str:
    """The zig binary (skips when the ziglang package is missing)."""
    from kmodbuild.errors import ToolchainError
    from kmodbuild.toolchain import zig_path
    try:
        return zig_path()
    except ToolchainError as e:
        pytest.skip(str(e))


@pytest.fixture
def ko_builder(zig: str, tmp_path: Path) -> KoBuilder:
    """``build(dest, spec, target="x86_64-linux-gnu") -> Path``: compile and ``ld -r`` a module."""
    work = tmp_path / "ko-build"
    work.mkdir()
    counter = [0]

    def build(dest: Path, spec: KoSpec, target: str = "x86_64-linux-gnu") -> Path:
        counter[0] += 1
        src = work / f"m{counter[0]}.c"
        obj = work / f"m{counter[0]}.o"
        src.write_text(module_source(spec))
        dest.parent.mkdir(parents=True, exist_ok=True)
        for argv in ([zig, "clang", f"--target={target}", "-ffreestanding", "-nostdinc",
                      "-fno-pic", "-O2", "-c", str(src), "-o", str(obj)],
                     [zig, "ld.lld", "-r", "-o", str(dest), str(obj)]):
            res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
            if res.returncode != 0:
                raise AssertionError(f"{' '.join(argv)} failed:\n{res.stderr}\n{src.read_text()}")
        return dest

    return build


@pytest.fixture(scope="session")
def depmod() -> str:
    """The depmod program (installed from Debian's kmod package if needed)."""
    try:
        return depmod_path()
    except Unavailable as e:
        pytest.skip(f"no depmod: {e}")


@pytest.fixture(scope="session")
def debian_kernel() -> DebianKernel:
    """Debian's linux-image-*-amd64 tree with its Module.symvers, cached between runs."""
    try:
        return fetch_debian_kernel()
    except Unavailable as e:
        pytest.skip(f"Debian kernel packages unavailable: {e}")


def old_mtime(*paths: Path) -> None:
    """Date files 10 s back, so that the result cache trusts them at once (not racy)."""
    for p in paths:
        st = os.stat(p)
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns - 10_000_000_000))
