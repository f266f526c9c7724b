"""SCons's commands run without ``sh -c`` when the shell would change nothing
(scons_tool._spawn), and through it otherwise."""
from __future__ import annotations

import signal
from pathlib import Path

import pytest
import SCons.Platform.posix

from kmodbuild import scons_tool
from kmodbuild.scons_tool import _spawn, _unquoted

ESC = SCons.Platform.posix.escape


def _env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": f"{tmp_path}:/usr/bin:/bin"}


def _logging_shell(tmp_path: Path) -> tuple[str, Path]:
    log = tmp_path / "shell.log"
    sh = tmp_path / "logsh"
    sh.write_text(f'#!/bin/sh\necho "$2" >> {log}\nexec /bin/sh "$@"\n')
    sh.chmod(0o755)
    return str(sh), log


@pytest.mark.parametrize("word, expected", [
    ("-fdebug-compilation-dir=.", "-fdebug-compilation-dir=."),
    ("--target=x86_64-unknown-netbsd", "--target=x86_64-unknown-netbsd"),
    (ESC("build/a b/m.o"), "build/a b/m.o"),      # SCons quotes file names
    (ESC("sys/modules/m0001/m0001.c"), "sys/modules/m0001/m0001.c"),
    ('"a*b"', "a*b"), ('""', ""),
    ("a*b", None), ("~/x", None), (">out", None), ("$HOME", None), ("a;b", None),
    ("#c", None), ("a b", None), ("'q'", None), (ESC("a$b"), None), ('"a\\"b"', None),
])
def test_a_word_is_passed_on_only_when_the_shell_would_pass_it_unchanged(word, expected):
    assert _unquoted(word) == expected


def test_a_plain_command_runs_without_the_shell(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # no shell at all: the direct path is the only way this can succeed
    rc = _spawn(str(tmp_path / "no-such-shell"), ESC, "touch", ["touch", ESC(str(out))],
                _env(tmp_path))
    assert rc == 0 and out.exists()


def test_shell_syntax_still_goes_through_the_shell(tmp_path: Path) -> None:
    sh, log = _logging_shell(tmp_path)
    out = tmp_path / "out"
    rc = _spawn(sh, ESC, "echo", ["echo", "hi", ">", ESC(str(out))], _env(tmp_path))
    assert rc == 0 and out.read_text() == "hi\n"
    assert log.read_text().strip() == f'echo hi > "{out}"'
    for args in (["FOO=1", "true"], ["cd", "/"], ["true", "*"]):  # assignment, builtin, glob
        assert _spawn(sh, ESC, args[0], args, _env(tmp_path)) == 0
    assert len(log.read_text().splitlines()) == 4


def test_exit_status_and_signals_are_reported_as_scons_reports_them(tmp_path: Path) -> None:
    sh, log = _logging_shell(tmp_path)
    killer = tmp_path / "killself"
    killer.write_text("#!/bin/sh\nkill -TERM $$\n")
    killer.chmod(0o755)
    env = _env(tmp_path)
    assert _spawn(sh, ESC, "false", ["false"], env) == 1
    # SCons's own spawn reports what sh -c says of a killed program: 128 + the signal
    assert SCons.Platform.posix.subprocess_spawn(sh, ESC, "killself", ["killself"], env) \
        == 128 + signal.SIGTERM
    assert _spawn(sh, ESC, "killself", ["killself"], env) == 128 + signal.SIGTERM
    assert _spawn(sh, ESC, "no-such-program", ["no-such-program"], env) == 127   # by the shell
    assert log.read_text().splitlines() == ["killself", "no-such-program"]   # no other


def test_a_program_killed_by_a_signal_is_named(tmp_path: Path, capsys) -> None:
    """SCons says only ``Error 153``; the line before it names the signal (a file size
    limit, the OOM killer's SIGKILL).  An interruption's signals are SCons's to report."""
    sh, _ = _logging_shell(tmp_path)
    for sig in ("XFSZ", "KILL", "TERM"):
        prog = tmp_path / f"die{sig}"
        prog.write_text(f"#!/bin/sh\nkill -{sig} $$\n")
        prog.chmod(0o755)
    env = _env(tmp_path)
    assert _spawn(sh, ESC, "dieXFSZ", ["dieXFSZ"], env) == 128 + signal.SIGXFSZ
    assert capsys.readouterr().err == \
        "scons: dieXFSZ killed by SIGXFSZ: File size limit exceeded\n"
    assert _spawn(sh, ESC, "dieKILL", ["dieKILL"], env) == 128 + signal.SIGKILL
    err = capsys.readouterr().err
    assert err.startswith("scons: dieKILL killed by SIGKILL: Killed (out of memory?"), err
    assert _spawn(sh, ESC, "dieTERM", ["dieTERM"], env) == 128 + signal.SIGTERM
    assert capsys.readouterr().err == ""


def test_a_script_the_kernel_cannot_execute_is_left_to_the_shell(tmp_path: Path) -> None:
    sh, log = _logging_shell(tmp_path)
    script = tmp_path / "noshebang"
    script.write_text(f"echo ran > {tmp_path / 'ran'}\n")
    script.chmod(0o755)
    assert _spawn(sh, ESC, "noshebang", ["noshebang"], _env(tmp_path)) == 0
    assert (tmp_path / "ran").read_text() == "ran\n"
    assert log.read_text().splitlines() == ["noshebang"]


def test_the_build_uses_it_unless_the_user_set_a_spawn_of_their_own() -> None:
    from SCons.Environment import Environment
    env = Environment(tools=[])
    scons_tool.generate(env)
    assert env["SPAWN"] is _spawn
    mine = Environment(tools=[], SPAWN=lambda *a: 0)
    theirs = mine["SPAWN"]
    scons_tool.generate(mine)
    assert mine["SPAWN"] is theirs


def test_a_program_gets_the_signals_python_ignores_back(tmp_path: Path) -> None:
    out = tmp_path / "sigpipe"
    probe = tmp_path / "probe"
    # SigIgn of /proc/self/status: bit 12 is SIGPIPE (13)
    probe.write_text(f"#!/bin/sh\ngrep SigIgn /proc/$$/status > {out}\n")
    probe.chmod(0o755)
    assert _spawn(str(tmp_path / "no-such-shell"), ESC, "probe", ["probe"], _env(tmp_path)) == 0
    assert not int(out.read_text().split()[1], 16) & (1 << (signal.SIGPIPE - 1))


def _argv(env, o, s):
    return scons_tool._command_argv(env, "KMOD_CCCOM", [o], [s])


def test_compile_commands_are_the_ones_scons_substitutes() -> None:
    from SCons.Environment import Environment
    env = Environment(tools=[])
    scons_tool.generate(env)
    env.Replace(KMOD_CC="cc", KMOD_CFLAGS="-O2 -g", KMOD_CPPFLAGS="-isystem sys -DX=1")

    def scons(env, o, s):
        return [str(a) for a in env.subst_list("$KMOD_CCCOM", target=[o], source=[s])[0]]

    pairs = [(env.File(f"build/m/{n}.o"), env.File(f"sys/m/{n}.c")) for n in ("a", "b", "c")]
    for o, s in pairs:
        assert _argv(env, o, s) == scons(env, o, s)
    assert _argv(env, *pairs[2]) == \
        ["cc", "-O2", "-g", "-isystem", "sys", "-DX=1", "-c", "sys/m/c.c", "-o", "build/m/c.o"]
    # a flag naming the target, a wrapper, a command of the user's own: still exact
    for change in ({"KMOD_CFLAGS": "-O2 -MF ${TARGET}.d"}, {"KMOD_CCWRAPPER": "ccache"},
                   {"KMOD_CCCOM": "$KMOD_CC -c -o $TARGET $SOURCE"}):
        other = env.Clone(**change)
        for o, s in pairs:
            assert _argv(other, o, s) == scons(other, o, s)
    assert _argv(env.Clone(KMOD_CFLAGS="-O2 -MF ${TARGET}.d"), *pairs[1])[2:4] == \
        ["-MF", "build/m/b.o.d"]


def _plain_action(var):
    """SCons's own action for ``$var``, as the builders used to make it."""
    import SCons.Action
    return SCons.Action.Action("$" + var)


def test_compile_and_link_actions_run_and_sign_what_scons_substitutes() -> None:
    from SCons.Environment import Environment
    env = Environment(tools=[])
    scons_tool.generate(env)
    env.Replace(KMOD_CC="cc", KMOD_CFLAGS="-O2 -g", KMOD_CPPFLAGS="-isystem sys -DX=1",
                KMOD_LD="ld.lld -r", KMOD_LDFLAGS="-d", KMOD_LDSCRIPT_PATH="sys/ld script")
    objs = [env.File(f"build/my mod/{n}.o") for n in ("a", "b")]
    srcs = [env.File(f"sys/my mod/{n}.c") for n in ("a", "b")]
    full = env.File("build/my mod/m.kmod.full")
    changes = ({}, {"KMOD_CFLAGS": "-O2 -MF ${TARGET}.d"}, {"KMOD_CCWRAPPER": "ccache"},
               {"KMOD_CCCOM": "$KMOD_CC -c -o $TARGET $SOURCE"},
               {"KMOD_LINKCOM": "$KMOD_LD -o $TARGET $SOURCES"},
               {"KMOD_LDFLAGS": "-d -Map=${TARGET}.map"})

    def words(r):           # ignore/silent flags: None in SCons 4.5, False in 4.11
        return [[(str(w), bool(w.is_literal())) for w in line] for line in r[0]], \
            bool(r[1]), bool(r[2])

    for change in changes:
        other = env.Clone(**change)
        cc = other["BUILDERS"]["KmodObject"].action
        ld = other["BUILDERS"]["KmodLink"].action
        for act, var, cases in ((cc, "KMOD_CCCOM", [([o], [s]) for o, s in zip(objs, srcs)]),
                                (ld, "KMOD_LINKCOM", [([full], objs), ([full], objs[:1])])):
            plain = _plain_action(var)
            for _ in range(2):          # the first use is checked, the second one is made
                for t, s in cases:
                    assert words(act.process(t, s, other)) == words(plain.process(t, s, other))
                    assert act.get_presig(t, s, other) == plain.get_presig(t, s, other)
                    assert act.get_contents(t, s, other) == plain.get_contents(t, s, other)
    # the default commands were made from their prefix (checked equal once), the others not
    made = {k[0]: v.checked for k, v in scons_tool._BY_VALUES.items()
            if k[0].startswith("prefix:") and k[1:] in (("", "cc", "-O2 -g", "-isystem sys -DX=1"),
                                                        ("ld.lld -r", "-d", "sys/ld script"))}
    assert sorted(made) == ["prefix:KMOD_CCCOM", "prefix:KMOD_LINKCOM"]
    assert all(c["cmd"] and c["sig"] and all(c.values()) for c in made.values())
    # file names are words of their own, quoted as SCons quotes them, the flags are not
    line = cc.process([objs[0]], [srcs[0]], env)[0][0]
    assert [str(w) for w in line][-4:] == ["-c", "sys/my mod/a.c", "-o", "build/my mod/a.o"]
    import SCons.Subst
    assert SCons.Subst.escape_list(line, env["ESCAPE"])[-3:] == \
        ['"sys/my mod/a.c"', "-o", '"build/my mod/a.o"']


def test_the_programs_run_but_are_not_signed() -> None:
    """The build's KMOD_CC and KMOD_LD: the program's path (and zig's subcommand) between
    ``$(`` and ``$)``, words of a list (a path with a space is one argument), the
    wrapper too: the command runs them, the signature has none of them (the toolchain's
    identity, KMOD_TOOLS_ID, is signed instead) -- and the prefix is still made once
    per set of values."""
    from SCons.Environment import Environment
    env = Environment(tools=[])
    scons_tool.generate(env)
    env.Replace(KMOD_CC=scons_tool._unsigned_program(["/my venv/zig", "clang",
                                                      "--target=x86_64-unknown-netbsd"], 2),
                KMOD_CFLAGS="-O2", KMOD_CPPFLAGS="-DX=1", KMOD_CCWRAPPER=["ccache"],
                KMOD_LD=scons_tool._unsigned_program(["/my venv/zig", "ld.lld"], 2),
                KMOD_LDFLAGS="-r", KMOD_LDSCRIPT_PATH="sys/ld")
    cc = env["BUILDERS"]["KmodObject"].action
    o, s = env.File("build/m/a.o"), env.File("sys/m/a.c")
    for _ in range(2):
        line = [str(w) for w in cc.process([o], [s], env)[0][0]]
        assert line == ["ccache", "/my venv/zig", "clang", "--target=x86_64-unknown-netbsd",
                        "-O2", "-DX=1", "-c", "sys/m/a.c", "-o", "build/m/a.o"]
        sig = cc.get_presig([o], [s], env)
        sig = sig.decode() if isinstance(sig, bytes) else sig
        assert "zig" not in sig and "ccache" not in sig and "--target" in sig
    assert sig == _plain_action("KMOD_CCCOM").get_presig([o], [s], env)
    made = [v.checked for k, v in scons_tool._BY_VALUES.items()
            if k[0] == "prefix:KMOD_CCCOM" and "ccache" in k[1]]
    assert made and all(made[0].values()) and made[0]["cmd"] and made[0]["sig"]
    assert scons_tool._split_prefix(env)[:2] == ["/my venv/zig", "clang"]
