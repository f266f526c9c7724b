"""kmodbuild.diagnostics - check results as records, and their text and JSON renderings.

The core never prints: checks return :class:`Diagnostic` records (or hand them
to a :class:`Reporter`); the shells (CLI, SCons tool) render them with
:func:`render_text` or :func:`render_json`.  The JSON schema is documented in
docs/check.md and versioned by :data:`JSON_VERSION`.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from kmodbuild.errors import KmodError

ERROR = "error"
WARNING = "warning"
SEVERITIES = (ERROR, WARNING)

#: Version of the ``--format json`` report schema (docs/check.md).
JSON_VERSION = 1


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in one file.

    Attributes:
        severity: ``error`` (the kernel would refuse the module) or ``warning``.
        path: the file concerned (a ``.kmod``, or a manifest).
        message: one line, in the kernel's or kmod's wording where one exists.
        symbol: the symbol concerned, if any.
        hint: a short suggestion, rendered in parentheses after the message.
        rule: the rule id (docs/check.md lists them).
    """

    severity: str
    path: str
    message: str
    symbol: str | None = None
    hint: str | None = None
    rule: str = ""

    @property
    def is_error(self) -> bool:
        """True for error severity."""
        return self.severity == ERROR

    def sort_key(self) -> tuple[str, str, str, str]:
        """Order of reports: by path, then message (then rule, severity)."""
        return (self.path, self.message, self.rule, self.severity)

    def render(self) -> str:
        """``path: message (hint)``; warnings say ``warning:`` after the path."""
        sev = "warning: " if self.severity == WARNING else ""
        text = f"{self.path}: {sev}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict[str, str | None]:
        """The JSON object for this diagnostic (docs/check.md)."""
        return {"severity": self.severity, "path": self.path, "rule": self.rule,
                "message": self.message, "symbol": self.symbol, "hint": self.hint}

    @classmethod
    def from_error(cls, err: KmodError, rule: str, path: object = None) -> "Diagnostic":
        """A diagnostic from a :class:`KmodError` (e.g. a ModuleFormatError)."""
        where = str(path if path is not None else (err.path or ""))
        if err.line is not None and path is None:
            where = f"{where}:{err.line}"
        return cls(ERROR, where, err.message, err.symbol, err.hint, rule)


class Reporter(Protocol):
    """Receives diagnostics as they are found (injected into long-running checks)."""

    def report(self, diagnostic: Diagnostic) -> None:
        """Take one diagnostic."""


class CollectingReporter:
    """A :class:`Reporter` that keeps everything, de-duplicated and sorted on demand."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []

    def report(self, diagnostic: Diagnostic) -> None:
        """Keep ``diagnostic``."""
        self.diagnostics.append(diagnostic)

    def sorted(self) -> list[Diagnostic]:
        """The diagnostics, de-duplicated and sorted (:func:`sort_diagnostics`)."""
        return sort_diagnostics(self.diagnostics)


def sort_diagnostics(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """De-duplicate and sort by path, then message."""
    return sorted(set(diags), key=Diagnostic.sort_key)


def count(diags: Iterable[Diagnostic]) -> tuple[int, int]:
    """``(errors, warnings)``."""
    e = w = 0
    for d in diags:
        if d.severity == ERROR:
            e += 1
        else:
            w += 1
    return e, w


def render_text(diags: Sequence[Diagnostic]) -> str:
    """One line per diagnostic, in the given order; ``''`` when there are none."""
    return "".join(d.render() + "\n" for d in diags)


def render_json(diags: Sequence[Diagnostic], modules: int) -> str:
    """The JSON report (docs/check.md): version, counts, and the diagnostics in order."""
    errors, warnings = count(diags)
    doc = {"version": JSON_VERSION, "modules": modules, "errors": errors,
           "warnings": warnings, "diagnostics": [d.to_dict() for d in diags]}
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"
