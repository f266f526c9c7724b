"""``kmodbuild new``: the findings of its audit (syscall slots, clashes with other modules of
the tree, recursive templates, next steps from elsewhere, repeated options, a file in the
way)."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from kmodbuild import cli
from kmodbuild.errors import ModuleNameError
from kmodbuild.skeleton import find_templates_dir, global_definitions, plan_skeleton
from tests.conftest import scons
from tests.skeleton.conftest import new, one_line_error


def slot_of(tree: Path, name: str) -> str:
    m = re.search(rf"#define\tSYS_{name}\t(.*)\n", (tree / name / f"{name}.c").read_text())
    assert m, name
    return m.group(1)


# --------------------------------------------------------------------------- 1. syscall slots

def test_syscall_skeletons_take_free_slots(tree: Path) -> None:
    # sysdemo uses SYS_lkmnosys_first + 1
    assert new(tree, "sysa", "--class", "syscall") == 0
    assert new(tree, "sysb", "--class", "syscall") == 0
    assert slot_of(tree, "sysa") == "SYS_lkmnosys_first"
    assert slot_of(tree, "sysb") == "(SYS_lkmnosys_first + 2)"
    # --force regenerates a module in its own slot
    assert new(tree, "sysa", "--class", "syscall", "--force") == 0
    assert slot_of(tree, "sysa") == "SYS_lkmnosys_first"


def test_no_free_syscall_slot_is_refused(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "hog").mkdir()
    (tree / "hog" / "hog.c").write_text("".join(
        f"#define\tSYS_hog{i}\t(SYS_lkmnosys_first + {i})\n" for i in range(10)))
    assert new(tree, "sysz", "--class", "syscall") == 1
    assert "no free system call slot for `sysz'" in one_line_error(capsys)
    assert not (tree / "sysz").exists()
    assert new(tree, "notsys", "--class", "misc") == 0     # other classes need no slot


def test_two_syscall_skeletons_build_and_simulate(tree: Path) -> None:
    for d in tree.iterdir():
        if d.is_dir() and d.name not in ("sysdemo", "xldscripts"):
            shutil.rmtree(d)
    assert new(tree, "sysa", "--class", "syscall") == 0
    assert new(tree, "sysb", "--class", "syscall") == 0
    scons(tree.parent.parent)


# --------------------------------------------------------------------------- 2. clashes

@pytest.mark.parametrize("cls, first, second, what", [
    ("emulation", "compat_qq", "qq", "struct emul emul_qq"),
    ("emulation", "qq", "compat_qq", "struct emul emul_qq"),
    ("secmodel", "secmodel_ss", "ss", "the model id org.netbsd.secmodel.ss"),
    ("bufq", "bufq_rr", "rr", "the buffer queue strategy `rr'"),
    ("bufq", "rr", "bufq_rr", "the buffer queue strategy `rr'"),
])
def test_prefix_twins_are_refused(tree: Path, capsys: pytest.CaptureFixture[str], cls: str,
                                  first: str, second: str, what: str) -> None:
    assert new(tree, first, "--class", cls) == 0
    capsys.readouterr()
    assert new(tree, second, "--class", cls) == 1
    line = one_line_error(capsys)
    assert f"module name `{second}' clashes with module `{first}' of the tree" in line
    assert f"both would have {what}" in line
    assert not (tree / second).exists()


def test_example_twins_are_refused(tree: Path) -> None:
    with pytest.raises(ModuleNameError, match="module `bufq_demo' of the tree"):
        plan_skeleton("demo", "bufq", tree)
    with pytest.raises(ModuleNameError, match="module `secmodel_example' of the tree"):
        plan_skeleton("example", "secmodel", tree)


def test_global_symbol_of_another_module_is_refused(tree: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "other").mkdir()
    (tree / "other" / "other.c").write_text(
        "#include <sys/module.h>\n\nint\nzork_hello(const char *s)\n{\n\treturn 0;\n}\n")
    assert new(tree, "zork", "--class", "misc") == 1
    line = one_line_error(capsys)
    assert "would define zork_hello, already defined in " in line
    assert "other/other.c:4" in line
    # a static one of the same name is no clash
    (tree / "other" / "other.c").write_text("static int zork_hello(const char *s) { return 0; }\n")
    assert new(tree, "zork", "--class", "misc") == 0


def test_global_definitions() -> None:
    text = """#include <x.h>
static int s_var;
int g_var = 3;
extern int e_var;
const char *g_arr[] = { "a", "b" };
struct emul emul_x = {
	.e_name = "x",
};
struct tag { int member; };
MODULE(MODULE_CLASS_MISC, x, NULL);
int proto(void);
static int s_fn(void) { return 0; }
int
g_fn(int a)
{
	if (a) { return 1; }
	return 0;
}
"""
    assert sorted(global_definitions(text)) == ["emul_x", "g_arr", "g_fn", "g_var"]
    assert global_definitions(text)["g_fn"] == 14


# --------------------------------------------------------------------------- 3. SConscripts

@pytest.mark.parametrize("quote", ["'", '"'])
def test_name_declared_by_another_sconscript(tree: Path, capsys: pytest.CaptureFixture[str],
                                             quote: str) -> None:
    (tree / "zdir").mkdir()
    (tree / "zdir" / "SConscript").write_text(
        f"Import('env')\nenv.KernelModule({quote}zed{quote}, [{quote}zed.c{quote}])\n")
    assert new(tree, "zed", "--class", "misc") == 1
    line = one_line_error(capsys)
    assert "module name `zed' is already declared by " in line
    assert line.rstrip().endswith("zdir/SConscript (choose another name)")
    assert not (tree / "zed").exists()


# --------------------------------------------------------------------------- 4. recursion

def test_recursive_template_is_one_line(tmp_path: Path, tree: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    templates = tmp_path / "tpl"
    shutil.copytree(find_templates_dir(), templates)
    with (templates / "SConscript.j2").open("a") as f:
        f.write("{% macro r() %}{{ r() }}{% endmacro %}{{ r() }}\n")
    assert new(tree, "recmod", "--class", "misc", "--templates", str(templates)) == 1
    line = one_line_error(capsys)
    assert line.startswith(f"{templates / 'SConscript.j2'}:")
    assert "error: RecursionError" in line
    assert not (tree / "recmod").exists()


# --------------------------------------------------------------------------- 5. next steps

def test_next_steps_from_elsewhere(tmp_path: Path, tree: Path,
                                   capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root = tree.parent.parent
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert new(tree, "elsew", "--class", "vfs") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == f"next: cd {root} && scons (or kmodbuild build) to build, check and install it, then"
    assert out[-1] == (f"      cd {root} && kmodbuild sim --root stand --machine amd64 "
                       "--version 10.0 --script sys/modules/elsew/elsew.scn")


def test_next_steps_at_the_root(tree: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree.parent.parent)
    assert cli.main(["new", "atroot", "--class", "vfs"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == "next: scons (or kmodbuild build) to build, check and install it, then"
    assert out[-1] == ("      kmodbuild sim --root stand --machine amd64 --version 10.0 "
                       "--script sys/modules/atroot/atroot.scn")


# --------------------------------------------------------------------------- 6. options, paths

def test_repeated_requires_are_joined(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert new(tree, "xyzuser", "--class", "exec", "--requires", "hello",
               "--requires", "null,bitbucket") == 0
    assert 'MODULE(MODULE_CLASS_EXEC, xyzuser, "hello,null,bitbucket");' in \
        (tree / "xyzuser" / "xyzuser.c").read_text()
    capsys.readouterr()
    assert new(tree, "xyzuser2", "--class", "exec", "--requires", "hello",
               "--requires", "hello") == 1
    assert "required module `hello' is listed twice" in one_line_error(capsys)
    assert new(tree, "xyzuser2", "--class", "exec", "--requires", "hello",
               "--requires", "") == 2
    assert "--requires '': empty module name" in one_line_error(capsys)


def test_templates_is_a_file(tmp_path: Path, tree: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "somefile").write_text("x\n")
    assert new(tree, "xyzmod", "--class", "vfs", "--templates", str(tmp_path / "somefile")) == 2
    assert one_line_error(capsys).endswith(f"--templates {tmp_path / 'somefile'}: not a directory")
    assert not (tree / "xyzmod").exists()


def test_a_file_where_the_module_directory_goes(tree: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "fil").write_text("mine\n")
    for extra in ((), ("--force",)):
        assert new(tree, "fil", "--class", "misc", *extra) == 1
        assert one_line_error(capsys).endswith("fil: a file is in the way (not a directory)")
        assert (tree / "fil").read_text() == "mine\n"
