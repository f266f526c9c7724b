"""kmodbuild.abi - ABI descriptions from DWARF: canonical type expansion, hashes, comparison.

In the spirit of Linux's genksyms CRCs, but computed from debug information
instead of preprocessed source: every exported function's prototype (return
and parameter types) and every struct, union and enum it reaches -- through
pointers too -- are expanded into a canonical, compiler-independent text and
hashed.  docs/abi.md is the reference; in short:

* base types are written by DWARF encoding and size (``int32``, ``uint64``,
  ``schar8``, ``bool8``, ``float64``), never by their compiler-specific names;
* typedefs are transparent (``size_t`` is ``uint64`` on LP64): renaming a type
  does not change the ABI.  A typedef that names an anonymous struct, union or
  enum gives it its name (``typedef struct {...} modinfo_t`` is ``struct
  modinfo_t``);
* a named struct, union or enum is referenced by name (``*struct vfsops``) and
  described once, with its size, member names, offsets (bit positions for
  bit-fields) and member types, or enumerator values; anonymous ones are
  expanded in place; a struct without a definition anywhere is ``opaque``;
* a symbol's hash is the first 8 hex digits of the SHA-256 of its own type and
  the descriptions of every named type in its closure, sorted by name.

The module is pure: it takes the records :func:`kmodbuild.elf.read_debug_info`
extracts (anything shaped like :class:`~kmodbuild.elf.DebugInfo`) and returns
:class:`AbiInfo` values, their JSON (the ``netbsd.abi`` sidecar and the
``.kmodbuild.abi`` section of ``NAME.kmod.debug``) and, when two descriptions
differ, what changed: ``struct vfsops differs from the kernel's: member
vfs_name moved from offset 0 to 8``.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kmodbuild.diagnostics import ERROR, WARNING, Diagnostic
from kmodbuild.errors import KmodError, ModuleFormatError

if TYPE_CHECKING:
    from kmodbuild.elf import DebugInfo, DebugInfoEntry

#: ``format`` and ``version`` of the JSON documents (docs/abi.md).
ABI_FORMAT = "kmodbuild-abi"
ABI_VERSION = 1
#: How hashes are made (recorded in every document).
HASH_NAME = "sha256-8"
#: Prefix of the probe variables whose types give a module's view (kmodbuild.abiprobe).
PROBE_PREFIX = "__kmodabi_"
#: Rule ids of the diagnostics made here (docs/check.md, docs/abi.md).
RULE_MISMATCH = "abi-mismatch"
RULE_HASH = "abi-hash"
#: At most this many changes are spelt out per type; the rest are counted.
MAX_CHANGES = 8

# DW_ATE_* -> canonical base-type prefix (DWARF 5, section 5.1.1, table 5.2).
_ENCODINGS = {0x1: "addr", 0x2: "bool", 0x3: "cfloat", 0x4: "float", 0x5: "int",
              0x6: "schar", 0x7: "uint", 0x8: "uchar", 0x9: "ifloat", 0xa: "packed",
              0xb: "numstr", 0xc: "edited", 0xd: "sfixed", 0xe: "ufixed", 0xf: "dfloat",
              0x10: "utf"}
_AGGREGATES = {"DW_TAG_structure_type": "struct", "DW_TAG_class_type": "struct",
               "DW_TAG_union_type": "union", "DW_TAG_enumeration_type": "enum"}
_QUALIFIERS = {"DW_TAG_const_type": "const", "DW_TAG_volatile_type": "volatile",
               "DW_TAG_restrict_type": "restrict", "DW_TAG_atomic_type": "_Atomic"}
_FUNCTIONS = ("DW_TAG_subroutine_type", "DW_TAG_subprogram")
_DW_OP_plus_uconst = 0x23


class AbiError(KmodError):
    """An ABI description (``netbsd.abi`` or a ``.kmodbuild.abi`` section) cannot be read."""


# --------------------------------------------------------------------------- records

@dataclass(frozen=True)
class Member:
    """One struct or union member.

    ``offset`` is the byte offset; ``bits`` is ``(bit position from the start
    of the struct, width)`` for a bit-field, else ``None``.  ``type`` is the
    canonical reference, ``decl`` the C spelling used in messages.
    """

    name: str
    offset: int
    bits: tuple[int, int] | None
    type: str
    decl: str

    def canonical(self) -> str:
        """``name@offset:type`` (``name@bPOS/WIDTH:type`` for bit-fields)."""
        where = f"b{self.bits[0]}/{self.bits[1]}" if self.bits else str(self.offset)
        return f"{self.name}@{where}:{self.type}"


@dataclass(frozen=True)
class TypeDesc:
    """A named struct, union or enum: its expansion.

    ``key`` is ``struct vfsops``; ``kind`` ``struct``, ``union`` or ``enum``;
    ``opaque`` when no definition was seen (then ``size`` is ``None``).
    ``refs`` are the keys of the named types its members reference.
    """

    key: str
    kind: str
    size: int | None = None
    opaque: bool = False
    members: tuple[Member, ...] = ()
    enumerators: tuple[tuple[str, int], ...] = ()
    refs: tuple[str, ...] = ()

    def canonical(self) -> str:
        """The canonical text hashed for this type (docs/abi.md)."""
        if self.opaque:
            return f"{self.key}{{?}}"
        if self.kind == "enum":
            body = ",".join(f"{n}={v}" for n, v in self.enumerators)
        else:
            body = ";".join(m.canonical() for m in self.members)
        return f"{self.key}{{{self.size}|{body}}}"

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this type (docs/abi.md)."""
        if self.opaque:
            return {"kind": self.kind, "opaque": True}
        doc: dict[str, Any] = {"kind": self.kind, "size": self.size}
        if self.kind == "enum":
            doc["enumerators"] = [[n, v] for n, v in self.enumerators]
        else:
            doc["members"] = [[m.name, m.offset, list(m.bits) if m.bits else None, m.type,
                               m.decl] for m in self.members]
        if self.refs:
            doc["refs"] = list(self.refs)
        return doc

    @classmethod
    def from_json(cls, key: str, doc: Mapping[str, Any]) -> "TypeDesc":
        """Inverse of :meth:`to_json`."""
        if doc.get("opaque"):
            return cls(key, str(doc["kind"]), None, True)
        members = tuple(Member(str(m[0]), int(m[1]), (int(m[2][0]), int(m[2][1])) if m[2]
                               else None, str(m[3]), str(m[4]))
                        for m in doc.get("members", ()))
        enums = tuple((str(n), int(v)) for n, v in doc.get("enumerators", ()))
        return cls(key, str(doc["kind"]), int(doc["size"]), False, members, enums,
                   tuple(str(r) for r in doc.get("refs", ())))


@dataclass(frozen=True)
class SymbolAbi:
    """The ABI of one symbol: a function's prototype or an object's type.

    ``type`` is the canonical text (``fn(*struct vfsops)->int32`` or
    ``int32``); ``decl`` the C declaration for messages.  For functions,
    ``params`` and ``ret`` hold ``(canonical, C spelling)`` pairs.  ``size``
    is an object's size in bytes (``None`` when unknown or for functions).
    ``refs`` are the named types referenced directly; ``hash`` covers them
    and everything they reach.
    """

    name: str
    kind: str
    type: str
    decl: str
    size: int | None = None
    params: tuple[tuple[str, str], ...] = ()
    ret: tuple[str, str] | None = None
    variadic: bool = False
    refs: tuple[str, ...] = ()
    hash: str = ""

    def canonical(self) -> str:
        """``func:TYPE`` or ``object:TYPE`` (the symbol's name is not part of it)."""
        return f"{self.kind}:{self.type}"

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this symbol (docs/abi.md)."""
        doc: dict[str, Any] = {"kind": self.kind, "type": self.type, "decl": self.decl,
                               "hash": self.hash}
        if self.size is not None:
            doc["size"] = self.size
        if self.kind == "func":
            doc["params"] = [list(p) for p in self.params]
            doc["ret"] = list(self.ret) if self.ret else None
            if self.variadic:
                doc["variadic"] = True
        if self.refs:
            doc["refs"] = list(self.refs)
        return doc

    @classmethod
    def from_json(cls, name: str, doc: Mapping[str, Any]) -> "SymbolAbi":
        """Inverse of :meth:`to_json`."""
        ret = doc.get("ret")
        return cls(name, str(doc["kind"]), str(doc["type"]), str(doc.get("decl", "")),
                   int(doc["size"]) if doc.get("size") is not None else None,
                   tuple((str(a), str(b)) for a, b in doc.get("params", ())),
                   (str(ret[0]), str(ret[1])) if ret else None, bool(doc.get("variadic")),
                   tuple(str(r) for r in doc.get("refs", ())), str(doc.get("hash", "")))


@dataclass
class AbiInfo:
    """ABI descriptions of a set of symbols and of every named type they reach.

    ``meta`` holds free-form facts (``machine``, ``source``: ``kernel``,
    ``probe`` or ``dwarf``).  Closures are computed on demand and cached.
    """

    symbols: dict[str, SymbolAbi] = field(default_factory=dict)
    types: dict[str, TypeDesc] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    _closures: dict[str, frozenset[str]] = field(default_factory=dict, repr=False,
                                                 compare=False)

    def get_symbol(self, name: str) -> SymbolAbi | None:
        """The description of symbol ``name``, or ``None``."""
        return self.symbols.get(name)

    def closure(self, roots: Iterable[str]) -> frozenset[str]:
        """Keys of every named type reachable from the type keys ``roots``."""
        out: set[str] = set()
        for r in roots:
            out |= self._closure_of(r)
        return frozenset(out)

    def symbol_closure(self, name: str) -> frozenset[str]:
        """Keys of every named type symbol ``name`` reaches (empty if unknown)."""
        sym = self.symbols.get(name)
        return self.closure(sym.refs) if sym is not None else frozenset()

    def to_json(self) -> dict[str, Any]:
        """The JSON document (docs/abi.md), keys sorted."""
        return {"format": ABI_FORMAT, "version": ABI_VERSION, "hash": HASH_NAME,
                "meta": dict(sorted(self.meta.items())),
                "symbols": {n: self.symbols[n].to_json() for n in sorted(self.symbols)},
                "types": {k: self.types[k].to_json() for k in sorted(self.types)}}

    def render(self, compact: bool = False) -> str:
        """The JSON text (indented, one line per symbol or type unless ``compact``)."""
        if compact:
            return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        doc = self.to_json()
        lines = ["{", f' "format": {json.dumps(doc["format"])},',
                 f' "version": {doc["version"]},', f' "hash": {json.dumps(doc["hash"])},',
                 f' "meta": {json.dumps(doc["meta"], sort_keys=True)},']
        for part in ("symbols", "types"):
            items = doc[part]
            lines.append(f' "{part}": {{')
            rows = [f'  {json.dumps(k)}: {json.dumps(v, sort_keys=True)}' for k, v in items.items()]
            lines.append(",\n".join(rows))
            lines.append(" }," if part == "symbols" else " }")
        lines.append("}")
        return "\n".join(ln for ln in lines if ln) + "\n"

    # ---- PRIVATE -------------------------------------------------------

    def _closure_of(self, key: str) -> frozenset[str]:
        got = self._closures.get(key)
        if got is None:
            self._compute_closures(key)
            got = self._closures[key]
        return got

    def _compute_closures(self, start: str) -> None:
        """Tarjan's strongly connected components from ``start``; every component's
        closure is its members plus its successors' closures (memoised)."""
        types, memo = self.types, self._closures
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        counter = 0
        work: list[tuple[str, Iterator[str]]] = []

        def push(k: str) -> None:
            nonlocal counter
            index[k] = low[k] = counter
            counter += 1
            stack.append(k)
            on_stack.add(k)
            t = types.get(k)
            work.append((k, iter(t.refs if t is not None else ())))

        push(start)
        while work:
            k, it = work[-1]
            advanced = False
            for r in it:
                if r in memo:
                    continue
                if r not in index:
                    push(r)
                    advanced = True
                    break
                if r in on_stack:
                    low[k] = min(low[k], index[r])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[k])
            if low[k] == index[k]:
                comp: list[str] = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == k:
                        break
                reach: set[str] = set(comp)
                for m in comp:
                    t = types.get(m)
                    for r in (t.refs if t is not None else ()):
                        if r in memo:
                            reach |= memo[r]
                result = frozenset(reach)
                for m in comp:
                    memo[m] = result


def symbol_hash(sym: SymbolAbi, info: AbiInfo) -> str:
    """The ABI hash of ``sym``: first 8 hex digits of SHA-256 over its canonical
    text and the canonical texts of its type closure, sorted by key."""
    h = hashlib.sha256(sym.canonical().encode())
    for key in sorted(info.closure(sym.refs)):
        t = info.types.get(key)
        h.update(b"\n")
        h.update((t.canonical() if t is not None else f"{key}{{?}}").encode())
    return h.hexdigest()[:8]


def merge(infos: Iterable[AbiInfo]) -> AbiInfo:
    """One description holding every symbol and type of ``infos`` (first wins)."""
    out = AbiInfo()
    for info in infos:
        for n, s in info.symbols.items():
            out.symbols.setdefault(n, s)
        for k, t in info.types.items():
            cur = out.types.get(k)
            if cur is None or (cur.opaque and not t.opaque):
                out.types[k] = t
        for k, v in info.meta.items():
            out.meta.setdefault(k, v)
    return out


# --------------------------------------------------------------------------- JSON

def parse_abi(text: str | bytes, path: str = "<abi>") -> AbiInfo:
    """Parse an ABI JSON document.

    Raises:
        AbiError: not JSON, not a kmodbuild ABI document, or another version.
    """
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise AbiError(f"not a kmodbuild ABI description: {e}", path=path) from None
    except RecursionError:
        raise AbiError("not a kmodbuild ABI description: arrays or objects nested too deeply",
                       path=path) from None
    if not isinstance(doc, dict) or doc.get("format") != ABI_FORMAT:
        raise AbiError(f"not a kmodbuild ABI description (no \"format\": \"{ABI_FORMAT}\")",
                       path=path)
    version = doc.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        # "1" (or true, or 1.0) equals nothing this reader writes, yet prints like 1
        raise AbiError(f"ABI description version {json.dumps(version)} "
                       f"({_json_type(version)}): \"version\" must be the number "
                       f"{ABI_VERSION}", path=path, hint="regenerate it with this kmodbuild")
    if version != ABI_VERSION or doc.get("hash") != HASH_NAME:
        raise AbiError(f"ABI description version {doc.get('version')} ({doc.get('hash')}); "
                       f"this kmodbuild reads version {ABI_VERSION} ({HASH_NAME})", path=path,
                       hint="regenerate it with this kmodbuild")
    try:
        symbols = {str(n): SymbolAbi.from_json(str(n), d) for n, d in doc["symbols"].items()}
        types = {str(k): TypeDesc.from_json(str(k), d) for k, d in doc["types"].items()}
        meta = {str(k): str(v) for k, v in doc.get("meta", {}).items()}
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as e:
        # OverflowError: a size of 1e400 (infinity) made an int
        raise AbiError(f"malformed ABI description ({type(e).__name__}: {e})",
                       path=path) from None
    return AbiInfo(symbols, types, meta)


def _json_type(value: object) -> str:
    """``a string``, ``a boolean``, ... : what a JSON value is, for messages."""
    if isinstance(value, bool):
        return "a boolean"
    return {str: "a string", float: "a fractional number", list: "an array",
            dict: "an object"}.get(type(value), type(value).__name__)


def check_sidecar(info: AbiInfo, hashes: Mapping[str, str | None], path: str,
                  manifest: str) -> None:
    """Refuse a kernel description that was not made with the manifest it lies next to.

    The manifest's hash column (``hashes``: name -> hash or ``None``) and the
    description's per-symbol hashes come from one run (``kmodbuild manifest
    --abi``, the build): every hashed symbol of the one is described by the
    other, with the same hash.  A stale ``netbsd.abi`` -- an old kernel's
    next to a new manifest -- would otherwise describe the old types, and a
    module compiled against them would pass as compatible.

    Raises:
        AbiError: the first differing symbol (by name), naming ``path`` and
            ``manifest`` (the manifest's file name).
    """
    bad = [n for n, s in info.symbols.items() if (s.hash or None) != (hashes.get(n) or None)]
    bad += [n for n, h in hashes.items() if h and n not in info.symbols]
    if not bad:
        return
    name = min(bad)
    s = info.symbols.get(name)
    mine, theirs = (s.hash or None) if s is not None else None, hashes.get(name) or None
    if s is None:
        text = f"{name} is not described here, hash {theirs} in {manifest}"
    elif mine is None:
        text = f"{name} has no hash here, {theirs} in {manifest}"
    else:
        text = f"{name} has hash {mine} here, {theirs or 'none'} in {manifest}"
    raise AbiError(f"stale: {text}", path=path, symbol=name,
                   hint=f"it does not describe the kernel of {manifest}: write both again, "
                        "kmodbuild manifest KERNEL -o FILE.syms --abi FILE.abi")


def load_abi(path: object) -> AbiInfo:
    """Read and parse the ABI JSON file at ``path``.

    Raises:
        AbiError: unreadable or invalid.
    """
    spath = str(path)
    try:
        with open(spath, "rb") as f:
            data = f.read()
    except OSError as e:
        raise AbiError(f"cannot read ABI description: {e.strerror or e}", path=spath) from None
    return parse_abi(data, spath)


def sidecar_path(manifest_path: str) -> str:
    """Where the ABI sidecar of a manifest lives: ``netbsd.syms`` -> ``netbsd.abi``."""
    if manifest_path.endswith(".syms"):
        return manifest_path[:-5] + ".abi"
    return manifest_path + ".abi"


# --------------------------------------------------------------------------- DWARF -> AbiInfo

class _Expander:
    """Turns DIE records into canonical references and named type descriptions."""

    def __init__(self, info: "DebugInfo", little_endian: bool) -> None:
        self.dies: dict[int, DebugInfoEntry] = info.dies
        self.little_endian = little_endian
        self.typedef_names: dict[int, str] = {}
        self.complete: dict[str, int] = {}
        self.declared: dict[str, int] = {}
        self.types: dict[str, TypeDesc] = {}
        self._pending: list[tuple[str, int]] = []
        self._refs: dict[int, tuple[str, frozenset[str]]] = {}
        #: the DIEs being expanded by :meth:`ref` and spelled by :meth:`cdecl` (cycles)
        self._active: set[int] = set()
        self._spelling: set[int] = set()
        self._index()

    # ---- indexing ------------------------------------------------------

    def _index(self) -> None:
        dies = self.dies
        for off, e in dies.items():
            if e.tag == "DW_TAG_typedef" and e.name:
                t = e.attrs.get("DW_AT_type")
                te = dies.get(t) if t is not None else None
                if te is not None and te.tag in _AGGREGATES and not te.name:
                    self.typedef_names.setdefault(t, e.name)  # type: ignore[arg-type]
        for off, e in dies.items():
            if e.tag in _AGGREGATES:
                key = self.key_of(off)
                if key is None:
                    continue
                if e.attrs.get("DW_AT_declaration") or self.is_private(e):
                    self.declared.setdefault(key, off)
                else:
                    self.complete.setdefault(key, off)

    @staticmethod
    def is_private(e: "DebugInfoEntry") -> bool:
        """A type defined in a ``.c`` file: no module can see its layout (docs/abi.md)."""
        return str(e.attrs.get("DW_AT_decl_file") or "").endswith(".c")

    def key_of(self, off: int) -> str | None:
        """``struct NAME`` for a named (or typedef-named) aggregate DIE, else ``None``."""
        e = self.dies[off]
        kind = _AGGREGATES[e.tag]
        name = e.name or self.typedef_names.get(off)
        return f"{kind} {name}" if name else None

    # ---- canonical references -------------------------------------------

    def ref(self, off: int | None, depth: int = 0) -> tuple[str, frozenset[str]]:
        """``(canonical text, named type keys referenced)`` of the type at ``off``."""
        if off is None:
            return "void", frozenset()
        got = self._refs.get(off)
        if got is not None:
            return got
        if depth > 64 or off in self._active:
            # a type that contains itself other than through a named aggregate (only a
            # damaged file has one): without the check each level would hold the next
            # one's text twice or more -- exponential in the depth
            return "<cycle>", frozenset()
        e = self.dies.get(off)
        if e is None:
            return "?", frozenset()
        self._active.add(off)
        try:
            out = self._ref(e, off, depth + 1)
        finally:
            self._active.discard(off)
        self._refs[off] = out
        return out

    def _ref(self, e: "DebugInfoEntry", off: int, depth: int) -> tuple[str, frozenset[str]]:
        tag, attrs = e.tag, e.attrs
        if tag == "DW_TAG_base_type":
            enc = _ENCODINGS.get(attrs.get("DW_AT_encoding", 0), "enc?")
            return f"{enc}{8 * int(attrs.get('DW_AT_byte_size', 0))}", frozenset()
        if tag == "DW_TAG_pointer_type":
            t, refs = self.ref(attrs.get("DW_AT_type"), depth)
            return "*" + t, refs
        if tag in ("DW_TAG_reference_type", "DW_TAG_rvalue_reference_type"):
            t, refs = self.ref(attrs.get("DW_AT_type"), depth)
            return "&" + t, refs
        if tag in _QUALIFIERS:
            t, refs = self.ref(attrs.get("DW_AT_type"), depth)
            return f"{_QUALIFIERS[tag]} {t}", refs
        if tag == "DW_TAG_typedef":
            return self.ref(attrs.get("DW_AT_type"), depth)
        if tag in _AGGREGATES:
            key = self.key_of(off)
            if key is not None:
                self._want(key, off)
                return key, frozenset((key,))
            desc = self._describe(_AGGREGATES[tag], "", off, depth)
            return desc.canonical(), frozenset(desc.refs)
        if tag == "DW_TAG_array_type":
            t, refs = self.ref(attrs.get("DW_AT_type"), depth)
            return t + "".join(f"[{n if n is not None else ''}]"
                               for n in self._dims(e)), refs
        if tag in _FUNCTIONS:
            params, ret, variadic, prototyped = self.function_parts(off, depth)
            refs = frozenset().union(*(r for _, r in params), ret[1])
            plist = [p for p, _ in params] + (["..."] if variadic else [])
            if not plist and prototyped:
                plist = ["void"]
            return f"fn({','.join(plist)})->{ret[0]}", refs
        if tag == "DW_TAG_unspecified_type":
            return e.name or "unspecified", frozenset()
        return f"?{tag}", frozenset()

    def _dims(self, e: "DebugInfoEntry") -> list[int | None]:
        dims: list[int | None] = []
        for c in e.children:
            s = self.dies[c]
            if s.tag != "DW_TAG_subrange_type":
                continue
            count = s.attrs.get("DW_AT_count")
            if isinstance(count, int):
                dims.append(count)
                continue
            ub = s.attrs.get("DW_AT_upper_bound")
            lb = s.attrs.get("DW_AT_lower_bound", 0)
            dims.append(ub - lb + 1 if isinstance(ub, int) and isinstance(lb, int) else None)
        return dims or [None]

    def function_parts(self, off: int, depth: int = 0
                       ) -> tuple[list[tuple[str, frozenset[str]]], tuple[str, frozenset[str]],
                                  bool, bool]:
        """Parameters (top-level qualifiers dropped, as C does), return type,
        variadic and prototyped flags of a subprogram or subroutine type."""
        e = self._origin(off)
        params = []
        variadic = False
        for c in e.children:
            p = self.dies[c]
            if p.tag == "DW_TAG_formal_parameter":
                t = p.attrs.get("DW_AT_type")
                if t is None:
                    t = self._origin(c).attrs.get("DW_AT_type")
                params.append(self.ref(self.strip_qualifiers(t), depth))
            elif p.tag == "DW_TAG_unspecified_parameters":
                variadic = True
        ret = self.ref(e.attrs.get("DW_AT_type"), depth)
        return params, ret, variadic, bool(e.attrs.get("DW_AT_prototyped"))

    def _origin(self, off: int) -> "DebugInfoEntry":
        """The DIE carrying the declaration facts (follows abstract_origin/specification)."""
        e = self.dies[off]
        for _ in range(8):
            nxt = e.attrs.get("DW_AT_abstract_origin", e.attrs.get("DW_AT_specification"))
            if nxt is None or nxt not in self.dies:
                break
            e = self.dies[nxt]
        return e

    def strip_qualifiers(self, off: int | None) -> int | None:
        """Skip top-level const/volatile/restrict/_Atomic (not part of a parameter's type)."""
        for _ in range(16):
            if off is None:
                return None
            e = self.dies.get(off)
            if e is None or e.tag not in _QUALIFIERS:
                return off
            off = e.attrs.get("DW_AT_type")
        return off

    def byte_size(self, off: int | None) -> int | None:
        """``sizeof`` of the type at ``off`` (through typedefs and qualifiers)."""
        for _ in range(32):
            if off is None:
                return None
            e = self.dies.get(off)
            if e is None:
                return None
            if "DW_AT_byte_size" in e.attrs:
                return int(e.attrs["DW_AT_byte_size"])
            if e.tag == "DW_TAG_array_type":
                dims = self._dims(e)
                elem = self.byte_size(e.attrs.get("DW_AT_type"))
                if elem is None or any(d is None for d in dims):
                    return None
                n = elem
                for d in dims:
                    n *= d  # type: ignore[operator]
                return n
            if e.tag in _AGGREGATES and e.attrs.get("DW_AT_declaration"):
                key = self.key_of(off)
                full = self.complete.get(key) if key else None
                if full is None:
                    return None
                off = full
                continue
            if e.tag in ("DW_TAG_typedef", *_QUALIFIERS):
                off = e.attrs.get("DW_AT_type")
                continue
            return None
        return None

    # ---- named types -----------------------------------------------------

    def _want(self, key: str, off: int) -> None:
        if key not in self.types:
            self.types[key] = TypeDesc(key, key.split(" ", 1)[0], opaque=True)  # placeholder
            self._pending.append((key, off))

    def finish(self) -> None:
        """Describe every named type referenced so far (and what those reference)."""
        while self._pending:
            key, off = self._pending.pop()
            e = self.dies[off]
            if e.attrs.get("DW_AT_declaration") or self.is_private(e):
                off = self.complete.get(key, off)
                e = self.dies[off]
            if e.attrs.get("DW_AT_declaration") or self.is_private(e):
                self.types[key] = TypeDesc(key, _AGGREGATES[e.tag], opaque=True)
                continue
            self.types[key] = self._describe(_AGGREGATES[e.tag], key, off, 0)

    def add_all_named(self) -> None:
        """Describe every named type with a definition (a module's own DWARF)."""
        for key, off in self.complete.items():
            self._want(key, off)
        self.finish()

    def _describe(self, kind: str, key: str, off: int, depth: int) -> TypeDesc:
        e = self.dies[off]
        size = e.attrs.get("DW_AT_byte_size")
        if kind == "enum":
            enums = tuple((self.dies[c].name or "", int(self.dies[c].attrs.get(
                "DW_AT_const_value", 0))) for c in e.children
                if self.dies[c].tag == "DW_TAG_enumerator")
            return TypeDesc(key or "enum", "enum", int(size or 0), False, (), enums)
        members: list[Member] = []
        refs: set[str] = set()
        for c in e.children:
            m = self.dies[c]
            if m.tag != "DW_TAG_member":
                continue
            t = m.attrs.get("DW_AT_type")
            canon, r = self.ref(t, depth)
            refs |= r
            offset = _member_offset(m.attrs.get("DW_AT_data_member_location"))
            bits = self._bits(m, offset, t)
            members.append(Member(m.name or "", offset, bits, canon, self.cdecl(t)))
        return TypeDesc(key or kind, kind, int(size or 0), False, tuple(members), (),
                        tuple(sorted(refs)))

    def _bits(self, m: "DebugInfoEntry", offset: int, t: int | None) -> tuple[int, int] | None:
        width = m.attrs.get("DW_AT_bit_size")
        if not isinstance(width, int):
            return None
        if "DW_AT_data_bit_offset" in m.attrs:
            return int(m.attrs["DW_AT_data_bit_offset"]), width
        # DWARF 2/3: DW_AT_bit_offset counts from the storage unit's most significant bit.
        old = int(m.attrs.get("DW_AT_bit_offset", 0))
        storage = m.attrs.get("DW_AT_byte_size") or self.byte_size(t) or 0
        if self.little_endian:
            return offset * 8 + int(storage) * 8 - old - width, width
        return offset * 8 + old, width

    # ---- C spelling (messages only) ---------------------------------------

    def cdecl(self, off: int | None, inner: str = "", depth: int = 0) -> str:
        """The C spelling of the type at ``off`` declaring ``inner`` (for messages)."""
        if depth > 32:
            return "..."
        if off is None:
            return _join("void", inner)
        e = self.dies.get(off)
        if e is None:
            return _join("?", inner)
        if off in self._spelling:           # a damaged file's cycle (see ref())
            return _join("...", inner)
        self._spelling.add(off)
        try:
            return self._cdecl(e, off, inner, depth)
        finally:
            self._spelling.discard(off)

    def _cdecl(self, e: "DebugInfoEntry", off: int, inner: str, depth: int) -> str:
        tag = e.tag
        if tag in ("DW_TAG_base_type", "DW_TAG_typedef", "DW_TAG_unspecified_type"):
            return _join(e.name or "?", inner)
        if tag in _AGGREGATES:
            name = e.name
            if name:
                return _join(f"{_AGGREGATES[tag]} {name}", inner)
            td = self.typedef_names.get(off)
            return _join(td if td else f"{_AGGREGATES[tag]} {{...}}", inner)
        if tag == "DW_TAG_pointer_type":
            target = e.attrs.get("DW_AT_type")
            te = self.dies.get(target) if target is not None else None
            star = "*" + inner
            if te is not None and te.tag in ("DW_TAG_array_type", *_FUNCTIONS):
                star = f"({star})"
            return self.cdecl(target, star, depth + 1)
        if tag in _QUALIFIERS:
            target = e.attrs.get("DW_AT_type")
            te = self.dies.get(target) if target is not None else None
            q = _QUALIFIERS[tag]
            if te is not None and te.tag == "DW_TAG_pointer_type":
                return self.cdecl(target, _join(q, inner), depth + 1)
            return f"{q} {self.cdecl(target, inner, depth + 1)}"
        if tag == "DW_TAG_array_type":
            dims = "".join(f"[{n if n is not None else ''}]" for n in self._dims(e))
            return self.cdecl(e.attrs.get("DW_AT_type"), inner + dims, depth + 1)
        if tag in _FUNCTIONS:
            return self.cdecl(self._origin(off).attrs.get("DW_AT_type"),
                              f"{inner}({self.cparams(off, depth)})", depth + 1)
        return _join("?", inner)

    def cparams(self, off: int, depth: int = 0) -> str:
        """``struct mount *, int`` for a function DIE."""
        e = self._origin(off)
        out = []
        for c in e.children:
            p = self.dies[c]
            if p.tag == "DW_TAG_formal_parameter":
                t = p.attrs.get("DW_AT_type")
                if t is None:
                    t = self._origin(c).attrs.get("DW_AT_type")
                out.append(self.cdecl(self.strip_qualifiers(t), "", depth + 1))
            elif p.tag == "DW_TAG_unspecified_parameters":
                out.append("...")
        if not out and e.attrs.get("DW_AT_prototyped"):
            out.append("void")
        return ", ".join(out)

    # ---- symbols ---------------------------------------------------------

    def symbol(self, name: str, off: int, kind: str | None = None) -> SymbolAbi:
        """The ABI of symbol ``name`` whose declaration or definition is at ``off``
        (a subprogram, a variable, or -- in a probe -- a function or object type)."""
        e = self.dies[off]
        if e.tag in _FUNCTIONS or kind == "func":
            params, ret, variadic, prototyped = self.function_parts(off)
            plist = [p for p, _ in params] + (["..."] if variadic else [])
            if not plist and prototyped:
                plist = ["void"]
            canon = f"fn({','.join(plist)})->{ret[0]}"
            refs = frozenset().union(*(r for _, r in params), ret[1])
            origin = self._origin(off)
            cparams: list[tuple[str, str]] = []
            for (pc, _), c in zip(params, [c for c in origin.children
                                           if self.dies[c].tag == "DW_TAG_formal_parameter"]):
                t = self.dies[c].attrs.get("DW_AT_type")
                if t is None:
                    t = self._origin(c).attrs.get("DW_AT_type")
                cparams.append((pc, self.cdecl(self.strip_qualifiers(t))))
            rtype = origin.attrs.get("DW_AT_type")
            decl = self.cdecl(rtype, f"{name}({self.cparams(off)})")
            return SymbolAbi(name, "func", canon, decl, None, tuple(cparams),
                             (ret[0], self.cdecl(rtype)), variadic, tuple(sorted(refs)))
        t = e.attrs.get("DW_AT_type") if e.tag == "DW_TAG_variable" else off
        if e.tag == "DW_TAG_variable" and t is None:
            t = self._origin(off).attrs.get("DW_AT_type")
        canon, refs = self.ref(t)
        return SymbolAbi(name, "object", canon, self.cdecl(t, name), self.byte_size(t), (),
                         None, False, tuple(sorted(refs)))


def _join(base: str, inner: str) -> str:
    if not inner:
        return base
    if inner.startswith("["):
        return base + inner
    if base.endswith("*"):
        return base + inner
    return f"{base} {inner}"


def _member_offset(loc: object) -> int:
    if isinstance(loc, int):
        return loc
    if isinstance(loc, tuple) and loc and loc[0] == _DW_OP_plus_uconst:
        value = shift = 0
        for b in loc[1:]:
            value |= (int(b) & 0x7F) << shift
            shift += 7
            if not int(b) & 0x80:
                break
        return value
    return 0


def _symbol_index(info: "DebugInfo", ex: _Expander) -> dict[str, int]:
    """Top-level functions and variables by name: external definitions first,
    then other definitions, then declarations."""
    best: dict[str, tuple[int, int]] = {}
    dies = info.dies
    for unit in info.units:
        for off in unit:
            e = dies[off]
            if e.tag not in ("DW_TAG_subprogram", "DW_TAG_variable"):
                continue
            origin = ex._origin(off)
            name = e.name or origin.name
            if not name:
                continue
            external = bool(e.attrs.get("DW_AT_external") or origin.attrs.get("DW_AT_external"))
            decl = bool(e.attrs.get("DW_AT_declaration"))
            rank = (0 if external else 1) + (2 if decl else 0)
            cur = best.get(name)
            if cur is None or rank < cur[0]:
                best[name] = (rank, off)
    return {n: off for n, (_, off) in best.items()}


def abi_from_debug_info(info: "DebugInfo", names: Iterable[str] | None = None, *,
                        little_endian: bool = True, probe_prefix: str | None = None,
                        all_types: bool = False, meta: Mapping[str, str] | None = None
                        ) -> AbiInfo:
    """Describe symbols from DWARF records (:func:`kmodbuild.elf.read_debug_info`).

    Args:
        info: the DIE records of one file (a kernel, an object or a probe).
        names: the symbols to describe (``None``: every external function and
            variable found); names without a DIE are left out.
        little_endian: byte order of the file (for DWARF 2 bit-field offsets).
        probe_prefix: describe ``NAME`` from the variable ``PREFIX + NAME``,
            whose type points to ``NAME``'s type (kmodbuild.abiprobe).
        all_types: also describe every named type that has a definition (so
            a module's view can be compared type by type).
        meta: facts recorded in the result's ``meta``.

    Returns:
        The descriptions, every symbol hashed.

    Raises:
        ModuleFormatError: an attribute of a form its meaning does not allow (a
            ``DW_AT_byte_size`` that is a block, ...): only a damaged file has one.
    """
    try:
        return _abi_from_debug_info(info, names, little_endian, probe_prefix, all_types, meta)
    except (TypeError, ValueError, OverflowError, KeyError, IndexError, AttributeError) as e:
        raise ModuleFormatError(f"malformed DWARF debug information ({type(e).__name__}: "
                                f"{e})", path=getattr(info, "path", None)) from e


def _abi_from_debug_info(info: "DebugInfo", names: Iterable[str] | None,
                         little_endian: bool, probe_prefix: str | None, all_types: bool,
                         meta: Mapping[str, str] | None) -> AbiInfo:
    ex = _Expander(info, little_endian)
    symbols: dict[str, SymbolAbi] = {}
    if probe_prefix is not None:
        wanted_names = set(names) if names is not None else None
        for unit in info.units:
            for off in unit:
                e = info.dies[off]
                if e.tag != "DW_TAG_variable" or not e.name \
                        or not e.name.startswith(probe_prefix):
                    continue
                name = e.name[len(probe_prefix):]
                if wanted_names is not None and name not in wanted_names:
                    continue
                ptr = info.dies.get(e.attrs.get("DW_AT_type", -1))
                if ptr is None or ptr.tag != "DW_TAG_pointer_type":
                    continue
                target = ptr.attrs.get("DW_AT_type")
                if target is None:
                    continue
                resolved = target
                for _ in range(16):
                    te = info.dies.get(resolved)
                    if te is None or te.tag != "DW_TAG_typedef" \
                            or te.attrs.get("DW_AT_type") is None:
                        break
                    resolved = te.attrs["DW_AT_type"]
                if te is not None and te.tag in _FUNCTIONS:
                    symbols[name] = ex.symbol(name, resolved, "func")
                else:
                    symbols[name] = ex.symbol(name, target, "object")
    else:
        index = _symbol_index(info, ex)
        wanted = index if names is None else {n: index[n] for n in names if n in index}
        if names is None:
            wanted = {n: o for n, o in wanted.items()
                      if ex._origin(o).attrs.get("DW_AT_external")
                      or info.dies[o].attrs.get("DW_AT_external")}
        for name, off in wanted.items():
            symbols[name] = ex.symbol(name, off)
    ex.finish()
    if all_types:
        ex.add_all_named()
    result = AbiInfo(symbols, dict(ex.types), dict(meta or {}))
    for name, sym in list(symbols.items()):
        symbols[name] = _with_hash(sym, result)
    return result


def _with_hash(sym: SymbolAbi, info: AbiInfo) -> SymbolAbi:
    return SymbolAbi(sym.name, sym.kind, sym.type, sym.decl, sym.size, sym.params, sym.ret,
                     sym.variadic, sym.refs, symbol_hash(sym, info))


# --------------------------------------------------------------------------- comparison

@dataclass(frozen=True)
class AbiDifference:
    """One thing that differs between two views of the ABI.

    ``subject``: ``struct vfsops``, ``prototype of vfs_attach`` or ``type of
    hz``; ``changes``: what changed, old to new (``member vfs_name moved
    from offset 0 to 8``); ``symbols``: the symbols through which it matters.
    """

    subject: str
    changes: tuple[str, ...]
    symbols: tuple[str, ...]

    def message(self, whose: str = "the kernel's") -> str:
        """``SUBJECT differs from WHOSE: change; change``."""
        return f"{self.subject} differs from {whose}: {'; '.join(self.changes)}"


def diff_types(old: TypeDesc, new: TypeDesc) -> list[str]:
    """What changed from ``old`` to ``new`` (same key), in member order; ``[]`` if
    nothing did.  Opaque descriptions are compared by their opacity only."""
    if old.opaque or new.opaque:
        if old.opaque == new.opaque:
            return []
        return ["definition removed (now opaque)" if new.opaque else "now defined"]
    if old.kind != new.kind:
        return [f"changed from {old.kind} to {new.kind}"]
    changes: list[str] = []
    if old.size != new.size:
        changes.append(f"size changed from {old.size} to {new.size} bytes")
    if old.kind == "enum":
        ov, nv = dict(old.enumerators), dict(new.enumerators)
        for ename, value in old.enumerators:
            if ename not in nv:
                changes.append(f"enumerator {ename} removed")
            elif nv[ename] != value:
                changes.append(f"enumerator {ename} changed value from {value} to {nv[ename]}")
        changes += [f"enumerator {ename} added (value {value})"
                    for ename, value in new.enumerators if ename not in ov]
    else:
        om = _members_by_name(old.members)
        nm = _members_by_name(new.members)
        for name, m in om.items():
            n = nm.get(name)
            if n is None:
                changes.append(f"member {name} removed")
                continue
            if m.type != n.type:
                if m.decl != n.decl:
                    changes.append(f"member {name} changed type from {m.decl} to {n.decl}")
                else:
                    changes.append(f"member {name} changed type from {m.decl} ({m.type}) to "
                                   f"{n.decl} ({n.type})")
            if m.bits != n.bits and m.bits and n.bits:
                if m.bits[0] != n.bits[0]:
                    changes.append(f"bit-field {name} moved from bit {m.bits[0]} to bit "
                                   f"{n.bits[0]}")
                if m.bits[1] != n.bits[1]:
                    changes.append(f"bit-field {name} width changed from {m.bits[1]} to "
                                   f"{n.bits[1]} bits")
            elif m.bits != n.bits:
                changes.append(f"member {name} {'became' if n.bits else 'is no longer'} a "
                               f"bit-field")
            elif m.offset != n.offset:
                changes.append(f"member {name} moved from offset {m.offset} to {n.offset}")
        changes += [f"member {name} added at offset {n.offset}" for name, n in nm.items()
                    if name not in om]
    if not changes and old.canonical() != new.canonical():
        changes.append("member order changed")
    if len(changes) > MAX_CHANGES:
        rest = len(changes) - MAX_CHANGES
        changes = changes[:MAX_CHANGES] + [f"and {rest} more change{'s' if rest > 1 else ''}"]
    return changes


def _members_by_name(members: Iterable[Member]) -> dict[str, Member]:
    out: dict[str, Member] = {}
    anon = 0
    for m in members:
        if m.name:
            out.setdefault(m.name, m)
        else:
            anon += 1
            out[f"<anonymous #{anon}>"] = m
    return out


def diff_symbol(old: SymbolAbi, new: SymbolAbi) -> AbiDifference | None:
    """How the symbol's own type changed (prototype or object type), or ``None``."""
    name = new.name
    if old.kind != new.kind:
        return AbiDifference(f"{name}", (f"was {_kind_word(old.kind)}, now "
                                         f"{_kind_word(new.kind)}",), (name,))
    if old.type == new.type:
        return None
    if new.kind == "func":
        detail: list[str] = []
        if old.ret and new.ret and old.ret[0] != new.ret[0]:
            detail.append(f"return type changed from {old.ret[1]} to {new.ret[1]}")
        for i, (o, n) in enumerate(zip(old.params, new.params), start=1):
            if o[0] != n[0]:
                detail.append(f"parameter {i} changed type from {o[1]} to {n[1]}")
        for i in range(len(old.params) + 1, len(new.params) + 1):
            detail.append(f"parameter {i} ({new.params[i - 1][1]}) added")
        for i in range(len(new.params) + 1, len(old.params) + 1):
            detail.append(f"parameter {i} ({old.params[i - 1][1]}) removed")
        if old.variadic != new.variadic:
            detail.append("became variadic" if new.variadic else "is no longer variadic")
        text = f"{old.decl} changed to {new.decl}"
        if detail:
            text += f" ({', '.join(detail)})"
        return AbiDifference(f"prototype of {name}", (text,), (name,))
    text = f"{_strip_name(old.decl, name)} changed to {_strip_name(new.decl, name)}"
    if old.size != new.size and old.size is not None and new.size is not None:
        text += f", size {old.size} to {new.size} bytes"
    return AbiDifference(f"type of {name}", (text,), (name,))


def _kind_word(kind: str) -> str:
    return {"func": "a function", "object": "an object"}.get(kind, f"a {kind}")


def _strip_name(decl: str, name: str) -> str:
    """``int`` from ``int hz``; declarators that wrap the name are kept whole."""
    if decl.endswith(" " + name):
        return decl[:-len(name) - 1]
    if decl.endswith("*" + name):
        return decl[:-len(name)]
    return decl


def compare(old: AbiInfo, new: AbiInfo, names: Iterable[str], *,
            ignore_opaque: bool = True) -> list[AbiDifference]:
    """What differs for each symbol of ``names`` from ``old``'s view to ``new``'s.

    A symbol whose hashes are equal is skipped at once.  Otherwise its own
    type is compared, then every named type in its closure (in ``new``, and
    in ``old`` when it describes the symbol) that both sides describe.  With
    ``ignore_opaque`` (the module check), a type one side knows only by name
    is not a difference: code cannot depend on a layout it never saw.
    Differences of one type reached through several symbols are reported
    once, with all of them.  Symbols ``new`` does not describe are skipped.

    Returns:
        Differences sorted by subject.
    """
    by_subject: dict[str, tuple[tuple[str, ...], list[str]]] = {}
    type_cache: dict[str, list[str]] = {}
    for name in names:
        n = new.symbols.get(name)
        if n is None:
            continue
        o = old.symbols.get(name)
        if o is not None and o.hash and o.hash == n.hash:
            continue
        if o is not None:
            d = diff_symbol(o, n)
            if d is not None:
                by_subject.setdefault(d.subject, (d.changes, []))[1].append(name)
        keys = set(new.closure(n.refs))
        if o is not None:
            keys |= old.closure(o.refs)
        for key in sorted(keys):
            ot, nt = old.types.get(key), new.types.get(key)
            if ot is None or nt is None:
                continue
            if ignore_opaque and (ot.opaque or nt.opaque):
                continue
            changes = type_cache.get(key)
            if changes is None:
                changes = type_cache[key] = (diff_types(ot, nt)
                                             if ot.canonical() != nt.canonical() else [])
            if changes:
                by_subject.setdefault(key, (tuple(changes), []))[1].append(name)
    return [AbiDifference(s, ch, tuple(sorted(set(syms))))
            for s, (ch, syms) in sorted(by_subject.items())]


def check_module_abi(path: str, module: AbiInfo, kernel: AbiInfo,
                     used: Iterable[str]) -> list[Diagnostic]:
    """ABI mismatches between a module's view (``module``) and the kernel's.

    ``used`` are the kernel symbols the module references.  Each difference
    becomes one error (rule ``abi-mismatch``) naming the module, what
    differs and through which symbols.
    """
    out = []
    for d in compare(module, kernel, used):
        syms = list(d.symbols)
        hint = "rebuild the module against this kernel"
        if not d.subject.endswith(f" of {syms[0]}") and d.subject != syms[0]:
            via = ", ".join(syms[:4]) + (f" and {len(syms) - 4} more" if len(syms) > 4 else "")
            hint = f"used through {via}; {hint}"
        out.append(Diagnostic(ERROR, path, d.message("the kernel's"), syms[0], hint,
                              RULE_MISMATCH))
    return out


def check_module_hashes(path: str, module: AbiInfo, hashes: Mapping[str, str | None],
                        used: Iterable[str]) -> list[Diagnostic]:
    """Compare a module's hashes with a manifest's when no kernel description is at hand.

    A differing hash is a warning (rule ``abi-hash``): without the kernel's
    type descriptions it cannot be told whether a layout the module depends
    on changed, or only one it never saw.
    """
    out = []
    for name in used:
        k = hashes.get(name)
        s = module.symbols.get(name)
        if not k or s is None or not s.hash or s.hash == k:
            continue
        out.append(Diagnostic(WARNING, path, f"ABI hash of {name} differs from the kernel's "
                              f"({s.hash} in the module, {k} in the manifest)", name,
                              "no kernel ABI description (netbsd.abi) next to the manifest to "
                              "say what changed", RULE_HASH))
    return out



# --------------------------------------------------------------------------- manifests

#: Change kinds of :class:`SymbolChange`, in report order.
CHANGE_KINDS = ("removed", "kind", "size", "abihash", "added")
#: Rule ids of abi-diff diagnostics, by change kind (docs/abi.md).
DIFF_RULES = {"removed": "abi-removed", "kind": "abi-kind", "size": "abi-size",
              "abihash": "abi-hash", "version": "abi-version"}


@dataclass(frozen=True)
class SymbolChange:
    """How one exported symbol changed between two kernels.

    ``changes`` are kinds from :data:`CHANGE_KINDS` (``removed``, ``added``,
    or any of ``kind``, ``size``, ``abihash``); ``old``/``new`` the manifest
    rows (``None`` when absent); ``details`` what changed in its types, when
    both kernels' ABI descriptions are at hand.  Only ``added`` is compatible.
    A function's size is its code size, not part of its ABI: it is ignored.
    """

    symbol: str
    changes: tuple[str, ...]
    old: Any
    new: Any
    details: tuple[str, ...] = ()

    @property
    def breaking(self) -> bool:
        """True unless the symbol was only added."""
        return self.changes != ("added",)

    def describe(self) -> str:
        """One line: ``removed: vfs_foo (func)``, ``changed: hz (object): size 4 to 8
        bytes, ABI hash 821ccd21 to 0d1e2f3a``."""
        if self.changes == ("removed",):
            return f"removed: {self.symbol} ({self.old.kind})"
        if self.changes == ("added",):
            return f"added: {self.symbol} ({self.new.kind})"
        parts = []
        if "kind" in self.changes:
            parts.append(f"kind {self.old.kind} to {self.new.kind}")
        if "size" in self.changes:
            parts.append(f"size {self.old.size} to {self.new.size} bytes")
        if "abihash" in self.changes:
            parts.append(f"ABI hash {self.old.abihash} to {self.new.abihash}")
        return f"changed: {self.symbol} ({self.new.kind}): {', '.join(parts)}"


@dataclass(frozen=True)
class ModuleUse:
    """What abi-diff needs from a module: its file, the symbols it references,
    its ``mi_version`` and its ABI view (``None`` without ``NAME.kmod.debug``)."""

    path: str
    symbols: frozenset[str]
    version: int | None = None
    view: AbiInfo | None = None


@dataclass
class ManifestDiff:
    """The result of :func:`diff_manifests`: the changes, the version verdict and,
    when modules were given, which of them each change breaks."""

    changes: list[SymbolChange]
    version_change: str | None = None
    modules: list[ModuleUse] | None = None
    broken: dict[str, list[str]] = field(default_factory=dict)   # symbol -> module paths
    version_broken: list[str] = field(default_factory=list)      # module paths

    @property
    def compatible(self) -> bool:
        """No break: for the modules given, or (without modules) at all."""
        if self.modules is not None:
            return not self.broken_modules()
        return self.version_change is None and not any(c.breaking for c in self.changes)

    def broken_modules(self) -> list[str]:
        """Paths of the modules that would fail against the new kernel, sorted."""
        out = set(self.version_broken)
        for paths in self.broken.values():
            out.update(paths)
        return sorted(out)

    def exit_status(self) -> int:
        """0 compatible, 1 ABI break (docs/abi.md)."""
        return 0 if self.compatible else 1

    def count(self, kind: str) -> int:
        """How many symbols were ``removed``, ``added``, or ``changed`` (anything else)."""
        if kind == "changed":
            return sum(1 for c in self.changes if c.changes[0] not in ("removed", "added"))
        return sum(1 for c in self.changes if c.changes == (kind,))

    def causes(self) -> list[tuple[str, list[str]]]:
        """Type changes behind the hash changes, each with the symbols it reaches."""
        by: dict[str, list[str]] = {}
        for c in self.changes:
            for d in c.details:
                by.setdefault(d, []).append(c.symbol)
        return sorted(by.items())

    def diagnostics(self, new_path: str) -> list[Diagnostic]:
        """CI diagnostics: with modules, one error per (module, breaking change); without,
        one per breaking change, located at the new manifest."""
        out: list[Diagnostic] = []
        if self.modules is not None:
            if self.version_change:
                for path in self.version_broken:
                    out.append(Diagnostic(ERROR, path, self.version_change, None, None,
                                          DIFF_RULES["version"]))
            # one line per module and cause: a struct change reached through many
            # symbols is reported once, with the symbols
            groups: dict[tuple[str, str], list[SymbolChange]] = {}
            for c in self.changes:
                for path in self.broken.get(c.symbol, ()):
                    cause = "; ".join(c.details) if c.changes == ("abihash",) and c.details \
                        else f"{c.symbol}:{c.changes}"
                    groups.setdefault((path, cause), []).append(c)
            for (path, _), group in groups.items():
                out.append(Diagnostic(ERROR, path, _module_message(group), group[0].symbol,
                                      None, DIFF_RULES[group[0].changes[0]]))
            return out
        if self.version_change:
            out.append(Diagnostic(ERROR, new_path, self.version_change, None, None,
                                  DIFF_RULES["version"]))
        for c in self.changes:
            if c.breaking:
                out.append(Diagnostic(ERROR, new_path, c.describe(), c.symbol,
                                      "; ".join(c.details) or None, DIFF_RULES[c.changes[0]]))
        return out


def _module_message(group: list[SymbolChange]) -> str:
    c = group[0]
    if c.changes == ("removed",):
        return f"needs symbol {c.symbol}, which the new kernel no longer exports"
    if len(group) == 1:
        what = "; ".join(c.details) or c.describe()[len("changed: "):]
        return f"uses {c.symbol}, which changed in the new kernel: {what}"
    names = [g.symbol for g in group]
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return f"uses {shown}, which changed in the new kernel: {'; '.join(c.details)}"


def diff_manifests(old: Any, new: Any, old_abi: AbiInfo | None = None,
                   new_abi: AbiInfo | None = None,
                   modules: Iterable[ModuleUse] | None = None) -> ManifestDiff:
    """Compare two kernel manifests (:class:`~kmodbuild.manifest.KernelManifest`).

    Symbols removed, added, changed kind, changed size (objects only) and
    changed ABI hash (when both have one), in name order.  With both ABI
    descriptions, each hash change says what changed.  With ``modules``:
    which modules each breaking change breaks -- those referencing a removed
    symbol, one whose kind or size changed, or one whose hash changed and
    whose own view differs from the new kernel's (a module that never saw
    the changed layout is not broken; without a view it is assumed broken)
    -- and, by ``mi_version``, the modules the new kernel's version refuses
    (spec §3.2).
    """
    from kmodbuild.target import NetBSDVersion, compatible

    changes: list[SymbolChange] = []
    osyms, nsyms = old.symbols, new.symbols
    for name in sorted(set(osyms) | set(nsyms)):
        o, n = osyms.get(name), nsyms.get(name)
        if n is None:
            changes.append(SymbolChange(name, ("removed",), o, None))
            continue
        if o is None:
            changes.append(SymbolChange(name, ("added",), None, n))
            continue
        kinds = []
        if o.kind != n.kind:
            kinds.append("kind")
        elif o.kind == "object" and o.size != n.size:
            kinds.append("size")
        if o.abihash and n.abihash and o.abihash != n.abihash:
            kinds.append("abihash")
        if not kinds:
            continue
        details: tuple[str, ...] = ()
        if "abihash" in kinds and old_abi is not None and new_abi is not None:
            details = tuple(f"{d.subject} changed: {'; '.join(d.changes)}"
                            for d in compare(old_abi, new_abi, [name], ignore_opaque=False))
        changes.append(SymbolChange(name, tuple(kinds), o, n, details))
    version_change = None
    if old.netbsd_version != new.netbsd_version and \
            not compatible(old.netbsd_version, new.netbsd_version):
        version_change = (f"kernel version changed from {old.version} to {new.version}: "
                          f"modules built for {old.version} are refused "
                          f"(built for `{old.netbsd_version}', system `{new.netbsd_version}')")
    result = ManifestDiff(changes, version_change)
    if modules is None:
        return result
    mods = sorted(modules, key=lambda m: m.path)
    result.modules = mods
    for m in mods:
        mv = m.version if m.version is not None else old.netbsd_version
        if not compatible(mv, new.netbsd_version):
            result.version_broken.append(m.path)
            if result.version_change is None:
                result.version_change = (f"module built for `{mv}', system "
                                         f"`{new.netbsd_version}' (built for "
                                         f"{NetBSDVersion.from_number(mv)}, kernel is "
                                         f"{new.version})")
    for c in changes:
        if not c.breaking:
            continue
        hit = []
        for m in mods:
            if c.symbol not in m.symbols:
                continue
            if c.changes == ("abihash",) and m.view is not None and new_abi is not None \
                    and not compare(m.view, new_abi, [c.symbol]):
                continue
            hit.append(m.path)
        if hit:
            result.broken[c.symbol] = hit
    return result
