"""Abort conditions, evaluated continuously while faults are in place.

Each condition is an instant PromQL query compared with a threshold; it trips
once it has held at every poll for `for_s` seconds (Prometheus alert `for`
semantics). Polls run every `POLL_S`; with a 1 s scrape and a 3 s rate window,
detection lands within about two scrape intervals plus one second of the
condition becoming true (benchmarks/run_overhead.py measures it).

No data is evidence too. While a fault is in place, a condition without data
trips once that has lasted `for_s` (at least NO_DATA_MIN_S, so one missed scrape
is not an outage): a dead gateway records no errors, and a watcher that read
silence as health would never stop the fault. No data is: for a built-in SLI,
the query returning nothing or NaN (no requests reached the gateway's metrics)
or the gateway's scrape failing (`up` != 1: killed or paused); for a raw PromQL
condition, a scrape job it reads being down (the jobs it names with job="...",
and the jobs of the series its selectors matched in the last minute). An empty
result of a raw query is not "no data" there: `count(x == 2) >= 2` is empty
whenever no series equals 2, which is the condition being false (alert
semantics). `on_no_data: ignore` opts out (no data then resets the condition).
"""

from __future__ import annotations

import math
import operator
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

POLL_S = 0.5
RATE_WINDOW_S = 3.0  # shortest window that holds >= 2 samples at a 1 s scrape
NO_DATA_MIN_S = 2.0  # two scrapes at 1 s: a single failed scrape must not abort a run

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
}



def sli_expr(sli: str, slis: Any = None) -> str:
    """A built-in SLI (verdict.slo's definition, or the System's `slis`: a ResolvedSlis)
    over a short trailing window, for continuous evaluation."""
    from chaosctl.scenario.model import SLO
    from chaosctl.verdict.slo import build_expr

    spec = SLO.model_validate({"name": sli, "sli": sli, "objective": "> 0"})
    return build_expr(spec, RATE_WINDOW_S, slis)


class InstantQuery(Protocol):
    def __call__(self, expr: str) -> float | None: ...


@dataclass(frozen=True)
class AbortRule:
    name: str  # as written, e.g. "error_ratio > 0.5 for 5s"
    promql: str
    op: str
    threshold: float
    for_s: float
    on_no_data: str = "trip"  # or "ignore"
    jobs: tuple[str, ...] = ()  # scrape jobs the query reads: one of them down is no data
    empty_is_no_data: bool = True  # built-in SLIs: yes; raw PromQL: an empty result is "false"
    sources_probe: str | None = None  # PromQL: worst `up` of the jobs behind the query's series

    def holds(self, value: float | None) -> bool:
        return value is not None and _OPS[self.op](value, self.threshold)

    @property
    def no_data_after_s(self) -> float:
        return max(self.for_s, NO_DATA_MIN_S)


def sources_probe(expr: str, lookback: str = "1m") -> str | None:
    """The worst `up` of the jobs whose series `expr` read in the last minute (None: no selector)."""
    from chaosctl.verdict.coverage import candidate_selectors

    parts = [f"group by (job) (last_over_time({sel}[{lookback}]))" for sel in candidate_selectors(expr)]
    return f"min(up and on(job) ({' or '.join(parts)}))" if parts else None


def up_expr(job: str) -> str:
    escaped = job.replace("\\", "\\\\").replace('"', '\\"')
    return f'min(up{{job="{escaped}"}})'


@dataclass(frozen=True)
class AbortTrip:
    condition: AbortRule
    value: float | None  # None: tripped on no data
    first_true_at: float  # clock time of the first poll that saw it true (or saw no data)
    tripped_at: float
    why: str = ""  # what "no data" was

    @property
    def observed(self) -> str:
        return "no data" if self.value is None else f"{self.value:.4g}"

    @property
    def reason(self) -> str:
        held = self.tripped_at - self.first_true_at
        if self.value is None:
            return f"abort: {self.condition.name}: no data for {held:.1f}s while a fault was in place ({self.why})"
        return f"abort: {self.condition.name} (observed {self.value:.4g}, held {held:.1f}s)"


class AbortWatcher:
    """Polls every condition; `poll()` returns the first trip, or None."""

    def __init__(self, conditions: Sequence[AbortRule], query: InstantQuery,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.conditions = tuple(conditions)
        self._query = query
        self._clock = clock
        self._since: dict[str, float] = {}
        self._dark: dict[str, float] = {}  # condition -> first poll without data

    def reset(self) -> None:
        self._since.clear()
        self._dark.clear()

    def poll(self) -> AbortTrip | None:
        for cond in self.conditions:
            trip = self._poll_one(cond)
            if trip is not None:
                return trip
        return None

    def _poll_one(self, cond: AbortRule) -> AbortTrip | None:
        value, why = self._read(cond)
        now = self._clock()
        if why and cond.on_no_data == "trip":
            self._since.pop(cond.name, None)
            first = self._dark.setdefault(cond.name, now)
            return AbortTrip(cond, None, first, now, why) if now - first >= cond.no_data_after_s else None
        self._dark.pop(cond.name, None)
        if not cond.holds(value):
            self._since.pop(cond.name, None)
            return None
        first = self._since.setdefault(cond.name, now)
        return AbortTrip(cond, float(value or 0.0), first, now) if now - first >= cond.for_s else None

    def _read(self, cond: AbortRule) -> tuple[float | None, str]:
        """(value, why there is no data or "")."""
        value = self._query(cond.promql)
        if cond.empty_is_no_data and value is None:
            return None, "the query returned no series"
        if cond.empty_is_no_data and value is not None and math.isnan(value):
            return None, "the query gave NaN (no requests)"
        for job in cond.jobs:
            up = self._query(up_expr(job))
            if up is None or math.isnan(up) or up < 1:
                return None, f"scrape job {job!r} is down"
        if cond.sources_probe is not None:
            worst = self._query(cond.sources_probe)
            if worst is not None and worst < 1:  # None: no series in the last minute, nothing to say
                return None, "a scrape job whose series the query reads is down"
        return value, ""

    def watch(self, until: float, sleep: Callable[[float], None] = time.sleep,
              between: Callable[[], None] = lambda: None) -> AbortTrip | None:
        """Poll until the clock reaches `until` (the phase end) or a condition trips.
        `between` runs after each poll (the run checks for signals there)."""
        while self._clock() < until:
            trip = self.poll() if self.conditions else None
            if trip is not None:
                return trip
            between()
            sleep(max(0.0, min(POLL_S, until - self._clock())))
        return None
