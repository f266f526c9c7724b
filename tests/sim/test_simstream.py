"""The build's simulation stream (kmodbuild.simstream): it simulates the tree the
installs are about to make, in a process of its own, and its answer is taken only
when it is provably the finished tree's -- the same answer as validate_tree's.

The trees are the example tree's real amd64 modules (tests/conftest.py
``built_tree``): the built files stand in for the installed copies.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kmodbuild import simstream
from kmodbuild.simvalidate import validate_tree
from kmodbuild.target import NetBSDVersion, get_target
from tests.conftest import BuiltTree, copy_tree, example_modules, scons

KEY = "amd64-x86_64"
TARGET = get_target("amd64")
VERSION = NetBSDVersion.parse("10.0")


class Tree:
    """A copy of the installed amd64 tree and its manifest, free to change."""

    def __init__(self, built: BuiltTree, root: Path) -> None:
        self.built = built
        self.stand = root / "stand"
        shutil.copytree(built.root / "stand" / "amd64", self.stand / "amd64")
        self.manifest = root / "netbsd.syms"
        shutil.copy2(built.manifest(KEY), self.manifest)
        self.modules = self.stand / "amd64" / "10.0" / "modules"

    def built_file(self, name: str) -> Path:
        return self.built.kmod(KEY, name)

    def start(self, names: list[str] | None = None) -> simstream.SimStream:
        names = example_modules() if names is None else names
        return simstream.SimStream(self.stand, TARGET, VERSION, self.manifest,
                                   [(n, str(self.built_file(n))) for n in names])

    def validate(self) -> Any:
        return validate_tree(self.stand, TARGET, VERSION, self.manifest)


@pytest.fixture
def tree(built_tree: BuiltTree, tmp_path: Path) -> Tree:
    return Tree(built_tree, tmp_path)


def finished(stream: simstream.SimStream) -> simstream.SimStream:
    """Wait until the stream has answered (it has read everything it will read)."""
    assert stream.proc is not None
    stream.proc.wait(timeout=300)
    return stream


def same(a: Any, b: Any) -> None:
    assert (a.order, a.loaded, a.unloaded, a.failures, a.emulated, a.note, a.summary()) == \
        (b.order, b.loaded, b.unloaded, b.failures, b.emulated, b.note, b.summary())


def test_answer_equals_the_simulation_of_the_installed_tree(tree: Tree) -> None:
    result = tree.start().result()
    assert result is not None
    expected = tree.validate()
    same(result, expected)
    assert expected.ok and len(expected.loaded) == len(example_modules())


def test_stream_started_before_the_installs_answers_for_them(tree: Tree) -> None:
    """A clean build: nothing is installed when the stream starts; the installs copy
    the built files while (here: after) it runs."""
    shutil.rmtree(tree.modules)
    stream = finished(tree.start())
    for n in example_modules():
        (tree.modules / n).mkdir(parents=True)
        shutil.copy(tree.built_file(n), tree.modules / n / f"{n}.kmod")
    result = stream.result()
    assert result is not None, stream.why_not
    same(result, tree.validate())


def test_files_the_kernel_never_opens_do_not_matter(tree: Tree) -> None:
    """An install's temporary file beside a module (there while the stream reads the
    directory, gone after) changes nothing the simulation read."""
    stream = finished(tree.start())
    tmp = tree.modules / "null" / ".null.kmod.x1y2.tmp"
    tmp.write_bytes(b"half")
    (tree.modules / "null" / "notes.txt").write_text("x")
    tmp.unlink()
    result = stream.result()
    assert result is not None, stream.why_not
    same(result, tree.validate())


def _other_bytes(tree: Tree) -> None:
    (tree.modules / "null" / "null.kmod").write_bytes(tree.built_file("hello").read_bytes())


def _plist(tree: Tree) -> None:
    (tree.modules / "null" / "null.plist").write_text("<plist/>")


def _extra_module(tree: Tree) -> None:
    (tree.modules / "extra").mkdir()
    shutil.copy(tree.built_file("hello"), tree.modules / "extra" / "extra.kmod")


def _removed(tree: Tree) -> None:
    os.unlink(tree.modules / "hello" / "hello.kmod")


def _manifest(tree: Tree) -> None:
    tree.manifest.write_text(tree.manifest.read_text())


def _symlinked_dir(tree: Tree) -> None:
    real = tree.stand / "amd64" / "real-10.0"
    (tree.stand / "amd64" / "10.0").rename(real)
    (tree.stand / "amd64" / "10.0").symlink_to(real)


@pytest.mark.parametrize("change,why", [
    (_other_bytes, "null.kmod is not the file simulated"),
    (_plist, "null.plist changed after it was simulated"),
    (_extra_module, "the installed modules are not the ones simulated"),
    (_removed, "the installed modules are not the ones simulated"),
    (_manifest, "the kernel manifest changed"),
    (_symlinked_dir, "is a symbolic link"),
])
def test_a_tree_that_changed_after_the_stream_read_it_is_simulated_again(
        tree: Tree, change: Any, why: str) -> None:
    stream = finished(tree.start())
    change(tree)
    assert stream.result() is None
    assert stream.why_not is not None and why in stream.why_not


def test_a_failing_load_is_left_to_the_build(tree: Tree, built_tree: BuiltTree) -> None:
    """A failure's console lines could name the built file: the stream gives up."""
    stream = tree.start()
    stream.close()                      # stopping one is harmless
    assert stream.result() is None
    bad = [(n, str(built_tree.kmod("evbarm-aarch64", n) if n == "hello"
                   else tree.built_file(n))) for n in example_modules()]
    stream = simstream.SimStream(tree.stand, TARGET, VERSION, tree.manifest, bad)
    assert stream.result() is None
    assert stream.why_not is not None and "a module failed" in stream.why_not


def _rebuild(path: Path, data: bytes) -> None:
    """Write a module's built file anew (a new inode, as the build's split does)."""
    path.unlink()
    path.write_bytes(data)


@pytest.fixture
def build_dir(tree: Tree, tmp_path: Path) -> Path:
    """A copy of the built modules, so that one can be rebuilt."""
    out = tmp_path / "build"
    for n in example_modules():
        (out / n).mkdir(parents=True)
        shutil.copy2(tree.built_file(n), out / n / f"{n}.kmod")
    return out


def pending_stream(tree: Tree, build_dir: Path, pending: list[str]) -> simstream.SimStream:
    return simstream.SimStream(tree.stand, TARGET, VERSION, tree.manifest,
                               [(n, str(build_dir / n / f"{n}.kmod"))
                                for n in example_modules()], pending)


@pytest.mark.parametrize("signal", [True, False])
def test_a_module_being_rebuilt_is_waited_for(tree: Tree, build_dir: Path,
                                               signal: bool) -> None:
    """A partial build's stream starts with the graph and stands a module being
    rebuilt in only when the build says it is written -- or, without word, once every
    install is done."""
    stream = pending_stream(tree, build_dir, ["hello"])
    assert stream.proc is not None
    with pytest.raises(subprocess.TimeoutExpired):      # waiting for hello: no answer yet
        stream.proc.wait(timeout=3)
    new = build_dir / "hello" / "hello.kmod"
    _rebuild(new, new.read_bytes())
    if signal:
        stream.built("hello")
        stream.proc.wait(timeout=300)   # then it answers without waiting for the end
    shutil.copy(new, tree.modules / "hello" / "hello.kmod")
    result = stream.result()
    assert result is not None, stream.why_not
    same(result, tree.validate())


def test_a_rebuilt_module_read_before_it_was_written_is_simulated_again(
        tree: Tree, build_dir: Path) -> None:
    """No word from the build (the module was not said to be pending): the stream
    reads the old file; the installed copy of the new one disproves it."""
    stream = finished(pending_stream(tree, build_dir, []))
    new = build_dir / "hello" / "hello.kmod"
    _rebuild(new, new.read_bytes())
    shutil.copy(new, tree.modules / "hello" / "hello.kmod")
    assert stream.result() is None
    assert stream.why_not is not None and "hello.kmod is not the file simulated" in \
        stream.why_not


def test_a_rebuilt_module_that_requires_others_gives_up(tree: Tree, build_dir: Path) -> None:
    """The order was made from the last build's file; the new one requires other
    modules (here: hello rebuilt as null's bytes, which require layerfs).  Run in this
    process, so that the rebuild happens exactly while the stream waits for it."""
    new = build_dir / "hello" / "hello.kmod"

    class Build:
        """The build's side of the pipe: rebuilds hello when the stream waits for it."""

        def __init__(self) -> None:
            self.lines = ["+hello\n", "=\n"]

        def readline(self) -> str:
            if self.lines[0] == "+hello\n":
                _rebuild(new, tree.built_file("null").read_bytes())
                shutil.copy(new, tree.modules / "hello" / "hello.kmod")
            return self.lines.pop(0)

    config = {"stand": str(tree.stand), "target": "amd64", "version": "10.0",
              "manifest": str(tree.manifest), "pending": ["hello"],
              "modules": [[n, str(build_dir / n / f"{n}.kmod")] for n in example_modules()]}
    with pytest.raises(simstream._GiveUp, match="requires other modules than the order"):
        simstream.run_stream(config, Build())  # type: ignore[arg-type]


def test_a_symbolic_link_in_a_module_directory_is_left_to_the_build(tree: Tree) -> None:
    """What a link leads to is not in the recorded state: the stream gives up."""
    target = tree.modules / "hello" / "shared.plist"          # inside the stand tree
    target.write_text("<plist/>")
    (tree.modules / "null" / "null.plist").symlink_to(target)
    stream = tree.start()
    assert stream.result() is None
    assert stream.why_not is not None and "null.plist is a symbolic link" in stream.why_not


def test_a_path_outside_the_module_directories_gives_up(tmp_path: Path) -> None:
    t = simstream._Tree(tmp_path / "modules", {})
    t.base = "/stand/amd64/10.0/modules/"
    for kpath in ("/stand/amd64/10.0/modules/x.kmod", "/stand/amd64/10.0/other/x/x.kmod",
                  "/tmp/x.kmod", "/stand/amd64/10.0/modules/a/b/c.kmod"):
        with pytest.raises(simstream._GiveUp):
            t.host_path(kpath)
    # remembered too: run_stream refuses the answer even if the simulation swallowed it
    assert t.gave_up == "the simulation opened /stand/amd64/10.0/modules/x.kmod"


def test_a_module_directory_other_than_the_kernels_gives_up(tmp_path: Path) -> None:
    """host_path maps kernel paths below the stream's module directory without asking
    the kernel: attach() first proves that directory is the one the kernel maps to."""
    class Kernel:
        module_base = "/stand/amd64/10.0/modules"
        stand = tmp_path / "stand"

        def host_path(self, kpath: str) -> Path:
            raise AssertionError("not asked")
    mine = simstream._Tree(tmp_path / "stand" / "amd64" / "10.0" / "modules", {})
    kernel = Kernel()
    mine.attach(kernel)
    assert kernel.host_path("/stand/amd64/10.0/modules/a/a.plist") == \
        tmp_path / "stand" / "amd64" / "10.0" / "modules" / "a" / "a.plist"
    other = simstream._Tree(tmp_path / "elsewhere" / "modules", {})
    with pytest.raises(simstream._GiveUp, match="is not"):
        other.attach(Kernel())


def test_a_big_build_streams_its_simulation(tmp_path: Path) -> None:
    """KMOD_SIMSTREAM=1 on the example tree: the build's simulate step takes the
    stream's answer, which is the installed tree's; 0 simulates in the build."""
    root = copy_tree(tmp_path / "t")
    out = scons(root, "ARCH=amd64", "VERBOSE=1", env={"KMOD_SIMSTREAM": "1"}).stdout
    summary = validate_tree(root / "stand", TARGET, VERSION,
                            root / "build" / KEY / "10.0" / "kernel" / "netbsd.syms").summary()
    assert "simulate: streamed, started after the last link\n" in out
    assert f"simulate: {summary}\n" in out
    assert (root / "build" / KEY / "10.0" / "simulate.txt").read_text() == summary + "\n"
    # a one-source edit: the stream starts with the graph and waits for hello.kmod
    hello = root / "sys/modules/hello/hello.c"
    hello.write_text(hello.read_text().replace("printf(", "printf(\"%s\", \"\"); printf(", 1))
    out = scons(root, "ARCH=amd64", "VERBOSE=1", env={"KMOD_SIMSTREAM": "1"}).stdout
    assert "zig" in out and "hello.kmod" in out and "null.kmod" not in out   # partial
    assert "simulate: streamed, started with the graph\n" in out
    assert f"simulate: {summary}\n" in out
    installed = root / "stand/amd64/10.0/modules/hello/hello.kmod"
    assert installed.read_bytes() == (root / "build" / KEY / "10.0/modules/hello/hello.kmod"
                                      ).read_bytes()
    hello.write_text(hello.read_text().replace("printf(", "printf(\"%s\", \"\"); printf(", 1))
    out = scons(root, "ARCH=amd64", "VERBOSE=1", env={"KMOD_SIMSTREAM": "0"}).stdout
    assert "streamed" not in out and f"simulate: {summary}\n" in out


def test_when_the_build_starts_a_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """scons_tool._start_stream: a stream per target at most, one per CPU at most,
    none for small work (unless KMOD_SIMSTREAM=1), none with KMOD_SIMSTREAM=0."""
    import kmodbuild.scons_tool as tool
    started: list[Any] = []

    class Fake:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            started.append(args)

    monkeypatch.setattr(simstream, "SimStream", Fake)
    monkeypatch.setattr(tool, "_simulation_wanted", lambda: True)
    monkeypatch.setattr(tool, "_STREAMS", {})
    monkeypatch.setattr(tool, "_STREAMS_CLOSED_AT_EXIT", [True])
    import kmodbuild.linux.readers as readers
    monkeypatch.setattr(readers, "default_jobs", lambda: 2)

    class Node:
        abspath = "/nowhere/netbsd.syms"

    def env(variant: str) -> dict[str, Any]:
        return {"KMOD_VARIANT": variant, "KMOD_REGISTRY": [], "KMOD_STAND": "/s/a/10.0/modules",
                "KMOD_MANIFEST_NODE": Node(), "KMOD_TARGET_OBJ": TARGET,
                "KMOD_VERSION_OBJ": VERSION}

    monkeypatch.delenv("KMOD_SIMSTREAM", raising=False)
    assert not tool._start_stream(env("a"), simstream.MIN_MODULES - 1)
    assert tool._start_stream(env("a"), simstream.MIN_MODULES)
    assert tool._start_stream(env("a"), 1000) and len(started) == 1     # kept, not another
    assert tool._start_stream(env("b"), 1000, ["x"], when="with the graph")
    assert len(started) == 2
    assert tool._STREAMS["b"].started == "with the graph"
    assert not tool._start_stream(env("c"), 1000) and len(started) == 2  # two CPUs busy
    tool._STREAMS.clear()
    monkeypatch.setenv("KMOD_SIMSTREAM", "1")
    assert tool._start_stream(env("d"), 1)
    monkeypatch.setenv("KMOD_SIMSTREAM", "0")
    assert not tool._start_stream(env("e"), 1000) and len(started) == 3
