"""The result caches (kmodbuild.resultcache, kmodbuild.linux.treecache) and incremental
Linux checks."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kmodbuild.linux import kofile, treecache
from kmodbuild.linux.check import check_linux
from kmodbuild.resultcache import RACY_NS, ResultCache, file_key
from tests.linux.conftest import KoBuilder, KoSpec

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

def age(*roots: Path) -> None:
    """Date files and directories (all of a tree) 10 s back, so that the cache trusts
    them at once (not racy)."""
    old = time.time_ns() - 10 * 10**9
    for root in roots:
        for p in [root, *root.rglob("*")] if root.is_dir() else [root]:
            st = os.stat(p)
            if st.st_mtime_ns > old:            # those already old keep their key
                os.utime(p, ns=(st.st_atime_ns, old))


@pytest.fixture
def small_tree(ko_builder: KoBuilder, tmp_path: Path) -> Path:
    moddir = tmp_path / "lib" / "modules" / "1.0"
    ko_builder(moddir / "kernel" / "a.ko", KoSpec(exports={"fa": 1}))
    ko_builder(moddir / "kernel" / "b.ko", KoSpec(imports=["fa", "kfn"],
                                                  versions=[("fa", 1), ("kfn", 9)]))
    ko_builder(moddir / "kernel" / "c.ko", KoSpec(imports=["kfn"], versions=[("kfn", 9)]))
    (tmp_path / "Module.symvers").write_text("0x9\tkfn\tvmlinux\tEXPORT_SYMBOL\t\n")
    age(moddir, tmp_path / "Module.symvers")
    return moddir


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    real = kofile.read_many

    def counting(paths: list[str]) -> list[kofile.Read]:
        reads.extend(paths)
        return real(paths)

    monkeypatch.setattr(kofile, "read_many", counting)
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
    age(small_tree)
    changed = check_linux([str(small_tree)], symvers, cache=cache, jobs=1)
    assert [os.path.basename(p) for p in reads] == ["c.ko"]
    assert (changed.read, changed.cached, changed.reused) == (1, 2, False)
    assert [d.message for d in changed.diagnostics] == ["needs unknown symbol gone"]
    assert check_linux([str(small_tree)], symvers, cache=cache, jobs=1).reused

    # Module.symvers changes: nothing is read, everything is judged again.
    reads.clear()
    Path(symvers).write_text("0x8\tkfn\tvmlinux\tEXPORT_SYMBOL\t\n0x1\tgone\tvmlinux\tE\t\n")
    age(Path(symvers))
    rejudged = check_linux([str(small_tree)], symvers, cache=cache, jobs=1)
    assert reads == [] and not rejudged.reused
    assert sorted(d.message for d in rejudged.diagnostics) == [
        "disagrees about version of symbol kfn", "disagrees about version of symbol kfn"]

    # A new module appears: read, the others not.
    reads.clear()
    ko_builder(small_tree / "kernel" / "d.ko", KoSpec())
    age(small_tree)
    grown = check_linux([str(small_tree)], symvers, cache=cache, jobs=1)
    assert [os.path.basename(p) for p in reads] == ["d.ko"] and len(grown.modules) == 4
    assert not grown.reused

    # A module disappears: nothing is read, it is gone from the result.
    reads.clear()
    (small_tree / "kernel" / "a.ko").unlink()
    age(small_tree)
    shrunk = check_linux([str(small_tree)], symvers, cache=cache, jobs=1)
    assert reads == [] and not shrunk.reused and len(shrunk.modules) == 3
    assert "needs unknown symbol fa" in [d.message for d in shrunk.diagnostics]


def _same(a: object, b: object) -> bool:
    keys = ("diagnostics", "dep_lines", "notes")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def test_a_reused_result_equals_a_fresh_one(small_tree: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    symvers = str(tmp_path / "Module.symvers")
    cold = check_linux([str(small_tree)], symvers, cache=cache, report_format="json")
    warm = check_linux([str(small_tree)], symvers, cache=cache, report_format="json")
    fresh = check_linux([str(small_tree)], symvers, report_format="json")
    assert warm.reused and not cold.reused and not fresh.reused
    assert _same(warm, fresh) and _same(cold, fresh) and warm.report == fresh.report
    # Another format: rendered from the stored diagnostics, same as a fresh run's.
    for fmt in ("text", "junit", "sarif", "github"):
        again = check_linux([str(small_tree)], symvers, cache=cache, report_format=fmt)
        assert again.reused and again.report == check_linux([str(small_tree)], symvers,
                                                            report_format=fmt).report


def test_modules_dep_from_the_cache(small_tree: Path, tmp_path: Path) -> None:
    # A run that writes no modules.dep does not make its lines; the cache keeps the
    # dependency graph, and a re-check that writes it makes them from that -- the
    # same lines as a fresh run's; a run that did write them keeps them as made.
    symvers = str(tmp_path / "Module.symvers")
    want = check_linux([str(small_tree)], symvers).dep_lines
    assert want == ["kernel/a.ko:", "kernel/b.ko: kernel/a.ko", "kernel/c.ko:"]
    for made in (False, True):
        cache = str(tmp_path / f"cache-{made}")
        cold = check_linux([str(small_tree)], symvers, cache=cache, report_format="text",
                           dep_lines=made)
        assert (cold._dep_lines is not None) == made
        summary = treecache.reuse(cache, treecache.TAG,
                                  treecache.summary_key(treecache.TAG, [str(small_tree)],
                                                        symvers))
        assert summary is not None and ("dep_lines" in summary) == made
        got = treecache.cached_report(cache, [str(small_tree)], symvers, "text",
                                      dep_lines=True)
        assert got is not None and got[1] == want
        assert check_linux([str(small_tree)], symvers, cache=cache).dep_lines == want


def test_options_are_part_of_the_key(small_tree: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    cache = str(tmp_path / "cache")
    symvers = str(tmp_path / "Module.symvers")
    check_linux([str(small_tree)], symvers, cache=cache)
    assert check_linux([str(small_tree)], symvers, cache=cache).reused
    # Without Module.symvers: not the same question, not the same answer.
    bare = check_linux([str(small_tree)], None, cache=cache)
    assert not bare.reused and bare.notes and _same(bare, check_linux([str(small_tree)], None))
    # Another Module.symvers with the same content is another input.
    other = tmp_path / "other.symvers"
    other.write_bytes(Path(symvers).read_bytes())
    age(other)
    assert not check_linux([str(small_tree)], str(other), cache=cache).reused
    # The same tree named by another path: reports name paths as given.
    monkeypatch.chdir(small_tree.parent)
    rel = check_linux(["1.0"], symvers, cache=cache)
    assert not rel.reused and rel.modules[0].path.startswith("1.0/")


def test_in_place_rewrite_keeping_size_and_mtime_is_seen(small_tree: Path, tmp_path: Path,
                                                         ko_builder: KoBuilder) -> None:
    # cp -p over an existing file: same inode, same size, same mtime -- the ctime moves.
    cache = str(tmp_path / "cache")
    symvers = str(tmp_path / "Module.symvers")
    target = small_tree / "kernel" / "c.ko"
    check_linux([str(small_tree)], symvers, cache=cache)
    replacement = ko_builder(tmp_path / "x" / "c.ko", KoSpec(imports=["kfm"],
                                                            versions=[("kfm", 9)]))
    data = replacement.read_bytes()
    st = os.stat(target)
    data = data[:st.st_size].ljust(st.st_size, b"\0")     # same size
    with open(target, "r+b") as f:                           # same inode
        f.write(data)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))     # same mtime
    assert os.stat(target).st_ino == st.st_ino
    res = check_linux([str(small_tree)], symvers, cache=cache)
    assert not res.reused and res.read == 1


def test_modules_order_change_reorders(small_tree: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    symvers = str(tmp_path / "Module.symvers")
    first = check_linux([str(small_tree)], symvers, cache=cache)
    (small_tree / "modules.order").write_text("kernel/c.ko\nkernel/b.ko\nkernel/a.ko\n")
    age(small_tree)
    res = check_linux([str(small_tree)], symvers, cache=cache)
    assert not res.reused and res.read == 0
    assert [m.relpath for m in res.modules] == ["kernel/c.ko", "kernel/b.ko", "kernel/a.ko"]
    assert res.dep_lines != first.dep_lines


def test_racy_tree_is_not_reused(small_tree: Path, tmp_path: Path) -> None:
    # A file modified in the last 2 s could change again without its key changing.
    cache = str(tmp_path / "cache")
    symvers = str(tmp_path / "Module.symvers")
    os.utime(small_tree / "kernel" / "a.ko")                 # now
    check_linux([str(small_tree)], symvers, cache=cache)
    res = check_linux([str(small_tree)], symvers, cache=cache)
    assert not res.reused and res.read == 1                  # only the racy module


# (a file without a cache's header at all is not replaced: see
# test_a_file_that_is_not_a_cache_is_not_replaced)
@pytest.mark.parametrize("content", [b"", b"KMLINUX\0", b"KMRCACHE\0\0\0",
                                     b"KMLINUX\0\x02\x00\x00\x00\xff\xff\x00\x00junk"])
def test_a_bad_cache_file_is_an_empty_cache(small_tree: Path, tmp_path: Path,
                                            content: bytes) -> None:
    cache = tmp_path / "cache"
    cache.write_bytes(content)
    symvers = str(tmp_path / "Module.symvers")
    res = check_linux([str(small_tree)], symvers, cache=str(cache))
    assert res.read == 3 and not res.reused
    assert check_linux([str(small_tree)], symvers, cache=str(cache)).reused


def test_parallel_signature_check(tmp_path: Path) -> None:
    files = []
    for k in range(treecache.PARALLEL_STAT_MIN + 10):
        f = tmp_path / f"f{k}"
        f.write_bytes(b"x")
        files.append(str(f))
    def signature() -> treecache.Signature:
        keys = [treecache.stat_key(f) for f in files]
        return treecache.make_signature([str(tmp_path), *files],
                                        [treecache.stat_key(str(tmp_path)), *keys],
                                        [str(tmp_path)])
    sig = signature()
    assert sig[1][0] == str(tmp_path) and sig[1][1][:2] == [".", "f0"]
    assert treecache.signature_holds(sig)
    # A change in either half is seen.
    for victim in (files[3], files[-3]):
        with open(victim, "ab") as f:
            f.write(b"y")
        assert not treecache.signature_holds(sig)
        sig = signature()
    os.unlink(files[-1])
    assert not treecache.signature_holds(sig)
    # Paths outside the roots are kept absolute; a missing one stays missing.
    gone = str(tmp_path / "never")
    sig = treecache.make_signature([files[0], gone], [treecache.stat_key(files[0]), None])
    assert sig[0][1] == [files[0], gone] and treecache.signature_holds(sig)


def test_own_files_in_the_tree_do_not_spoil_reuse(small_tree: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # depmod's place for modules.dep is the tree's root, and a cache may live there
    # too: writing them moves the directory's mtime, but the walk would find the same.
    from kmodbuild.linux.command import main
    symvers = str(tmp_path / "Module.symvers")
    cache = str(small_tree / ".kmodbuild.cache")
    dep = str(small_tree / "modules.dep")
    argv = ["--symvers", symvers, "--cache", cache, "--write-dep", dep, str(small_tree)]
    assert main(argv) == 0
    reads = _count_reads(monkeypatch)
    again = check_linux([str(small_tree)], symvers, cache=cache)
    assert again.reused and reads == []
    # A file that is not a module, in a subdirectory: the same walk, still reused.
    (small_tree / "kernel" / "README").write_text("not a module\n")
    assert check_linux([str(small_tree)], symvers, cache=cache).reused
    # A module renamed: the walk would find another tree (and facts are kept by path).
    os.rename(small_tree / "kernel" / "c.ko", small_tree / "kernel" / "z.ko")
    moved = check_linux([str(small_tree)], symvers, cache=cache)
    assert not moved.reused and "kernel/z.ko:" in moved.dep_lines
    assert [os.path.basename(p) for p in reads] == ["z.ko"]
    # A directory appears: not reused either (and nothing to read in it).
    age(small_tree)
    check_linux([str(small_tree)], symvers, cache=cache)
    (small_tree / "extra").mkdir()
    assert not check_linux([str(small_tree)], symvers, cache=cache).reused



def test_a_file_that_is_not_a_cache_is_not_replaced(tmp_path: Path) -> None:
    # --flavor linux --cache vmlinux (a slip of the hand): kept, as the NetBSD flavour's
    from kmodbuild.linux import treecache
    victim = tmp_path / "vmlinux"
    victim.write_bytes(b"\x7fELF kernel")
    with pytest.raises(OSError, match="not a kmodbuild result cache"):
        treecache.TreeCache.load(str(victim), treecache.TAG).save(None, None, None, [])
    assert victim.read_bytes() == b"\x7fELF kernel"
    # a cache of either flavour is replaced (the same file given to both)
    netbsd = tmp_path / "c"
    rc = ResultCache.load(netbsd, "t/1")
    rc.store("/a", OLD, 1)
    rc.save()
    treecache.TreeCache.load(str(netbsd), treecache.TAG).save(None, None, None, [])
    assert netbsd.read_bytes().startswith(treecache.MAGIC)


# --------------------------------------------------------------------------- damaged caches

def _cache_parts(data: bytes) -> list[object]:
    """The marshalled parts of a cache file after its 12-byte magic and format."""
    import marshal
    parts, pos = [], 12
    while pos + 4 <= len(data):
        n = int.from_bytes(data[pos:pos + 4], "little")
        parts.append(marshal.loads(data[pos + 4:pos + 4 + n]))
        pos += 4 + n
    return parts


def _write_parts(path: Path, head: bytes, parts: list[object]) -> None:
    import marshal
    blobs = [marshal.dumps(p) for p in parts]
    path.write_bytes(head[:12] + b"".join(len(b).to_bytes(4, "little") + b for b in blobs))


def _drop(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


# Each damage keeps the header (tag, summary key) and, unless it is the signature's, a
# signature that still holds: the damaged part is what reaches the checker.
DAMAGES = {
    "summary-without-reports": lambda p: p.__setitem__(2, _drop(p[2], "reports")),
    "summary-reports-not-a-dict": lambda p: p.__setitem__(2, {**p[2], "reports": []}),
    "details-without-diagnostics": lambda p: p.__setitem__(3, _drop(p[3], "diagnostics")),
    "details-without-modules": lambda p: p.__setitem__(3, _drop(p[3], "modules")),
    "module-entry-of-one-field": lambda p: p.__setitem__(3, {**p[3], "modules": [("x",)]}),
    "dependency-out-of-range": lambda p: p.__setitem__(
        3, {**p[3], "resolution": ([[99]] * len(p[3]["modules"]), *p[3]["resolution"][1:])}),
    "empty-signature-and-summary": lambda p: (p.__setitem__(1, []), p.__setitem__(2, {})),
    "facts-key-too-short": lambda p: (p.__setitem__(1, None), p.__setitem__(
        5, [((1,), f) for _, f in p[5]])),
    "facts-of-another-shape": lambda p: (p.__setitem__(1, None), p.__setitem__(
        5, [(k, (1, 2)) for k, _ in p[5]])),
    # a name that is an int: os.stat takes it for a descriptor (OverflowError)
    "signature-name-not-a-path": lambda p: p.__setitem__(1, [("", [1 << 70], [None], {})]),
    "facts-of-wrong-types": lambda p: (p.__setitem__(1, None), p.__setitem__(
        5, [(k, (None,) * len(f)) for k, f in p[5]])),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_cache_with_a_valid_header_is_not_trusted(
        small_tree: Path, tmp_path: Path, damage: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    # A cache is the user's own file, but a damaged one (a crash, a disk error, an old
    # kmodbuild's) must cost a full check, never a traceback.
    from kmodbuild.linux.command import main
    cache = tmp_path / "cache"
    symvers = str(tmp_path / "Module.symvers")
    check_linux([str(small_tree)], symvers, cache=str(cache), report_format="text",
                dep_lines=True)
    good = cache.read_bytes()
    parts = _cache_parts(good)
    assert len(parts) == 6 and parts[2]["reports"] and parts[3]["modules"]
    DAMAGES[damage](parts)
    _write_parts(cache, good, parts)
    assert treecache.cached_report(str(cache), [str(small_tree)], symvers, "text",
                                   dep_lines=True) is None
    res = check_linux([str(small_tree)], symvers, cache=str(cache), report_format="text",
                      dep_lines=True)
    assert not res.reused
    assert res.read == (3 if damage.startswith("facts") else 0)     # facts still good: kept
    assert res.dep_lines == ["kernel/a.ko:", "kernel/b.ko: kernel/a.ko", "kernel/c.ko:"]
    _write_parts(cache, good, parts)
    dep = tmp_path / "modules.dep"
    for argv in (["--symvers", symvers, "--cache", str(cache), "--write-dep", str(dep),
                  str(small_tree)],
                 ["--symvers", symvers, "--cache", str(cache), "--format", "json",
                  str(small_tree)]):
        _write_parts(cache, good, parts)
        assert main(argv) == 0
        err = capsys.readouterr().err
        assert "Traceback" not in err and err == ""
    assert dep.read_text().splitlines() == res.dep_lines


def test_a_cache_part_claiming_more_memory_than_there_is(small_tree: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # A damaged length (a list of 2**31 - 1 items) makes marshal ask for 16 GiB before it
    # reads any item: MemoryError where memory is limited (ulimit -v), which escaped.
    import marshal
    cache = tmp_path / "cache"
    symvers = str(tmp_path / "Module.symvers")
    check_linux([str(small_tree)], symvers, cache=str(cache), report_format="text")
    real = marshal.loads

    def scarce(data: bytes) -> object:
        if isinstance(real(data), (dict, list)):     # the summary, its details, the facts
            raise MemoryError
        return real(data)

    monkeypatch.setattr(treecache.marshal, "loads", scarce)
    assert treecache.cached_report(str(cache), [str(small_tree)], symvers, "text") is None
    res = check_linux([str(small_tree)], symvers, cache=str(cache), report_format="text")
    assert not res.reused and res.read == 3
