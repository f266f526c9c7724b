"""kmodbuild.linux.readers: reading on all cores with forked helpers, and their failures."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from kmodbuild.errors import ManifestError
from kmodbuild.linux import readers
from kmodbuild.linux.check import check_linux
from tests.linux.conftest import KoBuilder, KoSpec

pytestmark = pytest.mark.skipif(not readers.fork_available(), reason="no os.fork here")


@pytest.fixture
def tree(ko_builder: KoBuilder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    moddir = tmp_path / "mods"
    ko_builder(moddir / "a.ko", KoSpec(exports={"fa": 1}))
    ko_builder(moddir / "b.ko", KoSpec(imports=["fa", "kfn"], versions=[("fa", 1), ("kfn", 9)]))
    ko_builder(moddir / "c.ko", KoSpec(imports=["kfn", "nope"], versions=[("kfn", 8)]))
    (moddir / "junk.ko").write_bytes(b"not an ELF file")
    (tmp_path / "Module.symvers").write_text("0x9\tkfn\tvmlinux\tEXPORT_SYMBOL\t\n")
    monkeypatch.setattr(readers, "PARALLEL_MIN_FILES", 1)   # share even 4 files
    return moddir


def _summary(res: object) -> tuple[object, ...]:
    return (res.dep_lines, res.diagnostics, res.notes,  # type: ignore[attr-defined]
            [m.path for m in res.modules])  # type: ignore[attr-defined]


def _no_children_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_helpers_give_the_same_result_as_one_process(tree: Path, tmp_path: Path) -> None:
    symvers = str(tmp_path / "Module.symvers")
    one = check_linux([str(tree)], symvers, jobs=1)
    assert one.has_errors and one.read == 4
    for jobs in (2, 3, 8):
        many = check_linux([str(tree)], symvers, jobs=jobs)
        assert _summary(many) == _summary(one) and many.read == 4
    assert _no_children_left()


def test_without_symvers(tree: Path) -> None:
    assert _summary(check_linux([str(tree)], None, jobs=3)) == \
        _summary(check_linux([str(tree)], None, jobs=1))


def test_a_dying_helper_is_made_up_for(tree: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    parent = os.getpid()
    real = readers.read_chunk

    def flaky(paths: list[str], *args: object) -> readers.Chunk:
        if os.getpid() != parent:
            os._exit(7)                        # every helper dies on its first chunk
        return real(paths, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(readers, "read_chunk", flaky)
    symvers = str(tmp_path / "Module.symvers")
    res = check_linux([str(tree)], symvers, jobs=3)
    monkeypatch.setattr(readers, "read_chunk", real)
    assert _summary(res) == _summary(check_linux([str(tree)], symvers, jobs=1))
    assert _no_children_left()


def test_unreadable_symvers_read_by_a_helper(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read Module.symvers"):
        check_linux([str(tree)], str(tmp_path / "none"), jobs=2)
    assert _no_children_left()


def test_a_usage_error_stops_the_helpers(tree: Path, tmp_path: Path) -> None:
    from kmodbuild.errors import UsageError
    with pytest.raises(UsageError):
        check_linux([str(tree), str(tmp_path / "nowhere")], None, jobs=2)
    assert _no_children_left()


@pytest.mark.parametrize("jobs", [1, 3])
@pytest.mark.parametrize("cached", [False, True])
def test_a_module_overriding_a_kernel_symbol(ko_builder: KoBuilder, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch, jobs: int,
                                             cached: bool) -> None:
    # A module's own export of a symbol Module.symvers lists for vmlinux wins (depmod);
    # the check then resolves everything again from the full facts, which the readers
    # keep only for the cache -- without one they are read again.
    monkeypatch.setattr(readers, "PARALLEL_MIN_FILES", 1)
    moddir = tmp_path / "mods"
    ko_builder(moddir / "a.ko", KoSpec(exports={"kfn": 5}))
    ko_builder(moddir / "b.ko", KoSpec(imports=["kfn", "other"],
                                       versions=[("kfn", 5), ("other", 2)]))
    (tmp_path / "Module.symvers").write_text("0x9\tkfn\tvmlinux\tE\t\n0x3\tother\tvmlinux\tE\t\n")
    res = check_linux([str(moddir)], str(tmp_path / "Module.symvers"), jobs=jobs,
                      cache=str(tmp_path / "cache") if cached else None)
    assert [d.message for d in res.diagnostics] == ["disagrees about version of symbol other"]
    assert res.dep_lines == ["a.ko:", "b.ko: a.ko"]


@pytest.mark.parametrize("readers_", [1, 2, 3, 8, 64])
def test_chunk_plan(readers_: int) -> None:
    # Every position exactly once; chunks never grow; the last ones are small, so
    # that the readers finish close together; a reader can compute the plan alone.
    for n in (1, 15, 16, 47, 48, 500, 4022, 100_000):
        plan = readers.plan_chunks(n, readers_)
        assert sorted(j for chunk in plan for j in chunk) == list(range(n))
        sizes = [len(chunk) for chunk in plan]
        assert sizes == sorted(sizes, reverse=True) or sizes[-1] < readers.MIN_CHUNK
        assert max(sizes[:-1], default=0) <= max(readers.MIN_CHUNK, -(-2 * n // min(
            n, readers_ * readers.CHUNKS_PER_JOB)))
        if n >= 4 * readers_ * readers.MIN_CHUNK * 4:
            assert sizes[-2] <= readers.MIN_CHUNK          # the end comes in small pieces
        assert readers.plan_chunks(n, readers_) == plan
    assert readers.plan_chunks(0, readers_) == []


@pytest.mark.parametrize("pipes", [0, 1, 3])
def test_running_out_of_descriptors_for_helpers(tree: Path, tmp_path: Path, pipes: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # --jobs 1000 on a machine with 1024 descriptors: os.pipe() failed outside the
    # fork's error handling (OSError EMFILE, an internal error); the helpers started,
    # or this process alone, now do the work.
    import errno
    real = os.pipe
    calls = [0]

    def scarce() -> tuple[int, int]:
        calls[0] += 1
        if calls[0] > pipes:
            raise OSError(errno.EMFILE, "Too many open files")
        return real()

    symvers = str(tmp_path / "Module.symvers")
    want = _summary(check_linux([str(tree)], symvers, jobs=1))
    monkeypatch.setattr(os, "pipe", scarce)
    got = check_linux([str(tree)], symvers, jobs=40)
    monkeypatch.setattr(os, "pipe", real)
    assert _summary(got) == want and got.read == 4
    assert _no_children_left()
