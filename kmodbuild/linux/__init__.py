"""kmodbuild.linux - the link check for Linux kernel modules, at parity with depmod.

``kmodbuild check --flavor linux --symvers Module.symvers PATH...`` reads
``.ko`` files (and ``.ko.xz``, ``.ko.zst``, ``.ko.gz``), reports unknown
symbols and symbol-version (CRC) disagreements with depmod's rules, and can
write a modules.dep.  See docs/linux.md.

Modules: :mod:`~kmodbuild.linux.facts` (what a module contributes),
:mod:`~kmodbuild.linux.koelf` (decoding a module's ELF with libkmod's rules),
:mod:`~kmodbuild.linux.kofile` (reading files: plain, compressed, in batches),
:mod:`~kmodbuild.linux.readers` (reading on all cores),
:mod:`~kmodbuild.linux.symvers` (Module.symvers), :mod:`~kmodbuild.linux.depmod`
(resolution and modules.dep), :mod:`~kmodbuild.linux.scan` (finding the
modules of a tree), :mod:`~kmodbuild.linux.treecache` (the result cache),
:mod:`~kmodbuild.linux.check` (the whole check) and
:mod:`~kmodbuild.linux.command` (the CLI shell).  The names below are
imported on first use, and this package imports nothing itself, so that a
cached re-check loads only what it needs.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

_EXPORTS = {
    "check_linux": "check", "write_dep_file": "check", "LinuxCheckResult": "check",
    "KoFacts": "kofile", "read_ko": "kofile", "read_ko_bytes": "kofile",
    "Symvers": "symvers", "parse_symvers": "symvers", "read_symvers": "symvers",
    "Resolution": "depmod", "resolve": "depmod", "dep_lines": "depmod",
}
__all__ = sorted([*_EXPORTS, "run_linux"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kmodbuild.linux' has no attribute {name!r}")
    from importlib import import_module
    return getattr(import_module(f"kmodbuild.linux.{module}"), name)


def run_linux(args: argparse.Namespace) -> int:
    """``kmodbuild check --flavor linux``: check, print the report, return the exit status."""
    from kmodbuild.linux.command import run
    return run(args)
