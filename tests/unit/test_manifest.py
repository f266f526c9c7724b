"""The kernel symbol manifest format: round trip, sorting, and file:line parse errors."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from kmodbuild.errors import ManifestError
from kmodbuild.manifest import (MAGIC, KernelManifest, ManifestSymbol, load_manifest,
                                make_manifest, manifest_from_kernel, parse_manifest,
                                write_if_changed)
from kmodbuild.target import NetBSDVersion, get_target

HEADER = (f"{MAGIC}\n# MACHINE=amd64\n# MACHINE_ARCH=x86_64\n# VERSION=10.0\n"
          "# __NetBSD_Version__=1000000000\n")


def _m(*symbols: ManifestSymbol, target: str = "amd64", version: str = "10.0") -> KernelManifest:
    return make_manifest(get_target(target), NetBSDVersion.parse(version), symbols)


def test_render_is_sorted_and_documented_layout() -> None:
    m = _m(ManifestSymbol("vfs_attach", "func", 120), ManifestSymbol("hz", "object", 4),
           ManifestSymbol("Zeta", "notype", 0, "a1b2c3"))
    assert m.render() == HEADER + ("Zeta\tnotype\t0\ta1b2c3\n"
                                   "hz\tobject\t4\t-\n"
                                   "vfs_attach\tfunc\t120\t-\n")


def test_round_trip() -> None:
    m = _m(*(ManifestSymbol(f"sym{i:05d}", ("func", "object", "notype")[i % 3], i,
                            None if i % 2 else f"{i:x}") for i in range(500)),
           target="evbarm-aarch64", version="10.99.10")
    back = parse_manifest(m.render(), "k.syms")
    assert back.symbols == m.symbols
    assert (back.machine, back.machine_arch, str(back.version), back.netbsd_version) == \
        ("evbarm", "aarch64", "10.99.10", 1099001000)
    assert back.get_target() == get_target("evbarm-aarch64")
    assert back.render() == m.render()
    assert "sym00003" in back and "nope" not in back and len(back) == 500
    assert back.get_symbol("sym00004") == ManifestSymbol("sym00004", "object", 4, "4")
    assert back.get_symbol("nope") is None
    assert [s.name for s in back][:2] == ["sym00000", "sym00001"]


def test_comments_and_blank_lines_are_ignored() -> None:
    text = HEADER + "# a comment\n\nhz\tobject\t4\t-\n# another\nvfs_attach\tfunc\t1\t-\n"
    assert sorted(parse_manifest(text).symbols) == ["hz", "vfs_attach"]


def test_crlf_line_ends_blank_lines_included() -> None:
    # the documented \r before \n: a blank line of a CRLF file is "\r", ignored as "" is
    text = (HEADER + "# a comment\n\nhz\tobject\t4\t-\n\n#x\nvfs_attach\tfunc\t1\t-\n"
            ).replace("\n", "\r\n")
    m = parse_manifest(text, "k.syms")
    assert sorted(m.symbols) == ["hz", "vfs_attach"] and str(m.version) == "10.0"


def test_from_kernel_symbols() -> None:
    class K:
        def __init__(self, name: str, kind: str, size: int) -> None:
            self.name, self.kind, self.size = name, kind, size
    m = manifest_from_kernel([K("b", "func", 1), K("a", "object", 2), K("c", "tls", 3)],
                             get_target("i386"), NetBSDVersion.parse("9.3"))
    assert m.render().splitlines()[1:] == [
        "# MACHINE=i386", "# MACHINE_ARCH=i386", "# VERSION=9.3", "# __NetBSD_Version__=903000000",
        "a\tobject\t2\t-", "b\tfunc\t1\t-", "c\tnotype\t3\t-"]


@pytest.mark.parametrize("text,line,message", [
    ("", 1, "not a kmodbuild symbol manifest"),
    ("# kmodbuild kernel symbol manifest v2\n", 1, "not a kmodbuild symbol manifest"),
    (HEADER + "hz\tobject\t4\n", 6, "invalid line: expected 4 tab-separated fields"),
    (HEADER + "hz object 4 -\n", 6, "invalid line: expected 4 tab-separated fields"),
    (HEADER + "hz\tobject\t4\t-\nhz\tobject\t4\t-\n", 7, "duplicate symbol hz (first on line 6)"),
    (HEADER + "b\tfunc\t1\t-\na\tfunc\t1\t-\n", 7, "symbol a is out of order (after b)"),
    (HEADER + "hz\tvariable\t4\t-\n", 6, "symbol hz: unknown kind 'variable'"),
    (HEADER + "hz\tobject\t0x4\t-\n", 6, "symbol hz: size '0x4' is not a decimal number"),
    (HEADER + "hz\tobject\t-4\t-\n", 6, "symbol hz: size '-4' is not a decimal number"),
    (HEADER + "hz\tobject\t4\t\n", 6, "symbol hz: invalid abihash ''"),
    (HEADER + "\tobject\t4\t-\n", 6, "invalid symbol name ''"),
    # white space of any kind, as the fast path refuses it (it took only " ")
    (HEADER + "a\x0bb\tobject\t4\t-\n", 6, "invalid symbol name 'a\\x0bb'"),
    (HEADER + "c\xa0d\tobject\t4\t-\n", 6, "invalid symbol name 'c\\xa0d'"),
    (HEADER.replace("# VERSION=10.0\n", "") + "hz\tobject\t4\t-\n", 5,
     "missing header line '# VERSION=...'"),
    (HEADER.replace("10.0", "10.x"), 4, "invalid VERSION '10.x'"),
    (HEADER.replace("x86_64", "sparc"), 3, "unknown target MACHINE=amd64 MACHINE_ARCH=sparc"),
    (HEADER.replace("=1000000000", "=999000000"), 5,
     "__NetBSD_Version__=999000000 does not match VERSION=10.0 (expected 1000000000)"),
    (HEADER.replace("=1000000000", "=ten"), 5, "__NetBSD_Version__ 'ten' is not a number"),
    (HEADER + "# MACHINE=i386\n", 6, "duplicate header line MACHINE (first on line 2)"),
    (HEADER + "hz\tobject\t4\t-\n# VERSION=10.0\n", 7, "header line VERSION after the first "
     "symbol"),
])
def test_parse_errors_name_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ManifestError) as exc:
        parse_manifest(text, "netbsd.syms")
    assert exc.value.line == line
    assert exc.value.message.startswith(message), exc.value.message
    assert str(exc.value).startswith(f"netbsd.syms:{line}: {message}")


def test_load_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as exc:
        load_manifest(tmp_path / "missing.syms")
    assert str(exc.value).startswith(f"{tmp_path / 'missing.syms'}: cannot read manifest")
    bad = tmp_path / "bad.syms"
    bad.write_bytes(HEADER.encode() + b"hz\tobject\t4\t-\n\xff\xfe\n")
    with pytest.raises(ManifestError) as exc:
        load_manifest(bad)
    assert str(exc.value) == f"{bad}:7: invalid UTF-8"


def test_write_if_changed(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "netbsd.syms"
    text = _m(ManifestSymbol("hz", "object", 4)).render()
    assert write_if_changed(p, text) is True
    os.utime(p, (1_000_000, 1_000_000))
    assert write_if_changed(p, text) is False
    assert p.stat().st_mtime == 1_000_000
    assert load_manifest(p).symbols == {"hz": ManifestSymbol("hz", "object", 4)}
    assert write_if_changed(p, text + "# changed\n") is True
    assert p.read_text().endswith("# changed\n")
    assert [f.name for f in p.parent.iterdir()] == ["netbsd.syms"]


@pytest.mark.parametrize("what", ["fifo", "directory"])
def test_a_manifest_that_is_not_a_file_is_one_line(tmp_path, built_tree, what) -> None:
    """check --manifest FIFO waited for a writer forever (open() of a FIFO blocks)."""
    import os
    import subprocess
    import sys
    path = tmp_path / "netbsd.syms"
    os.mkfifo(path) if what == "fifo" else path.mkdir()
    res = subprocess.run([sys.executable, "-m", "kmodbuild", "check", "--manifest", str(path),
                          str(built_tree.kmod("amd64-x86_64", "hello"))],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2          # a usage error: exit 1 means findings
    why = "not a regular file" if what == "fifo" else "Is a directory"
    assert res.stderr.strip() == f"kmodbuild check: {path}: cannot read manifest: {why}"
