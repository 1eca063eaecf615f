"""SLOs over each phase's exact window: PromQL for the built-in SLIs, objectives, checks.

A verdict never passes on missing evidence: no series, NaN (0/0: no requests in the window),
a quantile in the +Inf bucket, several series, a missing or data-less baseline phase all give
FAIL with the reason. An unreachable Prometheus raises StackUnavailable (exit 3).

Nor on partial evidence: a value counts only when the scrape jobs it reads were up for at least
`min_coverage` of the window (verdict.coverage); below it the check FAILs ("partial data: gateway
scraped 19 of 40 s"). Availability SLIs also weigh what the load generator's clients saw
(verdict.client_view) and are judged on the worse of the two.

Errors are 5xx responses. 429 (rate-limited) is *not* an error: it is the gateway enforcing a
client's quota as designed, not the service failing; rate limiting stays visible through
`throughput` and `chaosctl_gateway_rate_limited_total`. 4xx in general are client errors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from chaosctl.scenario.checks import LATENCY_BUCKETS
from chaosctl.scenario.model import LATENCY_QUANTILES, SLIS, SLO
from chaosctl.scenario.objective import BurnRateObjective, RelativeObjective, compare
from chaosctl.verdict.client_view import AVAILABILITY_SLIS, ClientCounts, client_verdict
from chaosctl.verdict.coverage import DEFAULT_MIN_COVERAGE, Coverage, CoverageMeter, SeriesSource, jobs_of_query
from chaosctl.verdict.model import Check, PhaseWindow
from chaosctl.system.presets import EVENT_AGE, EVENT_LAG, EVENT_SLIS, event_expr

LATENCY_SLIS = LATENCY_QUANTILES
# The built-in SLIs measure what clients of the AI stack see: the gateway's predict route.
SERVICE, ROUTE = "gateway", "/v1/models/.*"
REQUESTS = "chaosctl_http_requests_total"
DURATION_BUCKET = "chaosctl_http_request_duration_seconds_bucket"


if TYPE_CHECKING:
    from chaosctl.system.presets import ResolvedSlis

PromQuery = SeriesSource  # query, samples, scrape_intervals: what judging an SLO asks of Prometheus;
# a query it cannot answer as one number (rejected, several series) raises ValueError


@dataclass(frozen=True)
class Evidence:
    """What a verdict weighs besides the SLI's value."""

    min_coverage: float = DEFAULT_MIN_COVERAGE  # an SLO's own `min_coverage` wins
    client: Mapping[str, ClientCounts] = field(default_factory=dict)  # phase name -> what the clients saw
    slis: "ResolvedSlis | None" = None  # the System's built-in SLI queries (None: the reference gateway's)
    sli_jobs: tuple[str, ...] = ()  # scrape jobs those read (empty with `slis`: found from the series)
    client_missing: tuple[str, ...] = ()  # phases where load ran but the clients' counts are missing


@dataclass(frozen=True)
class Measurement:
    value: float | None  # None when there is no usable value; `reason` says why
    expr: str
    reason: str = ""
    partial: float | None = None  # the value Prometheus gave when coverage was too low to use it
    coverage: Coverage | None = None


# ---------------------------------------------------------------- PromQL


def window_literal(seconds: float) -> str:
    """The exact phase window as a PromQL duration, to the millisecond."""
    return f"{max(1, round(seconds * 1000))}ms"


def build_expr(spec: SLO, window_s: float, slis: "ResolvedSlis | None" = None) -> str:
    w = window_literal(window_s)
    if spec.promql is not None:
        return spec.promql.replace("${window}", w).replace("$window", w)
    if slis is not None and spec.sli is not None:
        return slis.expr(spec.sli, w, spec.target)
    sel = f'service="{SERVICE}",route=~"{ROUTE}"'
    total = f"sum(rate({REQUESTS}{{{sel}}}[{w}]))"
    errors = f'(sum(rate({REQUESTS}{{{sel},code=~"5.."}}[{w}])) or vector(0))'
    if spec.sli in LATENCY_SLIS:
        return f"histogram_quantile({LATENCY_SLIS[spec.sli]}, sum by (le) (rate({DURATION_BUCKET}{{{sel}}}[{w}])))"
    if spec.sli in EVENT_SLIS:
        return event_expr(spec.sli, w, EVENT_LAG, EVENT_AGE)
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
    raise ValueError(f"SLO {spec.name!r}: unknown SLI {spec.sli!r}; known: {', '.join(SLIS)} or promql")


# ---------------------------------------------------------------- measuring and judging


def measure(prom: PromQuery, spec: SLO, window: PhaseWindow, meter: CoverageMeter | None = None,
            min_coverage: float = DEFAULT_MIN_COVERAGE, evidence: Evidence | None = None) -> Measurement:
    """The SLI over the phase's exact window, evaluated at the phase end; no usable value -> reason.
    A value whose sources were scraped for less than `min_coverage` of the window is not usable."""
    m = _raw_measure(prom, spec, window, evidence.slis if evidence is not None else None)
    if not m.expr:
        return m
    cov = coverage_of(meter or CoverageMeter(prom), spec, m.expr, window, evidence)
    if cov.holds(min_coverage):
        return Measurement(m.value, m.expr, m.reason, coverage=cov)
    partial = cov.reason(min_coverage)
    if m.value is None:
        return Measurement(None, m.expr, f"{m.reason}; {partial}", coverage=cov)
    return Measurement(None, m.expr, partial, partial=m.value, coverage=cov)


def coverage_of(meter: CoverageMeter, spec: SLO, expr: str, window: PhaseWindow,
                evidence: Evidence | None = None) -> Coverage:
    """Built-in SLIs read the gateway's job (a System's: its SLI jobs); raw PromQL and a System's
    SLIs naming no job read the jobs the query names or whose series it matches."""
    literal = window_literal(window.seconds)
    request_sli = spec.promql is None and spec.sli not in EVENT_SLIS  # the event SLIs: their own series' jobs
    if request_sli and (evidence is None or evidence.slis is None):
        return meter.of((SERVICE,), window, literal)
    if request_sli and evidence is not None and evidence.sli_jobs:
        return meter.of(evidence.sli_jobs, window, literal)
    jobs, problem = jobs_of_query(meter.prom, expr, window, literal, meter.metric_names())
    return meter.of(jobs, window, literal, problem)


def _raw_measure(prom: PromQuery, spec: SLO, window: PhaseWindow, slis: "ResolvedSlis | None" = None) -> Measurement:
    if window.seconds < 1.0:
        return Measurement(None, "", f"phase {window.name!r} lasted {window.seconds:.3f}s; too short to measure")
    try:
        expr = build_expr(spec, window.seconds, slis)
        value = prom.query(expr, window.end)
    except ValueError as exc:  # the PromQuery contract: a rejected query or several series is a ValueError
        return Measurement(None, "", str(exc))
    if value is None:
        return Measurement(None, expr, f"no samples: the query returned no series over phase {window.name!r}")
    if math.isnan(value):
        why = "no requests in the window (0/0)" if spec.sli else "the query gave NaN"
        return Measurement(None, expr, f"NaN over phase {window.name!r}: {why}")
    if spec.sli in LATENCY_SLIS and value >= max(LATENCY_BUCKETS):
        return Measurement(
            None, expr, f"the quantile falls in the +Inf bucket: the true {spec.sli} is above {_fmt_s(max(LATENCY_BUCKETS))}"
        )
    if math.isinf(value):
        return Measurement(None, expr, f"the value is {value} over phase {window.name!r}")
    return Measurement(value, expr)


def evaluate(prom: PromQuery, specs: Sequence[SLO], windows: Sequence[PhaseWindow],
             evidence: Evidence | None = None, meter: CoverageMeter | None = None) -> list[Check]:
    """One Check per (SLO, phase); phase "*" means every phase of the run."""
    judge = _Judge(prom, evidence or Evidence(), meter or CoverageMeter(prom), {w.name: w for w in windows})
    checks: list[Check] = []
    for spec in specs:
        targets = list(windows) if spec.phase == "*" else [judge.by_name.get(spec.phase)]
        if targets == [None]:
            checks.append(_fail(spec, spec.phase, "", f"phase {spec.phase!r} is not in this run"))
            continue
        checks.extend(judge.check(spec, w) for w in targets if w is not None)
    return checks


def evaluate_one(prom: PromQuery, spec: SLO, window: PhaseWindow, by_name: dict[str, PhaseWindow],
                 evidence: Evidence | None = None) -> Check:
    return _Judge(prom, evidence or Evidence(), CoverageMeter(prom), by_name).check(spec, window)


@dataclass
class _Judge:
    prom: PromQuery
    evidence: Evidence
    meter: CoverageMeter
    by_name: dict[str, PhaseWindow]

    def measure(self, spec: SLO, window: PhaseWindow) -> Measurement:
        floor = self.evidence.min_coverage if spec.min_coverage is None else spec.min_coverage
        return measure(self.prom, spec, window, self.meter, floor, self.evidence)

    def check(self, spec: SLO, window: PhaseWindow) -> Check:
        m = self.measure(spec, window)
        clients = self.evidence.client.get(window.name)
        missing = self._client_missing(spec, window)
        if m.value is None:
            if m.partial is None:
                return _fail(spec, window.name, "no data", _join(m.reason, missing))
            value, client_note = client_verdict(spec.sli, m.partial, clients, spec.target)
            return _fail(spec, window.name, f"{format_value(spec, value)} (partial)", _join(m.reason, client_note, missing))
        threshold, objective, problem = self._threshold(spec)
        value, client_note = client_verdict(spec.sli, m.value, clients, spec.target)
        observed = format_value(spec, value)
        if threshold is None:
            return _fail(spec, window.name, observed, _join(problem, client_note, missing), objective)
        ok = compare(spec.objective.op, value, threshold) and not missing
        reason = "" if ok or missing else f"{observed} is not {spec.objective.op} {format_value(spec, threshold)}"
        return Check("slo", spec.name, window.name, "pass" if ok else "fail", observed, objective,
                     _join(reason, client_note, missing))

    def _client_missing(self, spec: SLO, window: PhaseWindow) -> str:
        """Why an availability check cannot pass: load ran, but what its clients saw is unknown
        (a dead gateway records nothing of the requests it failed)."""
        if spec.sli not in AVAILABILITY_SLIS or window.name not in self.evidence.client_missing:
            return ""
        return (f"client view missing: the load's per-phase counts do not span phase {window.name!r}; "
                "the server's metrics alone cannot show what clients saw")

    def _threshold(self, spec: SLO) -> tuple[float | None, str, str]:
        """(threshold in SLI units, objective text for the report, why there is none)."""
        obj = spec.objective
        text = obj.describe()
        if not isinstance(obj, RelativeObjective):
            return obj.value, text, ""
        ref = self.by_name.get(obj.phase)
        if ref is None:
            return None, text, f"missing baseline: no phase named {obj.phase!r} in this run"
        base = self.measure(spec, ref)
        if base.value is None:
            return None, text, f"missing baseline: phase {obj.phase!r} has no value ({base.reason})"
        threshold = obj.bound(base.value)
        if threshold is None:
            return None, text, f"missing baseline: phase {obj.phase!r} gave no usable value"
        return threshold, f"{text} (= {format_value(spec, threshold)}; {obj.phase} {format_value(spec, base.value)})", ""


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _fail(spec: SLO, phase: str, observed: str, reason: str, objective: str = "") -> Check:
    return Check("slo", spec.name, phase, "fail", observed, objective or spec.objective.describe(), reason)


def format_value(spec: SLO, value: float) -> str:
    if spec.sli in LATENCY_SLIS:
        return _fmt_s(value)
    if spec.sli in ("success_ratio", "error_ratio"):
        return f"{value * 100:.2f}%"  # two decimals: 99.73% vs an objective of 99.5% must read clearly
    if spec.sli == "throughput":
        return f"{value:.3g} req/s"
    return f"{value:.4g}"


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.4g} ms" if seconds < 10 else f"{seconds:.4g} s"
