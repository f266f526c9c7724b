"""kmodbuild.manifest - the kernel symbol manifest: a sorted, diff-friendly text file.

A manifest lists the symbols a kernel exports to modules (its defined
``STB_GLOBAL`` symbols, spec §2.3), one a line, like Linux's
``Module.symvers``; docs/manifest-format.md is the reference::

    # kmodbuild kernel symbol manifest v1
    # MACHINE=amd64
    # MACHINE_ARCH=x86_64
    # VERSION=10.0
    # __NetBSD_Version__=1000000000
    aprint_normal<TAB>func<TAB>42<TAB>-
    hz<TAB>object<TAB>4<TAB>-

Parse errors are :class:`~kmodbuild.errors.ManifestError` carrying the path
and the 1-based line (``file:line: message``).  This module does no ELF
reading: :func:`manifest_from_kernel` takes what :func:`kmodbuild.elf.read_kernel`
returns.
"""
from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple, Protocol

from kmodbuild.atomicfile import replace_if_changed
from kmodbuild.errors import ManifestError, TargetError
from kmodbuild.target import NetBSDVersion, Target, get_target

MAGIC = "# kmodbuild kernel symbol manifest v1"
KINDS = ("func", "object", "notype")
NO_HASH = "-"
HEADER_KEYS = ("MACHINE", "MACHINE_ARCH", "VERSION", "__NetBSD_Version__")

#: the most digits a size or __NetBSD_Version__ may have (a 64-bit value has 20)
MAX_DIGITS = 20

_HEADER_RE = re.compile(r"^#\s*([A-Za-z_]+)=(.*)$")
_HASH_RE = re.compile(r"^[0-9A-Za-z_:.+-]+$")
_SPACE_RE = re.compile(r"\s")


class ManifestSymbol(NamedTuple):
    """One exported kernel symbol: name, kind (``func``/``object``/``notype``), size,
    and the ABI hash (``None`` when absent; reserved for DWARF-based hashes).

    A named tuple rather than a dataclass: a manifest holds tens of thousands.
    """

    name: str
    kind: str
    size: int
    abihash: str | None = None


class _KernelSymbolLike(Protocol):
    name: str
    kind: str
    size: int


@dataclass
class KernelManifest:
    """A parsed manifest: the header facts and the symbols by name.

    ``symbols`` is a dict, so ``name in manifest`` is a hash lookup.
    ``path`` is where it was read from (``None`` when built in memory).
    """

    machine: str
    machine_arch: str
    version: NetBSDVersion
    netbsd_version: int
    symbols: dict[str, ManifestSymbol] = field(default_factory=dict)
    path: str | None = None

    # ---- lookups -------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        return name in self.symbols

    def __len__(self) -> int:
        return len(self.symbols)

    def __iter__(self) -> Iterator[ManifestSymbol]:
        """Symbols in manifest (name) order."""
        for name in sorted(self.symbols):
            yield self.symbols[name]

    def get_symbol(self, name: str) -> ManifestSymbol | None:
        """The symbol called ``name``, or ``None``."""
        return self.symbols.get(name)

    @property
    def key(self) -> str:
        """``MACHINE-MACHINE_ARCH`` (the target key)."""
        return f"{self.machine}-{self.machine_arch}"

    def get_target(self) -> Target:
        """The :class:`~kmodbuild.target.Target` the header names.

        Raises:
            TargetError: MACHINE/MACHINE_ARCH name no supported target.
        """
        return get_target(self.key)

    def with_abihashes(self, hashes: Mapping[str, str | None]) -> "KernelManifest":
        """A copy whose symbols named in ``hashes`` carry those ABI hashes (docs/abi.md)."""
        symbols = {n: (s._replace(abihash=hashes[n]) if n in hashes else s)
                   for n, s in self.symbols.items()}
        return KernelManifest(self.machine, self.machine_arch, self.version,
                              self.netbsd_version, symbols, self.path)

    # ---- output --------------------------------------------------------

    def render(self) -> str:
        """The manifest text (header, then one sorted row per symbol)."""
        lines = [MAGIC, f"# MACHINE={self.machine}", f"# MACHINE_ARCH={self.machine_arch}",
                 f"# VERSION={self.version}", f"# __NetBSD_Version__={self.netbsd_version}"]
        for s in self:
            lines.append(f"{s.name}\t{s.kind}\t{s.size}\t{s.abihash or NO_HASH}")
        return "\n".join(lines) + "\n"


def make_manifest(target: Target, version: NetBSDVersion,
                  symbols: Iterable[ManifestSymbol]) -> KernelManifest:
    """A manifest for ``target``/``version`` holding ``symbols`` (first of a name wins)."""
    by_name: dict[str, ManifestSymbol] = {}
    for s in symbols:
        by_name.setdefault(s.name, s)
    return KernelManifest(target.machine, target.machine_arch, version, version.number, by_name)


def manifest_from_kernel(symbols: Iterable[_KernelSymbolLike], target: Target,
                         version: NetBSDVersion) -> KernelManifest:
    """A manifest from a kernel's defined global symbols (``elf.read_kernel(...).symbols``).

    Names a manifest line cannot hold (white space, or a leading ``#`` that
    would read as a comment) are left out: no module can refer to them, and
    the file must stay readable by :func:`parse_manifest`.
    """
    return make_manifest(target, version, (ManifestSymbol(s.name, s.kind if s.kind in KINDS
                                                          else "notype", s.size)
                                           for s in symbols
                                           if s.name[:1] != "#" and not _SPACE_RE.search(s.name)))


# --------------------------------------------------------------------------- parsing

def parse_manifest(text: str, path: str = "<manifest>") -> KernelManifest:
    """Parse manifest ``text``; ``path`` is used in error messages.

    Rules (docs/manifest-format.md): the first line is the magic line; header
    lines ``# KEY=VALUE`` give MACHINE, MACHINE_ARCH, VERSION and
    ``__NetBSD_Version__`` (all four required, before the first symbol, and
    consistent with each other); other ``#`` lines and blank lines are
    comments; each symbol line is ``name<TAB>kind<TAB>size<TAB>abihash``,
    names unique and in sorted order.

    Raises:
        ManifestError: with ``path`` and the 1-based line of the first problem.
    """
    fast = _parse_fast(text, path)
    if fast is not None:
        return fast
    # Something is unusual (comments in the body, or an error): the line-by-line
    # parser below accepts the same files and names the first bad line.
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    if not lines or lines[0].rstrip("\r") != MAGIC:
        raise ManifestError(f"not a kmodbuild symbol manifest (first line must be {MAGIC!r})",
                            path=path, line=1)
    header: dict[str, tuple[str, int]] = {}
    symbols: dict[str, ManifestSymbol] = {}
    first_line: dict[str, int] = {}
    prev = ""
    in_body = False
    kinds = frozenset(KINDS)
    for lineno, line in enumerate(lines[1:], start=2):
        line = line.removesuffix("\r")     # CRLF line ends (docs/manifest-format.md)
        if not line or line[0] == "#":
            m = _HEADER_RE.match(line) if line else None
            if m and m.group(1) in HEADER_KEYS:
                key = m.group(1)
                if in_body:
                    raise ManifestError(f"header line {key} after the first symbol", path=path,
                                        line=lineno)
                if key in header:
                    raise ManifestError(f"duplicate header line {key} (first on line "
                                        f"{header[key][1]})", path=path, line=lineno)
                header[key] = (m.group(2).strip(), lineno)
            continue
        if not in_body:
            _check_header(header, path, lineno)
            in_body = True
        fields = line.split("\t")
        if len(fields) != 4:
            raise ManifestError(f"invalid line: expected 4 tab-separated fields "
                                f"(name, kind, size, abihash), got {len(fields)}",
                                path=path, line=lineno)
        name, kind, size_s, abihash = fields
        if not name or _SPACE_RE.search(name):      # as the fast path: no white space
            raise ManifestError(f"invalid symbol name {name!r}", path=path, line=lineno)
        if kind not in kinds:
            raise ManifestError(f"symbol {name}: unknown kind {kind!r} (expected func, object "
                                f"or notype)", path=path, line=lineno)
        if not size_s.isdigit() or not size_s.isascii():
            raise ManifestError(f"symbol {name}: size {size_s!r} is not a decimal number",
                                path=path, line=lineno)
        if len(size_s) > MAX_DIGITS:        # st_size is 64 bits (and int() refuses 4300+)
            raise ManifestError(f"symbol {name}: size {size_s[:24]}... is too large",
                                path=path, line=lineno)
        if abihash != NO_HASH and not _HASH_RE.match(abihash):
            raise ManifestError(f"symbol {name}: invalid abihash {abihash!r} (use - when "
                                f"there is none)", path=path, line=lineno)
        if name in symbols:
            raise ManifestError(f"duplicate symbol {name} (first on line {first_line[name]})",
                                path=path, line=lineno)
        if name < prev:
            raise ManifestError(f"symbol {name} is out of order (after {prev}); manifests are "
                                f"sorted by name", path=path, line=lineno)
        prev = name
        first_line[name] = lineno
        symbols[name] = ManifestSymbol(name, kind, int(size_s),
                                       None if abihash == NO_HASH else abihash)
    if not in_body:
        _check_header(header, path, len(lines) + 1 if lines else 1)
    version = NetBSDVersion.parse(header["VERSION"][0])
    return KernelManifest(header["MACHINE"][0], header["MACHINE_ARCH"][0], version,
                          int(header["__NetBSD_Version__"][0]), symbols, path)


def _parse_fast(text: str, path: str) -> KernelManifest | None:
    """Parse a well-formed manifest in bulk (column checks, no per-line branching).

    Returns ``None`` whenever anything is unusual, so that the line-by-line
    parser can accept it or report the exact line.
    """
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    if not lines or lines[0] != MAGIC:
        return None
    header: dict[str, tuple[str, int]] = {}
    i = 1
    while i < len(lines) and lines[i][:1] == "#":
        m = _HEADER_RE.match(lines[i])
        if m and m.group(1) in HEADER_KEYS:
            if m.group(1) in header:
                return None
            header[m.group(1)] = (m.group(2).strip(), i + 1)
        i += 1
    body = lines[i:]
    if len(header) != len(HEADER_KEYS) or any(not ln or ln[0] == "#" for ln in body):
        return None
    try:
        _check_header(header, path, i + 1)
    except ManifestError:
        return None
    rows = [ln.split("\t") for ln in body]
    if any(len(r) != 4 for r in rows):
        return None
    names, kinds, sizes, hashes = zip(*rows) if rows else ((), (), (), ())
    if (not set(kinds) <= set(KINDS) or not all(map(str.isdigit, sizes))
            or any(len(s) > MAX_DIGITS for s in sizes)
            or not "".join(sizes).isascii() or "" in names
            or any(h != NO_HASH and not _HASH_RE.match(h) for h in set(hashes))
            or any(c.isspace() for c in set("".join(names)))
            or list(names) != sorted(names) or len(set(names)) != len(names)):
        return None
    new = tuple.__new__
    symbols = {r[0]: new(ManifestSymbol, (r[0], r[1], int(r[2]), None if r[3] == NO_HASH
                                          else r[3])) for r in rows}
    version = NetBSDVersion.parse(header["VERSION"][0])
    return KernelManifest(header["MACHINE"][0], header["MACHINE_ARCH"][0], version,
                          int(header["__NetBSD_Version__"][0]), symbols, path)


def _check_header(header: Mapping[str, tuple[str, int]], path: str, lineno: int) -> None:
    for key in HEADER_KEYS:
        if key not in header:
            raise ManifestError(f"missing header line '# {key}=...' before the first symbol",
                                path=path, line=lineno)
    machine, mline = header["MACHINE"]
    arch, aline = header["MACHINE_ARCH"]
    try:
        get_target(f"{machine}-{arch}")
    except TargetError:
        raise ManifestError(f"unknown target MACHINE={machine} MACHINE_ARCH={arch}",
                            path=path, line=aline) from None
    vtext, vline = header["VERSION"]
    try:
        version = NetBSDVersion.parse(vtext)
    except TargetError as e:
        raise ManifestError(e.message, path=path, line=vline) from None
    ntext, nline = header["__NetBSD_Version__"]
    if not (ntext.isascii() and ntext.isdigit()):
        raise ManifestError(f"__NetBSD_Version__ {ntext!r} is not a number", path=path,
                            line=nline)
    if len(ntext) > MAX_DIGITS or int(ntext) != version.number:
        raise ManifestError(f"__NetBSD_Version__={ntext[:24]} does not match VERSION={vtext} "
                            f"(expected {version.number})", path=path, line=nline)


def _open_regular(spath: str) -> BinaryIO:
    """The manifest file opened for reading; a FIFO (or device) is refused, not waited
    on (opening a FIFO for reading blocks until a writer comes).

    Raises:
        ManifestError: it cannot be opened, or is not a regular file.
    """
    try:
        fd = os.open(spath, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise ManifestError(f"cannot read manifest: {e.strerror or e}", path=spath) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        why = "Is a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise ManifestError(f"cannot read manifest: {why}", path=spath)
    return os.fdopen(fd, "rb")


def load_manifest(path: object) -> KernelManifest:
    """Read and parse the manifest file at ``path``.

    Raises:
        ManifestError: unreadable, not UTF-8, or invalid (with the line).
    """
    spath = str(path)
    with _open_regular(spath) as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ManifestError("invalid UTF-8", path=spath, line=line) from None
    return parse_manifest(text, spath)


def read_manifest_header(path: object) -> KernelManifest:
    """Only the header of the manifest at ``path``: a :class:`KernelManifest` with no
    symbols (cheap; for deciding target and version before the symbols are needed).

    Raises:
        ManifestError: as :func:`load_manifest` for any problem in the header part.
    """
    spath = str(path)
    with _open_regular(spath) as f:
        head = f.read(8192)
    lines = head.split(b"\n")
    header: dict[str, tuple[str, int]] = {}
    for lineno, raw in enumerate(lines[:-1], start=1):
        line = raw.decode("utf-8", "replace").rstrip("\r")
        if lineno == 1:
            if line != MAGIC:
                break
            continue
        if line and line[0] != "#":
            try:
                _check_header(header, spath, lineno)
            except ManifestError:
                break
            return KernelManifest(header["MACHINE"][0], header["MACHINE_ARCH"][0],
                                  NetBSDVersion.parse(header["VERSION"][0]),
                                  int(header["__NetBSD_Version__"][0]), {}, spath)
        m = _HEADER_RE.match(line)
        if m and m.group(1) in HEADER_KEYS:
            header.setdefault(m.group(1), (m.group(2).strip(), lineno))
    # Unusual (no symbols, very long header, or an error): the full parser decides.
    full = load_manifest(spath)
    full.symbols = {}
    return full


def write_if_changed(path: object, text: str) -> bool:
    """Write ``text`` to ``path`` only if the content differs; return True if written.

    The write is atomic (temporary file + rename), so a reader never sees a
    half-written manifest and an unchanged file keeps its mtime (meson's
    ``write_if_changed``).

    Raises:
        ManifestError: the file cannot be written.
    """
    try:
        # 0644, as the build's netbsd.syms (mkstemp's 0600 had been kept by accident)
        return replace_if_changed(str(path), text.encode("utf-8"), mode=0o644)
    except OSError as e:
        raise ManifestError(f"cannot write manifest: {e.strerror or e}", path=str(path)) from None


def find_build_manifest(root: Path, target: Target, version_dir: str,
                        patch_levels: bool = False) -> Path | None:
    """The stub kernel's manifest a build left for the modules installed under ``root``
    (a ``stand`` directory, or a DESTDIR holding one): ``build/<key>/<version_dir>/kernel/
    netbsd.syms`` next to ``root``, one level up, or in the current directory.

    ``version_dir`` is the build directory's name, the full version (``10.0``,
    ``10.0.3``, ``10.99.10``: :attr:`NetBSDVersion.build_dir`).  With ``patch_levels``
    and a release's ``MM.mm`` (the name of an installed tree, ``stand/<machine>/10.0``,
    which a VERSION=10.0.3 build installs into too), the version the installed modules
    were built for picks among ``MM.mm`` and the patch levels built (the last build
    installed there wins); with none installed, ``MM.mm``'s, else the one patch level
    built.
    """
    bases = (root.resolve().parent, root.resolve().parent.parent, Path.cwd())
    rel = Path("build") / target.key / version_dir / "kernel" / "netbsd.syms"
    plain = next((base / rel for base in bases if (base / rel).is_file()), None)
    if not patch_levels or version_dir.count(".") != 1 or version_dir.endswith(".99"):
        return plain
    for base in bases:
        levels = sorted(base.glob(f"build/{target.key}/{version_dir}.*/kernel/netbsd.syms"))
        if not levels:
            continue
        installed = _installed_version(root, target, version_dir)
        if installed is not None:
            by_dir = {p.parent.parent.name: p for p in [*levels, *([plain] if plain else [])]}
            if installed in by_dir:
                return by_dir[installed]
        if plain is None and len(levels) == 1:
            return levels[0]
        break
    return plain


def _installed_version(root: Path, target: Target, version_dir: str) -> str | None:
    """The build directory name (:attr:`NetBSDVersion.build_dir`) of the version an
    installed module under ``root`` (``stand``) was built for: its modinfo's
    ``__NetBSD_Version__``.  None: no module there, or none readable."""
    from kmodbuild.elf import read_module
    from kmodbuild.errors import KmodError
    kmod = min((root / target.kmodulearchdir / version_dir / "modules").glob("*/*.kmod"),
               default=None)
    if kmod is None:
        return None
    try:
        info = read_module(kmod, target).modinfo
    except (KmodError, OSError):
        return None
    if info is None or not info.version:
        return None
    return NetBSDVersion.from_number(info.version).build_dir
