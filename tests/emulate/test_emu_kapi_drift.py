"""The Python kernel API cannot drift from the kernel interface headers.

* every function prototype declared in ``sys/sys/*.h`` (and the other headers
  modules include: ``secmodel/``, ``prop/``, ``lib/libkern/``) has a hook, with
  the same prototype text, in the kapi module of a header that declares it;
* every hook and every data symbol is declared by its module's header;
* every structure layout the hooks read is what the real compiler lays out, on
  every target (``_Static_assert(offsetof(...))`` compiled with zig);
* only ``kmodbuild/emulate/cpu.py`` imports unicorn.
"""
from __future__ import annotations

import importlib
import re
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from kmodbuild import kapi
from kmodbuild.kapi._proto import header_prototypes, type_kind
from kmodbuild.kapi._struct import Struct
from kmodbuild.target import TARGETS, NetBSDVersion, Target
from kmodbuild.toolchain import make_toolchain

REPO = Path(__file__).resolve().parents[2]
SYS = REPO / "sys"
#: the interface headers: sys/sys and what modules include beside it
HEADERS = sorted([*SYS.glob("sys/*.h"), *SYS.glob("secmodel/*.h"), *SYS.glob("prop/*.h"),
                  *SYS.glob("lib/libkern/*.h")])
#: structures private to the kernel (kern_auth.c), not in any header
PRIVATE = {"kauth_cred", "kauth_listener"}


def _declarations() -> dict[str, list[tuple[str, str]]]:
    """name -> [(header relative to the tree, normalised prototype)]."""
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for h in HEADERS:
        rel = str(h.relative_to(REPO))
        for p in header_prototypes(h):
            out[p.name].append((rel, p.text))
    return out


def test_headers_declare_functions() -> None:
    decls = _declarations()
    assert len(decls) > 150, "the header parser found too little"
    assert "vfs_attach" in decls and "secmodel_register" in decls and "memcpy" in decls


def test_every_header_function_has_a_hook() -> None:
    hooks = kapi.load()
    problems = []
    for name, where in sorted(_declarations().items()):
        kf = hooks.get(name)
        if kf is None:
            problems.append(f"{where[0][0]}: {where[0][1]}: no hook in kmodbuild.kapi")
            continue
        headers = {h for h, _ in where}
        if kf.header not in headers:
            problems.append(f"{name}: hook is in the module for {kf.header}, declared in "
                            f"{sorted(headers)}")
        for header, text in where:
            if text != kf.proto.text:
                problems.append(f"{header}: {text!r} but the hook says {kf.proto.text!r}")
    assert not problems, "\n".join(problems)


def test_every_hook_is_declared_and_passable() -> None:
    decls = _declarations()
    for name, kf in kapi.load().items():
        assert name in decls, f"hook {name} has no prototype in the headers"
        for ctype in (*kf.proto.params, kf.proto.ret):
            type_kind(ctype)                      # raises for a type we cannot pass


def test_header_modules_name_real_headers() -> None:
    for modname in kapi.HEADER_MODULES:
        mod = importlib.import_module(f"kmodbuild.kapi.{modname}")
        assert (REPO / mod.HEADER).is_file(), f"{modname}: no {mod.HEADER}"


def test_data_symbols_are_declared_by_their_header() -> None:
    kapi.load()
    for name, data in kapi.DATA.items():
        text = (REPO / data.header).read_text()
        assert re.search(rf"\b{re.escape(name)}\b", text), f"{name} not in {data.header}"


def _structs() -> list[Struct]:
    kapi.load()
    seen: dict[str, Struct] = {}
    for modname in kapi.HEADER_MODULES:
        mod = importlib.import_module(f"kmodbuild.kapi.{modname}")
        for value in vars(mod).values():
            if isinstance(value, Struct) and value.name not in PRIVATE:
                seen[value.name] = value
    return list(seen.values())


_INCLUDES = ("sys/param.h", "sys/types.h", "sys/systm.h", "sys/mount.h", "sys/statvfs.h",
             "sys/conf.h", "sys/exec.h", "sys/proc.h", "sys/lwp.h", "sys/kmem.h", "sys/kauth.h",
             "secmodel/secmodel.h", "sys/buf.h", "sys/bufq.h", "sys/bufq_impl.h",
             "sys/mutex.h", "sys/module.h", "sys/vnode.h", "sys/select.h", "sys/signalvar.h",
             "sys/uio.h", "sys/syscallvar.h", "sys/syscallargs.h", "prop/proplib.h")


def _layout_checks(target: Target) -> str:
    lines = [f"#include <{h}>" for h in _INCLUDES]
    lines.append("#define OFF(t, m) __builtin_offsetof(struct t, m)")
    for s in _structs():
        lay = s.layout(target)
        lines.append(f"_Static_assert(sizeof(struct {s.name}) == {lay.size}, "
                     f"\"sizeof(struct {s.name}) != {lay.size}\");")
        for f in lay.fields.values():
            d = s.designator(f.name)
            lines.append(f"_Static_assert(OFF({s.name}, {d}) == {f.offset}, "
                         f"\"offsetof(struct {s.name}, {d}) != {f.offset}\");")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_struct_layouts_match_the_compiler(target: Target, tmp_path: Path) -> None:
    src = tmp_path / "layouts.c"
    src.write_text(_layout_checks(target))
    tc = make_toolchain(target)
    version = NetBSDVersion.parse("10.0")
    argv = tc.compile_argv(str(src), str(tmp_path / "layouts.o"),
                           ["-isystem", str(SYS), "-isystem", str(SYS / "arch"),
                            f"-D__NetBSD_Version__={version.number}"])
    res = subprocess.run(argv, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]


def test_only_cpu_imports_unicorn() -> None:
    importers = []
    for py in (REPO / "kmodbuild").rglob("*.py"):
        if re.search(r"^\s*(import unicorn|from unicorn)", py.read_text(), re.M):
            importers.append(str(py.relative_to(REPO)))
    assert importers == ["kmodbuild/emulate/cpu.py"]


def test_kapi_does_not_import_the_emulator() -> None:
    for py in (REPO / "kmodbuild" / "kapi").glob("*.py"):
        assert not re.search(r"^\s*(from|import) kmodbuild\.emulate", py.read_text(), re.M), py.name
