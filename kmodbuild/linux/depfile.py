"""kmodbuild.linux.depfile - write modules.dep (no heavy imports: a cached re-check uses it)."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def write_dep_file(path: str, lines: Sequence[str]) -> bool:
    """Write modules.dep to ``path`` atomically, only if its content changed.

    Returns True when the file was (re)written.  Raises ``OSError``.
    """
    text = "".join(line + "\n" for line in lines).encode()
    try:
        with open(path, "rb") as f:
            if f.read() == text:
                return False
    except OSError:
        pass
    from kmodbuild.atomicfile import replace_file
    replace_file(path, (text,), prefix=".modules.dep-")
    return True
