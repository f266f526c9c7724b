"""kmodbuild.emulate.heap - the emulated kernel's heap (``kmem``), with ownership tracking.

Blocks are 16-byte aligned and followed by a 16-byte red zone; each remembers
its owner (the module whose modcmd allocated it, or ``netbsd``), the calling
address and the modcmd.  ``free`` checks what a DIAGNOSTIC kernel's kmem
checks (unknown address, double free, wrong size, overwritten red zone) and
poisons freed memory with 0xdeadbeef so a use after free reads garbage.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kmodbuild.kobj import merge_free

ALIGN = 16
REDZONE = 16
_RED = b"\xbb" * REDZONE
_POISON = bytes.fromhex("deadbeef")


@dataclass
class Block:
    """One allocation."""

    address: int
    size: int
    owner: str
    caller: str
    command: str = ""


class Heap:
    """A first-fit allocator over ``[base, base + size)`` of guest memory.

    ``read``/``write`` access the guest memory; ``command`` names the running
    modcmd (recorded on each block).
    """

    def __init__(self, base: int, size: int, read: Callable[[int, int], bytes],
                 write: Callable[[int, bytes], None]) -> None:
        self.base = base
        self.size = size
        self._read = read
        self._write = write
        self.blocks: dict[int, Block] = {}
        self._owned: dict[str, dict[int, Block]] = {}     # owner -> its blocks (owned_by)
        self._free: list[tuple[int, int]] = [(base, size)]
        self.freed: set[int] = set()
        self.command = ""

    def alloc(self, size: int, owner: str, caller: str, zero: bool) -> int:
        """A new block of ``size`` bytes (0 when the heap is exhausted)."""
        need = (size + REDZONE + ALIGN - 1) & ~(ALIGN - 1)
        for i, (addr, length) in enumerate(self._free):
            if length < need:
                continue
            if length == need:
                del self._free[i]
            else:
                self._free[i] = (addr + need, length - need)
            block = self.blocks[addr] = Block(addr, size, owner, caller, self.command)
            self._owned.setdefault(owner, {})[addr] = block
            self.freed.discard(addr)
            fill = bytes(size) if zero else (b"\xa5" * size)
            self._write(addr, fill + _RED + bytes(need - size - REDZONE))
            return addr
        return 0

    def free(self, address: int, size: int) -> str | None:
        """Release a block; returns what is wrong (a panic message) or None."""
        block = self.blocks.get(address)
        if block is None:
            if address in self.freed:
                return f"{address:#x} freed twice"
            return f"{address:#x} was not allocated by kmem"
        if block.size != size:
            return (f"{address:#x} freed with size {size}, allocated with {block.size} "
                    f"by {block.caller or block.owner}")
        if self._read(address + size, REDZONE) != _RED:
            return (f"{address:#x}: red zone overwritten (buffer overflow past {size} bytes "
                    f"allocated by {block.caller or block.owner})")
        del self.blocks[address]
        self._owned.get(block.owner, {}).pop(address, None)
        self.freed.add(address)
        span = self._span(size)
        self._write(address, (_POISON * (span // 4 + 1))[:span])
        self._release(address, span)
        return None

    @staticmethod
    def _span(size: int) -> int:
        return (size + REDZONE + ALIGN - 1) & ~(ALIGN - 1)

    def _release(self, address: int, span: int) -> None:
        self._free = merge_free([*self._free, (address, span)])

    def owned_by(self, owner: str) -> list[Block]:
        """Blocks still held by ``owner``, oldest first."""
        return sorted(self._owned.get(owner, {}).values(), key=lambda b: b.address)

    def set_owner(self, block: Block, owner: str) -> None:
        """Hand ``block`` to ``owner`` (a leak is kept as ``NAME (leaked)``)."""
        self._owned.get(block.owner, {}).pop(block.address, None)
        block.owner = owner
        self._owned.setdefault(owner, {})[block.address] = block

    def contains(self, address: int) -> bool:
        """True when ``address`` lies in the heap."""
        return self.base <= address < self.base + self.size
