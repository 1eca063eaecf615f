"""A hand-written fake Prometheus for coverage tests: `up` per job per second, an SLI value."""

from __future__ import annotations

import re

from chaosctl.observe.prometheus import Sample
from chaosctl.verdict.model import PhaseWindow

BASELINE = PhaseWindow("baseline", 1000.0, 1040.0)
FAULT = PhaseWindow("fault", 1040.0, 1080.0)
METRICS = ("chaosctl_http_requests_total", "chaosctl_model_queue_depth", "chaosctl_gateway_registry_cache_total", "up")


class ScrapedPrometheus:
    """`up` of each job at each whole second (1 up, 0 failed scrape, missing: Prometheus has no
    sample); the SLI's own query answers `value`; series of a metric belong to `owners[metric]`."""

    def __init__(self, value: float | None, up: dict[str, dict[int, int]], interval: float = 1.0,
                 owners: dict[str, tuple[str, ...]] | None = None) -> None:
        self.value, self.up, self.interval = value, up, interval
        self.owners = owners or {}
        self.queries: list[str] = []

    def query(self, expr: str, at: float) -> float | None:
        self.queries.append(expr)
        m = re.fullmatch(r'min\((count|sum)_over_time\(up\{job="([^"]+)"\}\[(\d+)ms\]\)\)', expr)
        if not m:
            return self.value
        kind, job, ms = m[1], m[2], int(m[3])
        seen = [v for t, v in self.up.get(job, {}).items() if at - ms / 1000 < t <= at]
        if not seen:
            return None
        return float(len(seen) if kind == "count" else sum(seen))

    def samples(self, expr: str, at: float) -> list[Sample]:
        self.queries.append(expr)
        metric = re.search(r"last_over_time\(([a-zA-Z_:][\w:]*)", expr)
        jobs = self.owners.get(metric[1], ()) if metric else ()
        return [Sample((("job", j),), 1.0) for j in jobs]

    def scrape_intervals(self) -> dict[str, float]:
        return {job: self.interval for job in self.up}

    def metric_names(self) -> list[str]:
        return list(METRICS)


def seconds(window: PhaseWindow, up_until: float | None = None, missing_from: float | None = None) -> dict[int, int]:
    """One scrape per second of the window: up until `up_until`, then failing; none after `missing_from`."""
    out = {}
    for t in range(int(window.start) + 1, int(window.end) + 1):
        if missing_from is not None and t > missing_from:
            continue
        out[t] = 1 if up_until is None or t <= up_until else 0
    return out
