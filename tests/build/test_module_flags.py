"""A module's own compiler flags (NetBSD's CPPFLAGS+= / COPTS+=): CPPDEFINES, CPPPATH and
CFLAGS on KernelModule or on a clone of the environment reach its compiles, every later
kind of build keeps them, and what a command line cannot carry is one line at read time."""
from __future__ import annotations

import json
from collections import deque
from pathlib import Path

import pytest

from kmodbuild.errors import KmodError
from kmodbuild.modflags import define_flags, flag_words
from tests.conftest import copy_tree, scons

ARGS = ("ARCH=amd64", "-j2")
HELLO = "sys/modules/hello"
KMOD = "build/amd64-x86_64/10.0/modules/hello/hello.kmod"
INSTALLED = "stand/amd64/10.0/modules/hello/hello.kmod"
#: compiles only with the module's defines and finds its header on the module's CPPPATH
GUARD = """
#include "hello_cfg.h"
#if !defined(HELLO_EXTRA) || HELLO_N != 7
#error the module's defines are missing
#endif
const char hello_greeting[] = HELLO_GREETING;
"""


# ------------------------------------------------------------------ the words (pure)

def test_defines_in_every_form_scons_takes() -> None:
    assert define_flags(None) == []
    assert define_flags("A") == ["-DA"]
    assert define_flags("A=1") == ["-DA=1"]
    assert define_flags(["A", ("B", 2), ("C",), "D=x", {"F": None, "E": '"s"'}]) == \
        ["-DA", "-DB=2", "-DC", "-DD=x", "-DE=\"s\"", "-DF"]
    # what env.Append(CPPDEFINES=...) leaves behind
    assert define_flags(deque(["A", ("B", 2), ("C", None)])) == ["-DA", "-DB=2", "-DC"]
    assert define_flags(["F(a,b)=a"]) == ["-DF(a,b)=a"]


@pytest.mark.parametrize("bad, message", [
    ("1A", "'1A' is not a macro name"),
    (["A B"], "'A B' is not a macro name"),
    ([("A", "x y")], "A='x y': the value contains white space"),
    ([("A", ["x"])], "A: a value must be a string or a number, not list"),
    ([("A", True)], "a value must be a string or a number, not bool"),
    ([3], "3 is neither NAME, NAME=VALUE nor a (NAME, VALUE) pair"),
    (5, "5 is neither a string, a list nor a dict"),
])
def test_a_define_a_command_line_cannot_carry_is_refused(bad: object, message: str) -> None:
    with pytest.raises(KmodError, match=r"^CPPDEFINES: "):
        try:
            define_flags(bad)
        except KmodError as e:
            assert message in str(e), e
            raise


def test_flags_split_on_white_space_as_scons_does() -> None:
    assert flag_words(None, "CFLAGS") == []
    assert flag_words("-Wall  -O2", "CFLAGS") == ["-Wall", "-O2"]
    assert flag_words(["-Wall -O2", "-g", ["-x"]], "CFLAGS") == ["-Wall", "-O2", "-g", "-x"]
    for bad in ([3], 3, "a\0b"):
        with pytest.raises(KmodError, match=r"^CCFLAGS: "):
            flag_words(bad, "CCFLAGS")


# ------------------------------------------------------------------ real builds

def _module(tree: Path, sconscript: str, header_dir: str, greeting: str) -> None:
    (tree / HELLO / "SConscript").write_text(sconscript)
    src = tree / HELLO / "hello.c"
    text = src.read_text()
    if GUARD not in text:
        src.write_text(text.replace("#include <sys/systm.h>\n",
                                    "#include <sys/systm.h>\n" + GUARD, 1))
    _greet(tree / header_dir, greeting)


def _greet(where: Path, greeting: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    (where / "hello_cfg.h").write_text(f'#define HELLO_GREETING "{greeting}"\n')


def _greeting(path: Path) -> bytes:
    data = path.read_bytes()
    start = data.index(b"greets ")
    return data[start:data.index(b"\0", start)]


def test_keywords_reach_the_compile_and_every_later_build_keeps_them(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    _module(tree, "Import('env')\n"
            "env.KernelModule('hello', ['hello.c'],\n"
            "                 CPPDEFINES=['HELLO_EXTRA', ('HELLO_N', 7)],\n"
            "                 CPPPATH=['include'], CFLAGS=['-Wno-unused-macros'])\n",
            f"{HELLO}/include", "greets one")
    scons(tree, *ARGS)
    assert _greeting(tree / INSTALLED) == b"greets one"
    entry = next(e for e in json.loads((tree / "compile_commands.json").read_text())
                 if e["file"] == f"{HELLO}/hello.c")
    argv = entry["arguments"]
    # -I relative to the tree (objects the same in any checkout), the defines after the
    # system's, the module's flags after the toolchain's (so they win)
    assert argv[argv.index("-I") + 1] == f"{HELLO}/include"
    assert argv.index("-DHELLO_N=7") > argv.index("-D__NetBSD_Version__=1000000000")
    assert argv.index("-Wno-unused-macros") > argv.index("-O2")
    assert "-DHELLO_EXTRA" not in json.dumps([e for e in json.loads(
        (tree / "compile_commands.json").read_text()) if "hello" not in e["file"]])
    assert (tree / "build/.fastpath.json").is_file()        # inside sys/: watched
    # the module's header is a dependency (a graph walk)
    _greet(tree / HELLO / "include", "greets two")
    scons(tree, *ARGS)
    assert _greeting(tree / INSTALLED) == b"greets two"
    # a source edit (the quick build, from its record) compiles with the same flags: the
    # guard would stop it otherwise
    src = tree / HELLO / "hello.c"
    src.write_text(src.read_text().replace("Goodbye", "Farewell"))
    out = scons(tree, *ARGS)
    assert "Farewell" in (tree / INSTALLED).read_bytes().decode("latin-1"), out.stdout
    assert scons(tree, *ARGS).stdout.strip().endswith("everything is up to date")


def test_flags_on_a_clone_of_the_environment_and_headers_outside_sys(tmp_path: Path) -> None:
    """``env.Clone()`` + ``Append`` (the SCons way) works as the keywords do; a header
    directory outside sys/ is not watched by the no-op stamp, so the build writes none
    (SCons decides each time) and a change there still rebuilds."""
    tree = copy_tree(tmp_path)
    _module(tree, "Import('env')\n"
            "env = env.Clone()\n"
            "env.Append(CPPDEFINES={'HELLO_EXTRA': None, 'HELLO_N': 7}, CPPPATH=['#extinc'])\n"
            "env.Append(CCFLAGS='-Wno-unused-macros')\n"
            "env.KernelModule('hello', ['hello.c'])\n",
            "extinc", "greets outside")
    scons(tree, *ARGS)
    assert _greeting(tree / INSTALLED) == b"greets outside"
    _greet(tree / "extinc", "greets changed")
    scons(tree, *ARGS)
    assert _greeting(tree / KMOD) == b"greets changed"
    assert _greeting(tree / INSTALLED) == b"greets changed"
    assert not (tree / "build/.fastpath.json").exists()
    # the other modules were compiled without the clone's flags
    others = [e for e in json.loads((tree / "compile_commands.json").read_text())
              if not e["file"].startswith(HELLO + "/")]
    assert others and not any("-DHELLO_N=7" in e["arguments"] for e in others)


@pytest.mark.parametrize("call, message", [
    ("CPPDEFINES=['1BAD']", "CPPDEFINES: '1BAD' is not a macro name"),
    ("CPPDEFINES=[('MSG', 'a b')]", "CPPDEFINES: MSG='a b': the value contains white space"),
    ("CPPPATH=['nope']", "CPPPATH: nope: no such directory"),
    ("LIBS=['m']", "unknown keyword 'LIBS' (a module's own flags: CPPDEFINES, CPPPATH, "
                   "CFLAGS, CCFLAGS)"),
    ("CFLAGS=[3]", "CFLAGS: 3 is not a string"),
    ("CPPPATH=['sp ace']", "CPPPATH: 'sys/modules/hello/sp ace': a directory whose path "
                           "has white space"),
])
def test_a_bad_flag_is_one_line_before_anything_builds(tmp_path: Path, call: str,
                                                       message: str) -> None:
    tree = copy_tree(tmp_path)
    (tree / HELLO / "sp ace").mkdir()
    (tree / HELLO / "SConscript").write_text(
        f"Import('env')\nenv.KernelModule('hello', ['hello.c'], {call})\n")
    res = scons(tree, *ARGS, check=False)
    assert res.returncode == 2, res
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"scons: *** {HELLO}/SConscript:2: KernelModule('hello'): "), res.stderr
    assert message in lines[0], lines[0]
    assert "Traceback" not in res.stdout + res.stderr
    assert not (tree / "build" / "amd64-x86_64" / "10.0" / "modules").exists()
