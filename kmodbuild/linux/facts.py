"""kmodbuild.linux.facts - what one Linux kernel module contributes to the check.

:class:`KoFacts` is a plain tuple of strings, bytes and ints, so that it
pickles and marshals fast: it crosses process boundaries and lives in the
result cache.  :mod:`kmodbuild.linux.koelf` makes it from an ELF file.
"""
from __future__ import annotations

from array import array
from typing import NamedTuple


class KoFacts(NamedTuple):
    """Everything one module contributes to the check.

    A plain tuple of strings, bytes and ints, so that it pickles and marshals
    fast (it crosses process boundaries and lives in the result cache):
    symbol lists are NUL-joined strings and CRC lists are arrays of native
    ``unsigned long long`` as bytes.  Use the properties to read them.

    Attributes:
        elfclass: 32 or 64 (0 when unreadable).
        e_machine: ELF machine number.
        export_blob: exported symbol names, NUL-joined, in symbol-table order.
        export_crc_blob: the CRC of each export (0 when the module has no CRCs).
        export_source: where the exports came from: ``"crc"`` (``__crc_``
            symbols), ``"ksymtab_strings"``, ``"symtab"`` (``__ksymtab_<name>``
            symbols) or ``""`` (none).
        dep_blob: dependency symbol names, NUL-joined, in libkmod's order:
            undefined symbols in symbol-table order, then unmatched
            ``__versions`` entries.
        dep_crc_blob: the CRC the module expects for each dependency symbol.
        weak: indices of the weak references among the dependency symbols.
        n_undefined: the first ``n_undefined`` dependency symbols are
            undefined symbols; the rest come from ``__versions`` only.
        modinfo_name: ``.modinfo`` ``name=`` (``None`` if absent).
        vermagic: ``.modinfo`` ``vermagic=`` (``None`` if absent).
        depends: ``.modinfo`` ``depends=`` as written (``None`` if absent).
        error: why the module could not be read (fully or in part); the
            module is still listed in ``modules.dep``, as depmod does.
    """

    elfclass: int
    e_machine: int
    export_blob: str
    export_crc_blob: bytes
    export_source: str
    dep_blob: str
    dep_crc_blob: bytes
    weak: tuple[int, ...]
    n_undefined: int
    modinfo_name: str | None
    vermagic: str | None
    depends: str | None
    error: str | None

    @classmethod
    def broken(cls, error: str) -> KoFacts:
        """Facts of a module that could not be read at all."""
        return cls(0, 0, "", b"", "", "", b"", (), 0, None, None, None, error)

    @property
    def exports(self) -> list[str]:
        """Exported symbol names."""
        return self.export_blob.split("\0") if self.export_blob else []

    @property
    def export_crcs(self) -> list[int]:
        """CRCs of :attr:`exports`, same order."""
        return unpack_crcs(self.export_crc_blob)

    @property
    def deps(self) -> list[str]:
        """Dependency symbol names (see :attr:`dep_blob`)."""
        return self.dep_blob.split("\0") if self.dep_blob else []

    @property
    def dep_crcs(self) -> list[int]:
        """CRCs of :attr:`deps`, same order."""
        return unpack_crcs(self.dep_crc_blob)


def pack_crcs(crcs: list[int]) -> bytes:
    """CRC values as the bytes of a native ``array('Q')``."""
    return array("Q", crcs).tobytes()


def unpack_crcs(blob: bytes) -> list[int]:
    """Inverse of :func:`pack_crcs`."""
    arr = array("Q")
    arr.frombytes(blob)
    return arr.tolist()
