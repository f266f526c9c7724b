"""The result cache (kmodbuild.resultcache) and incremental Linux checks."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kmodbuild.linux import kofile
from kmodbuild.linux.check import check_linux
from kmodbuild.resultcache import RACY_NS, ResultCache, file_key
from tests.linux.conftest import KoBuilder, KoSpec, old_mtime

OLD = (10, time.time_ns() - 10 * RACY_NS, 7)


def test_roundtrip_and_key_change(tmp_path: Path) -> None:
    path = tmp_path / "c"
    rc = ResultCache.load(path, "t/1")
    rc.store("/a", OLD, ("facts", b"x", 1))
    rc.set_summary(("opts",), ["report"])
    assert rc.save() is True
    rc = ResultCache.load(path, "t/1")
    assert rc.lookup("/a", OLD) == ("facts", b"x", 1)
    assert rc.lookup("/a", (11, OLD[1], 7)) is None           # size changed
    assert rc.lookup("/b", OLD) is None
    assert rc.unchanged({"/a": OLD}) and not rc.unchanged({"/a": OLD, "/b": OLD})
    assert rc.summary(("opts",)) == ["report"] and rc.summary(("other",)) is None


def test_racy_entries_are_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "c"
    fresh = (10, time.time_ns(), 7)
    rc = ResultCache.load(path, "t/1")
    rc.store("/a", fresh, "v")
    rc.save()
    rc = ResultCache.load(path, "t/1")
    assert rc.lookup("/a", fresh) is None and not rc.unchanged({"/a": fresh})


@pytest.mark.parametrize("content", [b"", b"KMRCACHE", b"garbage" * 100,
                                     b"KMRCACHE\x01\x00\x00\x00\xff\xff\x00\x00junk"])
def test_bad_cache_files_are_empty_caches(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "c"
    path.write_bytes(content)
    rc = ResultCache.load(path, "t/1")
    assert rc.lookup("/a", OLD) is None and rc.summary(None) is None


def test_other_tag_is_ignored_and_save_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "c"
    rc = ResultCache.load(path, "t/1")
    rc.store("/a", OLD, 1)
    rc.save()
    assert ResultCache.load(path, "t/2").lookup("/a", OLD) is None
    assert sorted(os.listdir(tmp_path)) == ["c"]             # no temporary left behind


def test_save_only_when_changed_and_prunes(tmp_path: Path) -> None:
    path = tmp_path / "c"
    rc = ResultCache.load(path, "t/1")
    rc.store("/a", OLD, 1)
    rc.store("/b", OLD, 2)
    rc.save()
    rc = ResultCache.load(path, "t/1")
    assert rc.save(keep=["/a", "/b"]) is False
    assert rc.save(keep=["/a"]) is True
    rc = ResultCache.load(path, "t/1")
    assert rc.lookup("/a", OLD) == 1 and rc.lookup("/b", OLD) is None


def test_file_key(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"abc")
    st = os.stat(f)
    assert file_key(st) == (3, st.st_mtime_ns, st.st_ino)


# --------------------------------------------------------------------------- incremental checks

@pytest.fixture
def small_tree(ko_builder: KoBuilder, tmp_path: Path) -> Path:
    moddir = tmp_path / "lib" / "modules" / "1.0"
    ko_builder(moddir / "kernel" / "a.ko", KoSpec(exports={"fa": 1}))
    ko_builder(moddir / "kernel" / "b.ko", KoSpec(imports=["fa", "kfn"],
                                                  versions=[("fa", 1), ("kfn", 9)]))
    ko_builder(moddir / "kernel" / "c.ko", KoSpec(imports=["kfn"], versions=[("kfn", 9)]))
    (tmp_path / "Module.symvers").write_text("0x9\tkfn\tvmlinux\tEXPORT_SYMBOL\t\n")
    old_mtime(*moddir.rglob("*.ko"), tmp_path / "Module.symvers")
    return moddir


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    real = kofile.read_ko_many

    def counting(paths: list[str]) -> list[kofile.Outcome]:
        reads.extend(paths)
        return real(paths)

    monkeypatch.setattr(kofile, "read_ko_many", counting)
    return reads


def test_incremental_recheck(small_tree: Path, ko_builder: KoBuilder, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    cache = str(tmp_path / "cache")
    symvers = str(tmp_path / "Module.symvers")
    first = check_linux([str(small_tree)], symvers, cache=cache, jobs=1)
    assert (first.read, first.reused, first.has_errors) == (3, False, False)

    reads = _count_reads(monkeypatch)
    again = check_linux([str(small_tree)], symvers, cache=cache, jobs=1)
    assert again.reused and reads == [] and again.dep_lines == first.dep_lines

    # One module changes: only it is read again, and the result follows.
    ko_builder(small_tree / "kernel" / "c.ko", KoSpec(imports=["kfn", "gone"],
                                                      versions=[("kfn", 9), ("gone", 1)]))
    old_mtime(small_tree / "kernel" / "c.ko")
    changed = check_linux([str(small_tree)], symvers, cache=cache, jobs=1)
    assert [os.path.basename(p) for p in reads] == ["c.ko"]
    assert (changed.read, changed.cached, changed.reused) == (1, 2, False)
    assert [d.message for d in changed.diagnostics] == ["needs unknown symbol gone"]

    # Module.symvers changes: nothing is read, everything is judged again.
    reads.clear()
    Path(symvers).write_text("0x8\tkfn\tvmlinux\tEXPORT_SYMBOL\t\n0x1\tgone\tvmlinux\tE\t\n")
    old_mtime(Path(symvers))
    rejudged = check_linux([str(small_tree)], symvers, cache=cache, jobs=1)
    assert reads == [] and not rejudged.reused
    assert sorted(d.message for d in rejudged.diagnostics) == [
        "disagrees about version of symbol kfn", "disagrees about version of symbol kfn"]

    # A new module appears: read, the others not.
    reads.clear()
    ko_builder(small_tree / "kernel" / "d.ko", KoSpec())
    old_mtime(small_tree / "kernel" / "d.ko")
    grown = check_linux([str(small_tree)], symvers, cache=cache, jobs=1)
    assert [os.path.basename(p) for p in reads] == ["d.ko"] and len(grown.modules) == 4
