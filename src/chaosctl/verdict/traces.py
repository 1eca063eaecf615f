"""Trace expectations of a scenario become Checks, judged on a phase's bottleneck aggregate.

Too few traces is never a pass: below the expectation's `min_traces` (default 100) it fails
with the count as the reason, because a share measured on a handful of traces says nothing.
A phase whose fetch was truncated (Jaeger returned full pages: `saturated` slices) holds a
sample, not every trace: absence (`must_not_appear`) cannot be shown on a sample and FAILs;
shares and the top bottleneck are still judged on the sample, with "sampled" in the reason.
Operation patterns are shell-style globs (`upstream model-gpu-*`); no operation means the
whole service.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from fnmatch import fnmatchcase

from chaosctl.scenario.model import SpanRef, TraceExpectation
from chaosctl.verdict.bottleneck import Aggregate
from chaosctl.verdict.model import BottleneckRow, Check


def _matches(row: BottleneckRow, ref: SpanRef) -> bool:
    return row.service == ref.service and (ref.operation is None or fnmatchcase(row.operation, ref.operation))


def _ref(e: TraceExpectation) -> SpanRef:
    if e.max_critical_path_share is not None:
        return SpanRef(service=e.max_critical_path_share.service, operation=e.max_critical_path_share.operation)
    ref = e.expect_bottleneck or e.must_appear or e.must_not_appear
    assert ref is not None  # the model guarantees exactly one expectation
    return ref


def check_expectation(e: TraceExpectation, agg: Aggregate | None, saturated: int = 0) -> Check:
    n = agg.traces if agg else 0
    if agg is None or n < e.min_traces:
        return _check(e, "fail", f"{n} traces", f"only {n} traces in phase {e.phase!r}; at least {e.min_traces} are needed")
    ref = _ref(e)
    partial = (f"traces incomplete: fetched {n} of at least {n} (Jaeger returned full pages for {saturated} "
               f"slice(s))") if saturated else ""
    if e.must_not_appear is not None and partial and not any(_matches(r, ref) for r in agg.rows):
        return _check(e, "fail", f"0 spans in {n} traces", f"{partial}; absence cannot be shown", "does not appear")
    if e.expect_bottleneck is not None or e.max_critical_path_share is not None:
        return _sampled(_judged(e, ref, agg), partial)
    return _judged(e, ref, agg)


def _sampled(c: Check, partial: str) -> Check:
    """A share judged on a truncated fetch says so (it may differ on the full set)."""
    if not partial:
        return c
    return replace(c, reason=f"sampled ({partial})" + (f": {c.reason}" if c.reason else ""))


def _judged(e: TraceExpectation, ref: SpanRef, agg: Aggregate) -> Check:
    n = agg.traces
    if e.expect_bottleneck is not None:
        return _bottleneck(e, ref, agg)
    if e.max_critical_path_share is not None:
        share = sum(r.critical_path_share for r in agg.rows if _matches(r, ref))
        limit = e.max_critical_path_share.share
        ok = share <= limit
        reason = "" if ok else f"{ref.describe()} took {share:.1%} of the critical path, above {limit:.1%}"
        return _check(e, "pass" if ok else "fail", f"{share:.1%}", reason, f"share <= {limit:.1%}")
    count = sum(r.count for r in agg.rows if _matches(r, ref))
    want = e.must_appear is not None
    ok = (count > 0) == want
    reason = "" if ok else (f"no span {ref.describe()} in {n} traces" if want else f"{count} spans {ref.describe()} in {n} traces")
    return _check(e, "pass" if ok else "fail", f"{count} spans in {n} traces", reason, "appears" if want else "does not appear")


def _bottleneck(e: TraceExpectation, ref: SpanRef, agg: Aggregate) -> Check:
    """The top (service, operation) by critical-path share; by service when no operation is given."""
    if ref.operation is None:
        per_service: dict[str, float] = defaultdict(float)
        for r in agg.rows:
            per_service[r.service] += r.critical_path_share
        top_name, top_share = max(per_service.items(), key=lambda kv: (kv[1], kv[0]), default=("(none)", 0.0))
        ok = top_name == ref.service
    else:
        top = agg.rows[0] if agg.rows else None
        top_name = f"{top.service}: {top.operation}" if top else "(none)"
        top_share = top.critical_path_share if top else 0.0
        ok = top is not None and _matches(top, ref)
    observed = f"{top_name} ({top_share:.0%} of the critical path)"
    reason = "" if ok else f"the top bottleneck is {top_name}, not {ref.describe()}"
    return _check(e, "pass" if ok else "fail", observed, reason, f"bottleneck is {ref.describe()}")


def _check(e: TraceExpectation, status: str, observed: str, reason: str, objective: str = "") -> Check:
    return Check("trace", e.label, e.phase, status, observed, objective, reason)  # type: ignore[arg-type]


def trace_checks(expectations: Sequence[TraceExpectation], per_phase: dict[str, Aggregate],
                 saturated: dict[str, int] | None = None) -> list[Check]:
    """`saturated`: per phase, the fetch's slices Jaeger returned full (0/absent: every trace)."""
    return [check_expectation(e, per_phase.get(e.phase), (saturated or {}).get(e.phase, 0)) for e in expectations]
