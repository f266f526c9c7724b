"""``kmodbuild manifest``: write the symbol manifest of a linked kernel image.

Reads the kernel's defined global symbols (:func:`kmodbuild.elf.read_kernel`)
and writes them in the manifest format of docs/manifest-format.md, only if
the content changed.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from kmodbuild.atomicfile import replace_if_changed
from kmodbuild.elf import KernelImage, machine_name, read_kernel, target_for
from kmodbuild.errors import (KmodError, ManifestError, ModuleFormatError, TargetError,
                              UsageError)
from kmodbuild.manifest import manifest_from_kernel, write_if_changed
from kmodbuild.target import NetBSDVersion, Target, get_target

HELP = "write the kernel symbol manifest of a linked kernel image"
DESCRIPTION = """\
List the defined global symbols of a linked kernel (name, kind, size) in a
sorted text manifest for 'kmodbuild check --manifest'.  The target comes from
--arch or the kernel's ELF header; the version from --version, the kernel's
NetBSD ident note, or a build/<MACHINE>-<MACHINE_ARCH>/<version>/kernel path."""
EPILOG = """\
examples (in a tree built with scons):
  kmodbuild manifest build/amd64-x86_64/10.0/kernel/netbsd -o netbsd.syms
  kmodbuild manifest --arch evbarm-aarch64 --version 10.0 \\
      build/evbarm-aarch64/10.0/kernel/netbsd -o -          (after scons ARCH=all)
"""

_KERNEL_DIR_RE = re.compile(r"(?:^|/)([a-z0-9]+-[a-z0-9_]+)/([0-9][0-9.]*)/kernel/[^/]+$")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register the ``manifest`` options on ``p``."""
    p.add_argument("kernel", metavar="KERNEL", help="linked kernel ELF image")
    p.add_argument("-o", "--output", metavar="FILE", default="-",
                   help="manifest to write (default: standard output)")
    p.add_argument("--arch", metavar="A", help="target (default: from the ELF header)")
    p.add_argument("--version", metavar="V", help="kernel version, e.g. 10.0 or 10.99.10")
    p.add_argument("--abi", metavar="FILE",
                   help="also hash every symbol's type from the kernel's DWARF (the abihash "
                   "column) and write the type descriptions to FILE (docs/abi.md)")


def _kind(e_machine: int | frozenset[int], elfclass: int, little_endian: bool) -> str:
    names = " or ".join(machine_name(m) for m in sorted(e_machine)) \
        if isinstance(e_machine, frozenset) else machine_name(e_machine)
    return f"{names}, ELF{elfclass} {'little' if little_endian else 'big'}-endian"


def _check_image_target(path: str, image: KernelImage, target: Target) -> None:
    """Refuse an image that cannot be ``target``'s kernel: its ELF machine, class and byte
    order must be ones the target's kernels are (a manifest labelled with the wrong target
    would check modules against another machine's symbols).

    Raises:
        UsageError: ``KERNEL: an image of x86-64, ELF64 little-endian, not of sparc64 (...)``.
    """
    if (image.e_machine in target.accepted_machines and image.elfclass == target.elfclass
            and image.little_endian == target.little_endian):
        return
    own = target_for(image.e_machine, image.elfclass, image.little_endian)
    have = _kind(image.e_machine, image.elfclass, image.little_endian)
    want = _kind(target.accepted_machines, target.elfclass, target.little_endian)
    raise UsageError(f"{path}: an image of {have}, not of {target.name} ({want})"
                     + (f"; its target is {own.name}" if own is not None else ""))


def run(args: argparse.Namespace) -> int:
    """Write the manifest; returns 0.

    Raises:
        UsageError: target or version cannot be told (the CLI exits 2).
        UsageError: ... or the kernel image (with --abi: its DWARF) cannot be read (exit 2).
        ManifestError: the output or the --abi file cannot be written (exit 1).
    """
    try:
        image = read_kernel(args.kernel)
    except KmodError as e:          # the input named by the user: a usage error (exit 2)
        raise UsageError(str(e)) from None
    path_match = _KERNEL_DIR_RE.search(Path(os.path.abspath(args.kernel)).as_posix())
    try:
        if args.arch:
            target = get_target(args.arch)
            _check_image_target(args.kernel, image, target)
        else:
            target = target_for(image.e_machine, image.elfclass, image.little_endian)
            if target is None and path_match:
                target = get_target(path_match.group(1))
            if target is None:
                raise UsageError(f"{args.kernel}: cannot tell the target from the ELF header; "
                                 f"use --arch")
        if args.version:
            version = NetBSDVersion.parse(args.version)
        elif image.netbsd_version:
            version = NetBSDVersion.from_number(image.netbsd_version)
        elif path_match:
            version = NetBSDVersion.parse(path_match.group(2))
        else:
            raise UsageError(f"{args.kernel}: cannot tell the kernel version; use --version")
    except TargetError as e:
        raise UsageError(e.message) from None
    manifest = manifest_from_kernel(image.symbols, target, version)
    for out, what in ((args.output, "manifest"), (args.abi, "the ABI descriptions (--abi)")):
        # said before the DWARF is read; and a FIFO is not opened (to compare contents)
        if out and out != "-" and os.path.exists(out) and not os.path.isfile(out):
            why = "Is a directory" if os.path.isdir(out) else "not a regular file"
            raise ManifestError(f"cannot write {what}: {why}", path=out)
    if args.abi:
        from kmodbuild.abiprobe import kernel_manifest_abi
        try:
            manifest, info = kernel_manifest_abi(manifest, args.kernel)
        except ModuleFormatError as e:  # its DWARF: the input named by the user (exit 2)
            raise UsageError(str(e)) from None
        try:
            replace_if_changed(args.abi, info.render().encode("utf-8"), mode=0o644)
        except OSError as e:
            raise ManifestError(f"cannot write the ABI descriptions (--abi): "
                                f"{e.strerror or e}", path=args.abi) from None
    text = manifest.render()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        write_if_changed(args.output, text)
    return 0
