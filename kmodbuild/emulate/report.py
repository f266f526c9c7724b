"""kmodbuild.emulate.report - fault reports and addresses a developer can act on.

A :class:`Report` is one problem found while a modcmd ran (a fault that
stopped it, a ``panic()``, a call to a kernel function without a hook, an
endless loop) or when it finished (a leak, a registration left behind).
:class:`Symbolizer` turns an address into ``module+offset (symbol+offset)``:
the offset from the module's text (modstat's ADDR) or ``module:data+offset``
for its other regions, ``netbsd+offset (printf+0x0)`` for the kernel.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from kmodbuild.model import SHN_UNDEF, STT_FILE, STT_SECTION

#: what each kind of report says, before the details
KIND_TEXT = {
    "read-unmapped": "read from unmapped address", "write-unmapped": "write to unmapped address",
    "fetch-unmapped": "jump to unmapped address", "write-protected": "write to read-only address",
    "read-protected": "read from unreadable address",
    "fetch-protected": "execution of non-executable address",
    "invalid-instruction": "invalid instruction", "exception": "CPU exception",
    "unaligned": "unaligned access", "trap": "trap", "unhooked-call": "call to kernel function",
    "budget": "instruction budget exceeded", "panic": "panic", "kernel-fault": "kernel fault",
    "window": "register window", "leak": "memory leak", "dangling": "still registered",
    "nested": "modcmds nested too deeply", "lock": "lock held on return",
}
#: kinds that do not stop the modcmd: found after it returned
NONFATAL = frozenset({"leak", "dangling", "lock"})


@dataclass(frozen=True)
class Report:
    """One problem: ``kind`` (see :data:`KIND_TEXT`), in ``module``'s ``command``
    (``INIT``...), ``message`` (the one-line text), the program counter ``pc`` and its
    ``where`` text, and the data ``address`` involved (if any)."""

    kind: str
    module: str
    command: str
    message: str
    pc: int = 0
    where: str = ""
    address: int | None = None

    @property
    def fatal(self) -> bool:
        """True when the report stopped the modcmd (the kernel would have panicked)."""
        return self.kind not in NONFATAL

    def __str__(self) -> str:
        return self.message


@dataclass
class _Image:
    name: str
    start: int
    end: int
    base: int
    region: str
    addrs: list[int] | None         # None: not sorted out yet (Symbolizer._fill)
    names: list[str] | None


class Symbolizer:
    """Address -> ``module+offset (symbol+offset)`` over the kernel and mapped modules."""

    def __init__(self) -> None:
        self._images: dict[str, list[_Image]] = {}      # by name, in the order added
        # a bisect index: starts and images sorted by start, kept as images come and go
        # (a tree of 500 modules made a linear scan per hook call cost O(N^2)); images
        # that overlap (never seen in practice) switch it off in favour of the scan
        self._starts: list[int] = []
        self._by_start: list[_Image] = []
        self._overlap = False
        # module name -> (symbol values, symbols) not yet sorted into its images
        self._lazy: dict[str, tuple[list[int], list[Any]]] = {}

    def add_kernel(self, base: int, end: int, symbols: dict[str, int]) -> None:
        """The kernel image: ``symbols`` name -> address."""
        pairs = sorted((a, n) for n, a in symbols.items())
        self._add(_Image("netbsd", base, end, base, "text", [a for a, _ in pairs],
                         [n for _, n in pairs]))

    def add_module(self, name: str, kobj: object) -> None:
        """A loaded module (a :class:`~kmodbuild.kobj.Kobj`).

        Its regions are indexed now; its symbols are sorted out the first time
        an address in it is named (:meth:`symbol`): most modules run without a
        fault and are never named (sorting them was 13% of a validation's sync time).
        """
        self.remove_module(name)
        regions = getattr(kobj, "regions", {})
        text = regions.get("text")
        base = text.base if text is not None else 0
        for kind, reg in regions.items():
            self._add(_Image(name, reg.base, reg.base + reg.alloc,
                             base if kind == "text" else reg.base, kind, None, None))
        # the final symbol values (linking is done when a module is synced) and symbols
        self._lazy[name] = (kobj.symvalue, getattr(kobj, "module").symbols)  # type: ignore

    def _fill(self, name: str) -> None:
        """Sort out the symbols of module ``name``'s images (see :meth:`add_module`)."""
        symvalue, symbols = self._lazy.pop(name)
        pairs = sorted((symvalue[i], s.name) for i, s in enumerate(symbols)
                       if s.name and s.shndx != SHN_UNDEF and s.type not in (STT_SECTION, STT_FILE)
                       and not s.name.startswith(("$", ".L", "__link_set_")))
        for img in self._images[name]:
            inside = [(a, n) for a, n in pairs if img.start <= a < img.end]
            img.addrs, img.names = [a for a, _ in inside], [n for _, n in inside]

    def _add(self, img: _Image) -> None:
        self._images.setdefault(img.name, []).append(img)
        k = bisect.bisect_right(self._starts, img.start)
        if (k > 0 and self._by_start[k - 1].end > img.start) or \
                (k < len(self._starts) and img.end > self._starts[k]):
            self._overlap = True
        self._starts.insert(k, img.start)
        self._by_start.insert(k, img)

    def remove_module(self, name: str) -> None:
        """Forget a module's regions."""
        self._lazy.pop(name, None)
        gone = self._images.pop(name, None)
        if not gone:
            return
        for img in gone:
            k = bisect.bisect_left(self._starts, img.start)
            while self._by_start[k] is not img:
                k += 1
            del self._starts[k]
            del self._by_start[k]
        if self._overlap:
            self._overlap = any(a.end > b.start
                                for a, b in zip(self._by_start, self._by_start[1:]))

    def owner(self, address: int) -> str | None:
        """Name of the module (or ``netbsd``) whose image holds ``address``."""
        img = self._find(address)
        return img.name if img is not None else None

    def _find(self, address: int) -> _Image | None:
        if not self._overlap:
            k = bisect.bisect_right(self._starts, address) - 1
            if k >= 0 and address < self._by_start[k].end:
                return self._by_start[k]
            return None
        for img in (i for images in self._images.values() for i in images):
            if img.start <= address < img.end:
                return img
        return None

    def symbol(self, address: int) -> str | None:
        """``symbol+0xoff`` for ``address``, or None."""
        img = self._find(address)
        if img is None:
            return None
        if img.addrs is None:
            self._fill(img.name)
        if not img.addrs or img.names is None:
            return None
        i = bisect.bisect_right(img.addrs, address) - 1
        if i < 0:
            return None
        return f"{img.names[i]}+{address - img.addrs[i]:#x}"

    def where(self, address: int) -> str:
        """``module+offset (symbol+offset)``, or the bare address."""
        img = self._find(address)
        if img is None:
            return f"{address:#x}"
        head = (f"{img.name}+{address - img.base:#x}" if img.region == "text"
                else f"{img.name}:{img.region}+{address - img.base:#x}")
        sym = self.symbol(address)
        return f"{head} ({sym})" if sym else head
