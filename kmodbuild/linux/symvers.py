"""kmodbuild.linux.symvers - read a Linux ``Module.symvers`` the way depmod -E does.

A line is ``CRC<TAB>symbol<TAB>module<TAB>export-type[<TAB>namespace]`` (the
namespace column moved last in Linux 5.9; before that it came third).  depmod
(kmod ``tools/depmod.c`` ``depmod_load_symvers``) splits each line on runs of
spaces and tabs -- the newline stays glued to the last field -- and keeps only
the rows whose *third* field is exactly ``vmlinux``: those are the kernel's
own exports.  Rows of modules are ignored, because each module's exports are
read from the module itself.  A CRC that ``strtoull(.., 16)`` does not
consume entirely is reported (``"%s:%u Invalid symbol version %s"``) and the
row skipped.  A later row for the same symbol replaces an earlier one.  A line
ends, for depmod, at a NUL byte (C strings).

We keep the module rows too, but only to explain an unknown symbol ("exported
by drivers/foo/bar, which is not in the checked tree").
"""
from __future__ import annotations

import os
import re
import stat
from itertools import repeat

from kmodbuild.errors import ManifestError

# One row whose third space/tab-separated field is exactly "vmlinux" (followed
# by a space, a tab or the end of the file -- not by the newline, which
# strtok leaves in the field).
_VMLINUX_ROW = re.compile(r"^[ \t]*([^ \t\n]+)[ \t]+([^ \t\n]+)[ \t]+vmlinux(?=[ \t]|\Z)", re.M)
_ANY_ROW = re.compile(r"^[ \t]*[^ \t\n]+[ \t]+([^ \t\n]+)[ \t]+([^ \t\n]+)", re.M)
# The first field of a line of three fields or more (a row, if it is a CRC).
_ROW_START = re.compile(r"^[ \t]*([^ \t\n]+)[ \t]+[^ \t\n]+[ \t]+[^ \t\n]", re.M)
_CRC = re.compile(r"([+-]?)(?:0[xX])?([0-9a-fA-F]+)")
_U64 = 1 << 64
_AFTER_NUL = re.compile(r"\0[^\n]*")
# Every CRC a plain hexadecimal number that fits 64 bits: int(x, 16) agrees with strtoull.
_PLAIN_CRCS = re.compile(r"(?:(?:0[xX])?[0-9a-fA-F]{1,16}(?:\n|\Z))*")

#: Symbols depmod defines itself (``depmod_add_fake_syms``): the loader makes them.
FAKE_SYMBOLS = ("__this_module", "_GLOBAL_OFFSET_TABLE_")
#: Added only when Module.symvers lacks it (PowerPC64 ELFv2's TOC base).
FAKE_TOC = "TOC."


class Symvers:
    """The parsed Module.symvers.

    Attributes:
        path: where it was read from.
        vmlinux: kernel exports, symbol -> CRC (later rows win), in file order.
        invalid: ``(line, crc_text)`` of vmlinux rows with an unparsable CRC.
        text: the file's text (for :attr:`owners`).

    A plain class, not a dataclass: importing :mod:`dataclasses` costs a cold
    check 8 ms of start-up (it loads ``inspect``, ``ast`` and ``dis``).
    """

    def __init__(self, path: str, vmlinux: dict[str, int],
                 invalid: list[tuple[int, str]] | None = None, text: str = "") -> None:
        self.path, self.vmlinux, self.text = path, vmlinux, text
        self.invalid: list[tuple[int, str]] = [] if invalid is None else invalid

    def __repr__(self) -> str:
        return (f"Symvers(path={self.path!r}, {len(self.vmlinux)} vmlinux symbols, "
                f"invalid={self.invalid!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Symvers):
            return NotImplemented
        return (self.path, self.vmlinux, self.invalid, self.text) == \
            (other.path, other.vmlinux, other.invalid, other.text)

    __hash__ = None  # type: ignore[assignment]

    def kernel_symbols(self) -> dict[str, int]:
        """depmod's starting symbol table: the vmlinux rows plus its fake symbols."""
        return kernel_table(self.vmlinux)

    @property
    def owners(self) -> dict[str, str]:
        """Every row's symbol -> its module column (for hints; computed on first use,
        reading the file again if this Symvers was made without its text)."""
        cached: dict[str, str] | None = self.__dict__.get("_owners")
        if cached is None:
            text = self.text
            if not text and self.path:
                try:
                    with open(self.path, encoding="utf-8", errors="surrogateescape",
                              newline="") as f:
                        text = f.read()
                except OSError:
                    text = ""
            cached = self.__dict__["_owners"] = {
                m.group(1): m.group(2) for m in _ANY_ROW.finditer(text)}
        return cached


def kernel_table(vmlinux: dict[str, int]) -> dict[str, int]:
    """depmod's starting symbol table from the vmlinux rows: they plus its fake symbols."""
    table = dict(vmlinux)
    for name in FAKE_SYMBOLS:
        table[name] = 0
    table.setdefault(FAKE_TOC, 0)
    return table


def parse_crc(text: str) -> int | None:
    """``strtoull(text, &end, 16)`` when it consumes all of ``text``, else ``None``
    (leading white space is skipped, as strtoull does: a CRC field may begin with
    ``\r`` or ``\v``, which do not separate fields for depmod)."""
    m = _CRC.fullmatch(text.lstrip(" \t\n\v\f\r"))
    if m is None:
        return None
    value = int(m.group(2), 16)
    if value >= _U64:
        value = _U64 - 1                # strtoull saturates (ERANGE)
    return (_U64 - value) % _U64 if m.group(1) == "-" else value


Columns = tuple["list[str]", "list[str]"]


def _fast_rows(text: str) -> Columns | None:
    """The vmlinux rows of a plain tab-separated file as two columns (CRC texts,
    symbols), or ``None`` when the file needs the general parser (spaces, empty
    leading fields)."""
    if " " in text:
        return None
    got = _split_rows(text)
    if got is not None:
        return got
    lines = text.split("\n")
    last = len(lines) - 1
    crcs: list[str] = []
    names: list[str] = []
    for k, line in enumerate(lines):
        f = line.split("\t", 3)
        if len(f) < 3:
            continue
        if not (f[0] and f[1] and f[2]):
            return None
        # Three fields and a newline: strtok leaves the newline in the third.
        if f[2] == "vmlinux" and (len(f) > 3 or k == last):
            crcs.append(f[0])
            names.append(f[1])
    return crcs, names


def _split_rows(text: str) -> Columns | None:
    """:func:`_fast_rows` of the usual file in a few operations per vmlinux row: the
    text is cut at each ``<TAB>vmlinux<TAB>``, and what precedes one on its line
    must be exactly two non-empty fields (CRC, symbol); else ``None`` (the line
    by line parser decides)."""
    heads = text.split("\tvmlinux\t")
    if len(heads) < 2 or heads[-1].endswith("\tvmlinux"):
        return None                 # no such row, or one ends the file without a tab
    del heads[-1]
    starts = list(map(str.rfind, heads, repeat("\n")))
    if -1 in starts[1:]:
        return None                 # two on one line: one is not the third field
    rows = [h[i + 1:] for h, i in zip(heads, starts)]
    if list(map(str.count, rows, repeat("\t"))).count(1) != len(rows):
        return None                 # a row of one field, or of three before vmlinux
    lines = "\n".join(rows)
    if lines[:1] == "\t" or lines[-1:] == "\t" or "\n\t" in lines or "\t\n" in lines:
        return None                 # an empty field
    fields = lines.replace("\t", "\n").split("\n")
    return fields[0::2], fields[1::2]


def parse_symvers(text: str, path: str = "Module.symvers") -> Symvers:
    """Parse the contents of a Module.symvers (see the module docstring)."""
    if "\0" in text:
        # depmod's C strings end there: the rest of the line, its newline too, is unseen
        # (a tab ends the field as the string's end does, and stays out of it)
        text = _AFTER_NUL.sub("\t", text)
    cols = _fast_rows(text)
    if cols is None:
        rows = _VMLINUX_ROW.findall(text)
        cols = [r[0] for r in rows], [r[1] for r in rows]
    crc_texts, names = cols
    if _PLAIN_CRCS.fullmatch("\n".join(crc_texts)):
        return Symvers(path, dict(zip(names, map(int, crc_texts, repeat(16)))), [], text)
    vmlinux: dict[str, int] = {}
    invalid: list[tuple[int, str]] = []
    for m in _VMLINUX_ROW.finditer(text):
        crc_text, name = m.group(1), m.group(2)
        crc = parse_crc(crc_text)
        if crc is None:
            invalid.append((text.count("\n", 0, m.start()) + 1, crc_text))
            continue
        vmlinux[name] = crc
    return Symvers(path, vmlinux, invalid, text)


#: What a file with not one Module.symvers row is told (``FILE: ...``).
NOT_SYMVERS = "not a Module.symvers (no CRC lines)"


def has_rows(parsed: Symvers) -> bool:
    """True when at least one line of ``parsed`` is a Module.symvers row: three fields or
    more, the first a CRC ``strtoull`` reads whole -- a kernel's vmlinux row or a
    module's (an external module's Module.symvers lists only its own exports).

    depmod skips a malformed line without a word, and so does :func:`parse_symvers`;
    a file with no row at all, though, is not a Module.symvers (another file passed
    by mistake): every symbol would be reported unknown.
    """
    if parsed.vmlinux:
        return True
    return any(parse_crc(m.group(1)) is not None for m in _ROW_START.finditer(parsed.text))


def read_text(path: str) -> tuple[str, os.stat_result]:
    """The text of the file at ``path`` and its ``fstat``; a FIFO or a device is refused,
    not waited on (``O_NONBLOCK``: opening a FIFO returns at once).

    Raises:
        OSError: as ``open()`` would (a directory: when read).
        ManifestError: ``path`` is not a regular file.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with open(fd, encoding="utf-8", errors="surrogateescape", newline="") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
            raise ManifestError("not a regular file", path=path)
        return f.read(), st


def read_symvers(path: str | os.PathLike[str]) -> Symvers:
    """Read and parse the Module.symvers at ``path``.

    Raises:
        ManifestError: the file cannot be read, is not a regular file, or has no row at
            all (:func:`has_rows`).
    """
    path = os.fspath(path)
    try:
        text = read_text(path)[0]
    except OSError as e:
        raise ManifestError(f"cannot read Module.symvers: {e.strerror or e}", path=path) from e
    parsed = parse_symvers(text, path)
    if not has_rows(parsed):
        raise ManifestError(NOT_SYMVERS, path=path)
    return parsed
