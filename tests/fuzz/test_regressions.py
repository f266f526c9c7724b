"""The bugs the fuzzer found, each pinned with a hand-aimed corruption of a real module.

1. A malformed local symbol (or relocation table) is decoded on first use,
   inside the simulated kobj_load: the ModuleFormatError escaped it, ended the
   whole ``kmodbuild sim`` session with exit 1, and ``--validate`` stopped
   without a summary.  (``kmodbuild check`` lost every other report line the
   same way.)  Now: ENOEXEC with the kernel's console line.
2. A huge ``sh_size`` (NOBITS, or sizes summed with a huge ``sh_addralign``)
   made kobj_load allocate it: OverflowError traceback, or gigabytes of RAM.
   Now: ``out of memory``, ENOMEM, as an exhausted module_map.  An alignment
   beyond the page size placed a section outside its region (silently, or
   as an address past 2**64): now refused with ENOEXEC.
3. A PROGBITS section past the end of file was silently loaded short (the
   check passed it).  Now: ``read failed 22`` in the check; EINVAL in kobj.
4. Control characters and newlines in names split report and console lines.
   Now escaped (``\\x0a``) by the reader; ``?`` in strings read from module memory.
5. A relocation whose place is outside the module gave ``Unknown error: 14``
   with no console line.  Now ``Bad address`` with a kobj_relocate line.
6. ``kmodbuild manifest`` wrote names with white space, which ``check
   --manifest`` then refused to read.  Now such names are left out.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from kmodbuild import elfraw
from kmodbuild.manifest import parse_manifest
from tests.fuzz.fuzzlib import (SYM_FIELDS, Layout, TargetFiles, Workspace, _reloc_fields,
                                put, run_cli, set_shdr)

T = 20.0


@contextlib.contextmanager
def mutant(ws: Workspace, target: str, module: str,
           edit: Callable[[bytearray, Layout], None]) -> Iterator[tuple[TargetFiles, Path]]:
    """Write ``edit``ed bytes over the module (or ``netbsd``); restore it afterwards."""
    tf = ws.targets[target]
    buf = bytearray(tf.pristine[module])
    edit(buf, tf.layouts[module])
    path = tf.path_of(module)
    path.write_bytes(bytes(buf))
    try:
        yield tf, path
    finally:
        path.write_bytes(tf.pristine[module])


def _check(tf: TargetFiles, path: Path) -> tuple[int | None, list[str]]:
    r = run_cli(["check", "--arch", tf.target.name, "--version", "10.0", "--manifest",
                 str(tf.manifest), str(path)], T)
    assert "Traceback" not in r.err and r.escaped is None, r.err
    lines = r.out.splitlines()
    assert all(ln.startswith(f"{path}: ") for ln in lines), lines
    return r.rc, lines


def _modload(tf: TargetFiles, module: str) -> list[str]:
    r = run_cli(["sim", "--root", str(tf.destdir), "--arch", tf.target.name, "--version",
                 "10.0", "--manifest", str(tf.manifest), "--script", str(tf.scripts[module])],
                T)
    assert r.rc == 0 and "Traceback" not in r.err, (r.out, r.err)
    return r.out.splitlines()


def _validate(tf: TargetFiles) -> tuple[int | None, list[str]]:
    r = run_cli(["sim", "--root", str(tf.destdir), "--arch", tf.target.name, "--version",
                 "10.0", "--manifest", str(tf.manifest), "--validate"], T)
    assert "Traceback" not in r.err, r.err
    return r.rc, r.out.splitlines()


def _symbol_index(data: bytes, name: str) -> int:
    elf = elfraw.read_elf(data, "x")
    symtab = elf.get_section_by_type(elfraw.SHT_SYMTAB)
    assert symtab is not None
    return next(i for i, s in enumerate(elf.read_symbols(symtab)) if s.name == name)


def _section(lay: Layout, name: str) -> elfraw.RawSection:
    return next(s for s in lay.sections if s.name == name)


def test_lazily_decoded_symbol_name_is_enoexec_not_a_crash(workspace: Workspace) -> None:
    tf = workspace.targets["amd64"]
    local = _symbol_index(tf.pristine["hello"], "hello_modcmd")   # a local: decoded lazily

    def edit(buf: bytearray, lay: Layout) -> None:
        assert lay.symtab is not None
        off, code = SYM_FIELDS[64]["st_name"]
        put(buf, lay, lay.symtab.offset + local * 24 + off, code, 0x7FFFFFFF)

    with mutant(workspace, "amd64", "hello", edit) as (tf, path):
        rc, _ = _check(tf, path)
        assert rc in (0, 1)
        out = _modload(tf, "hello")
        assert any("linker error: string offset 2147483647 is outside section .strtab" in ln
                   and ln.startswith("kobj_load, 0: [") for ln in out), out
        assert f"modload: {path}: Exec format error" in out
        rc, lines = _validate(tf)
        assert rc == 1 and lines[-1].endswith("1 failure"), lines
        assert "hello: load failed: Exec format error (ENOEXEC)" in lines


def test_check_reports_the_other_problems_too(workspace: Workspace) -> None:
    """A relocation table that fails only when the check reads it does not hide the rest."""
    def edit(buf: bytearray, lay: Layout) -> None:
        rela = _section(lay, ".rela.text")
        rt = next(r for r in lay.relocs if r.index == rela.index)
        put(buf, lay, *_reloc_fields(lay, rt, 0)["info"], (0x7FFFFFFF << 32) | 0xFF)
        local = _symbol_index(bytes(buf), "hello_modcmd")
        assert lay.symtab is not None
        put(buf, lay, lay.symtab.offset + local * 24, "I", 0x7FFFFFFF)

    with mutant(workspace, "amd64", "hello", edit) as (tf, path):
        rc, lines = _check(tf, path)
        assert rc == 1
        assert any("string offset 2147483647" in ln for ln in lines), lines


def test_huge_section_is_enomem_fast(workspace: Workspace) -> None:
    def edit(buf: bytearray, lay: Layout) -> None:
        data = _section(lay, ".data")
        set_shdr(buf, lay, data.index, "sh_type", elfraw.SHT_NOBITS)
        set_shdr(buf, lay, data.index, "sh_size", 1 << 40)

    with mutant(workspace, "evbarm-aarch64", "hello", edit) as (tf, path):
        out = _modload(tf, "hello")
        assert any(ln.endswith("linker error: out of memory") for ln in out), out
        assert f"modload: {path}: Cannot allocate memory" in out


def test_alignment_beyond_a_page_is_refused(workspace: Workspace) -> None:
    """Placed from a page-aligned base, the section would land outside its region (a
    64-bit address overflow here): refused, not written out of bounds."""
    def edit(buf: bytearray, lay: Layout) -> None:
        set_shdr(buf, lay, _section(lay, ".rodata").index, "sh_addralign", 1 << 62)

    with mutant(workspace, "riscv-riscv64", "null", edit) as (tf, path):
        out = _modload(tf, "null")
        assert any(ln.endswith("linker error: section .rodata (sh_addralign "
                               "0x4000000000000000) does not fit in its region")
                   for ln in out), out
        assert f"modload: {path}: Exec format error" in out


def test_section_past_end_of_file(workspace: Workspace) -> None:
    def edit(buf: bytearray, lay: Layout) -> None:
        set_shdr(buf, lay, _section(lay, ".text").index, "sh_offset", lay.size - 8)

    with mutant(workspace, "i386", "ffs", edit) as (tf, path):
        rc, lines = _check(tf, path)
        assert rc == 1 and any("linker error: read failed 22 (section .text" in ln
                               for ln in lines), lines
        out = _modload(tf, "ffs")
        assert f"modload: {path}: Exec format error" in out, out


def test_newline_in_a_symbol_name_stays_on_one_line(workspace: Workspace) -> None:
    def edit(buf: bytearray, lay: Layout) -> None:
        strtab = _section(lay, ".strtab")
        at = bytes(buf).index(b"\0printf\0", strtab.offset) + 3
        buf[at] = 0x0A                                  # "pr\nntf"

    with mutant(workspace, "sparc64", "hello", edit) as (tf, path):
        rc, lines = _check(tf, path)
        assert rc == 1 and any("pr\\x0antf" in ln for ln in lines), lines
        out = _modload(tf, "hello")
        assert any("symbol `pr\\x0antf' not found" in ln for ln in out), out


def test_relocation_outside_the_module_is_a_clear_efault(workspace: Workspace) -> None:
    def edit(buf: bytearray, lay: Layout) -> None:
        rela = _section(lay, ".rela.text")
        rt = next(r for r in lay.relocs if r.index == rela.index)
        put(buf, lay, *_reloc_fields(lay, rt, 0)["offset"], 0x7FFFFFF0)

    with mutant(workspace, "amd64", "hello", edit) as (tf, path):
        out = _modload(tf, "hello")
        assert any(ln.startswith("kobj_relocate, 0: [") and "outside" in ln for ln in out), out
        assert f"modload: {path}: Bad address" in out


def test_manifest_leaves_out_names_it_cannot_write(workspace: Workspace) -> None:
    def edit(buf: bytearray, lay: Layout) -> None:
        strtab = _section(lay, ".strtab")
        at = bytes(buf).index(b"\0printf\0", strtab.offset) + 3
        buf[at] = 0x20                                  # "pr ntf"

    with mutant(workspace, "evbppc-powerpc", "netbsd", edit) as (tf, path):
        r = run_cli(["manifest", "--arch", "evbppc-powerpc", "--version", "10.0", str(path),
                     "-o", "-"], T)
        assert r.rc == 0, r.err
        m = parse_manifest(r.out, "<out>")
        assert "pr ntf" not in m and "printf" not in m and "aprint_normal" in m
