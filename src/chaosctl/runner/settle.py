"""Before the first phase: wait (on a condition, bounded) until Prometheus scrapes the running load.

Two waits. First, when the System's SLIs name scrape jobs, until Prometheus has a target for each
of them at all: a Prometheus started moments before the run applies new targets only every 5 s,
and a baseline window that opens before the first scrape is judged on partial data (its SLOs FAIL
for coverage, rightly, but for a reason the user did not cause). Second, until every target was
scraped once since the users ran, so the first window starts on a sample of the running load.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from chaosctl.errors import StackUnavailable
from chaosctl.waiting import wait_until

DISCOVER_S = 10.0  # two of Prometheus's 5 s target-update rounds


def _stamp(prom: Any, expr: str, at: float) -> float | None:
    try:
        return prom.query(expr, at)
    except (ValueError, StackUnavailable):  # no answer: the bound applies
        return None


def _job_expr(job: str) -> str:
    escaped = job.replace("\\", "\\\\").replace('"', '\\"')
    return f'min(timestamp(up{{job="{escaped}"}}))'


def wait_scraped(prom: Any, since: float, settle_s: float, jobs: Sequence[str] = (),
                 discover_s: float = DISCOVER_S, clock: Callable[[], float] | None = None) -> str | None:
    """Wait until each of `jobs` has a target, then until every target was scraped since `since`.
    Returns a note when a job still had no target after `discover_s` (its SLIs may lack data)."""
    now = clock or time.time

    def missing() -> list[str]:
        return [j for j in jobs if _stamp(prom, _job_expr(j), now()) is None]

    note = None
    if jobs and not wait_until(lambda: not missing(), discover_s, interval=0.1):
        note = (f"Prometheus had no scrape target for job(s) {', '.join(missing())} within {discover_s:.0f}s "
                "of the load starting: their SLIs may lack data")

    def scraped() -> bool:
        oldest = _stamp(prom, "min(timestamp(up))", now())
        return oldest is not None and oldest >= since

    wait_until(scraped, settle_s, interval=0.05)
    return note
