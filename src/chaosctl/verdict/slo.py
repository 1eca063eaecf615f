"""SLOs over each phase's exact window: PromQL for the built-in SLIs, objectives, checks.

A verdict never passes on missing evidence: no series, NaN (0/0: no requests in the window),
a quantile in the +Inf bucket, several series, a missing or data-less baseline phase all give
FAIL with the reason. An unreachable Prometheus raises StackUnavailable (exit 3).

Errors are 5xx responses. 429 (rate-limited) is *not* an error: it is the gateway enforcing a
client's quota as designed, not the service failing; rate limiting stays visible through
`throughput` and `chaosctl_gateway_rate_limited_total`. 4xx in general are client errors.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from chaosctl.scenario.objective import AbsoluteObjective, BurnRateObjective, Objective, RelativeObjective, compare
from chaosctl.verdict.model import Check, PhaseWindow

# contracts.md: the buckets of chaosctl_http_request_duration_seconds.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10,
)
LATENCY_SLIS = {"latency_p50": 0.5, "latency_p90": 0.9, "latency_p95": 0.95, "latency_p99": 0.99}
BUILTIN_SLIS = (*LATENCY_SLIS, "success_ratio", "error_ratio", "throughput", "burn_rate")
REQUESTS = "chaosctl_http_requests_total"
DURATION_BUCKET = "chaosctl_http_request_duration_seconds_bucket"

class PromQuery(Protocol):
    def query(self, expr: str, at: float) -> float | None: ...


@dataclass(frozen=True)
class SloSpec:
    name: str
    phase: str  # a phase name or "*" for every phase
    objective: Objective
    sli: str | None = None  # one of BUILTIN_SLIS, or None with promql
    promql: str | None = None  # raw PromQL; `$window` becomes the phase window
    target: float | None = None  # burn_rate: the SLO target, e.g. 0.999
    service: str = "gateway"
    route: str = "/v1/models/.*"


@dataclass(frozen=True)
class Measurement:
    value: float | None  # None when there is no usable value; `reason` says why
    expr: str
    reason: str = ""


# ---------------------------------------------------------------- objectives

def latency_resolution_problem(sli: str, objective: Objective, buckets: Sequence[float] = LATENCY_BUCKETS) -> str | None:
    """Validate-time: why the histogram's buckets cannot resolve this latency objective (None if they can)."""
    if sli not in LATENCY_SLIS or not isinstance(objective, AbsoluteObjective):
        return None  # relative objectives compare two estimates from the same buckets
    t, top, text = objective.value, max(buckets), objective.describe()
    if t > top:
        return f"{sli} {text}: above the largest finite bucket ({_fmt_s(top)}); a quantile there is reported as +Inf"
    if any(math.isclose(t, b, rel_tol=1e-9) for b in buckets):
        return None
    lo = max((b for b in buckets if b < t), default=0.0)
    hi = min(b for b in buckets if b > t)
    return (
        f"{sli} {text}: {_fmt_s(t)} falls inside the bucket ({_fmt_s(lo)}, {_fmt_s(hi)}]; "
        f"the quantile is interpolated there, so the verdict near the threshold is a guess; "
        f"use a bucket bound ({', '.join(_fmt_s(b) for b in buckets)})"
    )


# ---------------------------------------------------------------- PromQL


def window_literal(seconds: float) -> str:
    """The exact phase window as a PromQL duration, to the millisecond."""
    return f"{max(1, round(seconds * 1000))}ms"


def build_expr(spec: SloSpec, window_s: float) -> str:
    w = window_literal(window_s)
    if spec.promql is not None:
        return spec.promql.replace("${window}", w).replace("$window", w)
    sel = f'service="{spec.service}",route=~"{spec.route}"'
    total = f"sum(rate({REQUESTS}{{{sel}}}[{w}]))"
    errors = f'(sum(rate({REQUESTS}{{{sel},code=~"5.."}}[{w}])) or vector(0))'
    if spec.sli in LATENCY_SLIS:
        return f"histogram_quantile({LATENCY_SLIS[spec.sli]}, sum by (le) (rate({DURATION_BUCKET}{{{sel}}}[{w}])))"
    if spec.sli == "success_ratio":
        return f"1 - {errors} / {total}"
    if spec.sli == "error_ratio":
        return f"{errors} / {total}"
    if spec.sli == "throughput":
        return total
    if spec.sli == "burn_rate" or isinstance(spec.objective, BurnRateObjective):
        if spec.target is None or not 0 < spec.target < 1:
            raise ValueError(f"SLO {spec.name!r}: burn_rate needs a target between 0 and 1 (e.g. 99.9%)")
        return f"({errors} / {total}) / {1 - spec.target:.10g}"
    raise ValueError(f"SLO {spec.name!r}: unknown SLI {spec.sli!r}; known: {', '.join(BUILTIN_SLIS)} or promql")


# ---------------------------------------------------------------- measuring and judging


def measure(prom: PromQuery, spec: SloSpec, window: PhaseWindow) -> Measurement:
    """The SLI over the phase's exact window, evaluated at the phase end; no usable value -> reason."""
    from chaosctl.observe.prometheus import MultipleSeries, QueryRejected

    if window.seconds < 1.0:
        return Measurement(None, "", f"phase {window.name!r} lasted {window.seconds:.3f}s; too short to measure")
    try:
        expr = build_expr(spec, window.seconds)
        value = prom.query(expr, window.end)
    except (MultipleSeries, QueryRejected, ValueError) as exc:
        return Measurement(None, locals().get("expr", ""), str(exc))
    if value is None:
        return Measurement(None, expr, f"no samples: the query returned no series over phase {window.name!r}")
    if math.isnan(value):
        return Measurement(None, expr, f"NaN over phase {window.name!r}: no requests in the window (0/0)")
    if spec.sli in LATENCY_SLIS and value >= max(LATENCY_BUCKETS):
        return Measurement(
            None, expr, f"the quantile falls in the +Inf bucket: the true {spec.sli} is above {_fmt_s(max(LATENCY_BUCKETS))}"
        )
    if math.isinf(value):
        return Measurement(None, expr, f"the value is {value} over phase {window.name!r}")
    return Measurement(value, expr)


def evaluate(prom: PromQuery, specs: Sequence[SloSpec], windows: Sequence[PhaseWindow]) -> list[Check]:
    """One Check per (SLO, phase); phase "*" means every phase of the run."""
    by_name = {w.name: w for w in windows}
    checks: list[Check] = []
    for spec in specs:
        targets = list(windows) if spec.phase == "*" else [by_name.get(spec.phase)]
        if targets == [None]:
            checks.append(_fail(spec, spec.phase, "", f"phase {spec.phase!r} is not in this run"))
            continue
        checks.extend(evaluate_one(prom, spec, w, by_name) for w in targets if w is not None)
    return checks


def evaluate_one(prom: PromQuery, spec: SloSpec, window: PhaseWindow, by_name: dict[str, PhaseWindow]) -> Check:
    m = measure(prom, spec, window)
    if m.value is None:
        return _fail(spec, window.name, "no data", m.reason)
    threshold, objective, problem = _threshold(prom, spec, by_name)
    observed = format_value(spec, m.value)
    if threshold is None:
        return _fail(spec, window.name, observed, problem, objective)
    ok = compare(spec.objective.op, m.value, threshold)
    reason = "" if ok else f"{observed} is not {spec.objective.op} {format_value(spec, threshold)}"
    return Check("slo", spec.name, window.name, "pass" if ok else "fail", observed, objective, reason)


def _threshold(prom: PromQuery, spec: SloSpec, by_name: dict[str, PhaseWindow]) -> tuple[float | None, str, str]:
    """(threshold in SLI units, objective text for the report, why there is none)."""
    obj = spec.objective
    text = obj.describe()
    if not isinstance(obj, RelativeObjective):
        return obj.value, text, ""
    ref = by_name.get(obj.phase)
    if ref is None:
        return None, text, f"missing baseline: no phase named {obj.phase!r} in this run"
    base = measure(prom, spec, ref)
    if base.value is None:
        return None, text, f"missing baseline: phase {obj.phase!r} has no value ({base.reason})"
    threshold = obj.bound(base.value)
    if threshold is None:
        return None, text, f"missing baseline: phase {obj.phase!r} gave no usable value"
    return threshold, f"{text} (= {format_value(spec, threshold)}; {obj.phase} {format_value(spec, base.value)})", ""


def _fail(spec: SloSpec, phase: str, observed: str, reason: str, objective: str = "") -> Check:
    return Check("slo", spec.name, phase, "fail", observed, objective or spec.objective.describe(), reason)


def format_value(spec: SloSpec, value: float) -> str:
    if spec.sli in LATENCY_SLIS:
        return _fmt_s(value)
    if spec.sli in ("success_ratio", "error_ratio"):
        return f"{value * 100:.3g}%" if value < 0.999 else f"{value * 100:.4g}%"
    if spec.sli == "throughput":
        return f"{value:.3g} req/s"
    return f"{value:.4g}"


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.4g} ms" if seconds < 10 else f"{seconds:.4g} s"
