"""A module cannot load or unload itself from its own modcmd (spec §3.5, module.9).

Compiled for real and run on the emulated CPU: an INIT that autoloads or loads its
own module gets EEXIST, a FINI that unloads its own module gets EBUSY, and two
modules whose INITs autoload each other end (the inner load of the outer one is
EEXIST).  Before, each recursed without end: ``kmodbuild sim`` died with a
RecursionError or SIGSEGV, a build's ``scons`` with rc 139.  The runs are
``kmodbuild sim`` processes, so such a crash fails the test instead of ending the
test session.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.emulate.conftest import REPO, VERSION, compile_module, unicorn_or_skip

SOURCES = {
    "selfload": """
MODULE(MODULE_CLASS_MISC, selfload, NULL);
static int
selfload_modcmd(modcmd_t cmd, void *arg)
{
	int error;

	switch (cmd) {
	case MODULE_CMD_INIT:
		error = module_autoload("selfload", MODULE_CLASS_MISC);
		printf("selfload: autoload of itself: %d\\n", error);
		error = module_load("selfload", 0, NULL, MODULE_CLASS_ANY);
		printf("selfload: load of itself: %d\\n", error);
		return 0;
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
""",
    "selfunload": """
MODULE(MODULE_CLASS_MISC, selfunload, NULL);
static int
selfunload_modcmd(modcmd_t cmd, void *arg)
{
	int error;

	switch (cmd) {
	case MODULE_CMD_INIT:
		return 0;
	case MODULE_CMD_FINI:
	case MODULE_CMD_AUTOUNLOAD:
		error = module_unload("selfunload");
		printf("selfunload: unload of itself in %s: %d\\n",
		    cmd == MODULE_CMD_FINI ? "FINI" : "AUTOUNLOAD", error);
		return 0;
	default:
		return ENOTTY;
	}
}
""",
    "needself": """
MODULE(MODULE_CLASS_MISC, needself, "selfunload");
static int
needself_modcmd(modcmd_t cmd, void *arg)
{
	return cmd == MODULE_CMD_INIT || cmd == MODULE_CMD_FINI ? 0 : ENOTTY;
}
""",
    "pinga": """
MODULE(MODULE_CLASS_MISC, pinga, NULL);
static int
pinga_modcmd(modcmd_t cmd, void *arg)
{
	if (cmd == MODULE_CMD_INIT) {
		printf("pinga: autoload pingb: %d\\n", module_autoload("pingb", MODULE_CLASS_MISC));
		return 0;
	}
	return cmd == MODULE_CMD_FINI ? 0 : ENOTTY;
}
""",
    "pingb": """
MODULE(MODULE_CLASS_MISC, pingb, NULL);
static int
pingb_modcmd(modcmd_t cmd, void *arg)
{
	if (cmd == MODULE_CMD_INIT) {
		printf("pingb: autoload pinga: %d\\n", module_autoload("pinga", MODULE_CLASS_MISC));
		return 0;
	}
	return cmd == MODULE_CMD_FINI ? 0 : ENOTTY;
}
""",
}
HEAD = """#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>
"""


@pytest.fixture(scope="module")
def self_tree(built_tree, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(stand, manifest): the modules above compiled for amd64 and installed."""
    unicorn_or_skip()
    from kmodbuild.target import get_target
    target = get_target("amd64")
    base = tmp_path_factory.mktemp("selfload")
    stand = base / "stand"
    mdir = stand / target.kmodulearchdir / VERSION.osrelease / "modules"
    work = base / "obj"
    work.mkdir()
    for name, body in SOURCES.items():
        src = work / f"{name}.c"
        src.write_text(HEAD + body)
        (mdir / name).mkdir(parents=True)
        compile_module(target, src, mdir / name / f"{name}.kmod", work)
    return stand, built_tree.manifest(target.key)


def _sim(self_tree: tuple[Path, Path], tmp_path: Path, script: str,
         *opts: str) -> subprocess.CompletedProcess[str]:
    stand, manifest = self_tree
    scn = tmp_path / "t.scn"
    scn.write_text(script)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "kmodbuild", "sim", "--root", str(stand), "--arch", "amd64",
         "--version", "10.0", "--manifest", str(manifest), "--emulate", "--script", str(scn),
         *opts], capture_output=True, text=True, env=env, timeout=120)


def test_init_loading_itself_is_eexist(self_tree, tmp_path: Path) -> None:
    res = _sim(self_tree, tmp_path, """\
modload selfload
> selfload: autoload of itself: 17
> selfload: load of itself: 17
expect error 0
expect loaded selfload
modunload selfload
expect loaded -
""")
    assert res.returncode == 0, res.stdout + res.stderr


def test_fini_unloading_itself_is_ebusy(self_tree, tmp_path: Path) -> None:
    res = _sim(self_tree, tmp_path, """\
modload selfunload
modunload selfunload
> selfunload: unload of itself in FINI: 16
expect error 0
expect loaded -
""")
    assert res.returncode == 0, res.stdout + res.stderr


def test_autounload_unloading_itself_is_ebusy(self_tree, tmp_path: Path) -> None:
    """selfunload autoloaded as needself's dependency; once needself is gone the
    auto-unload thread asks it (AUTOUNLOAD, whose own unload is EBUSY), then unloads it."""
    res = _sim(self_tree, tmp_path, """\
modload needself
expect loaded needself selfunload
modunload needself
tick 10
> selfunload: unload of itself in AUTOUNLOAD: 16
> selfunload: unload of itself in FINI: 16
expect loaded -
""")
    assert res.returncode == 0, res.stdout + res.stderr


def test_two_inits_autoloading_each_other(self_tree, tmp_path: Path) -> None:
    res = _sim(self_tree, tmp_path, """\
modload pinga
> pingb: autoload pinga: 17
> pinga: autoload pingb: 0
expect error 0
expect order pinga pingb
""")
    assert res.returncode == 0, res.stdout + res.stderr


def test_validate_of_the_tree_ends(self_tree) -> None:
    """``sim --validate`` (what a build's simulate step runs) over these modules."""
    stand, manifest = self_tree
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run(
        [sys.executable, "-m", "kmodbuild", "sim", "--root", str(stand), "--arch", "amd64",
         "--version", "10.0", "--manifest", str(manifest), "--emulate", "--validate"],
        capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip().endswith("5 modules, 5 loaded, 5 unloaded, 0 failures"), res.stdout


NESTED = 60     # about 50 levels reached Python's recursion limit


@pytest.fixture(scope="module")
def nested_tree(built_tree, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(stand, manifest): nl0000 ... nl0059, each INIT autoloading the next (made from one
    compiled module by replacing its names, all of the same length)."""
    unicorn_or_skip()
    from kmodbuild.target import get_target
    target = get_target("amd64")
    base = tmp_path_factory.mktemp("nested")
    stand = base / "stand"
    mdir = stand / target.kmodulearchdir / VERSION.osrelease / "modules"
    src = base / "nl0000.c"
    src.write_text(HEAD + """
MODULE(MODULE_CLASS_MISC, nl0000, NULL);
static int
nl0000_modcmd(modcmd_t cmd, void *arg)
{
	int error;

	if (cmd == MODULE_CMD_INIT) {
		error = module_autoload("nl9999", MODULE_CLASS_MISC);
		return error == ENOENT ? 0 : error;
	}
	return cmd == MODULE_CMD_FINI ? 0 : ENOTTY;
}
""")
    compile_module(target, src, base / "template.kmod", base)
    template = (base / "template.kmod").read_bytes()
    for i in range(NESTED):
        name, after = f"nl{i:04d}".encode(), f"nl{i + 1:04d}".encode()
        (mdir / name.decode()).mkdir(parents=True)
        (mdir / name.decode() / f"{name.decode()}.kmod").write_bytes(
            template.replace(b"nl9999", after).replace(b"nl0000", name))
    return stand, built_tree.manifest(target.key)


def _limit_memory() -> None:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def test_modcmds_nest_at_most_16_deep(nested_tree, tmp_path: Path) -> None:
    """Before, 60 modcmds each autoloading the next reached Python's recursion limit
    inside a kernel hook, and the internal error's message doubled at each level on
    the way out (24 GB, then the OOM killer); now the 17th is reported, not run."""
    stand, manifest = nested_tree
    scn = tmp_path / "t.scn"
    scn.write_text("""\
modload nl0000
>~ panic: nl0016: modcmd\\(INIT\\): not run: modcmds nested 17 deep \\(nl0000 -> nl0001 -> nl0002 -> \\.\\.\\. -> nl0015 -> nl0016, each loading the next\\), more than 16: .*
>*~ WARNING: module error: modcmd\\(CMD_INIT\\) failed for `nl00..', error 14
> modload: nl0000: Bad address
expect loaded -
modload nl0050
expect error 0
expect loaded nl0050 nl0051 nl0052 nl0053 nl0054 nl0055 nl0056 nl0057 nl0058 nl0059
""")
    res = subprocess.run(
        [sys.executable, "-m", "kmodbuild", "sim", "--root", str(stand), "--arch", "amd64",
         "--version", "10.0", "--manifest", str(manifest), "--emulate", "--script", str(scn)],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)),
        timeout=120, preexec_fn=_limit_memory)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
