"""Observability backends lost during a run (Prometheus or Jaeger killed, paused,
unreachable) are not a reason to stop putting things back or to throw the
evidence away: the run goes on to the end of its phases, reverts, judges what
it still can, and every check that needed the lost backend FAILs with the
backend named in its reason. The run then exits 3 (StackUnavailable) after
writing every report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar

from chaosctl.errors import StackUnavailable
from chaosctl.verdict.model import Check, PhaseWindow

if TYPE_CHECKING:
    from chaosctl.scenario.model import Scenario

T = TypeVar("T")
BACKENDS = ("Prometheus", "Jaeger")


def backend_of(exc: StackUnavailable, default: str) -> str:
    """Which backend the message names (the observe clients start it with the name)."""
    text = str(exc)
    return next((b for b in BACKENDS if text.startswith(b)), default)


@dataclass
class LostBackends:
    """The first failure seen for each backend, in the order they were lost."""

    lost: dict[str, str] = field(default_factory=dict)

    def record(self, exc: StackUnavailable, default: str) -> str:
        name = backend_of(exc, default)
        self.lost.setdefault(name, str(exc))
        return str(exc)

    def guard(self, default: str, work: Callable[[], T], fallback: Callable[[str], T]) -> T:
        """`work()`, or `fallback(reason)` when the backend is unreachable."""
        try:
            return work()
        except StackUnavailable as exc:
            return fallback(self.record(exc, default))

    def __bool__(self) -> bool:
        return bool(self.lost)

    def message(self) -> str:
        return "; ".join(self.lost.values()) + (
            " (lost during the run: every fault was reverted, the checks that needed it FAIL, the reports were written)")


def unjudged_slos(scenario: "Scenario", windows: Sequence[PhaseWindow], reason: str) -> list[Check]:
    """One FAIL per (SLO, phase) that could not be measured, as verdict.slo.evaluate would list them."""
    names = [w.name for w in windows]
    return [Check("slo", spec.name, phase, "fail", "not measured", spec.objective.describe(), reason)
            for spec in scenario.slos for phase in (names if spec.phase == "*" else [spec.phase])]


def unjudged_traces(scenario: "Scenario", reason: str) -> list[Check]:
    return [Check("trace", e.label, e.phase, "fail", "not measured", "", reason) for e in scenario.traces]


def name_lost_backend(checks: list[Check], lost: LostBackends) -> list[Check]:
    """An abort that tripped on no data while Prometheus was unreachable says so (the watcher
    only sees "no series")."""
    why = lost.lost.get("Prometheus")
    if why is None:
        return checks
    return [replace(c, reason=f"{c.reason}: {why}") if c.kind == "abort" and c.observed == "no data" else c
            for c in checks]


def instant_query(prom: Any, notes: list[str], lost: LostBackends) -> Callable[[str], "float | None"]:
    """Instant query for the abort watcher. A query Prometheus rejects counts as no data
    (noted once); an unreachable Prometheus too, recorded as lost: the run goes on to the
    end of its phases and reverts (what the watcher does with no data is its rule)."""
    def query(expr: str) -> float | None:
        try:
            return prom.query(expr, time.time())
        except ValueError as exc:  # QueryRejected / MultipleSeries
            msg = f"abort condition query not usable: {exc}"
        except StackUnavailable as exc:
            msg = f"abort conditions not evaluated: {lost.record(exc, 'Prometheus')}"
        if msg not in notes:
            notes.append(msg)
        return None
    return query
