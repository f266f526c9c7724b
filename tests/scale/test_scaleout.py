"""Scale-out: ccache, distcc on 127.0.0.1 and a shared SCons CacheDir (issue: build speed)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import copy_tree, scons


def _ensure(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", package], capture_output=True)
        if not shutil.which(tool):
            subprocess.run(["apt-get", "update", "-q"], capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-q", package], capture_output=True)
    path = shutil.which(tool)
    if not path:
        pytest.skip(f"{tool} not installed and apt-get install {package} failed")
    return path


def _objects(tree: Path) -> dict[str, bytes]:
    return {str(p.relative_to(tree)): p.read_bytes()
            for p in sorted((tree / "build").rglob("*.o"))}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cachedir_second_clean_build_compiles_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    one = copy_tree(tmp_path / "one")
    scons(one, "ARCH=amd64", f"KMOD_CACHEDIR={cache}")
    two = copy_tree(tmp_path / "two")
    res = scons(two, "ARCH=amd64", f"KMOD_CACHEDIR={cache}", "VERBOSE=1")
    assert "zig clang" not in res.stdout and "ld.lld" not in res.stdout, res.stdout
    assert "Retrieved" in res.stdout
    assert _objects(one) == _objects(two)
    assert (two / "stand/amd64/10.0/modules/null/null.kmod").read_bytes() == \
        (one / "stand/amd64/10.0/modules/null/null.kmod").read_bytes()


def _zig_elsewhere(dest: Path) -> str:
    """The same zig at another path (hard links): a CI runner whose venv is elsewhere."""
    import ziglang
    res = subprocess.run(["cp", "-al", os.path.dirname(ziglang.__file__), str(dest)])
    if res.returncode != 0:
        shutil.copytree(os.path.dirname(ziglang.__file__), dest)
    return str(dest / "zig")


def _reports(tree: Path) -> dict[str, str]:
    return {str(p.relative_to(tree)): p.read_text()
            for p in sorted((tree / "build").rglob("*.kmod.check"))}


def test_cachedir_serves_trees_with_zig_elsewhere_and_a_wrapper(tmp_path: Path) -> None:
    """Two CI runners: another checkout path of another length, zig in another venv,
    ccache in front on one of them -- the second clean build compiles and links nothing,
    says one progress line per module and no "Retrieved" line, and its check reports
    name no other tree's files (they say paths relative to the tree)."""
    cache = tmp_path / "cache"
    one = copy_tree(tmp_path / "one")
    scons(one, "ARCH=amd64", f"KMOD_CACHEDIR={cache}")
    two = copy_tree(tmp_path / "second-tree-at-a-longer-path")
    env = {"KMOD_ZIG": _zig_elsewhere(tmp_path / "venv-zig")}
    res = scons(two, "ARCH=amd64", f"KMOD_CACHEDIR={cache}", "--cache-debug=-", env=env)
    assert "not in cache" not in res.stdout, res.stdout
    lines = [ln for ln in res.stdout.splitlines() if not ln.startswith("CacheRetrieve")]
    assert not any("Retrieved" in ln or "zig" in ln for ln in lines), res.stdout
    assert sum(ln.startswith("[") for ln in lines) == 10, res.stdout      # [ n/10] amd64 ...
    assert any(ln.startswith("simulate: ") for ln in lines), res.stdout   # never from cache
    assert _objects(one) == _objects(two)
    assert _reports(one) == _reports(two)
    assert all(str(tmp_path) not in text for text in _reports(two).values())
    if shutil.which("ccache"):
        three = copy_tree(tmp_path / "three")
        res = scons(three, "ARCH=amd64", f"KMOD_CACHEDIR={cache}", "CCACHE=1",
                    "--cache-debug=-", env={"CCACHE_DIR": str(tmp_path / "ccache")})
        assert "not in cache" not in res.stdout, res.stdout


def test_ccache_hits_across_checkouts_and_wrappers(tmp_path: Path) -> None:
    """CCWRAPPER=ccache (the zig-clang script, rewritten by each clean build, is not
    what ccache checks) in two checkouts at different paths (ccache must not hash the
    working directory): every compile of the second is a hit; CCACHE=1 with distcc
    behind it stays cacheable (distcc as ccache's prefix, not as its compiler)."""
    _ensure("ccache", "ccache")
    env = {"CCACHE_DIR": str(tmp_path / "ccache")}
    scons(copy_tree(tmp_path / "a"), "ARCH=amd64", "CCWRAPPER=ccache", env=env)
    subprocess.run(["ccache", "-z"], capture_output=True, env={**os.environ, **env})
    tree = copy_tree(tmp_path / "b-elsewhere")
    scons(tree, "ARCH=amd64", "CCWRAPPER=ccache", env=env)

    def hits_and_misses() -> tuple[int, int]:
        stats = subprocess.run(["ccache", "--print-stats"], capture_output=True, text=True,
                               env={**os.environ, **env}).stdout
        got = dict(ln.split("\t")[:2] for ln in stats.splitlines() if "\t" in ln)
        return (int(got.get("direct_cache_hit", 0)) + int(got.get("preprocessed_cache_hit", 0)),
                int(got.get("cache_miss", 0)))
    hits, misses = hits_and_misses()
    assert hits == len(_objects(tree)) and misses == 0, (hits, misses)
    # the build runs the script by its name; compile_commands.json and VERBOSE=1 name
    # its path: the printed command runs in a shell as it is; compile_commands.json
    # without the wrapper (a tool reading it takes the first word for the compiler)
    import json
    args = json.loads((tree / "compile_commands.json").read_text())[0]["arguments"]
    assert os.path.isabs(args[0]) and os.access(args[0], os.X_OK), args
    assert "ccache" not in args, args
    null = tree / "sys/modules/null/null.c"
    null.write_text(null.read_text() + "/* edited */\n")
    out = scons(tree, "ARCH=amd64", "CCWRAPPER=ccache", "VERBOSE=1", env=env).stdout
    (line,) = [ln for ln in out.splitlines() if ln.endswith("null.o")]
    obj = tree / line.split()[-1]
    obj.unlink()
    subprocess.run(line, shell=True, check=True, cwd=tree, env={**os.environ, **env})
    assert obj.exists()
    if shutil.which("distcc"):
        subprocess.run(["ccache", "-z"], capture_output=True, env={**os.environ, **env})
        shutil.rmtree(tree / "build")
        res = scons(tree, "ARCH=amd64", "CCACHE=1", "DISTCC_HOSTS=127.0.0.1:1/1", "VERBOSE=1",
                    env=env)
        assert "ccache distcc" not in res.stdout, res.stdout
        hits, misses = hits_and_misses()
        assert hits == len(_objects(tree)) and misses == 0, (hits, misses)


def test_ccache_wraps_every_compile(tmp_path: Path) -> None:
    _ensure("ccache", "ccache")
    env = {"CCACHE_DIR": str(tmp_path / "ccache")}
    tree = copy_tree(tmp_path / "t")
    scons(tree, "ARCH=amd64", "CCACHE=1", env=env)
    first = _objects(tree)
    shutil.rmtree(tree / "build")
    scons(tree, "ARCH=amd64", "CCACHE=1", env=env)
    stats = subprocess.run(["ccache", "-s", "-v"], capture_output=True, text=True,
                           env={**os.environ, **env}).stdout
    hits = [ln for ln in stats.splitlines() if ln.strip().startswith("Hits:")]
    assert hits and not hits[0].split()[1].startswith("0 "), stats
    assert _objects(tree) == first


def test_distcc_on_loopback_gives_identical_objects() -> None:
    distccd = _ensure("distccd", "distcc")
    import ziglang
    # distccd drops root to the 'distcc' user: the compiler and the tree must be readable
    # by it, so both live under a world-readable directory (zig hard-linked, not copied).
    base = Path(tempfile.mkdtemp(prefix="kmodbuild-distcc-", dir="/tmp"))
    try:
        base.chmod(0o755)
        zigdir = base / "ziglang"
        res = subprocess.run(["cp", "-al", os.path.dirname(ziglang.__file__), str(zigdir)])
        if res.returncode != 0:
            shutil.copytree(os.path.dirname(ziglang.__file__), zigdir)
        subprocess.run(["chmod", "-R", "go+rX", str(zigdir)], check=True)
        env = {"KMOD_ZIG": str(zigdir / "zig")}
        local = copy_tree(base / "local")
        scons(local, "ARCH=amd64", env=env)
        remote = copy_tree(base / "remote")
        subprocess.run(["chmod", "-R", "go+rX", str(base)], check=True)
        port = _free_port()
        log = base / "distccd.log"
        logf = open(log, "wb")
        # the client sends the compiler by name (zig-clang-ID, its toolchain's identity):
        # the server runs it from its own PATH, here the client tree's script directory
        # (another machine installs the same script, docs: README's scale-out section)
        server_path = os.pathsep.join([str(remote / "build" / "toolchain"),
                                       os.environ.get("PATH", "")])
        proc = subprocess.Popen([distccd, "--no-detach", "--daemon", "--allow", "127.0.0.1",
                                 "--listen", "127.0.0.1", "--port", str(port),
                                 "--enable-tcp-insecure", "--log-stderr"],
                                stdout=subprocess.DEVNULL, stderr=logf,
                                env={**os.environ, "PATH": server_path})
        try:
            time.sleep(0.5)
            if proc.poll() is not None:
                pytest.skip(f"distccd did not start: {log.read_text() if log.exists() else ''}")
            scons(remote, "ARCH=amd64", f"DISTCC_HOSTS=127.0.0.1:{port}/2",
                  env={**env, "DISTCC_FALLBACK": "0"})
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
            logf.close()
        text = log.read_text()
        compiled = text.count("COMPILE_OK")
        assert compiled == len(_objects(remote)), text[-2000:]
        assert str(remote) not in text and "zig-clang-" in text   # no path of the client's
        assert _objects(remote) == _objects(local)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_paths_with_spaces_through_wrappers(tmp_path: Path) -> None:
    """A checkout and a wrapper under directories with spaces: CCWRAPPER given as the
    path itself or quoted as a shell would, CCACHE=1 in front (the zig-clang script,
    under the tree's build/, is one word of the command)."""
    tree = copy_tree(tmp_path / "my trees" / "t")
    log = tmp_path / "calls"
    wrapper = tmp_path / "my tools" / "wrap"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho x >> "{log}"\nexec "$@"\n')
    wrapper.chmod(0o755)
    for given in (str(wrapper), f"'{wrapper}'"):
        log.unlink(missing_ok=True)
        shutil.rmtree(tree / "build", ignore_errors=True)
        scons(tree, "ARCH=amd64", f"CCWRAPPER={given}")
        assert log.read_text().count("x") == len(_objects(tree))
        # compile_commands.json names the compiler first, not the wrapper
        import json
        for entry in json.loads((tree / "compile_commands.json").read_text()):
            assert str(wrapper) not in entry["arguments"], entry
            assert os.path.basename(entry["arguments"][0]).startswith("zig-clang-"), entry
    if shutil.which("ccache"):
        shutil.rmtree(tree / "build")
        scons(tree, "ARCH=amd64", "CCACHE=1", env={"CCACHE_DIR": str(tmp_path / "cc")})


def test_damaged_cachedir_entry_is_rebuilt_and_replaced(tmp_path: Path) -> None:
    """A cache entry cut short (a full disk, an interrupted CI cache restore): SCons
    copied it as it was and the linker failed on an object the build had not made, on
    every build.  The fetched file is checked: one warning line naming the entry, the
    step built instead, the entry replaced -- the next clean build fetches everything."""
    cache = tmp_path / "cache"
    one = copy_tree(tmp_path / "one")
    scons(one, "ARCH=amd64", f"KMOD_CACHEDIR={cache}")
    damaged = []
    for entry in (p for p in cache.rglob("*") if p.is_file()):
        data = entry.read_bytes()
        if data[:4] == b"\x7fELF" and data[16:18] == b"\x01\x00":   # an object (ET_REL)
            entry.write_bytes(data[: len(data) // 2])
            damaged.append(entry)
            if len(damaged) == 2:
                break
    assert len(damaged) == 2
    two = copy_tree(tmp_path / "two")
    res = scons(two, "ARCH=amd64", f"KMOD_CACHEDIR={cache}")
    warnings = [ln for ln in res.stderr.splitlines() if "damaged cache entry" in ln]
    assert len(warnings) == 2, res.stderr
    assert all(ln.startswith("scons: warning: KMOD_CACHEDIR: damaged cache entry ")
               and ln.endswith(": building it") and "past the end of file" in ln
               for ln in warnings), warnings
    assert {str(d) in res.stderr for d in damaged} == {True}
    # one progress line per module, none twice
    progress = [ln for ln in res.stdout.splitlines() if ln.startswith("[")]
    assert len(progress) == len(set(progress)) == 10, res.stdout
    assert _objects(one) == _objects(two)
    three = copy_tree(tmp_path / "three")
    res = scons(three, "ARCH=amd64", f"KMOD_CACHEDIR={cache}", "--cache-debug=-")
    assert "not in cache" not in res.stdout and "damaged" not in res.stderr, res.stdout
    assert _objects(one) == _objects(three)
