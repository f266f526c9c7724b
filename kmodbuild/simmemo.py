"""kmodbuild.simmemo - a tree's simulation reused when an edit changed only text it never read.

Simulating a 500-module tree (every modcmd under CPU emulation) takes about a
second, and a one-source edit of a big tree waited for it.  Most of a module's
code never runs when it loads: a driver's I/O paths, ioctl handlers, helpers
that modcmd does not call.  An edit there cannot change what the simulation
found, and this module proves it cannot before the build takes the last
answer again.

While the build's simulation runs (:mod:`kmodbuild.simstream`), a
:class:`TextCoverage` records every access to a loaded module's text: each
basic block the emulated CPU ran there (the bytes unicorn translated for it),
each guest load from there, each read the kernel's hooks made there, and each
read of the in-kernel linker's (:data:`kmodbuild.kobj.ACCESS_WATCH`: the
modinfo record and its strings, REL addends).  From it, :func:`keep_mask`
finds the *holes* of each module file: bytes of its executable sections that
nothing read, at least 16 bytes from anything read (a margin for instruction
decoding), outside every other part of the file (ELF header, section and
program header tables, every other section).  The simulation's outcome is a
function of the files it read, and no byte in a hole influenced it: the
parser never looks there (what it makes of the modinfo record is compared
as well), the linker only copies those bytes (or overwrites them, at a RELA
place), and the CPU never ran or loaded them.  A file equal to the simulated
one outside its holes (same size, same digest with the holes zeroed)
therefore simulates the same, step by step: the same instructions run, so
the holes stay unread.

The build keeps the last proven answer with what it was proven for in a
*memo* beside its simulation report: the tree's module list, every file the
simulated kernel opened and its state, the manifest, each module's built
file (its key, its size, its holes and that digest, its parsed modinfo) and
the installed copy's state, and the simulator's identity (every file of the
kmodbuild and unicorn packages, Python's version).  :func:`reuse` takes the
answer again only when all of it still holds: for a module whose built file
changed, the new file must be byte-equal to its installed copy, have the
same size and digest with the old holes zeroed, and parse to the same
modinfo.  Anything else (another module list, a changed plist or manifest,
an edit that moved code, ran code or changed data): the build simulates.
Ports whose emulation reads text itself (MIPS's straight-run scan, SPARC's
window traps), or maps it through segments or delay-slot hooks, record no
holes (:meth:`kmodbuild.emulate.machine.Machine.record_text`).  ``KMOD_SIMMEMO=0`` turns reuse off.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import struct
import sys
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

#: Bumped whenever what a memo means changes.
MEMO_VERSION = 1

#: Bytes around each access that count as read (an instruction decoded past a block's
#: end, a load's neighbours).
MARGIN = 16


# --------------------------------------------------------------------------- coverage

class TextCoverage:
    """What a simulation read of each loaded module's text (see the module docstring).

    :meth:`note` is called with the kernel object and the accessed range;
    ``unsupported`` says why no holes can be known (the port's emulation reads
    text itself), and makes every module's holes empty."""

    def __init__(self) -> None:
        #: id(kobj) -> [kobj, text region base when first seen, {(start, end), ...}]
        self.by_kobj: dict[int, list[Any]] = {}
        self.unsupported: str | None = None
        self._index: dict[int, list[list[Any]]] | None = None   # id(ModuleObject) -> records
        self._indexed = 0

    def note(self, ko: Any, address: int, size: int) -> None:
        """``[address, address+size)`` of ``ko``'s memory was read (or run)."""
        rec = self.by_kobj.get(id(ko))
        text = ko.regions.get("text")
        if rec is None:
            rec = self.by_kobj[id(ko)] = [ko, text.base if text is not None else None, set()]
        if text is None or rec[1] != text.base:
            if text is not None:
                rec[1] = None               # moved: nothing about it can be trusted
            return
        lo = max(address, text.base)
        hi = min(address + max(size, 1), text.base + text.alloc)
        if lo < hi:
            rec[2].add((lo - text.base, hi - text.base))

    def kobjs_of(self, module: Any) -> list[list[Any]]:
        """The records of the kernel objects made from ``module`` (a ModuleObject)."""
        if self._index is None or self._indexed != len(self.by_kobj):
            self._index, self._indexed = {}, len(self.by_kobj)
            for rec in self.by_kobj.values():
                self._index.setdefault(id(rec[0].module), []).append(rec)
        return self._index.get(id(module), [])


def _header_ranges(image: bytes) -> list[tuple[int, int]] | None:
    """The ELF header and the section/program header tables as file ranges (None: not
    an ELF file this can read)."""
    if len(image) < 52 or image[:4] != b"\x7fELF" or image[4] not in (1, 2) \
            or image[5] not in (1, 2):
        return None
    bo = "<" if image[5] == 1 else ">"
    try:
        if image[4] == 2:
            phoff, shoff = struct.unpack_from(bo + "QQ", image, 32)
            ehsize, phentsize, phnum, shentsize, shnum = struct.unpack_from(bo + "HHHHH", image, 52)
        else:
            phoff, shoff = struct.unpack_from(bo + "II", image, 28)
            ehsize, phentsize, phnum, shentsize, shnum = struct.unpack_from(bo + "HHHHH", image, 40)
    except struct.error:
        return None
    return [(0, max(ehsize, 64)), (phoff, phoff + phentsize * phnum),
            (shoff, shoff + shentsize * max(shnum, 1))]


def keep_mask(module: Any, coverage: TextCoverage) -> bytes:
    """One byte per byte of ``module``'s file (a ModuleObject the simulation loaded):
    0x00 in a hole (nothing in the simulation read it, see the module docstring),
    0xFF elsewhere.  All 0xFF when no hole can be proved."""
    from kmodbuild.model import SHT_NOBITS, SHT_PROGBITS
    n = len(module.image)
    keep = bytearray(b"\xff") * n
    recs = coverage.kobjs_of(module)
    headers = _header_ranges(module.image)
    if coverage.unsupported is not None or not recs or headers is None \
            or any(rec[1] is None for rec in recs):
        return bytes(keep)
    placements = None
    for ko, base, _ in recs:
        here = sorted((p.sec, p.addr - base, p.size) for p in ko.progtab
                      if p.region == "text" and p.size)
        if placements is None:
            placements = here
        elif here != placements:
            return bytes(keep)          # laid out differently: no common ground
    secs = module.sections
    covered = {span for rec in recs for span in rec[2]}
    ones = memoryview(bytes(keep))

    def cut(a: int, b: int) -> None:    # [a, b) of the file was read
        a, b = max(a, 0), min(b, n)
        if a < b:
            keep[a:b] = ones[:b - a]

    texts = [(idx, roff, size) for idx, roff, size in placements or ()
             if secs[idx].type == SHT_PROGBITS and secs[idx].size == size
             and secs[idx].offset + size <= n]
    for idx, _, size in texts:          # a hole unless read
        keep[secs[idx].offset:secs[idx].offset + size] = bytes(size)
    for idx, roff, _ in texts:
        lo = secs[idx].offset
        for a, b in covered:
            cut(lo + a - roff - MARGIN, lo + b - roff + MARGIN)
    mine = {idx for idx, _, _ in texts}
    for o in secs:                      # everything else the parser reads stays
        if o.type != SHT_NOBITS and o.size and o.index not in mine:
            cut(o.offset, o.offset + o.size)
    for i, (a, _, sa) in enumerate(texts):      # text sections sharing bytes: kept
        for b, _, sb in texts[i + 1:]:
            lo_a, lo_b = secs[a].offset, secs[b].offset
            if lo_a < lo_b + sb and lo_b < lo_a + sa:
                cut(lo_a, lo_a + sa)
                cut(lo_b, lo_b + sb)
    for a, b in headers:
        cut(a, b)
    return bytes(keep)


def masked_digest(image: bytes, keep: bytes) -> str:
    """SHA-256 of ``image``'s size and bytes with every hole of ``keep`` zeroed."""
    if len(keep) != len(image):
        raise ValueError("the mask is not the file's size")
    masked = bytearray(image)
    a = keep.find(0)
    while a >= 0:                       # each run of 0x00 (bytes.find: no regex scan)
        b = keep.find(0xFF, a)
        b = len(keep) if b < 0 else b
        masked[a:b] = bytes(b - a)
        a = keep.find(0, b)
    h = hashlib.sha256(len(image).to_bytes(8, "little"))
    h.update(masked)
    return h.hexdigest()


def pack_mask(keep: bytes) -> str:
    """``keep`` as the memo stores it (compressed, base64)."""
    return base64.b64encode(zlib.compress(keep, 1)).decode()


def unpack_mask(text: str) -> bytes:
    """:func:`pack_mask`'s inverse."""
    return zlib.decompress(base64.b64decode(text))


def modinfo_text(module: Any) -> str:
    """What the parser made of the module's modinfo (compared, not interpreted)."""
    return repr((module.modinfo, module.modinfo_error))


# --------------------------------------------------------------------------- identity

_IDENTITY: str | None = None


def identity() -> str:
    """The simulator's identity: every file of the kmodbuild package, unicorn's and
    Python's versions (a memo made by another simulator is never reused)."""
    global _IDENTITY
    if _IDENTITY is None:
        h = hashlib.sha256(f"{MEMO_VERSION} {sys.version}".encode())
        from kmodbuild.fastpath import emulator_origin
        roots = [Path(__file__).resolve().parent]
        origin = emulator_origin()          # found, not imported
        if origin is not None:
            roots.append(Path(origin).parent)
        for root in roots:
            h.update(f"\n{root}\n".encode())
            for dirpath, dirs, files in os.walk(root):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                for f in sorted(files):
                    p = os.path.join(dirpath, f)
                    st = os.stat(p)     # as the build's stamp watches its inputs
                    h.update(f"{os.path.relpath(p, root)}\0{st.st_size}\0{st.st_mtime_ns}"
                             f"\0{st.st_ctime_ns}\0{st.st_ino}\n".encode())
        _IDENTITY = h.hexdigest()
    return _IDENTITY


# --------------------------------------------------------------------------- memo files

def memo_path(report: Path | str) -> Path:
    """Where the memo of the simulation reported in ``report`` lives."""
    return Path(f"{report}.memo")


def write(path: Path, memo: dict[str, Any] | None) -> None:
    """Store ``memo`` at ``path`` (``None``: remove any memo there)."""
    from kmodbuild.atomicfile import replace_file
    try:
        if memo is None:
            path.unlink(missing_ok=True)
        else:
            replace_file(str(path), [json.dumps(memo).encode()])
    except OSError:
        pass                            # a memo is an optimisation: without it, simulate


def reuse_enabled() -> bool:
    """``KMOD_SIMMEMO=0`` turns reuse off."""
    return os.environ.get("KMOD_SIMMEMO", "") != "0"


def build_answer(stream: Any, report: Path | str, stand: Path, target: Any, version: Any,
                 manifest: Path, built: Mapping[str, str],
                 say: Callable[[str], None] | None = None) -> Any:
    """A build's simulation of its finished tree (SCons's simulate step and
    kmodbuild.quickbuild): the memo's answer where it holds (the ``stream``, a
    :class:`kmodbuild.simstream.SimStream`, is then stopped), else the stream's,
    else a simulation of the installed tree here; the memo beside ``report`` is
    kept in step (the stream's, or none).  ``built``: each module installed -> its
    built file; ``say`` receives what ``VERBOSE=1`` prints.

    Raises:
        KmodError: the simulation here cannot read the manifest.
    """
    from kmodbuild.simvalidate import validate_tree
    say = say or (lambda line: None)
    memo_at = memo_path(report)
    if stream is not None and reuse_enabled():
        held, why = reuse(memo_at, stand, target, version, manifest, built)
        if held is not None:
            stream.close()
            say("simulate: the last simulation's answer holds (kmodbuild.simmemo)")
            return held
        say(f"simulate: the last answer does not hold: {why}")
    result, memo = None, None
    if stream is not None:
        result = stream.result()
        memo = stream.memo if result is not None else None
        say(f"simulate: streamed, started {stream.started}" if result is not None
            else f"simulate: not streamed: {stream.why_not}")
    try:
        if result is None:
            result = validate_tree(stand, target, version, manifest)
    except BaseException:
        write(memo_at, None)
        raise
    write(memo_at, memo if result.ok else None)
    return result


def reuse(path: Path, stand: Path, target: Any, version: Any, manifest: Path,
          built: Mapping[str, str]) -> tuple[Any, str]:
    """The memo's answer if it provably is the answer for the tree as it is now.

    ``built``: each module this build installs -> its built file.  Returns
    ``(ValidationResult, "")`` or ``(None, why not)``.  The memo is left as it is:
    a module changed since it was made is compared again next time (a read and a
    digest of its file: less than rewriting the memo).
    """
    from kmodbuild.simstream import (
        changed_since,
        file_key,
        file_kind,
        links_above,
        lstat_state,
        result_from_json,
    )
    from kmodbuild.simvalidate import find_module_dir, module_names, stand_root
    try:
        memo = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return None, "no memo"
    try:
        if memo.get("version") != MEMO_VERSION or memo.get("identity") != identity():
            return None, "made by another simulator"
        if [memo["target"], memo["os_version"], memo["manifest"]] != \
                [target.name, str(version), str(manifest)]:
            return None, "made for another target"
        if memo["manifest_key"] != file_key(str(manifest)):
            return None, "the kernel manifest changed"
        mdir = find_module_dir(stand, target, version)
        names = sorted(built)
        if memo["names"] != names or module_names(mdir) != names:
            return None, "the module list changed"
        if links_above(stand_root(stand, target), mdir):
            return None, f"a directory above {mdir} is a symbolic link"
        moved = changed_since(memo["dirs"], memo["files"])
        if moved is not None:
            return None, f"{moved} changed"
        modules = memo["modules"]
        for name in names:
            m = modules.get(name)
            if m is None or m["built"] != built[name]:
                return None, f"{name} was not simulated from {built[name]}"
            installed = str(mdir / name / f"{name}.kmod")
            if file_kind(os.path.dirname(installed)) != stat.S_IFDIR:
                return None, f"{os.path.dirname(installed)} is not a directory"
            key, state = file_key(m["built"]), lstat_state(installed)
            if key == m["key"] and state == m["installed"]:
                continue
            why = _same_outside_holes(m, installed, key, state, target)
            if why:
                return None, why
        return result_from_json(memo["result"], stand, target, version), ""
    except OSError as e:                # an optimisation never fails the build: simulate
        return None, f"cannot check the memo: {e}"
    except (KeyError, TypeError, ValueError, AttributeError, zlib.error) as e:
        return None, f"unreadable memo ({type(e).__name__})"


def _same_outside_holes(m: dict[str, Any], installed: str, key: Any, state: Any,
                        target: Any) -> str:
    """Why the changed module ``m`` does not simulate as its memo says ("": it does)."""
    from kmodbuild.elf import read_module
    from kmodbuild.errors import KmodError
    built = m["built"]
    if key is None or state is None or not stat.S_ISREG(state[0]):
        return f"{installed} is not a regular file"
    try:
        with open(built, "rb") as f:
            data = f.read()
        with open(installed, "rb") as f:
            if f.read() != data:
                return f"{installed} is not a copy of {built}"
    except OSError as e:
        return f"cannot read {built}: {e.strerror}"
    if len(data) != m["size"] or masked_digest(data, unpack_mask(m["keep"])) != m["digest"]:
        return f"{built} changed where the simulation read it"
    try:
        mo = read_module(built, target)
    except (KmodError, OSError):
        return f"cannot read {built}"
    if modinfo_text(mo) != m["modinfo"]:
        return f"{built}: its modinfo changed"
    return ""


def module_entries(modules: Mapping[str, Any], keys: Mapping[str, Any],
                   coverage: TextCoverage) -> dict[str, Any]:
    """The memo's record of each simulated module: ``modules`` maps a name to the
    ModuleObject loaded (its path the built file), ``keys`` to that file's key when it
    was read."""
    out: dict[str, Any] = {}
    for name, mo in modules.items():
        keep = keep_mask(mo, coverage)
        out[name] = {"built": mo.path, "key": keys[name], "size": len(mo.image),
                     "keep": pack_mask(keep), "digest": masked_digest(mo.image, keep),
                     "modinfo": modinfo_text(mo)}
    return out
