"""kmodbuild.modflags - one module's own compiler flags, as an SConscript gives them.

NetBSD's module Makefiles add to ``CPPFLAGS`` and ``COPTS`` (``-DFOO``,
``-I${S}/external/...``, ``-Wno-...``); a kmodbuild SConscript says the same
with SCons's own variables, on the environment (``env.Append(CPPDEFINES=...)``
on a clone) or as keywords of ``KernelModule``::

    env.KernelModule('foo', ['foo.c'], CPPDEFINES=['FOO_DEBUG', ('FOO_MAX', 8)],
                     CPPPATH=['include'], CFLAGS=['-Wno-unused-function'])

This module turns the values into compiler words and refuses what a compile
command cannot carry (pure: no SCons; :mod:`kmodbuild.scons_tool` resolves
``CPPPATH`` directories and adds the words to the module's command line).
"""
from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from kmodbuild.errors import KmodError

#: the keywords ``KernelModule`` takes besides its own (CCFLAGS: the same as CFLAGS, C only)
FLAG_VARIABLES = ("CPPDEFINES", "CPPPATH", "CFLAGS", "CCFLAGS")

#: a macro name, or a function-like macro's name with its parameters: ``F(a,b)``
_MACRO = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\([A-Za-z0-9_,.]*\))?")
#: what a define's value cannot hold: the command line is split on white space
_BAD_WORD = re.compile(r"[\s\x00]")


def define_flags(defines: Any) -> list[str]:
    """``-DNAME`` / ``-DNAME=VALUE`` words for SCons-style ``CPPDEFINES``.

    Accepts what SCons does: a string (``"NAME"`` or ``"NAME=VALUE"``), a
    ``(NAME, VALUE)`` pair, a dict ``{NAME: VALUE}`` (``None``: no value), or a
    list of those.

    Raises:
        KmodError: a name that is no macro name, a value with white space, a
            value of another shape.
    """
    words: list[str] = []
    for name, value in _defines(defines):
        if not isinstance(name, str) or not _MACRO.fullmatch(name):
            raise KmodError(f"CPPDEFINES: {name!r} is not a macro name")
        if value is None:
            words.append(f"-D{name}")
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise KmodError(f"CPPDEFINES: {name}: a value must be a string or a number, "
                            f"not {type(value).__name__}")
        text = str(value)
        if _BAD_WORD.search(text):
            raise KmodError(f"CPPDEFINES: {name}={text!r}: the value contains white space "
                            "(define it in a header instead)")
        words.append(f"-D{name}={text}")
    return words


def _defines(defines: Any) -> Iterable[tuple[Any, Any]]:
    if defines is None:
        return
    if isinstance(defines, str):
        yield _split_define(defines)
    elif isinstance(defines, Mapping):
        for name in sorted(defines, key=str):   # SCons sorts a dict's defines too
            yield name, defines[name]
    elif _is_list(defines):
        for item in defines:
            if isinstance(item, str):
                yield _split_define(item)
            elif isinstance(item, (list, tuple)) and 1 <= len(item) <= 2:
                yield item[0], (item[1] if len(item) == 2 else None)
            elif isinstance(item, Mapping):
                yield from _defines(item)
            else:
                raise KmodError(f"CPPDEFINES: {item!r} is neither NAME, NAME=VALUE nor a "
                                "(NAME, VALUE) pair")
    else:
        raise KmodError(f"CPPDEFINES: {defines!r} is neither a string, a list nor a dict")


def _split_define(text: str) -> tuple[str, str | None]:
    name, eq, value = text.partition("=")
    return name, (value if eq else None)


def flag_words(flags: Any, variable: str) -> list[str]:
    """The words of ``CFLAGS``/``CCFLAGS``: strings split on white space (as SCons
    does), alone or in a list.

    Raises:
        KmodError: an item that is no string, or one with a NUL byte.
    """
    if flags is None:
        return []
    if isinstance(flags, str):
        if "\0" in flags:
            raise KmodError(f"{variable}: {flags!r} contains a NUL byte")
        return flags.split()
    if not _is_list(flags):
        raise KmodError(f"{variable}: {flags!r} is neither a string nor a list")
    words: list[str] = []
    for item in flags:
        if not isinstance(item, str) and not _is_list(item):
            raise KmodError(f"{variable}: {item!r} is not a string")
        words += flag_words(item, variable)
    return words


def _is_list(value: Any) -> bool:
    """A list, tuple or deque (SCons keeps ``CPPDEFINES`` in a deque)."""
    return isinstance(value, (list, tuple, deque))
