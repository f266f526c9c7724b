"""The build's Python steps carry a digest of kmodbuild's code in their signature
(scons_tool._code_digest in KMOD_ACTIONS): a check rule added re-checks every module,
and a KMOD_CACHEDIR filled by another kmodbuild serves none of its reports -- it
served one without the new rule's error, and the module was installed."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from kmodbuild import scons_tool
from tests.conftest import REPO, copy_tree, scons


def test_the_digest_follows_the_code_the_build_runs(tmp_path: Path) -> None:
    pkg = tmp_path / "kmodbuild"
    shutil.copytree(REPO / "kmodbuild", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    first = scons_tool._code_digest(str(pkg))
    assert scons_tool._code_digest(str(pkg)) == first
    # the commands' front ends and the skeleton templates: no step runs them
    for front in ("cli.py", "cmd_new.py", "skeleton.py", "templates/module.c.j2",
                  "linux/check.py"):
        path = pkg / front
        if path.exists():
            path.write_text(path.read_text() + "\n# edited\n")
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert scons_tool._code_digest(str(pkg)) == first
    # what the steps run: the check, the simulator, data files
    for path in (pkg / "linkcheck.py", pkg / "kapi" / "__init__.py"):
        before = scons_tool._code_digest(str(pkg))
        path.write_text(path.read_text() + "\n# edited\n")
        assert scons_tool._code_digest(str(pkg)) != before
    # an editor's lock link (leading nowhere), swap and backup files: not code
    before = scons_tool._code_digest(str(pkg))
    (pkg / ".#scons_tool.py").symlink_to("me@host.1234:1700000000")
    (pkg / ".scons_tool.py.swp").write_bytes(b"swap")
    (pkg / "linkcheck.py~").write_text("old")
    os.mkfifo(pkg / "a-fifo")
    assert scons_tool._code_digest(str(pkg)) == before
    copy = tmp_path / "copy" / "kmodbuild"
    # by content: another checkout gives the same
    shutil.copytree(pkg, copy, symlinks=True, ignore=shutil.ignore_patterns("a-fifo"))
    assert scons_tool._code_digest(str(copy)) == scons_tool._code_digest(str(pkg))


def test_a_cache_of_another_kmodbuild_serves_no_check(tmp_path: Path) -> None:
    """The same tree checked by this kmodbuild and by one whose checker has a new rule
    (a copy of it, the rule refusing null.kmod): the second build, sharing the first's
    KMOD_CACHEDIR, checks again and does not install null."""
    cache = tmp_path / "cache"
    scons(copy_tree(tmp_path / "one"), "ARCH=amd64", f"KMOD_CACHEDIR={cache}")
    newer = tmp_path / "newer"
    shutil.copytree(REPO / "kmodbuild", newer / "kmodbuild",
                    ignore=shutil.ignore_patterns("__pycache__"))
    check = newer / "kmodbuild" / "buildcheck.py"
    text = check.read_text()
    anchor = "                                        debug=Path(debug))\n    return diags"
    assert anchor in text
    check.write_text(text.replace(anchor, anchor.replace(
        "    return diags", "    if kmod.name == 'null.kmod':\n"
        "        diags.append(Diagnostic('error', str(kmod), 'NEW RULE'))\n"
        "    return diags")))
    two = copy_tree(tmp_path / "two")
    shutil.copytree(newer / "kmodbuild", two / "kmodbuild")   # the tree's SConstruct uses it
    res = scons(two, "ARCH=amd64", f"KMOD_CACHEDIR={cache}", check=False)
    assert res.returncode != 0 and "null.kmod: NEW RULE" in res.stderr, res.stderr
    assert not (two / "stand/amd64/10.0/modules/null/null.kmod").exists()
    assert (two / "stand/amd64/10.0/modules/hello/hello.kmod").exists()


def test_a_check_rule_added_after_a_walk_that_ran_no_check_is_seen(tmp_path: Path) -> None:
    """The fast path's stamp watched only the kmodbuild files its build had imported: a
    graph walk that built nothing never imported the checker, so a rule added after it
    was not seen -- "everything is up to date" with a module the new rule refuses."""
    tree = copy_tree(tmp_path / "t")
    shutil.copytree(REPO / "kmodbuild", tree / "kmodbuild",
                    ignore=shutil.ignore_patterns("__pycache__"))
    scons(tree, "ARCH=amd64")
    walk = scons(tree, "ARCH=amd64", "-j2")     # another command line: a walk, nothing run
    assert "simulate:" not in walk.stdout, walk.stdout
    assert "everything is up to date" in scons(tree, "ARCH=amd64", "-j2").stdout
    check = tree / "kmodbuild" / "buildcheck.py"
    anchor = "                                        debug=Path(debug))\n    return diags"
    text = check.read_text()
    assert anchor in text
    check.write_text(text.replace(anchor, anchor.replace(
        "    return diags", "    if kmod.name == 'null.kmod':\n"
        "        diags.append(Diagnostic('error', str(kmod), 'NEW RULE'))\n"
        "    return diags")))
    res = scons(tree, "ARCH=amd64", "-j2", check=False)
    assert res.returncode != 0 and "null.kmod: NEW RULE" in res.stderr, res.stdout
