"""kmodbuild.scenario - the simulator's command language; scenario files that double as tests.

One command a line (``#`` starts a comment)::

    modload [-f] [-P] [-b k=v] [-i k=v] [-s k=v] NAME|PATH
    modunload NAME...            modstat [-e|-a|-A] [-k] [NAME]
    mount -t NAME                exec TYPE          open DEVICE       syscall NUM|NAME
    tick SECONDS                 bootcfg LINE
    boot [root=FS] [cfg=FILE] [load=NAME]... [single]
    sysctl [-w] NAME[=VALUE]     securelevel N      uid N             fail NAME CMD ERRNO
    builtin NAME[:CLASS[:REQ]],...   kernel syscall NUM NAME MODULE | execformat TYPE MODULE |
                                     exec-autoload MODULE | device NODE DRIVER | insecure yes|no

Lines starting with ``>`` give the exact expected output of the command above
them (``>~`` a regular expression); ``expect loaded A,B`` checks the set of
loaded modules, ``expect order A,B`` the module list newest first, ``expect
error ENAME`` the errno of the previous command.  A file with any ``>`` or
``expect`` line is a test: every command's output must equal its ``>`` block.

The core runs commands and returns their output lines; it prints nothing.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kmodbuild import kobj as K
from kmodbuild import simboot, simevents
from kmodbuild.errors import KmodError, LoadError
from kmodbuild.modstat_format import format_exists, format_modstat
from kmodbuild.simulator import (
    CMD_NAMES,
    KernelConfig,
    SimKernel,
    _shortened,
    builtins_in,
)


class ScenarioError(KmodError):
    """A scenario line that cannot be run (unknown command, bad argument)."""


@dataclass
class CommandResult:
    """What one command printed and the errno it ended with (0 = success)."""

    output: list[str]
    error: int = 0


KernelFactory = Callable[[KernelConfig], SimKernel]


class Session:
    """A simulated machine driven by commands; ``kernel`` may be rebuilt by kernel directives.

    Args:
        kernel: the running kernel.
        factory: makes a booted kernel for a new :class:`KernelConfig` (``builtin``/``kernel``).
        cwd: directory ``cfg=`` files are read from.
    """

    def __init__(self, kernel: SimKernel, factory: KernelFactory | None = None,
                 cwd: Path | None = None) -> None:
        self.kernel = kernel
        self.factory = factory
        self.cwd = cwd or kernel.cwd
        self.bootcfg: list[str] = []
        self._commands: dict[str, Callable[[list[str]], CommandResult]] = {
            "modload": self._modload, "modunload": self._modunload, "modstat": self._modstat,
            "mount": self._mount, "exec": self._exec, "open": self._open,
            "syscall": self._syscall, "tick": self._tick, "bootcfg": self._bootcfg,
            "boot": self._boot, "sysctl": self._sysctl, "securelevel": self._securelevel,
            "uid": self._uid, "fail": self._fail, "builtin": self._builtin,
            "kernel": self._kernel,
        }

    @property
    def commands(self) -> list[str]:
        """Command names, for help and completion."""
        return sorted(self._commands)

    def execute(self, line: str) -> CommandResult:
        """Run one command line; the kernel console lines come first in the output.

        Raises:
            ScenarioError: unknown command or bad arguments.
        """
        try:
            words = split_words(line)
        except ValueError as e:
            raise ScenarioError(f"cannot parse {line!r}: {e}") from None
        if not words:
            return CommandResult([])
        handler = self._commands.get(words[0])
        if handler is None:
            raise ScenarioError(f"unknown command {words[0]!r}; commands: "
                                f"{', '.join(self.commands)}")
        self.kernel.take_console()
        try:
            result = handler(words[1:])
        except RecursionError:
            # the simulator loads dependency chains in a loop; a modcmd that loads a
            # module whose modcmd loads another... (emulated) still nests calls
            raise ScenarioError(f"{words[0]}: calls nested too deeply for the simulator "
                                "(modcmds loading modules loading modules...)") from None
        result.output[:0] = self.kernel.take_console()
        return result

    # ---- commands
    def _modload(self, args: list[str]) -> CommandResult:
        force = no_props = False
        props: dict[str, Any] = {}
        name = None
        it = iter(args)
        for a in it:
            if a in ("-f", "-P", "-fP", "-Pf"):
                force |= "f" in a
                no_props |= "P" in a
            elif a in ("-b", "-i", "-s"):
                key, _, value = next(it, "").partition("=")
                if not key:
                    raise ScenarioError(f"modload {a} needs var=value")
                props[key] = _prop_value(a, value)
            elif name is None:
                name = a
            else:
                raise ScenarioError("usage: modload [-fP] [-b var=bool] [-i var=int] "
                                    "[-s var=string] module")
        if name is None:
            raise ScenarioError("usage: modload [-fP] module")
        try:
            self.kernel.modload(name, force=force, no_props=no_props, props=props)
        except LoadError as e:
            return CommandResult([str(e)], e.code)
        return CommandResult([])

    def _modunload(self, args: list[str]) -> CommandResult:
        if not args:
            raise ScenarioError("usage: modunload name ...")
        for name in args:
            try:
                self.kernel.modunload(name)
            except LoadError as e:
                return CommandResult([str(e)], e.code)
        return CommandResult([])

    def _modstat(self, args: list[str]) -> CommandResult:
        opts = {a for a in args if a.startswith("-")}
        names = [a for a in args if not a.startswith("-")]
        flags = set("".join(o[1:] for o in opts))
        if flags - set("eaAk") or len(names) > 1:
            raise ScenarioError("usage: modstat [-Aaek] [name]")
        if flags & set("eaA"):
            auto = bool(flags & set("aA"))
            error = self.kernel.modctl_exists(auto)
            text = format_exists(error, autoload=auto, sysctl_autoload=(
                self.kernel.autoload_on if "A" in flags else None))
            return CommandResult([text], error)
        text = format_modstat(self.kernel.modstat(), names[0] if names else None,
                              show_address="k" in flags)
        return CommandResult(text.rstrip("\n").split("\n"))

    def _mount(self, args: list[str]) -> CommandResult:
        if len(args) >= 2 and args[0] == "-t":
            fstype = args[1]
        elif len(args) == 1:
            fstype = args[0]
        else:
            raise ScenarioError("usage: mount -t fstype [special node]")
        error = simevents.mount(self.kernel, fstype)
        return _event("mount", fstype, error)

    def _exec(self, args: list[str]) -> CommandResult:
        if not args:
            raise ScenarioError("usage: exec binary-type")
        return _event("exec", args[0], simevents.exec_binary(self.kernel, args[0]))

    def _open(self, args: list[str]) -> CommandResult:
        if len(args) != 1:
            raise ScenarioError("usage: open /dev/node")
        return _event("open", args[0], simevents.open_device(self.kernel, args[0]))

    def _syscall(self, args: list[str]) -> CommandResult:
        if len(args) != 1:
            raise ScenarioError("usage: syscall number|name")
        return _event("syscall", args[0], simevents.syscall(self.kernel, args[0]))

    def _tick(self, args: list[str]) -> CommandResult:
        if len(args) != 1 or not _number(args[0]):
            raise ScenarioError("usage: tick seconds")
        self.kernel.tick(int(args[0]))
        return CommandResult([])

    def _bootcfg(self, args: list[str]) -> CommandResult:
        if args == ["clear"]:
            self.bootcfg = []
        else:
            self.bootcfg.append(" ".join(args))
        return CommandResult([])

    def _boot(self, args: list[str]) -> CommandResult:
        root: str | None = None
        loads = simboot.parse_bootcfg("\n".join(self.bootcfg))
        single = False
        for a in args:
            key, eq, value = a.partition("=")
            if key == "root" and eq:
                root = value
            elif key == "cfg" and eq:
                path = Path(value) if Path(value).is_absolute() else self.cwd / value
                try:
                    if path.exists() and not path.is_file() and not path.is_dir():
                        raise ScenarioError(f"boot: {value}: not a regular file")   # a FIFO
                    loads += simboot.parse_bootcfg(path.read_text(encoding="utf-8"))
                except OSError as e:
                    raise ScenarioError(f"boot: {_shortened(value)}: {e.strerror or e}"
                                        ) from None
                except UnicodeDecodeError as e:
                    raise ScenarioError(f"boot: {value}: not UTF-8 text (byte {e.start})"
                                        ) from None
                except ValueError as e:     # a NUL byte in the name
                    raise ScenarioError(f"boot: {_shortened(value)!r}: {e}") from None
            elif key == "load" and eq:
                loads.append(value)
            elif a in ("single", "-s"):
                single = True
            else:
                raise ScenarioError("usage: boot [root=FSTYPE] [cfg=FILE] [load=NAME]... [single]")
        error = simboot.boot(self.kernel, loads, root, single_user=single)
        return CommandResult([], error)

    def _sysctl(self, args: list[str]) -> CommandResult:
        write = args[:1] == ["-w"]
        rest = args[1:] if write else args
        if len(rest) != 1:
            raise ScenarioError("usage: sysctl [-w] name[=value]")
        name, eq, value = rest[0].partition("=")
        try:
            if eq:
                old = self.kernel.sysctl_get(name)
                self.kernel.sysctl_set(name, value)
                return CommandResult([f"{name}: {old} -> {self.kernel.sysctl_get(name)}"])
            return CommandResult([f"{name} = {self.kernel.sysctl_get(name)}"])
        except LoadError as e:
            return CommandResult([str(e)], e.code)

    def _securelevel(self, args: list[str]) -> CommandResult:
        if len(args) != 1:
            raise ScenarioError("usage: securelevel N")
        return self._sysctl(["-w", f"kern.securelevel={args[0]}"])

    def _uid(self, args: list[str]) -> CommandResult:
        if len(args) != 1 or not _number(args[0]):
            raise ScenarioError("usage: uid N")
        self.kernel.euid = int(args[0])
        return CommandResult([])

    def _fail(self, args: list[str]) -> CommandResult:
        if len(args) != 3 or args[1].upper() not in CMD_NAMES:
            raise ScenarioError("usage: fail NAME INIT|FINI|STAT|AUTOUNLOAD ERRNO")
        code = parse_errno(args[2])
        key = (args[0], CMD_NAMES[args[1].upper()])
        if code:
            self.kernel.faults[key] = code
        else:
            self.kernel.faults.pop(key, None)
        return CommandResult([])

    def _rebuild(self, config: KernelConfig) -> CommandResult:
        if self.factory is None:
            raise ScenarioError("this session cannot change the kernel description")
        old = self.kernel
        self.kernel = self.factory(config)
        self.kernel.faults = old.faults
        self.kernel.euid = old.euid
        return CommandResult([])

    def _builtin(self, args: list[str]) -> CommandResult:
        k = self.kernel
        try:
            specs = builtins_in([s for a in args for s in a.split(",")],
                                k.host_path(k.module_base), k.target, k.reader)
        except LoadError as e:
            raise ScenarioError(e.message) from None
        cfg = self.kernel.config
        return self._rebuild(replace(cfg, builtins=cfg.builtins + tuple(specs)))

    def _kernel(self, args: list[str]) -> CommandResult:
        cfg = self.kernel.config
        if args[:1] == ["syscall"] and len(args) == 4 and _number(args[1]):
            calls = dict(cfg.syscalls)
            calls[int(args[1])] = (args[2], args[3])
            return self._rebuild(replace(cfg, syscalls=calls))
        if args[:1] == ["execformat"] and len(args) == 3:
            return self._rebuild(replace(cfg, exec_formats={**cfg.exec_formats, args[1]: args[2]}))
        if args[:1] == ["exec-autoload"] and len(args) == 2:
            return self._rebuild(replace(cfg, exec_native=cfg.exec_native + (args[1],),
                                         exec_compat=cfg.exec_compat + (args[1],)))
        if args[:1] == ["device"] and len(args) == 3:
            return self._rebuild(replace(cfg, devices={**cfg.devices, args[1]: args[2]}))
        if args[:1] == ["insecure"] and len(args) == 2 and args[1] in ("yes", "no"):
            return self._rebuild(replace(cfg, insecure=args[1] == "yes"))
        raise ScenarioError("usage: kernel syscall NUM NAME MODULE | execformat TYPE MODULE | "
                            "exec-autoload MODULE | device NODE DRIVER | insecure yes|no")



_SPACE = frozenset(" \t\r\n")
_PLAIN_RUN = re.compile(r"[^ \t\r\n#'\"\\]+")
_DQ_RUN = re.compile(r'[^"\\]+')


def split_words(line: str) -> list[str]:
    """``shlex.split(line, comments=True)``, word for word and error for error, in time
    linear in the line: shlex adds each character to its token by concatenation, and a
    2 MB ``modload xxx...`` line took 74 s (a longer one, hours).

    Raises:
        ValueError: ``No closing quotation``, ``No escaped character``.
    """
    words: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return words
        if line[i] == "#":                  # a comment, to the end of its line
            j = line.find("\n", i)
            if j < 0:
                return words
            i = j + 1
            continue
        parts: list[str] = []               # a word: never empty unless quoted
        while i < n:
            c = line[i]
            if c in _SPACE:
                break
            if c == "#":
                j = line.find("\n", i)
                i = n if j < 0 else j + 1
                break
            if c == "'":
                j = line.find("'", i + 1)
                if j < 0:
                    raise ValueError("No closing quotation")
                parts.append(line[i + 1:j])
                i = j + 1
            elif c == '"':
                i += 1
                while True:
                    if i >= n:
                        raise ValueError("No closing quotation")
                    c = line[i]
                    if c == '"':
                        i += 1
                        break
                    if c == "\\":           # escapes only " and itself in double quotes
                        if i + 1 >= n:
                            raise ValueError("No escaped character")
                        nxt = line[i + 1]
                        if nxt not in '"\\':
                            parts.append(c)
                        parts.append(nxt)
                        i += 2
                    else:
                        m = _DQ_RUN.match(line, i)
                        assert m is not None
                        parts.append(m.group())
                        i = m.end()
            elif c == "\\":
                if i + 1 >= n:
                    raise ValueError("No escaped character")
                parts.append(line[i + 1])
                i += 2
            else:
                m = _PLAIN_RUN.match(line, i)
                assert m is not None
                parts.append(m.group())
                i = m.end()
        words.append("".join(parts))


#: the most digits a number of a scenario line may have (``int()`` refuses 4,300 or more)
MAX_DIGITS = 100


def _number(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also takes ``²``, which ``int`` refuses), at
    most :data:`MAX_DIGITS` of them."""
    return text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS

def _event(what: str, arg: str, error: int) -> CommandResult:
    return CommandResult([f"{what}: {arg}: {K.strerror(error)}"] if error else [], error)


def _prop_value(opt: str, value: str) -> Any:
    if opt == "-b":
        low = value.lower()
        if low in ("1", "true", "yes"):
            return True
        if low in ("0", "false", "no"):
            return False
        raise ScenarioError(f"modload -b: invalid boolean {value!r}")
    if opt == "-i":
        try:
            return int(value, 0)
        except ValueError:
            raise ScenarioError(f"modload -i: invalid integer {value!r}") from None
    return value


def parse_errno(text: str) -> int:
    """``EBUSY`` or ``16`` -> 16.

    Raises:
        ScenarioError: unknown name.
    """
    if _number(text):
        return int(text)
    code = K.ERRNO_BY_NAME.get(text.upper())
    if code is None:
        raise ScenarioError(f"unknown errno {text!r}")
    return code


# --------------------------------------------------------------------------- scenario files

@dataclass
class ScenarioLine:
    """A command with the expectations written under it."""

    lineno: int
    command: str
    expected: list[str] = field(default_factory=list)
    checks: list[tuple[int, str, str]] = field(default_factory=list)   # (lineno, kind, arg)


@dataclass
class Scenario:
    """A parsed scenario file; ``is_test`` when it states any expectation."""

    path: str
    lines: list[ScenarioLine]
    is_test: bool


def parse_scenario(text: str, path: str = "<scenario>") -> Scenario:
    """Split a scenario into commands and their expectations.

    Raises:
        ScenarioError: an expectation before the first command, or a bad ``expect``
            (an unknown keyword or errno name), with the file and line.
    """
    out: list[ScenarioLine] = [ScenarioLine(0, "")]
    is_test = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\n")
        if line.startswith(">"):
            is_test = True
            # ">?" marks a line that may be absent (printed by module code, so only when
            # modcmd runs on an emulated CPU); ">*" any number of such lines (0 or more)
            mark = line[1] if line[1:2] in ("?", "*") else ""
            body = line[1 + len(mark):]
            if body.startswith("~"):
                item = "~" + body[1:].lstrip()
                try:
                    _regex(item[1:])
                except (re.error, OverflowError, ValueError, RecursionError) as e:
                    # OverflowError: a{99999999999}; ValueError: a count of 4,300+ digits;
                    # RecursionError: groups nested too deeply for the parser
                    why = str(e) if not isinstance(e, RecursionError) else "nested too deeply"
                    raise ScenarioError(f"bad regular expression {_shortened(item[1:])!r}: "
                                        f"{_shortened(why, 200)}", path=path, line=lineno) from None
            else:
                item = body[1:] if body.startswith(" ") else body
            out[-1].expected.append(mark + item if mark else item)
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("expect "):
            is_test = True
            words = stripped.split(None, 2)
            if len(words) < 2 or words[1] not in ("loaded", "order", "error"):
                raise ScenarioError("expect loaded|order|error ...", path=path, line=lineno)
            arg = words[2] if len(words) > 2 else ""
            if words[1] == "error":
                try:        # said here, with the line, not when the check is reached
                    parse_errno(arg.strip() or "0")
                except ScenarioError as e:
                    raise ScenarioError(e.message, path=path, line=lineno) from None
            out[-1].checks.append((lineno, words[1], arg))
            continue
        out.append(ScenarioLine(lineno, stripped))
    if out[0].expected:
        raise ScenarioError("expected output before the first command", path=path, line=1)
    return Scenario(path, out, is_test)


@dataclass
class StepResult:
    """One command run: its line, output, errno and any mismatch messages."""

    lineno: int
    command: str
    output: list[str]
    error: int
    problems: list[str]


@dataclass
class ScenarioResult:
    """All steps; ``ok`` when no expectation failed."""

    path: str
    steps: list[StepResult]

    @property
    def ok(self) -> bool:
        return not any(s.problems for s in self.steps)

    @property
    def problems(self) -> list[str]:
        return [p for s in self.steps for p in s.problems]


@functools.lru_cache(maxsize=1024)
def _regex(text: str) -> re.Pattern[str]:
    return re.compile(text)


def _line_matches(e: str, a: str) -> bool:
    return _regex(e[1:]).fullmatch(a) is not None if e.startswith("~") else e == a


def _match(expected: list[str], actual: list[str]) -> bool:
    """``actual`` against ``expected`` items: exact, ``~regex``, ``?item`` (0 or 1 line),
    ``*item`` (0 or more lines).

    Run as a set of positions in ``expected`` (an NFA), one actual line at a time:
    each (item, line) pair is tried at most once, so any mix of ``?`` and ``*`` items
    is O(len(expected) * len(actual)) with no recursion.
    """
    n = len(expected)

    def closure(states: set[int]) -> set[int]:
        # an optional item may match nothing: the next one is reachable too
        todo = list(states)
        while todo:
            i = todo.pop()
            if i < n and expected[i][:1] in ("?", "*") and i + 1 not in states:
                states.add(i + 1)
                todo.append(i + 1)
        return states

    states = closure({0})
    for line in actual:
        after: set[int] = set()
        for i in states:
            if i == n:
                continue
            e = expected[i]
            if e[:1] in ("?", "*"):
                if _line_matches(e[1:], line):
                    after.add(i + 1 if e[0] == "?" else i)
            elif _line_matches(e, line):
                after.add(i + 1)
        if not after:
            return False
        states = closure(after)
    return n in states


def run_scenario(scenario: Scenario, session: Session,
                 on_step: Callable[[StepResult], None] | None = None) -> ScenarioResult:
    """Run every command; when the scenario is a test, compare outputs and checks.

    ``on_step`` is called after each command (the CLI prints from it).

    Raises:
        ScenarioError: a command that cannot be run (with path and line).
    """
    steps: list[StepResult] = []
    last_error = 0
    for sl in scenario.lines:
        output: list[str] = []
        if sl.command:
            try:
                res = session.execute(sl.command)
            except ScenarioError as e:
                raise ScenarioError(e.message, path=scenario.path, line=sl.lineno) from None
            except KmodError as e:
                if e.path is not None:      # about another file: that file's line
                    raise
                raise ScenarioError(e.message, path=scenario.path, line=sl.lineno,
                                    hint=e.hint) from None
            output, last_error = res.output, res.error
        problems: list[str] = []
        where = f"{scenario.path}:{sl.lineno}"
        if scenario.is_test and sl.command and not _match(sl.expected, output):
            problems.append(f"{where}: output of {sl.command!r} differs:\n"
                            + "\n".join(f"  expected: {e}" for e in sl.expected)
                            + ("\n" if sl.expected else "") 
                            + "\n".join(f"  actual:   {a}" for a in output))
        for lineno, kind, arg in sl.checks:
            problem = _check(session.kernel, kind, arg, last_error)
            if problem:
                problems.append(f"{scenario.path}:{lineno}: {problem}")
        step = StepResult(sl.lineno, sl.command, output, last_error, problems)
        steps.append(step)
        if on_step is not None:
            on_step(step)
    return ScenarioResult(scenario.path, steps)


def _names(arg: str) -> list[str]:
    return [n for n in re.split(r"[,\s]+", arg.strip()) if n and n != "-"]


def _check(kernel: SimKernel, kind: str, arg: str, last_error: int) -> str | None:
    if kind == "loaded":
        want, have = sorted(_names(arg)), sorted(kernel.loaded_names())
        return None if want == have else f"loaded modules are {have or '(none)'}, expected {want}"
    if kind == "order":
        want, have = _names(arg), kernel.loaded_names()
        return None if want == have else f"module list is {have}, expected {want}"
    code = parse_errno(arg.strip() or "0")
    if code != last_error:
        return (f"last command ended with {K.ERRNO_NAME.get(last_error, last_error)}, "
                f"expected {K.ERRNO_NAME.get(code, code)}")
    return None
