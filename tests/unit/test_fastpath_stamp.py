"""kmodbuild.fastpath: the stamp records inputs as they were when the build began."""
from __future__ import annotations

import os
from pathlib import Path

from kmodbuild import fastpath


def _tree(tmp_path: Path) -> tuple[Path, Path, Path]:
    src = tmp_path / "sys" / "modules" / "m"
    src.mkdir(parents=True)
    (src / "m.c").write_text("int x;\n")
    out = tmp_path / "build"
    out.mkdir()
    (out / "m.o").write_bytes(b"obj")
    return tmp_path / "sys", out, tmp_path / "build" / ".fastpath.json"


def test_unchanged_tree_is_a_noop(tmp_path: Path) -> None:
    sys_dir, out, stamp = _tree(tmp_path)
    before = fastpath.scan([str(sys_dir)])
    fastpath.write_stamp(stamp, ["a"], [str(out)], (), str(sys_dir / "modules"),
                         inputs=before, input_roots=[str(sys_dir)])
    assert fastpath.plan(stamp, ["a"]) == ("noop", ())
    assert fastpath.plan(stamp, ["b"]) == ("full", ())


def test_source_edited_while_the_build_ran_is_not_a_noop(tmp_path: Path) -> None:
    sys_dir, out, stamp = _tree(tmp_path)
    before = fastpath.scan([str(sys_dir)])
    c = sys_dir / "modules" / "m" / "m.c"
    c.write_text("int y;\n")                     # edited after the build read it
    os.utime(c, ns=(1, 1))
    fastpath.write_stamp(stamp, ["a"], [str(out)], (), str(sys_dir / "modules"),
                         inputs=before, input_roots=[str(sys_dir)])
    assert fastpath.plan(stamp, ["a"]) == ("partial", ("m",))


def test_output_changed_after_the_build_is_not_a_noop(tmp_path: Path) -> None:
    sys_dir, out, stamp = _tree(tmp_path)
    fastpath.write_stamp(stamp, ["a"], [str(out)], (), str(sys_dir / "modules"),
                         inputs=fastpath.scan([str(sys_dir)]), input_roots=[str(sys_dir)])
    (out / "m.o").unlink()
    assert fastpath.plan(stamp, ["a"]) == ("full", ())
