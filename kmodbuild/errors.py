"""kmodbuild.errors - the one exception root and its user-visible subclasses.

Every failure a user can cause is a :class:`KmodError`; it renders as one
line, ``path[:line]: message``, and the CLI exits 1 on it.  Anything else that
escapes is a kmodbuild bug (exit 2, :class:`InternalError`).
"""
from __future__ import annotations


class KmodError(Exception):
    """Root of every user-visible kmodbuild failure.

    Attributes:
        path: file the problem is in (or ``None``).
        line: 1-based line number in ``path`` (or ``None``).
        symbol: the symbol concerned, when there is one.
        hint: a short suggestion shown after the message.
    """

    def __init__(self, message: str, *, path: object = None, line: int | None = None,
                 symbol: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.symbol = symbol
        self.hint = hint

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path + (f":{self.line}" if self.line is not None else "") + ": "
        text = where + self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class UsageError(KmodError):
    """Bad command-line or build option (unknown target, bad VERSION, ...)."""


class TargetError(UsageError):
    """Unknown target or invalid version string."""


class ToolchainError(KmodError):
    """A compiler or linker is missing or does not work."""


class ManifestError(KmodError):
    """A kernel symbol manifest could not be parsed (carries path and line)."""


class ModuleFormatError(KmodError):
    """A file is not a valid kernel module for the target (malformed ELF, wrong machine, ...)."""


class UnresolvedSymbolsError(KmodError):
    """One or more undefined symbols have no provider."""

    def __init__(self, message: str, symbols: list[str], **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.symbols = symbols


class DependencyError(KmodError):
    """Missing required module, or a dependency cycle."""


class ModuleNameError(KmodError):
    """A module name that NetBSD (or a safe file system path) would not accept."""


class LoadError(KmodError):
    """A simulated kernel operation failed; ``code`` is the NetBSD errno."""

    def __init__(self, message: str, code: int, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.code = code


class TemplateError(KmodError):
    """A skeleton template failed to render (carries template name and line)."""


class InstallError(KmodError):
    """An install could not be completed safely."""


class InternalError(Exception):
    """A kmodbuild bug: not a KmodError on purpose, so it is never mistaken for bad input."""
