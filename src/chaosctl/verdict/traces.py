"""Trace expectations of a scenario become Checks, judged on a phase's bottleneck aggregate.

Too few traces is never a pass: below `min_traces` (default 100) every expectation of that
phase fails with the count as the reason, because a share measured on a handful of traces
says nothing. Operation patterns are shell-style globs (`upstream model-gpu-*`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from chaosctl.verdict.bottleneck import Aggregate
from chaosctl.verdict.model import BottleneckRow, Check

DEFAULT_MIN_TRACES = 100
ExpectationKind = Literal["expect_bottleneck", "max_critical_path_share", "span_present", "span_absent"]


@dataclass(frozen=True)
class TraceExpectation:
    phase: str
    kind: ExpectationKind
    service: str
    operation: str | None = None  # None: the whole service
    share: float | None = None  # max_critical_path_share: fraction 0..1
    name: str = ""

    @property
    def target(self) -> str:
        return f"{self.service} `{self.operation}`" if self.operation else self.service

    @property
    def title(self) -> str:
        return self.name or f"{self.kind.replace('_', ' ')} {self.target}"


def _matches(row: BottleneckRow, e: TraceExpectation) -> bool:
    return row.service == e.service and (e.operation is None or fnmatchcase(row.operation, e.operation))


def check_expectation(e: TraceExpectation, agg: Aggregate | None, min_traces: int = DEFAULT_MIN_TRACES) -> Check:
    n = agg.traces if agg else 0
    if agg is None or n < min_traces:
        return _check(e, "fail", f"{n} traces", f"only {n} traces in phase {e.phase!r}; at least {min_traces} are needed")
    if e.kind == "expect_bottleneck":
        return _bottleneck(e, agg)
    if e.kind == "max_critical_path_share":
        share = sum(r.critical_path_share for r in agg.rows if _matches(r, e))
        limit = e.share if e.share is not None else 1.0
        ok = share <= limit
        reason = "" if ok else f"{e.target} took {share:.1%} of the critical path, above {limit:.1%}"
        return _check(e, "pass" if ok else "fail", f"{share:.1%}", reason, f"<= {limit:.1%}")
    count = sum(r.count for r in agg.rows if _matches(r, e))
    want = e.kind == "span_present"
    ok = (count > 0) == want
    reason = "" if ok else (f"no span {e.target} in {n} traces" if want else f"{count} spans {e.target} in {n} traces")
    return _check(e, "pass" if ok else "fail", f"{count} spans", reason, "present" if want else "absent")


def _bottleneck(e: TraceExpectation, agg: Aggregate) -> Check:
    """The top (service, operation) by critical-path share; by service when no operation is given."""
    if e.operation is None:
        per_service: dict[str, float] = defaultdict(float)
        for r in agg.rows:
            per_service[r.service] += r.critical_path_share
        top_name, top_share = max(per_service.items(), key=lambda kv: (kv[1], kv[0]), default=("(none)", 0.0))
        ok = top_name == e.service
    else:
        top = agg.rows[0] if agg.rows else None
        top_name = f"{top.service} `{top.operation}`" if top else "(none)"
        top_share = top.critical_path_share if top else 0.0
        ok = top is not None and _matches(top, e)
    observed = f"{top_name} ({top_share:.0%})"
    reason = "" if ok else f"the top bottleneck is {observed}, not {e.target}"
    return _check(e, "pass" if ok else "fail", observed, reason, f"bottleneck is {e.target}")


def _check(e: TraceExpectation, status: str, observed: str, reason: str, objective: str = "") -> Check:
    return Check("trace", e.title, e.phase, status, observed, objective or e.kind.replace("_", " "), reason)  # type: ignore[arg-type]


def trace_checks(
    expectations: Sequence[TraceExpectation], per_phase: dict[str, Aggregate], min_traces: int = DEFAULT_MIN_TRACES
) -> list[Check]:
    return [check_expectation(e, per_phase.get(e.phase), min_traces) for e in expectations]
