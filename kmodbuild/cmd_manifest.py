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

from kmodbuild.elf import read_kernel, target_for
from kmodbuild.errors import TargetError, UsageError
from kmodbuild.manifest import manifest_from_kernel, write_if_changed
from kmodbuild.target import NetBSDVersion, get_target

HELP = "write the kernel symbol manifest of a linked kernel image"
DESCRIPTION = """\
List the defined global symbols of a linked kernel (name, kind, size) in a
sorted text manifest for 'kmodbuild check --manifest'.  The target comes from
--arch or the kernel's ELF header; the version from --version, the kernel's
NetBSD ident note, or a build/<MACHINE>-<MACHINE_ARCH>/<version>/kernel path."""
EPILOG = """\
examples:
  kmodbuild manifest build/amd64-x86_64/10.0/kernel/netbsd -o netbsd.syms
  kmodbuild manifest --arch evbarm-aarch64 --version 10.99.10 netbsd.gdb -o -
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


def run(args: argparse.Namespace) -> int:
    """Write the manifest; returns 0.

    Raises:
        UsageError: target or version cannot be told (the CLI exits 2).
        ModuleFormatError: the kernel image cannot be read (exit 1).
        ManifestError: the output cannot be written (exit 1).
    """
    image = read_kernel(args.kernel)
    path_match = _KERNEL_DIR_RE.search(Path(os.path.abspath(args.kernel)).as_posix())
    try:
        if args.arch:
            target = get_target(args.arch)
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
    if args.abi:
        from kmodbuild.abiprobe import kernel_manifest_abi
        manifest, info = kernel_manifest_abi(manifest, args.kernel)
        write_if_changed(args.abi, info.render())
    text = manifest.render()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        write_if_changed(args.output, text)
    return 0
