"""The canonical form, hashes and comparisons of kmodbuild.abi, on hand-made DIE records."""
from __future__ import annotations

import pytest

from kmodbuild import abi
from kmodbuild.elf import DebugInfo, DebugInfoEntry


class Dwarf:
    """Builds DebugInfo records: ``add(tag, name, children, **attrs)`` returns the offset."""

    def __init__(self) -> None:
        self.dies: dict[int, DebugInfoEntry] = {}
        self.top: list[int] = []

    def add(self, tag: str, name: str | None = None, children: tuple[int, ...] = (),
            top: bool = True, **attrs: object) -> int:
        off = len(self.dies) * 10 + 10
        self.dies[off] = DebugInfoEntry("DW_TAG_" + tag, name,
                                        {"DW_AT_" + k: v for k, v in attrs.items()}, children)
        if top:
            self.top.append(off)
        return off

    def child(self, tag: str, name: str | None = None, **attrs: object) -> int:
        return self.add(tag, name, top=False, **attrs)

    def base(self, name: str, enc: int, size: int) -> int:
        return self.add("base_type", name, encoding=enc, byte_size=size)

    def struct(self, name: str | None, size: int, members: list[tuple[str, int, int]],
               tag: str = "structure_type", **attrs: object) -> int:
        kids = tuple(self.child("member", n, type=t, data_member_location=o)
                     for n, t, o in members)
        return self.add(tag, name, kids, byte_size=size, **attrs)

    def func(self, name: str, ret: int | None, params: list[int], variadic: bool = False,
             **attrs: object) -> int:
        kids = [self.child("formal_parameter", type=p) for p in params]
        if variadic:
            kids.append(self.child("unspecified_parameters"))
        extra = {"type": ret} if ret is not None else {}
        return self.add("subprogram", name, tuple(kids), external=True, prototyped=True,
                        **extra, **attrs)

    def info(self) -> DebugInfo:
        return DebugInfo("<test>", dict(self.dies), (tuple(self.top),), {})


INT, UINT, CHAR = 5, 7, 6


def list_types(d: Dwarf) -> tuple[int, int, int]:
    i32 = d.base("int", INT, 4)
    u64 = d.base("unsigned long", UINT, 8)
    ch = d.base("char", CHAR, 1)
    return i32, u64, ch


def node_kernel(member_order: tuple[str, str] = ("v", "next")) -> abi.AbiInfo:
    """``struct node { int v; struct node *next; }; int take(struct node *);``"""
    d = Dwarf()
    i32, _, _ = list_types(d)
    decl = d.add("structure_type", "node", declaration=True)
    ptr = d.add("pointer_type", type=decl)
    offsets = {"v": 0, "next": 8} if member_order == ("v", "next") else {"next": 0, "v": 8}
    types = {"v": i32, "next": ptr}
    d.struct("node", 16, [(n, types[n], offsets[n]) for n in member_order])
    d.func("take", i32, [ptr])
    return abi.abi_from_debug_info(d.info(), ["take"])


def test_self_referential_struct_is_expanded_once() -> None:
    info = node_kernel()
    assert info.types["struct node"].canonical() == "struct node{16|v@0:int32;next@8:*struct node}"
    take = info.symbols["take"]
    assert take.type == "fn(*struct node)->int32"
    assert take.decl == "int take(struct node *)"
    assert info.symbol_closure("take") == {"struct node"}
    assert len(take.hash) == 8 and int(take.hash, 16) >= 0


def test_hash_follows_layout_not_names() -> None:
    a, b = node_kernel(), node_kernel(("next", "v"))
    assert a.symbols["take"].hash != b.symbols["take"].hash
    diff = abi.compare(a, b, ["take"])
    assert [(x.subject, x.changes) for x in diff] == [
        ("struct node", ("member v moved from offset 0 to 8",
                         "member next moved from offset 8 to 0"))]
    assert diff[0].message() == ("struct node differs from the kernel's: member v moved from "
                                 "offset 0 to 8; member next moved from offset 8 to 0")
    assert abi.compare(a, node_kernel(), ["take"]) == []


def test_typedefs_are_transparent_and_name_anonymous_types() -> None:
    d = Dwarf()
    i32, u64, ch = list_types(d)
    size_t = d.add("typedef", "size_t", type=u64)
    anon = d.struct(None, 16, [("len", size_t, 0), ("flags", i32, 8)])
    d.add("typedef", "modinfo_t", type=anon)
    cptr = d.add("pointer_type", type=d.add("const_type", type=anon))
    const_int = d.add("const_type", type=i32)
    d.func("f", size_t, [size_t, const_int, cptr])
    info = abi.abi_from_debug_info(d.info(), ["f"])
    f = info.symbols["f"]
    # size_t is uint64; the top-level const of a parameter is not part of the type
    assert f.type == "fn(uint64,int32,*const struct modinfo_t)->uint64"
    assert f.decl == "size_t f(size_t, int, const modinfo_t *)"
    assert info.types["struct modinfo_t"].canonical() == \
        "struct modinfo_t{16|len@0:uint64;flags@8:int32}"


def test_base_types_by_encoding_and_size() -> None:
    d = Dwarf()
    names = [("long unsigned int", UINT, 8), ("unsigned long", UINT, 8), ("_Bool", 2, 1),
             ("double", 4, 8), ("signed char", 6, 1), ("unsigned char", 8, 1)]
    offs = [d.base(n, e, s) for n, e, s in names]
    d.func("g", None, offs)
    info = abi.abi_from_debug_info(d.info(), ["g"])
    assert info.symbols["g"].type == "fn(uint64,uint64,bool8,float64,schar8,uchar8)->void"


def test_arrays_functions_pointers_and_variadics() -> None:
    d = Dwarf()
    i32, u64, ch = list_types(d)
    arr = d.add("array_type", type=ch, children=(d.child("subrange_type", count=16),))
    mat = d.add("array_type", type=i32, children=(d.child("subrange_type", upper_bound=1),
                                                  d.child("subrange_type", upper_bound=2)))
    flex = d.add("array_type", type=ch, children=(d.child("subrange_type"),))
    fn = d.add("subroutine_type", type=i32, prototyped=True,
               children=(d.child("formal_parameter", type=i32),))
    fptr = d.add("pointer_type", type=fn)
    d.struct("s", 64, [("name", arr, 0), ("m", mat, 16), ("cb", fptr, 40), ("tail", flex, 48)])
    sp = d.add("pointer_type", type=d.add("structure_type", "s", declaration=True))
    d.func("printf_like", i32, [sp], variadic=True)
    d.func("noargs", None, [])
    info = abi.abi_from_debug_info(d.info(), ["printf_like", "noargs"])
    assert info.types["struct s"].canonical() == (
        "struct s{64|name@0:schar8[16];m@16:int32[2][3];cb@40:*fn(int32)->int32;"
        "tail@48:schar8[]}")
    members = {m.name: m.decl for m in info.types["struct s"].members}
    assert members == {"name": "char[16]", "m": "int[2][3]", "cb": "int (*)(int)",
                       "tail": "char[]"}
    assert info.symbols["printf_like"].type == "fn(*struct s,...)->int32"
    assert info.symbols["printf_like"].decl == "int printf_like(struct s *, ...)"
    assert info.symbols["noargs"].type == "fn(void)->void"


@pytest.mark.parametrize("little_endian", [True, False])
def test_bitfields_dwarf2_and_dwarf4_agree(little_endian: bool) -> None:
    """Bit positions are absolute whatever the producer's encoding and byte order."""
    def build(dwarf4: bool) -> abi.AbiInfo:
        d = Dwarf()
        u32 = d.base("unsigned int", UINT, 4)
        if dwarf4:
            kids = (d.child("member", "a", type=u32, data_bit_offset=0, bit_size=3),
                    d.child("member", "b", type=u32, data_bit_offset=3, bit_size=5))
        else:
            # DWARF 2: bit_offset counts from the storage unit's most significant bit
            def old(pos: int, width: int) -> int:
                return 32 - pos - width if little_endian else pos
            kids = (d.child("member", "a", type=u32, data_member_location=0, byte_size=4,
                            bit_offset=old(0, 3), bit_size=3),
                    d.child("member", "b", type=u32, data_member_location=0, byte_size=4,
                            bit_offset=old(3, 5), bit_size=5))
        st = d.add("structure_type", "bf", kids, byte_size=4)
        d.func("h", None, [d.add("pointer_type", type=st)])
        return abi.abi_from_debug_info(d.info(), ["h"], little_endian=little_endian)
    new, old = build(True), build(False)
    assert new.types["struct bf"].canonical() == "struct bf{4|a@b0/3:uint32;b@b3/5:uint32}"
    assert old.types["struct bf"].canonical() == new.types["struct bf"].canonical()


def test_enums_opaque_and_private_types() -> None:
    d = Dwarf()
    i32, _, _ = list_types(d)
    e1 = d.child("enumerator", "UIO_READ", const_value=0)
    e2 = d.child("enumerator", "UIO_WRITE", const_value=1)
    en = d.add("enumeration_type", "uio_rw", (e1, e2), byte_size=4)
    opaque = d.add("pointer_type", type=d.add("structure_type", "vnode", declaration=True))
    # defined, but in a .c file: no module can see it, so it is opaque too
    priv_decl = d.add("structure_type", "kauth_cred", declaration=True)
    d.struct("kauth_cred", 8, [("uid", i32, 0)], decl_file="sys/kern/kern_auth.c")
    d.func("io", i32, [en, opaque, d.add("pointer_type", type=priv_decl)])
    info = abi.abi_from_debug_info(d.info(), ["io"])
    assert info.types["enum uio_rw"].canonical() == "enum uio_rw{4|UIO_READ=0,UIO_WRITE=1}"
    assert info.types["struct vnode"].opaque
    assert info.types["struct kauth_cred"].canonical() == "struct kauth_cred{?}"


def test_objects_and_symbol_lookup_prefers_external_definitions() -> None:
    d = Dwarf()
    i32, _, _ = list_types(d)
    d.add("variable", "hz", type=i32, declaration=True, external=True)
    d.add("variable", "hz", type=i32, external=True)
    d.add("variable", "version", type=d.add("array_type", type=i32, children=(
        d.child("subrange_type", count=3),)), external=True)
    info = abi.abi_from_debug_info(d.info())         # every external symbol
    assert set(info.symbols) == {"hz", "version"}
    assert (info.symbols["hz"].type, info.symbols["hz"].size) == ("int32", 4)
    assert info.symbols["hz"].decl == "int hz"
    assert (info.symbols["version"].type, info.symbols["version"].size) == ("int32[3]", 12)


def test_probe_variables_give_the_declared_types() -> None:
    d = Dwarf()
    i32, _, _ = list_types(d)
    fn = d.add("subroutine_type", type=i32, prototyped=True,
               children=(d.child("formal_parameter", type=i32),))
    d.add("variable", abi.PROBE_PREFIX + "f", type=d.add("pointer_type", type=fn))
    d.add("variable", abi.PROBE_PREFIX + "hz", type=d.add("pointer_type", type=i32))
    info = abi.abi_from_debug_info(d.info(), ["f", "hz"], probe_prefix=abi.PROBE_PREFIX)
    assert info.symbols["f"].kind == "func" and info.symbols["f"].type == "fn(int32)->int32"
    assert info.symbols["f"].decl == "int f(int)"
    assert info.symbols["hz"].kind == "object" and info.symbols["hz"].type == "int32"


def T(members: list[tuple[str, int, str]], size: int = 16, kind: str = "struct") -> abi.TypeDesc:
    return abi.TypeDesc("struct t", kind, size, False,
                        tuple(abi.Member(n, o, None, t, t) for n, o, t in members))


@pytest.mark.parametrize("old,new,changes", [
    (T([("a", 0, "int32")]), T([("a", 4, "int32")]), ["member a moved from offset 0 to 4"]),
    (T([("a", 0, "int32")]), T([("a", 0, "int64")]),
     ["member a changed type from int32 to int64"]),
    (T([("a", 0, "int32")]), T([("a", 0, "int32"), ("b", 8, "int32")]),
     ["member b added at offset 8"]),
    (T([("a", 0, "int32"), ("b", 8, "int32")]), T([("a", 0, "int32")]), ["member b removed"]),
    (T([("a", 0, "int32")]), T([("a", 0, "int32")], size=24),
     ["size changed from 16 to 24 bytes"]),
    (T([("a", 0, "int32")]), T([("a", 0, "int32")], kind="union"),
     ["changed from struct to union"]),
    (abi.TypeDesc("enum e", "enum", 4, enumerators=(("A", 0), ("B", 1))),
     abi.TypeDesc("enum e", "enum", 4, enumerators=(("A", 0), ("B", 2), ("C", 3))),
     ["enumerator B changed value from 1 to 2", "enumerator C added (value 3)"]),
    (T([("a", 0, "int32")]), abi.TypeDesc("struct t", "struct", opaque=True),
     ["definition removed (now opaque)"]),
])
def test_diff_types(old: abi.TypeDesc, new: abi.TypeDesc, changes: list[str]) -> None:
    assert abi.diff_types(old, new) == changes


def test_many_changes_are_counted() -> None:
    old = T([(f"m{i}", i * 4, "int32") for i in range(12)], size=48)
    new = T([(f"m{i}", i * 4 + 4, "int32") for i in range(12)], size=52)
    got = abi.diff_types(old, new)
    assert len(got) == abi.MAX_CHANGES + 1 and got[-1] == "and 5 more changes"


def test_compare_skips_opaque_and_groups_by_type() -> None:
    kernel = node_kernel(("next", "v"))
    module = node_kernel()
    # a module that saw only a declaration cannot depend on the layout
    opaque = abi.AbiInfo(dict(module.symbols), {"struct node": abi.TypeDesc(
        "struct node", "struct", opaque=True)})
    assert abi.compare(opaque, kernel, ["take"]) == []
    assert abi.compare(opaque, kernel, ["take"], ignore_opaque=False)[0].changes == (
        "now defined",)
    # the same change reached through two symbols is one difference
    two = abi.AbiInfo({**kernel.symbols, "take2": kernel.symbols["take"]}, kernel.types)
    mod2 = abi.AbiInfo({**module.symbols, "take2": module.symbols["take"]}, module.types)
    diffs = abi.compare(mod2, two, ["take", "take2"])
    assert len(diffs) == 1 and diffs[0].symbols == ("take", "take2")
    diags = abi.check_module_abi("x.kmod", mod2, two, ["take", "take2"])
    assert [d.render() for d in diags] == [
        "x.kmod: struct node differs from the kernel's: member v moved from offset 0 to 8; "
        "member next moved from offset 8 to 0 (used through take, take2; rebuild the module "
        "against this kernel)"]


def test_prototype_differences() -> None:
    old = abi.SymbolAbi("f", "func", "fn(int32)->int32", "int f(int)", None, (("int32", "int"),),
                        ("int32", "int"))
    new = abi.SymbolAbi("f", "func", "fn(int32,*void)->int64", "long f(int, void *)", None,
                        (("int32", "int"), ("*void", "void *")), ("int64", "long"))
    d = abi.diff_symbol(old, new)
    assert d is not None and d.message() == (
        "prototype of f differs from the kernel's: int f(int) changed to long f(int, void *) "
        "(return type changed from int to long, parameter 2 (void *) added)")
    obj = abi.diff_symbol(abi.SymbolAbi("hz", "object", "int32", "int hz", 4),
                          abi.SymbolAbi("hz", "object", "int64", "long hz", 8))
    assert obj is not None and obj.message() == (
        "type of hz differs from the kernel's: int changed to long, size 4 to 8 bytes")
    kind = abi.diff_symbol(old, abi.SymbolAbi("f", "object", "int32", "int f", 4))
    assert kind is not None and kind.changes == ("was a function, now an object",)


def test_closure_handles_cycles() -> None:
    t = {k: abi.TypeDesc(k, "struct", 8, refs=r) for k, r in {
        "struct a": ("struct b",), "struct b": ("struct a", "struct c"), "struct c": (),
        "struct d": ("struct a",)}.items()}
    info = abi.AbiInfo({}, t)
    assert info.closure(["struct d"]) == {"struct a", "struct b", "struct c", "struct d"}
    assert info.closure(["struct a"]) == {"struct a", "struct b", "struct c"}
    assert info.closure(["struct c"]) == {"struct c"}
    assert info.closure(["struct x"]) == {"struct x"}     # unknown keys reach themselves


def test_json_round_trip_and_errors() -> None:
    info = node_kernel()
    for compact in (False, True):
        back = abi.parse_abi(info.render(compact=compact))
        assert back.symbols == info.symbols and back.types == info.types
    with pytest.raises(abi.AbiError, match="not a kmodbuild ABI description"):
        abi.parse_abi("{}", "x.abi")
    with pytest.raises(abi.AbiError, match="not a kmodbuild ABI description"):
        abi.parse_abi("not json", "x.abi")
    doc = info.to_json()
    doc["version"] = 99
    with pytest.raises(abi.AbiError, match="version 99"):
        abi.parse_abi(__import__("json").dumps(doc), "x.abi")
    doc["version"] = 1
    doc["symbols"]["take"] = {"kind": "func"}
    with pytest.raises(abi.AbiError, match="malformed ABI description"):
        abi.parse_abi(__import__("json").dumps(doc), "x.abi")
    # found by fuzzing: both escaped parse_abi as a traceback from kmodbuild check (a
    # .kmodbuild.abi section of a .kmod.debug, or the kernel's netbsd.abi)
    with pytest.raises(abi.AbiError, match="not a kmodbuild ABI description"):
        abi.parse_abi("[" * 100_000, "x.abi")                     # RecursionError
    doc["symbols"].pop("take")
    doc["types"]["struct inf"] = {"kind": "struct", "size": 0}
    text = __import__("json").dumps(doc).replace('"size": 0', '"size": 1e400')
    with pytest.raises(abi.AbiError, match="malformed ABI description .OverflowError"):
        abi.parse_abi(text, "x.abi")
    assert abi.sidecar_path("k/netbsd.syms") == "k/netbsd.abi"
    assert abi.sidecar_path("k/kernel.manifest") == "k/kernel.manifest.abi"


def test_types_that_contain_themselves_stay_small() -> None:
    """Only a damaged file has a type that contains itself other than through a named
    aggregate (found by fuzzing: one byte of ``.debug_str`` cleared took a struct's name,
    and each level of its expansion held the next one's text twice: MemoryError, or
    gigabytes, from ``kmodbuild check``).  The cycle is cut where it closes."""
    from tests.fuzz.fuzzlib import limits
    d = Dwarf()
    # an anonymous struct whose two members point to itself
    d.dies[100] = DebugInfoEntry("DW_TAG_structure_type", None, {"DW_AT_byte_size": 16},
                                 (110, 120))
    for off, name, at in ((110, "a", 0), (120, "b", 8)):
        d.dies[off] = DebugInfoEntry("DW_TAG_member", name, {
            "DW_AT_type": 130, "DW_AT_data_member_location": at}, ())
    d.dies[130] = DebugInfoEntry("DW_TAG_pointer_type", None, {"DW_AT_type": 100}, ())
    d.dies[140] = DebugInfoEntry("DW_TAG_variable", "v", {"DW_AT_type": 100}, ())
    # a function type whose three parameters point to itself
    d.dies[200] = DebugInfoEntry("DW_TAG_subroutine_type", None, {"DW_AT_prototyped": True},
                                 (210, 220, 230))
    for off in (210, 220, 230):
        d.dies[off] = DebugInfoEntry("DW_TAG_formal_parameter", None, {"DW_AT_type": 240}, ())
    d.dies[240] = DebugInfoEntry("DW_TAG_pointer_type", None, {"DW_AT_type": 200}, ())
    d.dies[250] = DebugInfoEntry("DW_TAG_variable", "fp", {"DW_AT_type": 240}, ())
    info = DebugInfo("<test>", d.dies, ((100, 140, 200, 250),), {})
    with limits(20.0, 512 << 20):
        got = abi.abi_from_debug_info(info, ["v", "fp"])
    v, fp = got.symbols["v"], got.symbols["fp"]
    assert v.type == "struct{16|a@0:*<cycle>;b@8:*<cycle>}", v.type
    assert fp.type == "*fn(<cycle>,<cycle>,<cycle>)->void", fp.type
    assert len(v.decl) < 200 and len(fp.decl) < 200, (v.decl, fp.decl)


def test_attribute_of_a_form_its_meaning_does_not_allow() -> None:
    """A damaged abbreviation (DW_FORM_data1 turned into DW_FORM_block1) gives an enum a
    DW_AT_byte_size that is a block: found by fuzzing, a TypeError traceback from
    ``kmodbuild check``; now a ModuleFormatError naming the file (the check warns)."""
    d = Dwarf()
    d.add("enumeration_type", "state", (d.child("enumerator", "IDLE", const_value=0),),
          byte_size=(4,))
    from kmodbuild.errors import ModuleFormatError
    with pytest.raises(ModuleFormatError, match=r"^<test>: malformed DWARF debug information "
                                                r"\(TypeError: "):
        abi.abi_from_debug_info(d.info(), [], all_types=True)
