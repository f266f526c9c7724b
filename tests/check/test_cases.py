"""Real-toolchain check cases: one directory per rule under tests/check/cases/.

Each ``cases/<rule>/case.json`` names the modules to compile (C sources in
the same directory, built with zig for each listed target), the kernel
symbols of the manifest, and the exact report lines ``kmodbuild check``
must print (``{name}`` stands for the path of module ``name``'s ``.kmod``).

Keys: ``targets`` ("all" or a list), ``version`` (kernel, default 10.0),
``kernel`` (extra manifest symbols), ``manifest_target`` (check against
another target than the one built for), ``modules`` ({name: {sources, cflags,
cflags_by_target, version, file, link, target, triple, patch}}), ``check``
(names passed to the command, default all), ``expect`` or
``expect_by_target``, ``exit`` (default: 1 when lines are expected, else 0).
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from kmodbuild import cli, elfraw
from kmodbuild.manifest import ManifestSymbol, make_manifest
from kmodbuild.target import TARGETS, NetBSDVersion, get_target
from tests.check.conftest import KmodBuilder

CASES = Path(__file__).resolve().parent / "cases"

#: Kernel symbols every case's manifest holds (what the snippets call).
DEFAULT_KERNEL = ("printf", "hz", "stathz", "memcpy", "memset", "memmove", "memcmp")


def rela_to_rel(path: Path) -> None:
    """Rewrite every SHT_RELA section of ``path`` in place as SHT_REL (addends dropped).

    No toolchain emits REL for the RELA-only architectures, so this byte-patch
    is the only way to get such an object.
    """
    data = bytearray(path.read_bytes())
    elf = elfraw.read_elf(bytes(data), str(path))
    st = struct.Struct(("<" if elf.little_endian else ">")
                       + ("IIIIIIIIII" if elf.elfclass == 32 else "IIQQQQIIQQ"))
    ent_in, ent_out = (elfraw.RELA_SIZE[elf.elfclass], elfraw.REL_SIZE[elf.elfclass])
    word = elf.elfclass // 8
    order = "little" if elf.little_endian else "big"
    for sec in elf.iter_sections(elfraw.SHT_RELA):
        old = elf.section_data(sec)
        new = b"".join(old[i:i + ent_out] for i in range(0, len(old), ent_in))
        place = elf.get_section(sec.info)
        if not place.flags & elfraw.SHF_EXECINSTR and place.type == elfraw.SHT_PROGBITS:
            # Data pointers: move the addend into the place, as REL requires.
            for r in elf.read_relocations(sec):
                at = place.offset + r.offset
                data[at:at + word] = (r.addend or 0).to_bytes(word, order, signed=True)
        data[sec.offset:sec.offset + len(new)] = new
        at = elf.header.e_shoff + sec.index * st.size
        fields = list(st.unpack_from(data, at))
        fields[1], fields[5], fields[9] = elfraw.SHT_REL, len(new), ent_out
        st.pack_into(data, at, *fields)
    path.write_bytes(bytes(data))


def _params() -> list[Any]:
    out = []
    for d in sorted(CASES.iterdir()):
        spec = json.loads((d / "case.json").read_text())
        targets = [t.name for t in TARGETS] if spec["targets"] == "all" else spec["targets"]
        for t in targets:
            out.append(pytest.param(d, t, id=f"{d.name}-{t}"))
    return out


@pytest.mark.parametrize("case_dir,target", _params())
def test_case(case_dir: Path, target: str, kmod_builder: KmodBuilder,
              capsys: pytest.CaptureFixture[str]) -> None:
    spec = json.loads((case_dir / "case.json").read_text())
    version = spec.get("version", "10.0")
    paths: dict[str, Path] = {}
    for name, m in spec["modules"].items():
        sources = [case_dir / s for s in m.get("sources", [f"{name}.c"])]
        cflags = [*m.get("cflags", []), *m.get("cflags_by_target", {}).get(target, [])]
        kmod = kmod_builder.build(m.get("target", target), name, sources, cflags=cflags,
                                  version=m.get("version", version), file=m.get("file"),
                                  link=m.get("link", "r"), triple=m.get("triple"))
        if m.get("patch") == "rel":
            rela_to_rel(kmod)
        paths[name] = kmod
    kernel = [*DEFAULT_KERNEL, *spec.get("kernel", [])]
    mtarget = get_target(spec.get("manifest_target", target))
    manifest = make_manifest(mtarget, NetBSDVersion.parse(version),
                             [ManifestSymbol(n, "func", 16) for n in kernel])
    mpath = kmod_builder.root / "netbsd.syms"
    mpath.write_text(manifest.render())
    argv = ["check", "--manifest", str(mpath), *spec.get("args", []),
            *(str(paths[n]) for n in spec.get("check", list(paths)))]
    code = cli.main(argv)
    out = capsys.readouterr().out.splitlines()
    expect = spec["expect"] if "expect" in spec else spec["expect_by_target"].get(target)
    assert expect is not None, f"no expectation for {target}; got:\n" + "\n".join(out)
    subst = {f"{{{n}}}": str(p) for n, p in paths.items()}
    wanted = []
    for line in expect:
        for k, v in subst.items():
            line = line.replace(k, v)
        wanted.append(line)
    assert out == wanted
    assert code == spec.get("exit", 1 if any(": warning: " not in w for w in wanted) else 0)
