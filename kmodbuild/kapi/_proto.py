"""kmodbuild.kapi._proto - C function prototypes: parsed from the kernel headers and from hooks.

Two users: each hook declares the prototype it implements (copied from its
header), from which the emulator learns how to fetch the arguments
(:func:`type_kind`); and the drift test parses every prototype of the
interface headers (:func:`header_prototypes`) to prove each one has a hook
with the same text.  The parser knows just enough C for those headers:
comments, preprocessor lines (with continuations), ``typedef``s, ``static
__inline`` definitions, struct/enum bodies and attributes are skipped; what is
left and looks like ``type name(params)`` is a prototype.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: argument/return kinds: how a value travels in registers and stack slots.
VOID, PTR, WORD, I32, U32, I64, U64, I16, U16, I8, U8, BOOL, VALIST = (
    "void", "ptr", "word", "i32", "u32", "i64", "u64", "i16", "u16", "i8", "u8", "bool",
    "va_list")

#: typedef and base type names -> kind (sys/sys/types.h and friends); anything with a
#: ``*`` is a pointer, ``enum X`` an int.
TYPE_KINDS: dict[str, str] = {
    **dict.fromkeys(("void",), VOID),
    **dict.fromkeys(("int", "signed", "signed int", "int32_t", "pid_t", "lwpid_t", "segsz_t",
                     "swblk_t", "devmajor_t", "devminor_t", "clockid_t", "timer_t",
                     "suseconds_t", "cpuid_t", "boolean_t", "psetid_t", "specificdata_key_t",
                     "modclass_t", "modsrc_t", "modcmd_t", "kmutex_type_t"), I32),
    **dict.fromkeys(("u_int", "unsigned", "unsigned int", "uint32_t", "u_int32_t", "uint",
                     "uid_t", "gid_t", "mode_t", "nlink_t", "id_t", "fixpt_t", "km_flag_t",
                     "useconds_t", "kauth_action_t"), U32),
    **dict.fromkeys(("int64_t", "quad_t", "off_t", "daddr_t", "time_t", "blkcnt_t",
                     "long long", "long long int", "intmax_t"), I64),
    **dict.fromkeys(("uint64_t", "u_int64_t", "u_quad_t", "dev_t", "ino_t", "rlim_t",
                     "fsblkcnt_t", "fsfilcnt_t", "unsigned long long", "uintmax_t"), U64),
    **dict.fromkeys(("long", "long int", "ssize_t", "ptrdiff_t", "intptr_t", "register_t",
                     "key_t", "register32_t"), WORD),
    **dict.fromkeys(("unsigned long", "u_long", "ulong", "size_t", "uintptr_t", "vaddr_t",
                     "paddr_t", "vsize_t", "psize_t"), "uword"),
    **dict.fromkeys(("short", "int16_t"), I16),
    **dict.fromkeys(("u_short", "unsigned short", "uint16_t", "u_int16_t", "ushort"), U16),
    **dict.fromkeys(("char", "signed char", "int8_t"), I8),
    **dict.fromkeys(("u_char", "unsigned char", "uint8_t", "u_int8_t", "unchar"), U8),
    **dict.fromkeys(("bool", "_Bool"), BOOL),
    **dict.fromkeys(("va_list",), VALIST),
    # opaque pointer typedefs
    **dict.fromkeys(("prop_dictionary_t", "prop_object_t", "prop_array_t", "prop_bool_t",
                     "prop_data_t", "prop_number_t", "prop_string_t", "kauth_cred_t",
                     "kauth_listener_t", "kauth_scope_t", "kauth_scope_callback_t",
                     "secmodel_t", "secmodel_eval_t", "secmodel_setinfo_t", "exec_makecmds_fcn",
                     "device_t", "caddr_t", "qaddr_t", "sig_t"), PTR),
}

_QUALIFIERS = frozenset({"const", "volatile", "restrict", "__restrict", "register",
                         "extern", "__inline", "inline"})
_TAGS = ("struct ", "union ", "enum ")


@dataclass(frozen=True)
class Prototype:
    """``ret name(params[, ...])``: ``params`` are the declared parameter types."""

    name: str
    ret: str
    params: tuple[str, ...]
    variadic: bool
    text: str

    @property
    def signature(self) -> str:
        """The normalised declaration, ``int vfs_attach(struct vfsops *)``."""
        return self.text


def normalise(decl: str) -> str:
    """Canonical text of a declaration: attributes removed, single blanks, ``char *name(a, b)``."""
    s = _strip_attributes(decl).strip().rstrip(";").strip()
    s = re.sub(r"\s+", " ", s)
    s = re.sub(r"\s*\*\s*", " *", s)
    while "* *" in s:
        s = s.replace("* *", "**")
    s = re.sub(r"\s*\(\s*", "(", s)
    s = re.sub(r"\s*\)", ")", s)
    s = re.sub(r"\s*,\s*", ", ", s)
    return s.strip()


def _strip_attributes(text: str) -> str:
    out = text
    for pat in (r"__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)", r"__printflike\s*\([^)]*\)",
                r"\b__(?:dead|pure|constfunc|unused|used|noinline|always_inline|packed|weak|"
                r"returns_twice|dso_hidden|dso_public|diagused|debugused)\b"):
        out = re.sub(pat, " ", out)
    return out


def _split_params(text: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


_DECL = re.compile(r"^(?P<ret>.+?)\b(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*\((?P<params>.*)\)$",
                   re.S)


def parse_prototype(decl: str) -> Prototype:
    """Parse one declaration ``ret name(params)``.

    Raises:
        ValueError: not a function prototype.
    """
    text = normalise(decl)
    m = _DECL.match(text)
    if m is None or "(*" in m.group("ret"):
        raise ValueError(f"not a function prototype: {decl!r}")
    ret = m.group("ret").strip()
    raw = m.group("params").strip()
    params = _split_params(raw) if raw and raw != "void" else []
    variadic = bool(params) and params[-1] == "..."
    if variadic:
        params = params[:-1]
    return Prototype(m.group("name"), ret, tuple(params), variadic, text)


def strip_name(param: str) -> str:
    """A parameter's type without its name (``const char *fmt`` -> ``const char *``)."""
    p = param.strip()
    if "(" in p:                                    # function pointer: drop the inner name
        return re.sub(r"\(\s*\*\s*[A-Za-z_]\w*\s*\)", "(*)", p)
    words = p.replace("*", " * ").split()
    if len(words) < 2 or not re.fullmatch(r"[A-Za-z_]\w*", words[-1]):
        return p
    full = [w for w in words if w not in _QUALIFIERS]
    rest = words[:-1]
    rest_nq = [w for w in rest if w not in _QUALIFIERS]
    if " ".join(full) in TYPE_KINDS or (len(rest_nq) == 1 and rest_nq[0] in
                                         ("struct", "union", "enum")):
        return p                                    # "unsigned int", "struct vnode"
    if rest[-1] == "*" or len(rest_nq) == 1 or " ".join(rest_nq) in TYPE_KINDS or (
            len(rest_nq) == 2 and rest_nq[0] in ("struct", "union", "enum")):
        return normalise(" ".join(rest))
    return p


def type_kind(ctype: str) -> str:
    """The :data:`TYPE_KINDS` kind of a C type (``uword`` for unsigned long, ...).

    Raises:
        ValueError: a type the emulator cannot pass (a struct by value).
    """
    t = strip_name(ctype)
    if "*" in t or "(" in t or "[" in t:
        return PTR
    words = [w for w in t.split() if w not in _QUALIFIERS]
    base = " ".join(words)
    if base in TYPE_KINDS:
        return TYPE_KINDS[base]
    if base.startswith("enum "):
        return I32
    raise ValueError(f"cannot pass C type {ctype!r}")


# --------------------------------------------------------------------------- headers

def _remove_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def _remove_preprocessor(text: str) -> str:
    out, skip = [], False
    for line in text.splitlines():
        stripped = line.strip()
        if skip or stripped.startswith("#"):
            skip = stripped.endswith("\\")
            continue
        out.append(line)
    return "\n".join(out)


def _top_level_statements(text: str) -> list[str]:
    """Split at ``;`` outside braces; a braced block ends its statement (function bodies,
    struct definitions) and is dropped."""
    stmts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "{":
            depth += 1
            continue
        if ch == "}":
            depth -= 1
            if depth == 0:
                if "".join(cur).rstrip().endswith(")"):     # a function body: drop it
                    cur = []
                else:
                    cur.append(" {} ")
            continue
        if depth:
            continue
        if ch == ";":
            stmts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    return stmts


def header_prototypes(path: Path | str) -> list[Prototype]:
    """Every function prototype declared at the top level of a C header."""
    text = _remove_preprocessor(_remove_comments(Path(path).read_text()))
    text = re.sub(r"\b__(?:BEGIN|END)_DECLS\b", ";", text)
    out: list[Prototype] = []
    for stmt in _top_level_statements(text):
        s = _strip_attributes(stmt).strip()
        if not s or "{}" in s or s.startswith(("typedef", "extern ", "static")):
            continue
        if "(" not in s or re.match(r"^(struct|union|enum)\s+\w+\s*$", s):
            continue
        try:
            out.append(parse_prototype(s))
        except ValueError:
            continue
    return out
