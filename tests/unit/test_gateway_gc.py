"""The gateway process tunes its garbage collector before serving (app.tune_gc); run in a child
process, so that the test process's own objects are never frozen."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import gc
from chaosctl.services.gateway.app import GC_GEN0_THRESHOLD, tune_gc
before = gc.get_threshold()
tune_gc()
assert gc.get_freeze_count() > 10000, gc.get_freeze_count()  # the imports' objects are left out
assert gc.get_threshold() == (GC_GEN0_THRESHOLD, *before[1:]), gc.get_threshold()
assert gc.isenabled()  # tuned, not switched off: cycles are still collected
print("ok")
"""


def test_tune_gc_freezes_what_startup_made_and_raises_only_the_young_threshold() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
