"""kmodbuild.kapi._struct - C structure layouts of the kernel headers, per target.

A :class:`Struct` lists its members as in the header (``("vfs_name", "ptr")``);
:meth:`Struct.layout` computes offsets, sizes and alignment for a target with
the C rules (natural alignment; 64-bit members aligned to 4 on i386, whose
SysV ABI says so).  ``tests/emulate/test_kapi_drift.py`` compiles
``_Static_assert(offsetof(...))`` checks with the real compiler for every
target, so these tables cannot drift from ``sys/sys/*.h``.

Member types: ``ptr``, ``word``/``uword`` (long), ``i8``..``u64``, ``bool``,
``char[N]``, another :class:`Struct`, or ``(type, count)`` for arrays.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from kmodbuild.target import Target

MemberType = Union[str, "Struct", tuple]

_SCALARS = {"i8": 1, "u8": 1, "bool": 1, "i16": 2, "u16": 2, "i32": 4, "u32": 4, "i64": 8,
            "u64": 8}


@dataclass(frozen=True)
class Field:
    """One laid-out member: ``offset``, ``size`` in bytes, scalar ``kind`` (or ``bytes``)."""

    name: str
    offset: int
    size: int
    kind: str


@dataclass(frozen=True)
class Layout:
    """A structure's layout on one target."""

    name: str
    size: int
    align: int
    fields: dict[str, Field]

    def __getitem__(self, member: str) -> Field:
        return self.fields[member]

    def offset(self, member: str) -> int:
        """``offsetof(struct name, member)``."""
        return self.fields[member].offset


@dataclass(frozen=True)
class Struct:
    """``struct name { members }`` as the header declares it."""

    name: str
    members: tuple[tuple[str, MemberType], ...]
    #: member -> its C designator where the two differ (``vfs_list_next`` is
    #: ``vfs_list.le_next``): what the drift test hands ``offsetof``
    c_members: tuple[tuple[str, str], ...] = ()
    _cache: dict[tuple[int, bool], Layout] = field(default_factory=dict, compare=False,
                                                   repr=False, hash=False)

    def designator(self, member: str) -> str:
        """The C designator of ``member`` for ``offsetof(struct name, ...)``."""
        return dict(self.c_members).get(member, member)

    def layout(self, target: Target) -> Layout:
        """The layout on ``target`` (cached)."""
        key = (target.pointer_size, target.machine_arch == "i386")
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = _lay_out(self, target.pointer_size, key[1])
        return hit


def _size_align(t: MemberType, psize: int, i386: bool) -> tuple[int, int, str]:
    if isinstance(t, Struct):
        lay = _lay_out(t, psize, i386)
        return lay.size, lay.align, "bytes"
    if isinstance(t, tuple):
        inner, count = t
        size, align, _ = _size_align(inner, psize, i386)
        return size * count, align, "bytes"
    if t in ("ptr", "word", "uword"):
        return psize, psize, t
    if t.startswith("char["):
        return int(t[5:-1]), 1, "bytes"
    size = _SCALARS[t]
    return size, (4 if i386 and size == 8 else size), t


def _lay_out(s: Struct, psize: int, i386: bool) -> Layout:
    off, align = 0, 1
    fields: dict[str, Field] = {}
    for name, t in s.members:
        size, a, kind = _size_align(t, psize, i386)
        off = (off + a - 1) & ~(a - 1)
        fields[name] = Field(name, off, size, kind)
        off += size
        align = max(align, a)
    return Layout(s.name, (off + align - 1) & ~(align - 1), align, fields)


def list_entry(prefix: str) -> tuple[tuple[str, MemberType], ...]:
    """``LIST_ENTRY``/``TAILQ_ENTRY`` members: next and prev pointers."""
    return ((f"{prefix}_next", "ptr"), (f"{prefix}_prev", "ptr"))


def entry_names(prefix: str, c_prefix: str, kind: str = "le") -> tuple[tuple[str, str], ...]:
    """C designators of :func:`list_entry` members: ``LIST_ENTRY`` fields are ``le_next``
    and ``le_prev``, ``TAILQ_ENTRY``'s ``tqe_next`` and ``tqe_prev`` (``kind="tqe"``)."""
    return ((f"{prefix}_next", f"{c_prefix}.{kind}_next"),
            (f"{prefix}_prev", f"{c_prefix}.{kind}_prev"))
