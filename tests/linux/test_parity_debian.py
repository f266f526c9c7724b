"""Parity with depmod on Debian's real amd64 kernel module tree (about 4,000 modules).

The packages are downloaded once with apt-get into a cache outside the
repository (tests/linux/debian_tree.py); without network or apt the tests skip
and say why.  Deselect them with ``-m "not network"``.
"""
from __future__ import annotations

import lzma
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kmodbuild.linux import kofile
from kmodbuild.linux.check import check_linux
from tests.linux.debian_tree import DebianKernel
from tests.linux.parity import assert_parity

pytestmark = pytest.mark.network


def modified_symvers(src: Path, dest: Path) -> tuple[int, int]:
    """Module.symvers with every 37th vmlinux row deleted and every 41st vmlinux CRC
    changed (module rows changed too: depmod ignores them).  Returns (deleted, changed)."""
    out, deleted, changed = [], 0, 0
    for n, line in enumerate(src.read_text().splitlines(keepends=True)):
        fields = line.split("\t")
        if len(fields) > 2 and fields[2] == "vmlinux":
            if n % 37 == 0:
                deleted += 1
                continue
            if n % 41 == 0:
                fields[0] = f"{int(fields[0], 16) ^ 0x5A5A5A5A:#010x}"
                changed += 1
        elif len(fields) > 2 and n % 5 == 0:
            fields[0] = "0x00000000"
        out.append("\t".join(fields))
    dest.write_text("".join(out))
    return deleted, changed


def test_real_tree(depmod: str, debian_kernel: DebianKernel) -> None:
    res, ref = assert_parity(depmod, debian_kernel.basedir, debian_kernel.version,
                             debian_kernel.symvers)
    assert len(ref.dep_lines) > 3000
    assert not res.has_errors                      # a consistent distribution kernel


def test_manifest_with_rows_deleted_and_crcs_changed(depmod: str, debian_kernel: DebianKernel,
                                                     tmp_path: Path) -> None:
    symvers = tmp_path / "Module.symvers"
    deleted, changed = modified_symvers(debian_kernel.symvers, symvers)
    assert deleted > 100 and changed > 100
    res, ref = assert_parity(depmod, debian_kernel.basedir, debian_kernel.version, symvers)
    assert len(ref.unknown) > 100 and len(ref.disagree) > 100
    assert res.has_errors


def _link_or_copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def test_partial_tree_with_compressed_modules(depmod: str, debian_kernel: DebianKernel,
                                              tmp_path: Path) -> None:
    # Drop every third module (their exports become unknown symbols, dependency
    # lists change) and compress a few of the rest with xz and zstd.
    version = debian_kernel.version
    moddir = tmp_path / "root" / "lib" / "modules" / version
    order = (debian_kernel.moddir / "modules.order").read_text().split()
    kept = [rel for i, rel in enumerate(order) if i % 3]
    for rel in kept:
        _link_or_copy(debian_kernel.moddir / rel, moddir / rel)
    shutil.copy2(debian_kernel.moddir / "modules.order", moddir / "modules.order")
    packed = 0
    for rel in kept[::150]:
        path = moddir / rel
        if packed % 2 == 0:
            Path(str(path) + ".xz").write_bytes(lzma.compress(path.read_bytes(),
                                                              check=lzma.CHECK_CRC32))
            path.unlink()
        elif shutil.which("zstd"):
            subprocess.run(["zstd", "-q", "--rm", "-o", str(path) + ".zst", str(path)],
                           check=True)
        packed += 1
    res, ref = assert_parity(depmod, tmp_path / "root", version, debian_kernel.symvers)
    assert len(ref.unknown) > 100
    assert any(".ko.xz" in line for line in res.dep_lines)


def test_cache_makes_a_recheck_read_nothing(debian_kernel: DebianKernel, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "linux.cache"
    args = ([str(debian_kernel.moddir)], str(debian_kernel.symvers))
    cold = check_linux(*args, cache=str(cache))
    assert cold.read == len(cold.modules) and not cold.reused

    reads: list[str] = []
    real = kofile.read_many
    monkeypatch.setattr(kofile, "read_many", lambda paths: reads.extend(paths) or real(paths))
    warm = check_linux(*args, cache=str(cache), jobs=1)
    assert warm.reused and reads == []
    assert (warm.dep_lines, warm.diagnostics) == (cold.dep_lines, cold.diagnostics)


def test_fast_decoder_agrees_on_every_module(debian_kernel: DebianKernel) -> None:
    # kofile decodes ordinary modules with quickelf and falls back to koelf: on
    # Debian's 4,000 modules both decoders give the same facts, and the fast one
    # takes them all.
    from kmodbuild.linux import koelf, quickelf
    paths = sorted(debian_kernel.moddir.rglob("*.ko"))
    assert len(paths) > 3000
    for path in paths:
        data = path.read_bytes()

        def read(offset: int, length: int, data: bytes = data) -> bytes:
            return data[offset:offset + length]

        fast = quickelf.fast_extract(read, len(data), str(path))
        assert fast is not None, path
        facts, deps, crcs = fast
        assert facts == koelf.extract(read, len(data), str(path)), path
        assert (deps, crcs) == (facts.deps, facts.dep_crcs), path


def _section_spans(data: bytes) -> dict[str, tuple[int, int]]:
    """Name -> (file offset, size) of the sections of a 64-bit little-endian module, and
    ``#headers`` for the section header table."""
    import struct
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shnum, shstrndx = struct.unpack_from("<HH", data, 0x3C)
    hdrs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + 64 * i) for i in range(shnum)]
    names = data[hdrs[shstrndx][4]:hdrs[shstrndx][4] + hdrs[shstrndx][5]]
    spans = {names[h[0]:names.index(b"\0", h[0])].decode(): (h[4], h[5]) for h in hdrs}
    spans["#headers"] = (shoff, 64 * shnum)
    return spans


def test_damaged_modules_against_depmod(depmod: str, debian_kernel: DebianKernel,
                                        tmp_path: Path) -> None:
    """Differential fuzzing, seeded: bytes of what depmod reads (section headers, symbol
    and string tables, __versions, .modinfo, the CRC tables) are changed at random in a
    few of 40 real modules; depmod and kmodbuild must still give the same modules.dep,
    unknown symbols and disagreements.  (It found a .modinfo running past the end of the
    file -- libkmod passes over such a section -- and names holding "\\r".)"""
    import random
    rnd = random.Random(3)
    src = debian_kernel.moddir
    pool = sorted(p.relative_to(src).as_posix()
                  for p in (src / "kernel/net/netfilter").rglob("*.ko"))[:40]
    assert len(pool) == 40
    pristine = {rel: (src / rel).read_bytes() for rel in pool}
    kinds = [".symtab", ".strtab", "__versions", ".modinfo", "#headers", "__ksymtab_strings",
             "__kcrctab", "__kcrctab_gpl"]
    for round_ in range(40):
        base = tmp_path / f"r{round_}"
        moddir = base / "lib" / "modules" / "9.9"
        changed = []
        victims = set(rnd.sample(pool, rnd.randint(1, 3)))
        for rel, data in pristine.items():
            if rel in victims:
                spans, mutable = _section_spans(data), bytearray(data)
                for _ in range(rnd.randint(1, 6)):
                    kind = rnd.choice(kinds)
                    offset, size = spans.get(kind, (0, 0))
                    if kind == "#headers":       # mostly a section's sh_offset or sh_size
                        at = offset + 64 * rnd.randrange(size // 64) + rnd.choice(
                            [24, 25, 26, 32, 33, 34, 35, rnd.randrange(64)])
                        size = 1
                    if size:
                        at = at if kind == "#headers" else offset + rnd.randrange(size)
                        mutable[at] = rnd.choice([0, 0x2E, 0x5F, rnd.randrange(256),
                                                  mutable[at] ^ 1])
                        changed.append((rel, at))
                data = bytes(mutable)
            (moddir / rel).parent.mkdir(parents=True, exist_ok=True)
            (moddir / rel).write_bytes(data)
        (moddir / "modules.order").write_text("".join(f"{rel}\n" for rel in pool))
        try:
            assert_parity(depmod, base, "9.9", debian_kernel.symvers, jobs=1)
        except AssertionError as e:
            raise AssertionError(f"round {round_}, bytes changed {changed}: {e}") from None
        shutil.rmtree(base)


def test_damaged_module_symvers_against_depmod(depmod: str, debian_kernel: DebianKernel,
                                               tmp_path: Path) -> None:
    """Differential fuzzing of Module.symvers, seeded: the rows 40 real modules use, and
    others, with fields replaced (CRC spellings strtoull takes or refuses, another
    module column, a NUL), blanks and odd bytes inserted, rows dropped, doubled and
    shuffled; depmod and kmodbuild must agree.  (It found CRCs after a \\r or \\v,
    which strtoull skips, and lines cut by a NUL.)"""
    import random
    from kmodbuild.linux.kofile import read_ko
    rnd = random.Random(6)
    src = debian_kernel.moddir
    pool = sorted(p.relative_to(src).as_posix()
                  for p in (src / "kernel/net/netfilter").rglob("*.ko"))[:40]
    moddir = tmp_path / "lib" / "modules" / "9.9"
    used: set[str] = set()
    for rel in pool:
        (moddir / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / rel, moddir / rel)
        used.update(read_ko(str(src / rel)).deps)
    (moddir / "modules.order").write_text("".join(f"{rel}\n" for rel in pool))
    lines = debian_kernel.symvers.read_bytes().split(b"\n")
    rows = [ln for ln in lines if ln.split(b"\t")[1:2] and ln.split(b"\t")[1].decode() in used]
    rows += rnd.sample([ln for ln in lines if ln not in rows], 200)
    crcs = [b"0x", b"", b"0X1234", b"1234", b"0x1g", b"0x" + b"f" * 17, b"-0x5", b"+0x7",
            b"\r0x10", b"\x0b0x11", b"0b101", b"0x1_0"]
    odd = [b" ", b"\t", b"\r", b"\x0b", b"\x0c", b"\x00", b"\n", b"\xff"]
    symvers = tmp_path / "Module.symvers"
    for round_ in range(30):
        out = []
        for line in rows:
            r, fields = rnd.random(), line.split(b"\t")
            if r < 0.03:
                continue
            if r < 0.06:
                fields[0] = rnd.choice(crcs)
            elif r < 0.08:
                fields[2] = rnd.choice([b"vmlinux ", b"Vmlinux", b"", b"vmlinux\x00", b"kernel/x"])
            elif r < 0.10:
                fields = [b" ".join(fields)]
            elif r < 0.12:
                fields = fields[:2]
            elif r < 0.14:
                out.append(line)
            elif r < 0.20:
                mutable = bytearray(line)
                for _ in range(rnd.randint(1, 3)):
                    at = rnd.randrange(len(mutable) + 1)
                    mutable[at:at] = rnd.choice(odd)
                fields = [bytes(mutable)]
            out.append(b"\t".join(fields))
        if rnd.random() < 0.3:
            rnd.shuffle(out)
        symvers.write_bytes(b"\n".join(out) + rnd.choice([b"\n", b"", b"\n\n"]))
        try:
            assert_parity(depmod, tmp_path, "9.9", symvers, jobs=1)
        except AssertionError as e:
            raise AssertionError(f"round {round_}: {e}") from None


def test_tree_layouts_against_depmod(depmod: str, debian_kernel: DebianKernel,
                                     tmp_path: Path) -> None:
    """Differential fuzzing of the tree, seeded: 30 real modules moved to updates/ and
    extra/, under build/ (never searched), compressed, copied twice (a repeated name);
    modules.order with lines missing, repeated, shuffled, naming the compressed file,
    ending in a blank, "\\r" or a NUL, or without its last newline.  (It found
    repeated names settled by path instead of by the walk's order, and modules.order
    lines taken after stripping blanks, looked up by their compressed name, and
    used when depmod finds the file corrupted.)"""
    import random
    rnd = random.Random(2)
    src = debian_kernel.moddir
    pool = sorted(p.relative_to(src).as_posix()
                  for p in (src / "kernel/net/netfilter").rglob("*.ko"))[:30]
    zstd = shutil.which("zstd")
    for round_ in range(20):
        base = tmp_path / f"r{round_}"
        moddir = base / "lib" / "modules" / "9.9"
        for rel in pool:
            name, r = rel.rsplit("/", 1)[1], rnd.random()
            target = (f"updates/{name}" if r < 0.1 else f"extra/{name}" if r < 0.15
                      else f"kernel/build/{name}" if r < 0.18 else rel)
            data, r = (src / rel).read_bytes(), rnd.random()
            if r < 0.1:
                data, target = lzma.compress(data, check=lzma.CHECK_CRC32), target + ".xz"
            elif r < 0.15 and zstd:
                data = subprocess.run([zstd, "-q", "-c"], input=data, capture_output=True,
                                      check=True).stdout
                target += ".zst"
            (moddir / target).parent.mkdir(parents=True, exist_ok=True)
            (moddir / target).write_bytes(data)
            if rnd.random() < 0.05:
                (moddir / "kernel/dup").mkdir(parents=True, exist_ok=True)
                shutil.copy(src / rel, moddir / "kernel/dup" / name)
        order = [rel for rel in pool if rnd.random() < 0.8]
        if rnd.random() < 0.5:
            rnd.shuffle(order)
        text = "".join(rnd.choice([o, o, o, o + ".xz", ""])
                       + rnd.choice(["\n", "\n", "\n", "\r\n", " \n", "\0x\n"]) for o in order)
        if rnd.random() < 0.2:
            text = text.rstrip("\n")
        if rnd.random() < 0.2 and order:
            text += order[0] + "\n"
        if rnd.random() < 0.9:
            (moddir / "modules.order").write_text(text)
        try:
            assert_parity(depmod, base, "9.9", debian_kernel.symvers, any_line_order=True,
                          jobs=1)
        except AssertionError as e:
            raise AssertionError(f"round {round_}: {e}") from None
        shutil.rmtree(base)
