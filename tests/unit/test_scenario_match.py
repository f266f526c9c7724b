"""The scenario language's output matching: exact, ~regex, ?optional, *repeated lines."""
from __future__ import annotations

from kmodbuild.scenario import _match


def test_exact_and_regex() -> None:
    assert _match(["a", "~b+"], ["a", "bbb"])
    assert not _match(["a"], ["a", "extra"])


def test_optional_lines_may_be_absent_or_present_once() -> None:
    exp = ["?~x: hello.*", "end"]
    assert _match(exp, ["end"])
    assert _match(exp, ["x: hello, world", "end"])
    assert not _match(exp, ["x: hello", "x: hello", "end"])
    assert not _match(exp, ["y: hello", "end"])


def test_repeated_lines() -> None:
    exp = ["*~(?!x: ).*", "?~x: hello.*"]
    assert _match(exp, [])
    assert _match(exp, ["dep: loaded", "dep2: loaded", "x: hello"])
    assert not _match(exp, ["x: hello", "x: hello"])
