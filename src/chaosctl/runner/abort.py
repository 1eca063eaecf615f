"""Abort conditions, evaluated continuously while faults are in place.

Each condition is an instant PromQL query compared with a threshold; it trips
once it has held at every poll for `for_s` seconds (Prometheus alert `for`
semantics). Polls run every `POLL_S`; with a 1 s scrape and a 3 s rate window,
detection lands within about two scrape intervals plus one second of the
condition becoming true (benchmarks/run_overhead.py measures it).

No data (the query returns nothing, e.g. no traffic yet) is not evidence for
an abort: it resets the condition.
"""

from __future__ import annotations

import operator
import time
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

POLL_S = 0.5
RATE_WINDOW_S = 3.0  # shortest window that holds >= 2 samples at a 1 s scrape

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
}



def sli_expr(sli: str) -> str:
    """A built-in SLI (verdict.slo's definition: gateway predict route, errors = 5xx)
    over a short trailing window, for continuous evaluation."""
    from chaosctl.scenario.model import SLO
    from chaosctl.verdict.slo import build_expr

    spec = SLO.model_validate({"name": sli, "sli": sli, "objective": "> 0"})
    return build_expr(spec, RATE_WINDOW_S)


class InstantQuery(Protocol):
    def __call__(self, expr: str) -> float | None: ...


@dataclass(frozen=True)
class AbortCondition:
    name: str  # as written, e.g. "error_ratio > 0.5 for 5s"
    promql: str
    op: str
    threshold: float
    for_s: float

    def holds(self, value: float | None) -> bool:
        return value is not None and _OPS[self.op](value, self.threshold)


@dataclass(frozen=True)
class AbortTrip:
    condition: AbortCondition
    value: float
    first_true_at: float  # clock time of the first poll that saw it true
    tripped_at: float

    @property
    def reason(self) -> str:
        held = self.tripped_at - self.first_true_at
        return f"abort: {self.condition.name} (observed {self.value:.4g}, held {held:.1f}s)"


class AbortWatcher:
    """Polls every condition; `poll()` returns the first trip, or None."""

    def __init__(self, conditions: Sequence[AbortCondition], query: InstantQuery,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.conditions = tuple(conditions)
        self._query = query
        self._clock = clock
        self._since: dict[str, float] = {}

    def reset(self) -> None:
        self._since.clear()

    def poll(self) -> AbortTrip | None:
        for cond in self.conditions:
            value = self._query(cond.promql)
            now = self._clock()
            if not cond.holds(value):
                self._since.pop(cond.name, None)
                continue
            first = self._since.setdefault(cond.name, now)
            if now - first >= cond.for_s:
                return AbortTrip(cond, float(value or 0.0), first, now)
        return None

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
