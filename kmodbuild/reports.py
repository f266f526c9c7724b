"""kmodbuild.reports - CI renderings of diagnostics: JUnit XML, SARIF 2.1.0, GitHub annotations.

Pure functions from a sequence of :class:`~kmodbuild.diagnostics.Diagnostic`
to text; the shells print the text.  Shared by every check (NetBSD ``.kmod``
and Linux ``.ko``).

* :func:`render_junit`: one ``<testsuite>`` per file, one ``<testcase>`` per
  diagnostic (errors carry a ``<failure>``, warnings a ``<system-out>``), and
  one passing ``<testcase>`` for each clean file named in ``files``.
  Characters XML 1.0 forbids are replaced, so the document is always
  well-formed.
* :func:`render_sarif`: a SARIF 2.1.0 log (OASIS, https://docs.oasis-open.org/sarif/sarif/v2.1.0/)
  with one run, the rules used, and one result per diagnostic located by
  ``physicalLocation.artifactLocation.uri`` (and ``region.startLine`` when
  the path ends in ``:LINE``).
* :func:`render_github`: GitHub Actions workflow commands
  (https://docs.github.com/actions/using-workflows/workflow-commands-for-github-actions),
  ``::error file=F,line=L,title=T::message``, escaped as the runner expects:
  ``%``, CR and LF in the message; those and ``:`` and ``,`` in properties.
"""
from __future__ import annotations

import json
import os
import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kmodbuild import __version__
from kmodbuild.diagnostics import ERROR, Diagnostic

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TOOL_NAME = "kmodbuild"

#: Short descriptions of known rule ids (SARIF ``rules``); other ids describe themselves.
RULE_DESCRIPTIONS: dict[str, str] = {
    "linux/unknown-symbol": "A module needs a symbol neither the kernel nor any module exports.",
    "linux/symbol-version": "A module expects another CRC for a symbol than its provider has.",
    "linux/format": "A file is not a readable Linux kernel module.",
    "linux/dependency-cycle": "Modules depend on each other in a cycle.",
    "linux/symvers": "A Module.symvers line could not be parsed.",
    "linux/duplicate-module": "Two files have the same module name.",
    "linux/vermagic": "A module was built for another kernel (vermagic).",
    "linux/modinfo-depends": "A module's recorded dependencies differ from its symbols'.",
    "abi-mismatch": "A type a module was compiled against differs from the kernel's.",
    "abi-hash": "A module's ABI hash for a symbol differs from the kernel manifest's.",
    "abi-removed": "The new kernel no longer exports a symbol.",
    "abi-kind": "A kernel symbol changed between function and object.",
    "abi-size": "A kernel object changed size.",
    "abi-version": "The new kernel's version refuses modules built for the old one.",
}

_LINE_SUFFIX = re.compile(r"^(.*):([0-9]+)$")
# XML 1.0 Char production: tab, LF, CR, and U+0020 upwards minus surrogates and U+FFFE/F.
_XML_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def split_location(path: str) -> tuple[str, int | None]:
    """``("file", line)`` from a diagnostic path written ``file:line``; line ``None`` if absent."""
    m = _LINE_SUFFIX.match(path)
    if m and m.group(1) and not os.path.lexists(path):     # a file named `netbsd.syms:12`
        return m.group(1), int(m.group(2))
    return path, None


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)


# --------------------------------------------------------------------------- JUnit

def render_junit(diags: Sequence[Diagnostic], files: Sequence[str] = (),
                 name: str = "kmodbuild check") -> str:
    """A JUnit XML report, grouped per file (see the module docstring)."""
    groups: dict[str, list[Diagnostic]] = {}
    for f in files:
        groups.setdefault(split_location(f)[0], [])
    for d in diags:
        groups.setdefault(split_location(d.path)[0], []).append(d)
    root = ET.Element("testsuites", name=_xml_text(name))
    total = failures = 0
    for path, items in groups.items():
        suite = ET.SubElement(root, "testsuite", name=_xml_text(path))
        nfail = sum(1 for d in items if d.severity == ERROR)
        if not items:
            ET.SubElement(suite, "testcase", classname=_xml_text(path), name="check")
        for d in items:
            case = ET.SubElement(suite, "testcase", classname=_xml_text(path),
                                 name=_xml_text(d.rule + (f": {d.symbol}" if d.symbol else "")
                                                if d.rule else d.message))
            if d.severity == ERROR:
                fail = ET.SubElement(case, "failure", type=_xml_text(d.rule or "error"),
                                     message=_xml_text(d.message))
                fail.text = _xml_text(d.render())
            else:
                out = ET.SubElement(case, "system-out")
                out.text = _xml_text(d.render())
        ntests = max(1, len(items))
        suite.set("tests", str(ntests))
        suite.set("failures", str(nfail))
        suite.set("errors", "0")
        suite.set("skipped", "0")
        total += ntests
        failures += nfail
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --------------------------------------------------------------------------- SARIF

def artifact_uri(path: str) -> str:
    """A SARIF ``artifactLocation.uri``: relative paths stay relative (forward
    slashes, percent-encoded), absolute ones become ``file://`` URIs."""
    # bytes: a file name that is not UTF-8 (surrogate-escaped by Python) is quoted byte
    # by byte, as a URI of it must be (quote() of its str form raised UnicodeEncodeError)
    norm = os.fsencode(path.replace(os.sep, "/"))
    if os.path.isabs(path):
        return "file://" + urllib.parse.quote(norm)
    return urllib.parse.quote(norm)


def render_sarif(diags: Sequence[Diagnostic], tool_version: str = __version__,
                 descriptions: Mapping[str, str] | None = None) -> str:
    """A SARIF 2.1.0 log with one run (see the module docstring)."""
    table = dict(RULE_DESCRIPTIONS)
    table.update(descriptions or {})
    rule_ids: list[str] = []
    index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    for d in diags:
        rule = d.rule or "kmodbuild"
        if rule not in index:
            index[rule] = len(rule_ids)
            rule_ids.append(rule)
        path, line = split_location(d.path)
        physical: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(path)}}
        if line is not None:
            physical["region"] = {"startLine": line}
        text = d.message + (f" ({d.hint})" if d.hint else "")
        result: dict[str, Any] = {
            "ruleId": rule, "ruleIndex": index[rule],
            "level": "error" if d.severity == ERROR else "warning",
            "message": {"text": text},
            "locations": [{"physicalLocation": physical}],
        }
        if d.symbol:
            result["properties"] = {"symbol": d.symbol}
        results.append(result)
    rules = [{"id": r, "name": r.replace("/", "-"),
              "shortDescription": {"text": table.get(r, r)}} for r in rule_ids]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {"name": TOOL_NAME, "version": tool_version, "rules": rules}},
            "results": results,
        }],
    }
    return json.dumps(log, indent=2) + "\n"


# --------------------------------------------------------------------------- GitHub

def escape_data(text: str) -> str:
    """Escape a workflow command's message: ``%``, CR, LF."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command property value: as :func:`escape_data`, plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(diags: Sequence[Diagnostic]) -> str:
    """One ``::error``/``::warning`` workflow command per diagnostic."""
    out = []
    for d in diags:
        path, line = split_location(d.path)
        props = [f"file={escape_property(path)}"]
        if line is not None:
            props.append(f"line={line}")
        if d.rule:
            props.append(f"title={escape_property(d.rule)}")
        cmd = "error" if d.severity == ERROR else "warning"
        text = d.message + (f" ({d.hint})" if d.hint else "")
        out.append(f"::{cmd} {','.join(props)}::{escape_data(text)}\n")
    return "".join(out)


# --------------------------------------------------------------------------- dispatch

#: ``--format`` values this module renders.
FORMATS = ("junit", "sarif", "github")


def render_report(fmt: str, diags: Sequence[Diagnostic], files: Sequence[str] = ()) -> str:
    """Render ``diags`` in ``fmt`` (one of :data:`FORMATS`); ``files`` are the files
    checked (JUnit lists the clean ones as passing tests).

    Raises:
        ValueError: unknown format.
    """
    renderers: dict[str, Callable[[], str]] = {
        "junit": lambda: render_junit(diags, files),
        "sarif": lambda: render_sarif(diags),
        "github": lambda: render_github(diags),
    }
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r}")
    return renderers[fmt]()
