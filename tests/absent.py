"""What a test does when something it needs is not on this machine.

Two kinds, told apart in the skip reason so that the summary (tests/conftest.py) can group them:
* a component that `make setup` installs (etcd, Prometheus, Toxiproxy, Jaeger, Locust, Chromium):
  `component_missing` skips, or FAILS when CHAOSCTL_REQUIRE names it (`make test` sets "all"),
  so that CI cannot go green by skipping what it was supposed to test;
* the platform (a Docker engine, a CUDA device, root): a plain skip with its reason; nothing
  installs those, and `chaosctl doctor` lists them as "cannot run here".

(Importable from any test: tests/conftest.py puts this folder on sys.path.)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NoReturn

import pytest

from chaosctl.settings import Settings, parse_require

# Every skip for a missing component starts with this; the summary groups on it.
COMPONENT_MISSING = "component missing"


def component_missing(components: Sequence[str], why: str, settings: Settings | None = None) -> NoReturn:
    """Skip (or fail, when CHAOSCTL_REQUIRE names one of them) for `components` not found here."""
    if settings is None:  # not load_settings(): that also resolves (and may create) the install's secrets
        settings = Settings(require=parse_require(os.environ.get("CHAOSCTL_REQUIRE", "")))
    names = ", ".join(components)
    required = [c for c in components if settings.requires(c)]
    if required:
        pytest.fail(
            f"{COMPONENT_MISSING}: {names}: {why}; CHAOSCTL_REQUIRE requires {', '.join(required)}, "
            "so this is a failure, not a skip (unset CHAOSCTL_REQUIRE to skip instead)",
            pytrace=False,
        )
    pytest.skip(f"{COMPONENT_MISSING}: {names}: {why}")
