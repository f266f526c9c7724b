"""The build's exports index (kmodbuild.buildcheck.exports_index) and its read cache."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kmodbuild import buildcheck
from kmodbuild.target import get_target
from tests.conftest import BuiltTree, example_modules


def test_cached_index_reads_only_changed_modules(built_tree: BuiltTree, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    target = get_target("amd64")
    kmods = []
    for name in example_modules():
        dest = tmp_path / name / f"{name}.kmod"
        dest.parent.mkdir()
        shutil.copy2(built_tree.kmod(target.key, name), dest)
        kmods.append(dest)
    fresh = buildcheck.exports_index(kmods, target)
    cache = tmp_path / "index-cache.json"
    assert buildcheck.exports_index(kmods, target, cache=cache) == fresh

    reads: list[Path] = []
    real = buildcheck.read_module

    def counting(path: Path, *a: object) -> object:
        reads.append(Path(path))
        return real(path, *a)
    monkeypatch.setattr(buildcheck, "read_module", counting)
    assert buildcheck.exports_index(kmods, target, cache=cache) == fresh
    assert reads == []                                  # nothing changed: nothing read

    hello = next(k for k in kmods if k.name == "hello.kmod")
    shutil.copy2(built_tree.kmod(target.key, "null"), hello)   # other content, same name
    os.utime(hello, ns=(1, 1))
    changed = buildcheck.exports_index(kmods, target, cache=cache)
    assert reads == [hello]
    assert changed == buildcheck.exports_index(kmods, target) != fresh

    cache.write_text("not json")                        # a bad cache is an empty one
    reads.clear()
    assert buildcheck.exports_index(kmods, target, cache=cache) == changed
    assert len(reads) == len(kmods)
