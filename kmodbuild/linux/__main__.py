"""``python -m kmodbuild.linux``: ``kmodbuild check --flavor linux`` with a lean start-up.

A short-lived process: the garbage collector stays off (the check makes
millions of objects and no cycles that matter) and the process ends with
``os._exit`` once the output is flushed, skipping the teardown of those
objects -- both cost tens of milliseconds and change nothing.
"""
import gc
import os
import sys

gc.disable()
from kmodbuild.linux.command import main  # noqa: E402

code = main()
try:
    sys.stdout.flush()
    sys.stderr.flush()
except BrokenPipeError:
    code = code or 1
os._exit(code)
