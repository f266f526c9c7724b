"""CI report renderers (kmodbuild.reports): JUnit XML, SARIF 2.1.0, GitHub annotations."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from kmodbuild.diagnostics import Diagnostic
from kmodbuild.reports import (FORMATS, artifact_uri, escape_data, escape_property,
                               render_github, render_junit, render_report, render_sarif,
                               split_location)

DIAGS = [
    Diagnostic("error", "mods/a.ko", "needs unknown symbol foo", "foo", "did you mean fooo?",
               "linux/unknown-symbol"),
    Diagnostic("error", "mods/a.ko", "disagrees about version of symbol bar", "bar", None,
               "linux/symbol-version"),
    Diagnostic("warning", "mods/b.ko", "vermagic '6.1' differs from the tree's", None, None,
               "linux/vermagic"),
    Diagnostic("warning", "Module.symvers:12", "invalid symbol version 0xZZ", None, None,
               "linux/symvers"),
]


def test_junit_is_well_formed_and_grouped_per_file() -> None:
    root = ET.fromstring(render_junit(DIAGS, files=["mods/a.ko", "mods/b.ko", "mods/c.ko"]))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "2", "0")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["mods/a.ko", "mods/b.ko", "mods/c.ko", "Module.symvers"]
    a = suites["mods/a.ko"]
    assert (a.get("tests"), a.get("failures")) == ("2", "2")
    failures = a.findall("testcase/failure")
    assert [f.get("type") for f in failures] == ["linux/unknown-symbol", "linux/symbol-version"]
    assert failures[0].get("message") == "needs unknown symbol foo"
    assert "(did you mean fooo?)" in (failures[0].text or "")
    assert suites["mods/b.ko"].find("testcase/failure") is None
    assert "warning:" in (suites["mods/b.ko"].findtext("testcase/system-out") or "")
    clean = suites["mods/c.ko"].findall("testcase")        # a clean file passes one test
    assert len(clean) == 1 and clean[0].find("failure") is None


def test_junit_survives_characters_xml_forbids() -> None:
    bad = Diagnostic("error", "x\x01.ko", "broken \x00 <name> & \"q\"", "s\x1f", None, "r")
    root = ET.fromstring(render_junit([bad]))
    assert root.find("testsuite").get("name") == "x\ufffd.ko"
    assert "<name> & \"q\"" in root.find("testsuite/testcase/failure").get("message")


def test_sarif_2_1_0_shape() -> None:
    log = json.loads(render_sarif(DIAGS))
    assert log["$schema"].endswith("sarif-2.1.0.json") and log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "kmodbuild"
    rule_ids = [r["id"] for r in driver["rules"]]
    assert rule_ids == ["linux/unknown-symbol", "linux/symbol-version", "linux/vermagic",
                        "linux/symvers"]
    assert all(r["shortDescription"]["text"] for r in driver["rules"])
    results = run["results"]
    assert [r["level"] for r in results] == ["error", "error", "warning", "warning"]
    assert [rule_ids[r["ruleIndex"]] for r in results] == [r["ruleId"] for r in results]
    loc = results[0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "mods/a.ko" and "region" not in loc
    assert results[0]["message"]["text"] == "needs unknown symbol foo (did you mean fooo?)"
    assert results[0]["properties"] == {"symbol": "foo"}
    last = results[3]["locations"][0]["physicalLocation"]
    assert last["artifactLocation"]["uri"] == "Module.symvers"
    assert last["region"] == {"startLine": 12}


def test_sarif_uris() -> None:
    assert artifact_uri("a dir/x#1.ko") == "a%20dir/x%231.ko"
    assert artifact_uri("/abs/a b.ko") == "file:///abs/a%20b.ko"
    assert json.loads(render_sarif([]))["runs"][0]["results"] == []


def test_github_annotations() -> None:
    lines = render_github(DIAGS).splitlines()
    assert lines[0] == ("::error file=mods/a.ko,title=linux/unknown-symbol::needs unknown "
                        "symbol foo (did you mean fooo?)")
    assert lines[2].startswith("::warning file=mods/b.ko,title=linux/vermagic::")
    assert lines[3] == ("::warning file=Module.symvers,line=12,title=linux/symvers::"
                        "invalid symbol version 0xZZ")


def test_github_escaping_follows_the_workflow_command_rules() -> None:
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    d = Diagnostic("error", "dir,x/a:b.ko", "line1\nline2 100%", None, None, "r:1,2")
    assert render_github([d]) == ("::error file=dir%2Cx/a%3Ab.ko,title=r%3A1%2C2::"
                                  "line1%0Aline2 100%25\n")


def test_split_location() -> None:
    assert split_location("a/b.ko") == ("a/b.ko", None)
    assert split_location("x.syms:7") == ("x.syms", 7)
    assert split_location(":7") == (":7", None)


@pytest.mark.parametrize("fmt", FORMATS)
def test_render_report_dispatch(fmt: str) -> None:
    assert render_report(fmt, DIAGS, ["mods/a.ko"])


def test_render_report_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        render_report("xml", DIAGS)


def test_a_file_name_that_is_not_utf8_is_a_byte_quoted_uri() -> None:
    """A module under a non-UTF-8 name made `check --format sarif` a traceback."""
    import os
    name = os.fsdecode(b"m/lat\xff.kmod")
    assert artifact_uri(name) == "m/lat%FF.kmod"
    assert artifact_uri("/" + name) == "file:///m/lat%FF.kmod"


def test_a_file_whose_name_ends_in_a_number_is_not_split(tmp_path) -> None:
    """`netbsd.syms:12` that exists is a file name, not netbsd.syms at line 12."""
    odd = tmp_path / "netbsd.syms:12"
    odd.write_text("")
    assert split_location(str(odd)) == (str(odd), None)
    assert split_location(str(tmp_path / "netbsd.syms:12:3")) == (str(odd), 3)
    assert split_location(str(tmp_path / "other.syms:7")) == (str(tmp_path / "other.syms"), 7)
