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


def _who_compiles(sys_dir: Path, **more: object) -> dict[str, object]:
    """What a build records for the partial decision: m/m.c compiled by m's module."""
    return {"sources": {str(sys_dir / "modules" / "m" / "m.c"): ["m"]}, "included_c": [],
            **more}


def test_unchanged_tree_is_a_noop(tmp_path: Path) -> None:
    sys_dir, out, stamp = _tree(tmp_path)
    before = fastpath.scan([str(sys_dir)])
    fastpath.write_stamp(stamp, ["a"], [str(out)], (), str(sys_dir / "modules"),
                         inputs=before, input_roots=[str(sys_dir)],
                         extra=_who_compiles(sys_dir))
    assert fastpath.plan(stamp, ["a"]) == ("noop", ())
    assert fastpath.plan(stamp, ["b"]) == ("full", ())


def test_source_edited_while_the_build_ran_is_not_a_noop(tmp_path: Path) -> None:
    sys_dir, out, stamp = _tree(tmp_path)
    before = fastpath.scan([str(sys_dir)])
    c = sys_dir / "modules" / "m" / "m.c"
    c.write_text("int y;\n")                     # edited after the build read it
    os.utime(c, ns=(1, 1))
    fastpath.write_stamp(stamp, ["a"], [str(out)], (), str(sys_dir / "modules"),
                         inputs=before, input_roots=[str(sys_dir)],
                         extra=_who_compiles(sys_dir))
    assert fastpath.plan(stamp, ["a"]) == ("partial", ("m",))


def test_output_changed_after_the_build_is_not_a_noop(tmp_path: Path) -> None:
    sys_dir, out, stamp = _tree(tmp_path)
    fastpath.write_stamp(stamp, ["a"], [str(out)], (), str(sys_dir / "modules"),
                         inputs=fastpath.scan([str(sys_dir)]), input_roots=[str(sys_dir)],
                         extra=_who_compiles(sys_dir))
    (out / "m.o").unlink()
    assert fastpath.plan(stamp, ["a"]) == ("full", ())


def _stamp_with_hashes(tmp_path: Path) -> tuple[Path, Path, Path]:
    sys_dir, out, stamp = _tree(tmp_path)
    (sys_dir / "sys.h").write_text("#define X 1\n")
    before = fastpath.scan([str(sys_dir)])
    fastpath.write_stamp(stamp, ["a"], [str(out)], (), str(sys_dir / "modules"),
                         inputs=before, input_roots=[str(sys_dir)],
                         extra=_who_compiles(sys_dir),
                         hashes=fastpath.input_hashes(before))
    return sys_dir, out, stamp


def test_touched_inputs_with_their_contents_unchanged_are_a_noop(tmp_path: Path) -> None:
    sys_dir, _, stamp = _stamp_with_hashes(tmp_path)
    for f in (sys_dir / "sys.h", sys_dir / "modules" / "m" / "m.c"):
        os.utime(f, ns=(5, 5))
    d = fastpath.decide(stamp, ["a"])
    assert (d.kind, d.dirs, len(d.touched)) == ("noop", (), 2)
    fastpath.refresh_stamp(stamp, ["a"], d)
    assert fastpath.decide(stamp, ["a"]).touched == ()         # not compared again
    assert fastpath.plan(stamp, ["a"]) == ("noop", ())
    (sys_dir / "sys.h").write_text("#define X 2\n")             # same size, new contents
    assert fastpath.plan(stamp, ["a"]) == ("full", ())


def test_a_changed_source_beside_a_touched_header_is_partial(tmp_path: Path) -> None:
    sys_dir, _, stamp = _stamp_with_hashes(tmp_path)
    os.utime(sys_dir / "sys.h", ns=(5, 5))
    c = sys_dir / "modules" / "m" / "m.c"
    c.write_text("int z;\n")
    d = fastpath.decide(stamp, ["a"])
    assert (d.kind, d.dirs, d.changed) == ("partial", ("m",), (str(c),))


def test_inputs_are_digested_as_the_build_read_them(tmp_path: Path) -> None:
    """The digests are taken when the build begins: an edit made while it ran (same
    size, so only the contents tell) is a change for the next run."""
    sys_dir, out, stamp = _tree(tmp_path)
    before = fastpath.scan([str(sys_dir)])
    hashes = fastpath.input_hashes(before)
    c = sys_dir / "modules" / "m" / "m.c"
    c.write_text("int y;\n")
    fastpath.write_stamp(stamp, ["a"], [str(out)], (), str(sys_dir / "modules"),
                         inputs=before, input_roots=[str(sys_dir)],
                         extra=_who_compiles(sys_dir), hashes=hashes)
    assert fastpath.plan(stamp, ["a"]) == ("partial", ("m",))
    known = fastpath.known_hashes(stamp)
    assert fastpath.input_hashes(before, known) == hashes        # reused, not read
    assert fastpath.input_hashes(fastpath.scan([str(sys_dir)]), known)[str(c)] != hashes[str(c)]


def test_big_inputs_are_not_digested(tmp_path: Path) -> None:
    """The compiler binary (185 MB) is watched by its stat, not read at every clean build."""
    big = tmp_path / "zig"
    big.write_bytes(b"\0" * (fastpath.MAX_HASHED + 1))
    small = tmp_path / "SConstruct"
    small.write_text("x\n")
    hashes = fastpath.input_hashes(fastpath.scan((), [str(big), str(small)]))
    assert set(hashes) == {str(small)}


def test_installing_or_removing_the_emulator_is_not_a_noop(tmp_path: Path,
                                                            monkeypatch) -> None:
    import importlib.util
    sys_dir, out, stamp = _tree(tmp_path)
    before = fastpath.scan([str(sys_dir)])
    fastpath.write_stamp(stamp, ["a"], [str(out)], (), str(sys_dir / "modules"),
                         inputs=before, input_roots=[str(sys_dir)],
                         extra=_who_compiles(sys_dir))
    assert fastpath.plan(stamp, ["a"]) == ("noop", ())
    real = importlib.util.find_spec
    # unicorn gone: the simulation would not run modcmd any more -- another answer
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "unicorn" else real(name, *a))
    assert fastpath.emulator_identity() == "none"
    assert fastpath.plan(stamp, ["a"]) == ("full", ())


def test_kmodbuild_builds_minus_c_tree_is_left_out_of_the_stamps_command_line(
        tmp_path: Path) -> None:
    top, other = str(tmp_path), str(tmp_path / "other")
    (tmp_path / "other").mkdir()
    (tmp_path / "link").symlink_to(tmp_path)
    out = fastpath.build_argv
    assert out(["-C", top, "ARCH=amd64"], top) == ["ARCH=amd64"]
    assert out([f"-C{top}", "-j2"], top) == ["-j2"]
    assert out([f"--directory={top}"], top) == []
    assert out(["-Q", "--directory", top], top) == ["-Q"]
    assert out(["-C", str(tmp_path / "link")], top) == []          # the same directory
    # another directory, a relative path, two of them, a -C without its directory: kept
    for argv in (["-C", other], ["-C", "."], ["-C", top, "-C", top], ["A=1", "-C"]):
        assert out(argv, top) == argv


def _edited_stamp(tmp_path: Path, **extra: object) -> Path:
    sys_dir, out, stamp = _tree(tmp_path)
    fastpath.write_stamp(stamp, ["a"], [str(out)], (), str(sys_dir / "modules"),
                         inputs=fastpath.scan([str(sys_dir)]), input_roots=[str(sys_dir)],
                         extra=extra)
    c = sys_dir / "modules" / "m" / "m.c"
    c.write_text("int y;\n")
    os.utime(c, ns=(1, 1))
    return stamp


def test_an_edit_is_partial_only_for_a_source_the_last_build_compiled(tmp_path: Path) -> None:
    """A stamp without the record of who compiles what (an older one), a .c nobody
    compiled, a .c some compile #includes: SCons walks the graph."""
    def m_c(case: str) -> str:
        return str(tmp_path / case / "sys" / "modules" / "m" / "m.c")
    cases = {"old": {}, "nobody": {"sources": {}, "included_c": []},
             "included": {"sources": {m_c("included"): ["m"]},
                          "included_c": [m_c("included")]}}
    for case, extra in cases.items():
        assert fastpath.plan(_edited_stamp(tmp_path / case, **extra), ["a"]) == ("full", ()), \
            case


def test_an_edit_of_a_source_two_directories_compile_rebuilds_both(tmp_path: Path) -> None:
    m_c = str(tmp_path / "sys" / "modules" / "m" / "m.c")
    stamp = _edited_stamp(tmp_path, sources={m_c: ["m", "other"]}, included_c=[])
    assert fastpath.plan(stamp, ["a"]) == ("partial", ("m", "other"))
