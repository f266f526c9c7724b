"""kmodbuild.skeleton - module skeletons rendered from jinja2 templates (``kmodbuild new``).

The only module that imports jinja2 (STYLE.md §7-8).  :func:`plan_skeleton`
validates a new module's name and requirements, renders its three files and
returns them as a :class:`SkeletonPlan` without touching the disk;
:func:`write_skeleton` writes a plan atomically.  :func:`render_skeleton` does
both.  Templates live in ``templates/`` at the top of a checkout (or inside the
installed package): ``<class>.c.j2`` / ``<class>.scn.j2`` when a class has its
own, else ``module.c.j2`` / ``module.scn.j2``, and ``SConscript.j2``; docs/new.md
describes them.

Name rules (spec §1.4, §1.5): a C identifier of at most 31 characters (30 for
the classes other modules require, misc and emulation, because a name in
``mi_required`` may have only 30), not a C keyword, not an existing module of
the tree, and neither the name nor any identifier the rendered C source derives
from it may clash with a kernel name: a symbol of the stub kernel's manifest
(``build/amd64-x86_64/<version>/kernel/netbsd.syms``) when one is built, and
always the functions, variables, typedefs, enum constants and macros declared
in the tree's ``sys/`` headers.  Nor may it clash with another module of the
tree (:func:`tree_clash`): declared by another directory's SConscript, the
prefixed or unprefixed twin of a module, or a global symbol both define.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from kmodbuild.errors import (DependencyError, InstallError, KmodError, ModuleNameError,
                              TemplateError, UsageError)
from kmodbuild.install import MAX_MODULE_NAME, atomic_write, validate_module_name
from kmodbuild.manifest import load_manifest
from kmodbuild.target import get_target

#: A name in ``mi_required`` must satisfy ``strlen + 1 < MAXMODNAME`` (spec §1.5).
MAX_REQUIRED_NAME = MAX_MODULE_NAME - 1

#: Mode of the files written (ordinary source files, unlike installed modules).
FILE_MODE = 0o644

#: Marker that a directory holds the skeleton templates.
_MARKER = "module.c.j2"

#: (file name pattern, template suffix): ``<class><suffix>`` if it exists, else
#: ``module<suffix>`` (``SConscript.j2`` for the SConscript).
OUTPUTS: tuple[tuple[str, str], ...] = (
    ("{name}.c", ".c.j2"),
    ("SConscript", "SConscript.j2"),
    ("{name}.scn", ".scn.j2"),
)

_C_KEYWORDS = frozenset("""
    auto break case char const continue default do double else enum extern float for goto if
    inline int long register restrict return short signed sizeof static struct switch typedef
    union unsigned void volatile while _Alignas _Alignof _Atomic _Bool _Complex _Generic
    _Imaginary _Noreturn _Static_assert _Thread_local asm typeof bool true false
""".split())


@dataclass(frozen=True)
class ModuleClass:
    """One ``--class`` of ``kmodbuild new``.

    Attributes:
        key: the ``--class`` value.
        constant: the ``MODULE()`` class (spec §1.4; syscall and emulation are MISC).
        modstat_name: the CLASS column modstat(8) shows.
        summary: one line for ``--list-classes``.
        prefix: NetBSD's conventional name prefix (``bufq_``); the rest is the short name.
        library: meant to be required by other modules (the name limit is 30).
    """

    key: str
    constant: str
    modstat_name: str
    summary: str
    prefix: str = ""
    library: bool = False


#: The classes, in ``--list-classes`` order.
CLASSES: dict[str, ModuleClass] = {c.key: c for c in (
    ModuleClass("vfs", "MODULE_CLASS_VFS", "vfs",
                "file system (struct vfsops, vfs_attach/vfs_detach); mount -t NAME autoloads it"),
    ModuleClass("driver", "MODULE_CLASS_DRIVER", "driver",
                "character device (struct cdevsw, devsw_attach/devsw_detach); /dev/NAME0 autoloads"),
    ModuleClass("exec", "MODULE_CLASS_EXEC", "exec",
                "executable format (struct execsw, exec_add/exec_remove)"),
    ModuleClass("misc", "MODULE_CLASS_MISC", "misc",
                "library: registers nothing, exports NAME_hello() for modules that --requires it",
                library=True),
    ModuleClass("secmodel", "MODULE_CLASS_SECMODEL", "secmodel",
                "security model (secmodel_register/secmodel_deregister) with a kauth(9) listener",
                prefix="secmodel_"),
    ModuleClass("syscall", "MODULE_CLASS_MISC", "misc",
                "system call (struct syscall_package, syscall_establish/disestablish), class MISC"),
    ModuleClass("emulation", "MODULE_CLASS_MISC", "misc",
                "OS emulation: a MISC module exporting struct emul emul_SHORT for exec modules",
                prefix="compat_", library=True),
    ModuleClass("bufq", "MODULE_CLASS_BUFQ", "bufq",
                "buffer queue strategy (bufq_register/bufq_unregister); bufq_alloc() autoloads it",
                prefix="bufq_"),
)}


@dataclass(frozen=True)
class SkeletonFile:
    """One rendered file: where it goes, its text and the template it came from."""

    path: Path
    text: str
    template: str


@dataclass(frozen=True)
class SkeletonPlan:
    """What :func:`write_skeleton` will write, and what was checked.

    Attributes:
        name, module_class: the module.
        directory: ``<tree>/<name>``.
        files: the rendered files, in :data:`OUTPUTS` order.
        requires: the required modules.
        checked_against: the kernel names the module name was checked against (for the user).
        notes: advice that is not an error (``bufq`` without the ``bufq_`` prefix, ...).
    """

    name: str
    module_class: ModuleClass
    directory: Path
    files: tuple[SkeletonFile, ...]
    requires: tuple[str, ...] = ()
    checked_against: str = ""
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------------- templates

def find_templates_dir() -> Path:
    """The skeleton templates: ``templates/`` at the top of a checkout, else the packaged copy.

    Raises:
        TemplateError: neither holds the templates (a broken installation).
    """
    here = Path(__file__).resolve().parent
    candidates = (here.parent / "templates", here / "templates")
    for cand in candidates:
        if (cand / _MARKER).is_file():
            return cand
    where = " and ".join(str(c) for c in candidates)
    raise TemplateError(f"no skeleton templates in {where}; reinstall kmodbuild")


def make_environment(templates_dir: Path) -> jinja2.Environment:
    """A jinja2 environment over ``templates_dir``: undefined names are errors."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir)),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True, autoescape=False)


def template_names(module_class: ModuleClass, suffix: str) -> list[str]:
    """The templates to try for one output file: the class's own first, then the shared one."""
    if not suffix.startswith("."):
        return [suffix]
    return [f"{module_class.key}{suffix}", f"module{suffix}"]


#: What a template may raise while it renders, besides jinja2's own errors.
_RENDER_ERRORS = (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError,
                  AttributeError, RecursionError)


def render_template(env: jinja2.Environment, names: Sequence[str],
                    context: Mapping[str, Any]) -> tuple[str, str]:
    """Render the first of ``names`` that exists; returns (template name, text).

    Raises:
        TemplateError: a syntax error, an undefined variable, a missing template or
            any other failure inside a template, with the template file and line.
    """
    try:
        template = env.select_template(list(names))
        return template.name or names[0], template.render(**context)
    except _RENDER_ERRORS as e:
        raise _template_error(e, env, names) from None


def _template_error(e: BaseException, env: jinja2.Environment,
                    names: Sequence[str]) -> TemplateError:
    """Locate a rendering failure: the innermost template frame of the traceback."""
    path: str | None = None
    line: int | None = None
    if isinstance(e, jinja2.TemplateSyntaxError):
        path, line = e.filename, e.lineno
    else:
        search = [str(Path(p).resolve()) for p in
                  getattr(env.loader, "searchpath", [])]
        tb = e.__traceback__
        while tb is not None:
            fname = tb.tb_frame.f_code.co_filename
            if any(fname.startswith(p + os.sep) for p in search):
                path, line = fname, tb.tb_lineno
            tb = tb.tb_next
    if isinstance(e, jinja2.TemplatesNotFound):
        message = f"no template {' or '.join(names)}"
        path = path or next(iter(getattr(env.loader, "searchpath", [])), None)
    elif isinstance(e, jinja2.TemplateNotFound):
        message = f"template {e.name} not found"
    elif isinstance(e, jinja2.TemplateError):
        message = e.message or type(e).__name__
    else:
        message = f"{type(e).__name__}: {e}"
    return TemplateError(f"error: {message}", path=path or names[0], line=line)


# --------------------------------------------------------------------------- kernel names

@dataclass
class KernelNames:
    """Names a module must not define: identifier -> where the kernel has it."""

    names: dict[str, str] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    def add(self, name: str, where: str) -> None:
        self.names.setdefault(name, where)

    def describe(self) -> str:
        """``build/.../netbsd.syms and sys/ headers`` (for the user)."""
        return " and ".join(self.sources)


def _blank(text: str) -> str:
    """Spaces for every character but newlines (keeps offsets and line numbers)."""
    return re.sub(r"[^\n]", " ", text)


_COMMENT_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_STRING_RE = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'')
_PREPROC_RE = re.compile(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", re.M)
_DEFINE_RE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)", re.M)
_ENUM_RE = re.compile(r"\benum\b[^{;()]*\{([^}]*)\}")
_CALL_RE = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_FUNCPTR_TYPEDEF_RE = re.compile(r"\(\s*\*\s*([A-Za-z_]\w*)\s*\)")
_IDENT_RE = re.compile(r"[A-Za-z_]\w*")


def strip_c(text: str) -> str:
    """``text`` with C comments and string/character literals blanked out."""
    text = _COMMENT_RE.sub(lambda m: _blank(m.group()), text)
    return _STRING_RE.sub(lambda m: _blank(m.group()), text)


def _blank_braces(text: str) -> str:
    """Blank everything inside ``{...}`` (struct members, inline function bodies)."""
    out, depth = [], 0
    for ch in text:
        if ch == "{":
            depth += 1
            out.append(" ")
        elif ch == "}":
            depth = max(depth - 1, 0)
            out.append(" ")
        else:
            out.append(ch if depth == 0 or ch == "\n" else " ")
    return "".join(out)


def iter_header_names(text: str) -> Iterator[tuple[str, int, str]]:
    """Identifiers a C header declares at file scope: ``(name, line, kind)``.

    ``kind`` is ``macro`` (``#define``) or ``declaration`` (function, variable,
    typedef, enum constant).  A heuristic reader for our own headers, not a C
    parser: it may report a few extra names (macro invocations), never misses
    a prototype or an ``extern``.
    """
    def lineno(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    text = strip_c(text)
    for m in _DEFINE_RE.finditer(text):
        yield m.group(1), lineno(m.start(1)), "macro"
    code = _PREPROC_RE.sub(lambda m: _blank(m.group()), text)
    for m in _ENUM_RE.finditer(code):
        offset = m.start(1)
        for item in m.group(1).split(","):
            ident = _IDENT_RE.search(item)
            if ident:
                yield ident.group(), lineno(offset + ident.start()), "declaration"
            offset += len(item) + 1
    flat = _blank_braces(code)
    pos = 0
    for stmt in flat.split(";"):
        for m in _CALL_RE.finditer(stmt):
            if m.group(1) not in _C_KEYWORDS and not m.group(1).startswith("__"):
                yield m.group(1), lineno(pos + m.start(1)), "declaration"
        words = list(_IDENT_RE.finditer(re.sub(r"\[[^\]]*\]", " ", stmt)))
        if "typedef" in stmt:
            for m in _FUNCPTR_TYPEDEF_RE.finditer(stmt):
                yield m.group(1), lineno(pos + m.start(1)), "declaration"
        if "(" not in stmt and words and not (
                words[0].group() in ("struct", "union", "enum") and len(words) <= 2):
            last = words[-1]
            if last.group() not in _C_KEYWORDS:
                yield last.group(), lineno(pos + last.start()), "declaration"
        pos += len(stmt) + 1


def kernel_names(tree: Path) -> KernelNames:
    """What the kernel of ``tree`` (``<root>/sys/modules``) already names.

    The stub kernel's manifest ``<root>/build/amd64-x86_64/*/kernel/netbsd.syms``
    when it has been built, plus every declaration in ``<root>/sys/**/*.h``
    outside the module tree.

    Raises:
        ManifestError: a manifest that cannot be parsed.
    """
    tree = tree.resolve()
    sysdir = tree.parent
    root = sysdir.parent
    names = KernelNames()
    for syms in sorted((root / "build" / get_target("amd64").key).glob("*/kernel/netbsd.syms")):
        where = _display(syms)
        for sym in load_manifest(syms):
            names.add(sym.name, f"kernel symbol in {where}")
        names.sources.append(where)
    if not names.sources:
        names.sources.append("no stub kernel manifest (not built yet)")
    headers = [h for h in sorted(sysdir.rglob("*.h")) if tree not in h.parents]
    for header in headers:
        rel = header.relative_to(root).as_posix()
        try:
            text = header.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for ident, line, kind in iter_header_names(text):
            what = "macro" if kind == "macro" else "declaration"
            names.add(ident, f"{what} in {rel}:{line}")
    names.sources.append(f"the declarations in {_display(sysdir)}/**/*.h")
    return names


def _display(path: Path) -> str:
    """``path`` relative to the current directory when it is below it."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


# Sentinels rendered in place of the name to find the identifiers derived from it.
_SENTINELS = {"name": "zzqkmodnameqzz", "short": "zzqkmodshortqzz"}


def derived_identifiers(env: jinja2.Environment, module_class: ModuleClass,
                        context: Mapping[str, Any]) -> set[str]:
    """Identifiers of the C source that come from the module name (``NAME_modcmd``, ``emul_X``...).

    The C template is rendered once more with sentinels for ``name`` and
    ``short``; every identifier (outside comments and strings) holding one is
    mapped back to the real spelling.

    Raises:
        TemplateError: the template fails to render.
    """
    sctx = dict(context, **_SENTINELS)
    _, text = render_template(env, template_names(module_class, ".c.j2"), sctx)
    mapping = []
    for key, sentinel in _SENTINELS.items():
        real = str(context[key])
        mapping += [(sentinel, real), (sentinel.upper(), real.upper())]
    out: set[str] = set()
    for tok in _IDENT_RE.findall(strip_c(text)):
        if any(s in tok for s, _ in mapping):
            for s, real in mapping:
                tok = tok.replace(s, real)
            out.add(tok)
    return out


# --------------------------------------------------------------------------- the tree

_KERNEL_MODULE_RE = re.compile(r"""\bKernelModule\s*\(\s*(?:name\s*=\s*)?(['"])(\w+)\1""")
_LKM_RANGE_RE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+SYS_lkmnosys_(first|last)[ \t]+(\d+)",
                           re.M)
_LKM_USE_RE = re.compile(r"\bSYS_lkmnosys_(first|last)\b(?:\s*([+-])\s*(\d+))?")
#: The slots NetBSD's syscalls.master keeps for modules, if sys/sys/syscall.h does not say.
_LKM_DEFAULT = (210, 219)


def declared_modules(tree: Path) -> dict[str, Path]:
    """Module name -> the ``TREE/*/SConscript`` whose ``env.KernelModule('NAME', ...)`` declares it."""
    out: dict[str, Path] = {}
    for sconscript in sorted(Path(tree).glob("*/SConscript")):
        try:
            text = sconscript.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for m in _KERNEL_MODULE_RE.finditer(text):
            out.setdefault(m.group(2), sconscript)
    return out


def _module_sources(tree: Path, skip: Path) -> Iterator[tuple[Path, str]]:
    """(path, text without comments and strings) of the C sources of the tree but ``skip``'s."""
    skip = skip.resolve()
    for src in sorted(Path(tree).glob("*/**/*.c")):
        if skip == src.resolve().parent or skip in src.resolve().parents:
            continue
        try:
            yield src, strip_c(src.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue


def syscall_slot(tree: Path, name: str) -> str | None:
    """The first of ``SYS_lkmnosys_first..last`` no other module source of ``tree`` uses,
    spelt as C (``SYS_lkmnosys_first`` or ``(SYS_lkmnosys_first + N)``); None when all are."""
    first, last = _LKM_DEFAULT
    header = Path(tree).resolve().parent / "sys" / "syscall.h"
    try:
        bounds = dict((m.group(1), int(m.group(2))) for m in
                      _LKM_RANGE_RE.finditer(header.read_text(encoding="utf-8",
                                                              errors="replace")))
        first, last = bounds.get("first", first), bounds.get("last", last)
    except OSError:
        pass
    used: set[int] = set()
    for _, text in _module_sources(tree, Path(tree) / name):
        for m in _LKM_USE_RE.finditer(text):
            base = first if m.group(1) == "first" else last
            delta = int(m.group(3) or 0) * (-1 if m.group(2) == "-" else 1)
            used.add(base + delta)
    for slot in range(first, last + 1):
        if slot not in used:
            return "SYS_lkmnosys_first" if slot == first else \
                f"(SYS_lkmnosys_first + {slot - first})"
    return None


_TOP_IDENT_RE = re.compile(r"([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*(?:=|;|$)")


def global_definitions(text: str) -> dict[str, int]:
    """Identifiers a C source defines with external linkage -> line (a heuristic: the
    top-level functions and variables that are neither ``static`` nor ``extern``)."""
    def lineno(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    code = _PREPROC_RE.sub(lambda m: _blank(m.group()), strip_c(text))
    flat = _blank_braces(code)
    out: dict[str, int] = {}
    start = 0
    for i, ch in enumerate(code):
        # a statement ends at a top-level ';' or at the '{' of a function body
        if flat[i] == ";" or (ch == "{" and flat[start:i].rstrip().endswith(")")
                              and _brace_depth(code, i) == 0):
            stmt = flat[start:i]
            words = _IDENT_RE.findall(stmt)
            if words and not {"static", "extern", "typedef"} & set(words):
                if ch == "{":               # a function definition: the name before '('
                    m = re.search(r"([A-Za-z_]\w*)\s*\(", stmt)
                    if m:
                        out.setdefault(m.group(1), lineno(start + m.start(1)))
                elif "(" not in stmt.split("=")[0]:
                    decl = stmt.split("=")[0].rstrip() + ";"
                    m = _TOP_IDENT_RE.search(decl)
                    is_tag = len(words) <= 2 and words[0] in ("struct", "union", "enum")
                    if m and not is_tag and m.group(1) not in _C_KEYWORDS:
                        out.setdefault(m.group(1), lineno(start + stmt.find(m.group(1))))
            start = i + 1
    return out


def _brace_depth(code: str, pos: int) -> int:
    """How many ``{`` are open before ``pos``."""
    return code.count("{", 0, pos) - code.count("}", 0, pos)


def tree_clash(name: str, mc: ModuleClass, tree: Path, c_text: str) -> str | None:
    """Why ``name`` of class ``mc`` clashes with another module of ``tree`` (one line), or None:
    declared by another directory's SConscript, the prefixed or unprefixed twin of a module
    (the same emulation, model id or strategy), or a global symbol the skeleton defines
    that another module's source defines too."""
    declared = declared_modules(tree)
    other = declared.get(name)
    if other is not None and other.parent.resolve() != (tree / name).resolve():
        return f"module name `{name}' is already declared by {_display(other)}"
    if mc.prefix:
        short = short_name(name, mc)
        twin = mc.prefix + name if short == name else short
        if twin in declared or (tree / twin / "SConscript").is_file():
            what = {"emulation": f"struct emul emul_{short}",
                    "secmodel": f"the model id org.netbsd.secmodel.{short}",
                    "bufq": f"the buffer queue strategy `{short}'"}.get(mc.key, f"`{short}'")
            return (f"module name `{name}' clashes with module `{twin}' of the tree "
                    f"({_display(tree / twin)}): both would have {what}")
    mine = global_definitions(c_text)
    for src, text in _module_sources(tree, tree / name):
        theirs = global_definitions(text)
        common = sorted(set(mine) & set(theirs))
        if common:
            where = f"{_display(src)}:{theirs[common[0]]}"
            return (f"module name `{name}' clashes with another module: the {mc.key} skeleton "
                    f"would define {common[0]}, already defined in {where}")
    return None


# --------------------------------------------------------------------------- requirements

_MODULE_RE = re.compile(r"\bMODULE\s*\(\s*\w+\s*,\s*(\w+)\s*,\s*(NULL|\"([^\"]*)\")\s*\)")


def read_requires(module_dir: Path) -> tuple[str, ...] | None:
    """The required list in the ``MODULE()`` of a module directory's C sources, or None."""
    for src in sorted(module_dir.glob("*.c")):
        try:
            m = _MODULE_RE.search(src.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return None
        if m:
            # spec §1.5: tokens up to the first empty one
            toks = []
            for tok in (m.group(3) or "").split(","):
                if not tok:
                    break
                toks.append(tok)
            return tuple(toks)
    return None


def requires_closure(tree: Path, requires: Sequence[str]) -> list[str] | None:
    """Every module a load of something requiring ``requires`` brings in (sorted), or None
    when one of them has a ``MODULE()`` this reader cannot find."""
    seen: set[str] = set()
    todo = list(requires)
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        deps = read_requires(tree / mod)
        if deps is None:
            return None
        todo.extend(deps)
    return sorted(seen)


# --------------------------------------------------------------------------- the plan

def validate_name(name: str, module_class: ModuleClass) -> None:
    """The name rules that need no tree (spec §1.4, §1.5).

    Raises:
        ModuleNameError: not a C identifier, a keyword, or too long.
    """
    limit = MAX_REQUIRED_NAME if module_class.library else MAX_MODULE_NAME
    try:
        validate_module_name(name, limit=limit)
    except ModuleNameError as e:
        if module_class.library and len(name) == MAX_MODULE_NAME:
            why = f"{module_class.key} modules are meant to be required: 30 at most, spec §1.5"
            raise ModuleNameError(e.message, hint=why) from None
        raise
    if name in _C_KEYWORDS:
        raise ModuleNameError(f"invalid module name {name!r}: a C keyword")


def validate_requires(name: str, requires: Sequence[str], tree: Path) -> tuple[str, ...]:
    """Check ``--requires``: valid, at most 30 characters, not itself, listed once, in the tree.

    Raises:
        ModuleNameError: a bad name.
        DependencyError: itself, twice, or no such module in ``tree``.
    """
    seen: list[str] = []
    for req in requires:
        validate_module_name(req, what="required module name", limit=MAX_REQUIRED_NAME)
        if req == name:
            raise DependencyError(f"module `{name}' cannot require itself (EDEADLK, spec §1.5)")
        if req in seen:
            raise DependencyError(f"required module `{req}' is listed twice")
        sconscript = tree / req / "SConscript"
        if not sconscript.is_file():
            raise DependencyError(f"unknown required module `{req}': no {_display(sconscript)}")
        seen.append(req)
    return tuple(seen)


def short_name(name: str, module_class: ModuleClass) -> str:
    """``name`` without the class's conventional prefix (``bufq_fcfs`` -> ``fcfs``)."""
    p = module_class.prefix
    return name[len(p):] if p and name.startswith(p) and len(name) > len(p) else name


def plan_skeleton(name: str, module_class: str | ModuleClass, tree: Path | str, *,
                  requires: Sequence[str] = (), overwrite: bool = False,
                  templates_dir: Path | str | None = None) -> SkeletonPlan:
    """Validate and render the files of a new module ``<tree>/<name>/``; nothing is written.

    Raises:
        UsageError: unknown class, ``tree`` is not a directory ``sys/modules`` (beside
            ``sys/sys/module.h``) or ``templates_dir`` is not a directory.
        ModuleNameError: a bad name, an existing module, a clash with a kernel name or
            with another module of the tree.
        KmodError: a syscall module and no free ``SYS_lkmnosys`` slot.
        DependencyError: a bad ``requires`` list.
        TemplateError: a template fails (template file and line).
        InstallError: a file exists and ``overwrite`` is false, or a file is where the
            module directory goes.
        ManifestError: the stub kernel's manifest cannot be read.
    """
    mc = CLASSES.get(module_class) if isinstance(module_class, str) else module_class
    if mc is None:
        raise UsageError(f"unknown module class {module_class!r}; classes: {', '.join(CLASSES)}")
    validate_name(name, mc)
    tree = Path(tree)
    if not tree.is_dir():
        raise UsageError(f"--tree {tree}: no such directory (pass --tree SRCTOP/sys/modules)")
    # the module tree is sys/modules: the kernel names a new module must not clash with
    # are declared in sys/**/*.h (a tree elsewhere would have its parent's files read)
    if not (tree.resolve().parent / "sys" / "module.h").is_file():
        raise UsageError(f"--tree {tree}: not a module tree: no sys/module.h beside it "
                         "(pass --tree SRCTOP/sys/modules)")
    directory = tree / name
    if directory.exists() and not directory.is_dir():
        raise InstallError("a file is in the way (not a directory)", path=_display(directory))
    if (directory / "SConscript").exists() and not overwrite:
        raise ModuleNameError(f"module `{name}' already exists", path=_display(directory),
                              hint="choose another name, or --force to overwrite its files")
    reqs = validate_requires(name, requires, tree)

    if templates_dir is not None and not Path(templates_dir).is_dir():
        why = "not a directory" if Path(templates_dir).exists() else "no such directory"
        raise UsageError(f"--templates {templates_dir}: {why}")
    env = make_environment(Path(templates_dir) if templates_dir else find_templates_dir())
    context = _context(name, mc, tree, reqs)
    files = []
    for pattern, template in OUTPUTS:
        used, text = render_template(env, template_names(mc, template), context)
        files.append(SkeletonFile(directory / pattern.format(name=name), text, used))

    knames = kernel_names(tree)
    clashes = [(ident, knames.names[ident])
               for ident in sorted(derived_identifiers(env, mc, context) | {name})
               if ident in knames.names]
    if clashes:
        raise ModuleNameError(_clash_message(name, mc, clashes), hint="choose another name")
    clash = tree_clash(name, mc, tree, files[0].text)
    if clash:
        raise ModuleNameError(clash, hint="choose another name")
    if mc.key == "syscall" and context["syscall_slot"] is None:
        raise KmodError(f"no free system call slot for `{name}': other modules of the tree use "
                        "every one of SYS_lkmnosys_first..SYS_lkmnosys_last")

    if not overwrite:
        for f in files:
            if f.path.exists() or f.path.is_symlink():
                raise InstallError("already exists", path=_display(f.path),
                                   hint="use --force to overwrite it")
    notes = []
    if mc.key == "bufq" and not name.startswith("bufq_"):
        notes.append(f"bufq_alloc() autoloads `bufq_{name}' for strategy `{name}', not `{name}'")
    return SkeletonPlan(name, mc, directory, tuple(files), reqs, knames.describe(),
                        tuple(notes))


def _clash_message(name: str, mc: ModuleClass, clashes: list[tuple[str, str]]) -> str:
    """One line: the name itself, or what the skeleton derives from it, is a kernel name."""
    own = [where for ident, where in clashes if ident == name]
    if own:
        return f"module name `{name}' clashes with the kernel: {name} is a {own[0]}"
    shown = ", ".join(f"{ident} ({where})" for ident, where in clashes[:3])
    more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
    lead = f"module name `{name}' clashes with the kernel"
    return f"{lead}: the {mc.key} skeleton would define {shown}{more}"


def _context(name: str, mc: ModuleClass, tree: Path, requires: tuple[str, ...]) -> dict[str, Any]:
    """The variables every template sees (docs/new.md lists them)."""
    root = tree.resolve().parent.parent
    closure = requires_closure(tree, requires)
    return {
        "name": name,
        "cls": mc.key,
        "class_constant": mc.constant,
        "modstat_class": mc.modstat_name,
        "short": short_name(name, mc),
        "requires": list(requires),
        "required_c": f'"{",".join(requires)}"' if requires else "NULL",
        "required_column": ",".join(requires) if requires else "-",
        "closure": closure,
        "module_dir": Path(os.path.relpath((tree / name).resolve(), root)).as_posix(),
        # spec_vnops.c: the devsw name is the node name without its unit number
        "device": f"/dev/{name}0" if re.search(r"[a-z_]$", name) else None,
        # the first SYS_lkmnosys slot no other module of the tree uses (None: all are, or
        # not a syscall module -- the scan reads every source of the tree)
        "syscall_slot": syscall_slot(tree, name) if mc.key == "syscall" else None,
    }


def write_skeleton(plan: SkeletonPlan) -> list[Path]:
    """Write every file of ``plan`` atomically (mode 0644); returns their paths.

    All or nothing: a destination that cannot be a file (a directory, a symlink)
    is refused before anything is written, and when a write fails half-way the
    files this call wrote are removed again -- or, where ``--force`` replaced a
    file, given back their old contents -- and the directories it made are
    removed: a module is never left half-written.

    Raises:
        InstallError: a file could not be written (nothing was, or all was undone).
    """
    for f in plan.files:
        if f.path.is_symlink() or (f.path.exists() and not f.path.is_file()):
            what = "a symlink" if f.path.is_symlink() else \
                "a directory" if f.path.is_dir() else "not a regular file"
            raise InstallError(f"{what}; refusing to replace it", path=f.path,
                               hint="no file of the module was written")
    made = _missing_directories(plan.directory)
    old: dict[Path, tuple[bytes, int] | None] = {}
    written: list[Path] = []
    try:
        for f in plan.files:
            try:
                old[f.path] = (f.path.read_bytes(), f.path.stat().st_mode & 0o7777) \
                    if f.path.is_file() else None
            except OSError as e:
                raise InstallError(f"cannot read the file to replace: {e.strerror or e}",
                                   path=f.path) from None
            atomic_write(f.path, f.text.encode("utf-8"), FILE_MODE)
            written.append(f.path)
    except InstallError as e:
        undone = _undo_writes(written, old, made)
        what = "the file written before it was" if len(written) == 1 else \
            f"the {len(written)} files written before it were"
        raise InstallError(e.message, path=e.path, hint=(
            "no file of the module was written" if not written else
            f"{what} {'removed or restored' if undone else 'NOT all undone: check them'}")
                           ) from None
    return written


def _missing_directories(directory: Path) -> list[Path]:
    """``directory`` and those of its parents that do not exist yet, deepest first."""
    out: list[Path] = []
    d = Path(directory)
    while not d.exists() and d != d.parent:
        out.append(d)
        d = d.parent
    return out


def _undo_writes(written: Sequence[Path], old: Mapping[Path, tuple[bytes, int] | None],
                 made: Sequence[Path]) -> bool:
    """Put back what :func:`write_skeleton` changed; False if something could not be."""
    ok = True
    for path in reversed(written):
        before = old.get(path)
        try:
            if before is None:
                path.unlink()
            else:
                atomic_write(path, before[0], before[1])
        except (OSError, InstallError):
            ok = False
    for d in made:                          # deepest first; only if left empty
        try:
            d.rmdir()
        except OSError:
            break
    return ok


def render_skeleton(name: str, module_class: str | ModuleClass, dest: Path | str, *,
                    requires: Sequence[str] = (), overwrite: bool = False,
                    templates_dir: Path | str | None = None) -> SkeletonPlan:
    """:func:`plan_skeleton` then :func:`write_skeleton` into ``dest/<name>/``.

    Raises:
        KmodError: as :func:`plan_skeleton` and :func:`write_skeleton`.
    """
    plan = plan_skeleton(name, module_class, dest, requires=requires, overwrite=overwrite,
                         templates_dir=templates_dir)
    write_skeleton(plan)
    return plan
