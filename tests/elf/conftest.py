"""Fixtures for the ELF reader tests: one real module per target, compiled once per session."""
from __future__ import annotations

from pathlib import Path

import pytest

from kmodbuild.target import TARGETS
from tests.check.conftest import KmodBuilder

SAMPLE = """\
#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_DRIVER, sample, "layerfs,hello");

int sample_counter;
static const char sample_tag[] = "sample";

int
sample_bump(int n)
{
	sample_counter += n;
	return sample_counter;
}

static int
sample_modcmd(modcmd_t cmd, void *arg)
{
	switch (cmd) {
	case MODULE_CMD_INIT:
		printf("%s: hz %d\\n", sample_tag, hz);
		return sample_bump(0);
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
"""


@pytest.fixture(scope="session")
def sample_kmods(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{target name: path}`` of the same small module built for every target."""
    out: dict[str, Path] = {}
    for t in TARGETS:
        b = KmodBuilder(tmp_path_factory.mktemp(f"sample-{t.name}"))
        out[t.name] = b.build(t, "sample", {"sample.c": SAMPLE})
    return out
