"""The emulated heap's ownership index (kmodbuild.emulate.heap): what a module still holds
when it unloads is what the leak check reports."""
from __future__ import annotations

from kmodbuild.emulate.heap import Heap
from kmodbuild.kapi._kernel import Kernel
from kmodbuild.target import get_target


def make_heap() -> Heap:
    memory = bytearray(1 << 16)

    def read(address: int, size: int) -> bytes:
        return bytes(memory[address - 0x1000:address - 0x1000 + size])

    def write(address: int, data: bytes) -> None:
        memory[address - 0x1000:address - 0x1000 + len(data)] = data

    return Heap(0x1000, len(memory), read, write)


def test_owned_by_follows_alloc_free_and_hand_over() -> None:
    heap = make_heap()
    a = heap.alloc(32, "foo", "foo_init", zero=True)
    b = heap.alloc(16, "bar", "bar_init", zero=False)
    c = heap.alloc(8, "foo", "foo_attach", zero=True)
    assert [blk.address for blk in heap.owned_by("foo")] == [a, c]   # oldest first
    assert [blk.address for blk in heap.owned_by("bar")] == [b]
    assert heap.free(a, 32) is None
    assert [blk.address for blk in heap.owned_by("foo")] == [c]
    heap.set_owner(heap.blocks[c], "foo (leaked)")
    assert heap.owned_by("foo") == []
    assert [blk.owner for blk in heap.owned_by("foo (leaked)")] == ["foo (leaked)"]
    assert heap.free(c, 8) is None                  # a leaked block can still be freed
    assert heap.owned_by("foo (leaked)") == [] and heap.owned_by("nobody") == []
    d = heap.alloc(32, "foo", "foo_init", zero=True)     # first fit: a's place again
    assert d == a and [blk.address for blk in heap.owned_by("foo")] == [a]
    assert heap.free(b, 16) is None and heap.free(b, 16) == f"{b:#x} freed twice"
    assert heap.owned_by("bar") == []


def test_the_hooks_caller_is_worked_out_once_on_first_use_and_nests() -> None:
    heap = make_heap()
    k = Kernel(get_target("amd64"), None, heap, {}, lambda f, a: 0)  # type: ignore[arg-type]
    asked: list[str] = []

    def where(text: str) -> str:
        asked.append(text)
        return text

    assert k.caller == ""                           # no hook running
    k.caller_of = lambda: where("mod+0x10 (mod_modcmd+0x4)")
    outer = k.enter_hook()
    assert asked == []                              # nothing symbolized until asked
    block = heap.blocks[k.alloc(16)]
    assert block.caller == "mod+0x10 (mod_modcmd+0x4)" and k.caller == block.caller
    assert asked == ["mod+0x10 (mod_modcmd+0x4)"]   # once
    k.caller_of = lambda: where("mod+0x40 (mod_cb+0x8)")
    inner = k.enter_hook()                           # a hook inside a guest callback
    assert k.caller == "mod+0x40 (mod_cb+0x8)"
    k.leave_hook(inner)
    assert k.caller == "mod+0x10 (mod_modcmd+0x4)"   # the outer hook's, not worked out again
    k.leave_hook(outer)
    assert k.caller == "" and len(asked) == 2
