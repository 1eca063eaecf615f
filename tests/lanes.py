"""How `make test` spreads the tests over its two pytest-xdist workers (tests/conftest.py's
scheduler hook): the scopes, their order, and each worker's live port base. Plain functions, so
that tests/unit/test_lanes.py checks them without xdist."""

from __future__ import annotations

import os
from pathlib import Path

DURATIONS = Path(__file__).parent / "integration" / "durations.txt"

# Live port bases per xdist worker: gw0 keeps CHAOSCTL_TEST_PORT_BASE, gw1 takes it + 3000, ...
# A live module uses its base + offsets up to ~2,920 (tests/integration: region failover's own
# stack at +2600 with the autoscaler's replicas at +300..319), so 3,000 apart nothing overlaps.
LANE_STRIDE = 3000
# Where live stacks start when CHAOSCTL_TEST_PORT_BASE is unset: below Linux's ephemeral range
# (32768+), so a test's listener never meets an outgoing connection's port.
DEFAULT_PORT_BASE = 27000


def live_port_base() -> int:
    """This process's live port base: CHAOSCTL_TEST_PORT_BASE (a worker's, once conftest set it)."""
    return int(os.environ.get("CHAOSCTL_TEST_PORT_BASE", DEFAULT_PORT_BASE))


def lane_port_base(base: int, workerid: str) -> int:
    """The live port base of xdist worker `workerid` ("gw0", "gw1", ...; "master" is lane 0)."""
    lane = int(workerid.removeprefix("gw")) if workerid.startswith("gw") else 0
    return base + LANE_STRIDE * lane


def live_scope(nodeid: str) -> str:
    """The unit of scheduling: all unit tests together (they bind fixed ports, e.g. 24700, that
    two workers must not hold at once); each live module alone (its tests share module stacks)."""
    if not nodeid.startswith("tests/integration/"):
        return "unit"
    return nodeid.split("::", 1)[0]


def scope_order(scopes: list[str], seconds: dict[str, float]) -> list[str]:
    """Longest first, so that the last module to start is a short one: the unit tests, then the
    live modules by their measured seconds (tests/integration/durations.txt); a module not
    measured yet counts as long."""
    unknown = max(seconds.values(), default=0.0) + 1.0
    def key(scope: str) -> tuple[int, float, str]:
        return (scope != "unit", -seconds.get(scope, unknown), scope)
    return sorted(scopes, key=key)


def read_durations(path: Path) -> dict[str, float]:
    """`<seconds> <module path>` per line (written from `--durations=0`; '#' comments)."""
    out: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            secs, module = line.split(maxsplit=1)
            out[module.strip()] = float(secs)
    return out
