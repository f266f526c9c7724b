"""``kmodbuild new`` without a compiler: golden output of every class, name and
``--requires`` validation, template errors, the CLI, and the packaged templates.

``KMODBUILD_UPDATE_GOLDEN=1 pytest tests/skeleton`` rewrites the golden files.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kmodbuild import cli
from kmodbuild.errors import DependencyError, InstallError, ModuleNameError, TemplateError
from kmodbuild.manifest import ManifestSymbol, make_manifest
from kmodbuild.skeleton import (CLASSES, derived_identifiers, find_templates_dir,
                                iter_header_names, make_environment, plan_skeleton,
                                render_skeleton)
from kmodbuild.target import NetBSDVersion, get_target
from tests.conftest import REPO, copy_tree
from tests.skeleton.conftest import GOLDEN, GOLDEN_NAMES, UPDATE_GOLDEN, new, one_line_error


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the source tree (no build/): the module tree is ``<copy>/sys/modules``."""
    return copy_tree(tmp_path_factory.mktemp("skel"))


# --------------------------------------------------------------------------- golden

def test_every_class_has_a_golden_name() -> None:
    assert set(GOLDEN_NAMES) == set(CLASSES)
    assert list(CLASSES) == ["vfs", "driver", "exec", "misc", "secmodel", "syscall",
                             "emulation", "bufq"]


@pytest.mark.parametrize("cls", list(GOLDEN_NAMES))
def test_golden(repo_copy: Path, cls: str) -> None:
    name = GOLDEN_NAMES[cls]
    plan = plan_skeleton(name, cls, repo_copy / "sys" / "modules")
    assert [f.path.name for f in plan.files] == [f"{name}.c", "SConscript", f"{name}.scn"]
    for f in plan.files:
        golden = GOLDEN / cls / f.path.name
        if UPDATE_GOLDEN:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(f.text)
        assert golden.is_file(), f"missing {golden}; run with KMODBUILD_UPDATE_GOLDEN=1"
        assert f.text == golden.read_text(), f"{golden} differs from {f.template}"


@pytest.mark.parametrize("cls", list(GOLDEN_NAMES))
def test_golden_sources_are_knf(cls: str) -> None:
    """Tabs for indentation, 80 columns, no trailing white space, one final newline."""
    name = GOLDEN_NAMES[cls]
    for path in sorted((GOLDEN / cls).iterdir()):
        text = path.read_text()
        assert text.endswith("\n") and not text.endswith("\n\n"), path
        for n, line in enumerate(text.splitlines(), 1):
            assert line == line.rstrip(), f"{path}:{n}: trailing white space"
            assert len(line.expandtabs(8)) <= 80, f"{path}:{n}: longer than 80 columns"
            if path.suffix == ".c":     # KNF: tabs, then 4 spaces on a continuation line
                indent = line[:len(line) - len(line.lstrip())]
                assert re.fullmatch(r"\t*( |    )?", indent), f"{path}:{n}: bad indentation"
    c = (GOLDEN / cls / f"{name}.c").read_text()
    assert f"MODULE({CLASSES[cls].constant}, {name}, NULL);" in c
    for case in ("MODULE_CMD_INIT", "MODULE_CMD_FINI", "MODULE_CMD_AUTOUNLOAD"):
        assert f"\tcase {case}:\n" in c
    assert "\tdefault:\n\t\treturn ENOTTY;\n" in c
    assert f'printf("{name}: goodbye\\n");' in c
    assert (GOLDEN / cls / "SConscript").read_text() == (
        f"Import('env')\nenv.KernelModule('{name}', ['{name}.c'])\n")


REGISTRATION = {
    "vfs": ("vfs_attach(&xyzfs_vfsops)", "vfs_detach(&xyzfs_vfsops)", "struct vfsops"),
    "driver": ("devsw_attach(", "devsw_detach(NULL, &xyzdev_cdevsw)", "struct cdevsw"),
    "exec": ("exec_add(exec_xyz_execsw", "exec_remove(exec_xyz_execsw", "struct execsw"),
    "misc": ("xyzlib_hello(\"world\")", "int\nxyzlib_hello(const char *who)", "int\txyzlib_hello"),
    "secmodel": ("secmodel_register(&secmodel_xyz_sm", "secmodel_deregister(secmodel_xyz_sm)",
                 "kauth_listen_scope(KAUTH_SCOPE_SYSTEM"),
    "syscall": ("syscall_establish(NULL, xyzcall_syscalls)",
                "syscall_disestablish(NULL, xyzcall_syscalls)", "struct syscall_package"),
    "emulation": ("struct emul emul_xyz = {", "extern struct emul emul_xyz;", ".e_name = \"xyz\""),
    "bufq": ("bufq_register(&bufq_strat_xyz)", "bufq_unregister(&bufq_strat_xyz)",
             "BUFQ_DEFINE(xyz, 10, bufq_xyz_init);"),
}


@pytest.mark.parametrize("cls", list(REGISTRATION))
def test_class_registration(cls: str) -> None:
    c = (GOLDEN / cls / f"{GOLDEN_NAMES[cls]}.c").read_text()
    for needle in REGISTRATION[cls]:
        assert needle in c


def test_scenarios_load_and_unload() -> None:
    for cls, name in GOLDEN_NAMES.items():
        scn = (GOLDEN / cls / f"{name}.scn").read_text()
        greeting = f"\n>*~ (?!{name}: ).*\n>?~ {name}: hello.*\n"
        assert f"\nmodload {name}{greeting}expect error 0\nexpect loaded {name}\n" in scn
        assert (f"\nmodunload {name}\n>? {name}: goodbye\nexpect error 0\nexpect loaded -\n"
                in scn)
    assert "\nmount -t xyzfs\n>*~ (?!xyzfs: ).*\n>?~ xyzfs: hello.*\nexpect error 0\n" in \
        (GOLDEN / "vfs" / "xyzfs.scn").read_text()
    assert "\nopen /dev/xyzdev0\n" in (GOLDEN / "driver" / "xyzdev.scn").read_text()


def test_requires_rendering(repo_copy: Path) -> None:
    plan = plan_skeleton("xyzuser", "exec", repo_copy / "sys" / "modules",
                         requires=["compat_demo", "null"])
    c, sconscript, scn = (f.text for f in plan.files)
    assert 'MODULE(MODULE_CLASS_EXEC, xyzuser, "compat_demo,null");' in c
    assert "kmodbuild new xyzuser --class exec --requires compat_demo,null\n" in c
    # null requires layerfs: the whole closure is expected to be loaded
    assert "expect loaded xyzuser compat_demo layerfs null\n" in scn
    assert ("\nmodunload xyzuser\n>? xyzuser: goodbye\nexpect error 0\n"
            "expect loaded compat_demo layerfs null\n") in scn
    assert ">~ xyzuser +exec +filesys +- +0 +[0-9]+ compat_demo,null\n" in scn


def test_prefixes_give_short_names(repo_copy: Path) -> None:
    modules = repo_copy / "sys" / "modules"
    plan = plan_skeleton("linuxish", "emulation", modules)
    assert "struct emul emul_linuxish = {" in plan.files[0].text
    plan = plan_skeleton("fcfs2", "bufq", modules)
    assert "BUFQ_DEFINE(fcfs2, 10, fcfs2_init);" in plan.files[0].text
    assert plan.notes and "bufq_fcfs2" in plan.notes[0]
    plan = plan_skeleton("xyz9", "driver", modules)
    assert "open /dev" not in plan.files[2].text     # the unit number would be ambiguous


# --------------------------------------------------------------------------- names

@pytest.mark.parametrize("args, expect", [
    (["foo-bar", "--class", "misc"], "invalid module name 'foo-bar': must be a C identifier"),
    (["1abc", "--class", "vfs"], "must be a C identifier"),
    (["int", "--class", "vfs"], "invalid module name 'int': a C keyword"),
    (["a" * 32, "--class", "vfs"], "32 characters, at most 31"),
    (["a" * 31, "--class", "misc"], "31 characters, at most 30 (misc modules are meant to be "
     "required: 30 at most, spec §1.5)"),
    (["a" * 31, "--class", "emulation"], "31 characters, at most 30"),
    (["hello", "--class", "misc"], "module `hello' already exists"),
    (["printf", "--class", "misc"], "module name `printf' clashes with the kernel: printf is a "
     "declaration in sys/sys/systm.h:"),
    (["exit", "--class", "syscall"], "the syscall skeleton would define SYS_exit (macro in "
     "sys/sys/syscall.h:"),
    (["vfs", "--class", "vfs"], "the vfs skeleton would define vfs_reinit (declaration in "
     "sys/sys/mount.h:"),
    (["demo", "--class", "emulation"], "would define emul_demo (declaration in "
     "sys/compat/demo/demo_exec.h:"),
    (["NULL", "--class", "misc"], "NULL is a macro in sys/sys/null.h:"),
    (["xyz", "--class", "misc", "--requires", "nosuch"],
     "unknown required module `nosuch': no "),
    (["xyz", "--class", "misc", "--requires", "xyz"], "module `xyz' cannot require itself"),
    (["xyz", "--class", "misc", "--requires", "hello,hello"],
     "required module `hello' is listed twice"),
    (["xyz", "--class", "misc", "--requires", "a" * 31],
     "invalid required module name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa': 31 characters, at most 30"),
    (["xyz", "--class", "misc", "--requires", "a b"],
     "invalid required module name 'a b': must not contain"),
])
def test_bad_names_one_line_exit_1(tree: Path, capsys: pytest.CaptureFixture[str],
                                   args: list[str], expect: str) -> None:
    before = sorted(p.name for p in tree.iterdir())
    assert new(tree, *args) == 1
    assert expect in one_line_error(capsys)
    assert sorted(p.name for p in tree.iterdir()) == before      # nothing written


def test_existing_files_need_force(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "xyzfs").mkdir()
    (tree / "xyzfs" / "xyzfs.scn").write_text("# mine\n")
    assert new(tree, "xyzfs", "--class", "vfs") == 1
    line = one_line_error(capsys)
    assert line.endswith("xyzfs/xyzfs.scn: already exists (use --force to overwrite it)")
    assert sorted(p.name for p in (tree / "xyzfs").iterdir()) == ["xyzfs.scn"]
    assert new(tree, "xyzfs", "--class", "vfs", "--force") == 0
    assert (tree / "xyzfs" / "xyzfs.scn").read_text().startswith("# xyzfs.scn --")
    # an existing module is regenerated only with --force, too
    assert new(tree, "xyzfs", "--class", "vfs") == 1
    assert "module `xyzfs' already exists" in one_line_error(capsys)
    assert new(tree, "xyzfs", "--class", "vfs", "--force") == 0


def test_core_errors_are_typed(tree: Path) -> None:
    with pytest.raises(ModuleNameError):
        plan_skeleton("hz", "misc", tree)
    with pytest.raises(DependencyError):
        plan_skeleton("xyz", "misc", tree, requires=["nosuch"])
    (tree / "xyz").mkdir()
    (tree / "xyz" / "xyz.c").write_text("")
    with pytest.raises(InstallError):
        plan_skeleton("xyz", "misc", tree)


def test_kernel_names_from_manifest_or_headers(tree: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert new(tree, "frobnicate", "--class", "misc") == 0
    out = capsys.readouterr().out
    assert "checked against no stub kernel manifest (not built yet) and the declarations in " \
        "/" in out and "sys/**/*.h" in out
    # a built stub kernel's manifest adds its symbols and is named
    syms = tree.parent.parent / "build" / "amd64-x86_64" / "10.0" / "kernel" / "netbsd.syms"
    syms.parent.mkdir(parents=True)
    manifest = make_manifest(get_target("amd64"), NetBSDVersion.parse("10.0"),
                             [ManifestSymbol("frobnicate2", "func", 8)])
    syms.write_text(manifest.render())
    assert new(tree, "frobnicate2", "--class", "misc") == 1
    line = one_line_error(capsys)
    assert "module name `frobnicate2' clashes with the kernel: frobnicate2 is a kernel symbol " \
        "in " in line
    assert line.endswith("build/amd64-x86_64/10.0/kernel/netbsd.syms (choose another name)")
    assert new(tree, "frobnicate3", "--class", "misc") == 0
    assert "kernel/netbsd.syms and the declarations in" in capsys.readouterr().out


def test_derived_identifiers() -> None:
    env = make_environment(find_templates_dir())
    from kmodbuild.skeleton import _context
    modules = REPO / "sys" / "modules"
    got = derived_identifiers(env, CLASSES["syscall"], _context("xyzcall", CLASSES["syscall"],
                                                                modules, ()))
    assert {"xyzcall", "xyzcall_modcmd", "sys_xyzcall", "SYS_xyzcall", "sys_xyzcall_args",
            "xyzcall_syscalls"} <= got
    assert "syscall_establish" not in got and "printf" not in got
    got = derived_identifiers(env, CLASSES["emulation"],
                              _context("compat_xyz", CLASSES["emulation"], modules, ()))
    assert {"emul_xyz", "XYZ_SYS_NSYSENT", "xyz_sysent", "compat_xyz_modcmd"} <= got


def test_header_scanner() -> None:
    text = """\
/* comment: int not_this(void); */
#define	FOO_MAX	10
#define	foo_macro(x) \\
	((x) + 1)
struct foo { int member(void); int m2; };
enum { FOO_A, FOO_B = 3, };
typedef int foo_fn_t(int);
typedef int (*foo_cb_t)(int, int);
extern struct sysent { short sy_narg; } sysent[];
extern int hz;
struct lwp;
__BEGIN_DECLS
int	foo_attach(struct foo *,
	    int);
__END_DECLS
"""
    got = {(name, kind) for name, _, kind in iter_header_names(text)}
    names = {n for n, _ in got}
    assert {("FOO_MAX", "macro"), ("foo_macro", "macro")} <= got
    assert {"FOO_A", "FOO_B", "foo_fn_t", "foo_cb_t", "sysent", "hz", "foo_attach"} <= names
    assert not {"not_this", "member", "m2", "sy_narg", "lwp", "foo", "int", "struct"} & names
    lines = {name: line for name, line, _ in iter_header_names(text)}
    assert lines["foo_attach"] == 13 and lines["FOO_B"] == 6 and lines["FOO_MAX"] == 2


# --------------------------------------------------------------------------- templates

def _broken_templates(tmp_path: Path, file: str, edit: tuple[str, str]) -> Path:
    dest = tmp_path / "templates"
    shutil.copytree(find_templates_dir(), dest)
    text = (dest / file).read_text()
    assert edit[0] in text
    (dest / file).write_text(text.replace(edit[0], edit[1], 1))
    return dest


def _line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.mark.parametrize("file, edit, message", [
    ("vfs.c.j2", ("static int\n{{ name }}_start", "{{ nosuch }}\nstatic int\n{{ name }}_start"),
     "error: 'nosuch' is undefined"),
    ("module.c.j2", ("MODULE({{", "{% if name %}\nMODULE({{"),
     "error: Unexpected end of template"),
    ("module.scn.j2", ("modstat {{ name }}", "modstat {{ name.nosuch() }}"),
     "has no attribute 'nosuch'"),
    ("misc.c.j2", ('{% extends "module.c.j2" %}', '{% extends "nosuch.c.j2" %}'),
     "error: template nosuch.c.j2 not found"),
])
def test_template_error_names_template_and_line(tmp_path: Path, tree: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                file: str, edit: tuple[str, str],
                                                message: str) -> None:
    templates = _broken_templates(tmp_path, file, edit)
    cls = {"vfs.c.j2": "vfs", "misc.c.j2": "misc"}.get(file, "driver")
    with pytest.raises(TemplateError) as info:
        plan_skeleton("xyzmod", cls, tree, templates_dir=templates)
    err = info.value
    assert Path(err.path) == templates / file
    if file == "module.c.j2":
        assert err.line is not None     # the end of the template, where the if is missing
    elif file == "misc.c.j2":
        assert err.line == 1
    else:
        needle = edit[1].split("\n")[0] if file == "vfs.c.j2" else "name.nosuch()"
        assert err.line == _line_of(templates / file, needle)
    assert str(err).startswith(f"{templates / file}:{err.line}: ")
    assert message in str(err)
    # the command: one line, exit 1, nothing written
    assert new(tree, "xyzmod", "--class", cls, "--templates", str(templates)) == 1
    assert one_line_error(capsys) == str(err)
    assert not (tree / "xyzmod").exists()


def test_templates_dir_errors(tmp_path: Path, tree: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert new(tree, "xyzmod", "--class", "vfs", "--templates", str(tmp_path / "empty")) == 1
    assert one_line_error(capsys) == (f"{tmp_path / 'empty'}: error: no template vfs.c.j2 or "
                                      "module.c.j2")
    assert new(tree, "xyzmod", "--class", "vfs", "--templates", str(tmp_path / "nosuch")) == 2
    assert "--templates" in one_line_error(capsys)
    assert not (tree / "xyzmod").exists()


def test_strict_undefined_in_shared_template(tmp_path: Path, tree: Path) -> None:
    templates = _broken_templates(tmp_path, "SConscript.j2", ("{{ name }}", "{{ nmae }}"))
    with pytest.raises(TemplateError, match=r"SConscript\.j2:2: error: 'nmae' is undefined"):
        plan_skeleton("xyzmod", "misc", tree, templates_dir=templates)


# --------------------------------------------------------------------------- CLI

def test_list_classes(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["new", "--list-classes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(CLASSES)
    assert all(len(line) <= 160 for line in lines)
    assert "vfs_attach" in lines[0] and "MISC" in lines[5]


def test_help_shows_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["new", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "kmodbuild new xyzfs --class vfs" in out and "--list-classes" in out


@pytest.mark.parametrize("args, expect", [
    ([], "a module NAME is required"),
    (["xyz"], "--class is required"),
    (["xyz", "--class", "misc", "--requires", "a,,b"], "--requires 'a,,b': empty module name"),
])
def test_usage_errors_exit_2(tree: Path, capsys: pytest.CaptureFixture[str],
                             args: list[str], expect: str) -> None:
    assert new(tree, *args) == 2
    assert expect in one_line_error(capsys)


def test_missing_tree_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert new(tmp_path / "nosuch", "xyz", "--class", "misc") == 2
    assert "no such directory" in one_line_error(capsys)


def test_a_tree_outside_sys_is_a_usage_error(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A directory not under SRCTOP/sys: its parent's headers are not the kernel's (every
    *.h below /tmp was read, for minutes, with --tree /tmp/x)."""
    (tmp_path / "x").mkdir()
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "a.h").write_text("int unrelated;\n")
    assert new(tmp_path / "x", "xyz", "--class", "misc") == 2
    assert "not a module tree: no sys/module.h beside it" in one_line_error(capsys)
    assert list((tmp_path / "x").iterdir()) == []


def test_output_and_files(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert new(tree, "xyzfs", "--class", "vfs") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "kmodbuild new: xyzfs: a vfs module (MODULE_CLASS_VFS)"
    assert out[1].startswith("  name checked against ")
    assert out[2:5] == [f"  wrote {tree / 'xyzfs' / n}" for n in
                        ("xyzfs.c", "SConscript", "xyzfs.scn")]
    # the tree is not below the current directory: the next steps say where to run them
    root = tree.parent.parent
    assert out[5].startswith(f"next: cd {root} && scons (or kmodbuild build)")
    assert out[6].strip() == (f"cd {root} && kmodbuild sim --root stand --machine amd64 "
                              "--version 10.0 --script sys/modules/xyzfs/xyzfs.scn")
    files = sorted((tree / "xyzfs").iterdir())
    assert [f.name for f in files] == ["SConscript", "xyzfs.c", "xyzfs.scn"]    # no temp files
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o644
    assert (tree / "xyzfs" / "xyzfs.c").read_text() == (GOLDEN / "vfs" / "xyzfs.c").read_text()


def test_render_skeleton_api(tree: Path) -> None:
    plan = render_skeleton("xyzlib", "misc", tree)
    assert [p.path.read_text() for p in plan.files] == [f.text for f in plan.files]


# --------------------------------------------------------------------------- packaging

def test_templates_found_in_checkout() -> None:
    assert find_templates_dir() == REPO / "templates"


def test_installed_package_carries_templates(tmp_path: Path) -> None:
    """``pip install .`` ships templates/ as kmodbuild/templates (pyproject package-data)."""
    src = tmp_path / "src"
    src.mkdir()
    for part in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / part, src / part)
    for part in ("kmodbuild", "templates"):
        shutil.copytree(REPO / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    lib = tmp_path / "lib"
    res = subprocess.run([sys.executable, "-c", "from setuptools import setup; "
                          f"setup(script_args=['-q', 'build_py', '--build-lib', {str(lib)!r}])"],
                         cwd=src, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "Package would be ignored" not in res.stderr
    installed = sorted(p.name for p in (lib / "kmodbuild" / "templates").iterdir())
    assert installed == sorted(p.name for p in (REPO / "templates").iterdir())
    modules = str(REPO / "sys" / "modules")
    code = ("from kmodbuild.skeleton import find_templates_dir, plan_skeleton; "
            "print(find_templates_dir()); "
            f"print(plan_skeleton('xyzfs', 'vfs', {modules!r}).files[0].text)")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=str(lib)), timeout=120)
    assert res.returncode == 0, res.stderr
    where, text = res.stdout.split("\n", 1)
    assert Path(where) == lib / "kmodbuild" / "templates"
    assert text == (GOLDEN / "vfs" / "xyzfs.c").read_text() + "\n"
