"""After the run: SLOs over each phase's exact window, traces per phase ->
critical paths -> bottlenecks (diffed against the first phase), chart series.

Glue only: the judging lives in chaosctl.verdict (slo, critical_path,
bottleneck, traces), the fetching in chaosctl.observe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from chaosctl.verdict.coverage import DEFAULT_MIN_COVERAGE
from chaosctl.verdict.model import BottleneckRow, Check, PhaseWindow, Series

if TYPE_CHECKING:
    from chaosctl.load.client import ClientHistory
    from chaosctl.observe.jaeger import Jaeger
    from chaosctl.observe.prometheus import Prometheus
    from chaosctl.scenario.model import Scenario
    from chaosctl.system.model import System

    from .lost import LostBackends

TRACE_SERVICE = "gateway"  # every request's trace starts at the gateway


@dataclass(frozen=True)
class Analysis:
    checks: tuple[Check, ...]
    bottlenecks: dict[str, tuple[BottleneckRow, ...]]
    findings: tuple[str, ...]
    series: tuple[Series, ...]
    notes: tuple[str, ...]
    windows: tuple[PhaseWindow, ...] = ()  # the phases with their faults' effects judged (runner.effects)


def slo_checks(prom: "Prometheus", scenario: "Scenario", windows: Sequence[PhaseWindow],
               client: "ClientHistory | None" = None, min_coverage: float = DEFAULT_MIN_COVERAGE,
               system: "System | None" = None) -> tuple[list[Check], list[str]]:
    """SLO checks, each judged on its data's coverage and (availability) the clients' view;
    plus notes: the coverage measured per phase and what the clients saw."""
    from chaosctl.verdict.coverage import CoverageMeter
    from chaosctl.verdict.slo import Evidence, evaluate

    seen = {w.name: client.counts(w.start, w.end) for w in windows} if client is not None else {}
    counts = {name: c for name, c in seen.items() if c is not None}
    missing = tuple(name for name, c in seen.items() if c is None)  # load ran, its counts did not: availability FAILs
    meter = CoverageMeter(prom)
    evidence = Evidence(min_coverage, counts, client_missing=missing)
    if system is not None:  # the System's SLI queries and the scrape jobs they read
        from chaosctl.system.runtime import sli_jobs, slis_of

        evidence = Evidence(min_coverage, counts, slis_of(system), sli_jobs(system), missing)
    judged = tuple(s for s in scenario.slos if s.ttr is None)  # ttr objectives: runner.effects
    checks = evaluate(prom, judged, windows, evidence, meter)
    notes = meter.notes()
    if client is None:  # only a run without a load generator (a test's fake load) has no clients' view
        notes.append("clients: no load generator's view; availability judged on the server's metrics alone")
    for w in windows if client is not None else ():
        c = seen.get(w.name)
        notes.append(f"clients in {w.name}: {c.describe()} over {c.seconds:.0f}s of {w.seconds:.0f}s" if c
                     else f"clients in {w.name}: no counts (the load's stats history does not span the phase)")
    return checks, notes


def keep_roots(analyses: list[Any], globs: Sequence[str]) -> list[Any]:
    """The synchronous roots whose operation matches one of `globs` (none: all), with what was
    detached from them (as `chaosctl bottlenecks --root-operation`)."""
    if not globs:
        return analyses
    from fnmatch import fnmatchcase

    kept = {(t.trace_id, t.root.span_id) for t in analyses
            if t.synchronous and any(fnmatchcase(t.root.operation, g) for g in globs)}
    return [t for t in analyses if (t.trace_id, t.root.span_id if t.synchronous else t.origin) in kept]


def trace_analysis(jaeger: "Jaeger", scenario: "Scenario", windows: Sequence[PhaseWindow], service: str = TRACE_SERVICE,
                   root_operations: Sequence[str] = ()
                   ) -> tuple[list[Check], dict[str, tuple[BottleneckRow, ...]], tuple[str, ...], list[str]]:
    from chaosctl.observe.jaeger import SharedFetches
    from chaosctl.verdict import bottleneck
    from chaosctl.verdict.table_analysis import Aggregator
    from chaosctl.verdict.traces import trace_checks

    per_phase: dict[str, Any] = {}
    saturated: dict[str, int] = {}
    notes: list[str] = []
    shared = jaeger if isinstance(jaeger, SharedFetches) else SharedFetches(jaeger)
    for w in windows:  # streamed into aggregates: memory does not grow with the phase's length
        agg = Aggregator(root_operations)
        fetched = shared.stream(service, w.start, w.end, agg.add)
        if fetched.saturated_slices:
            notes.append(f"phase {w.name}: Jaeger returned full pages for {fetched.saturated_slices} slice(s); some traces may be missing")
            saturated[w.name] = fetched.saturated_slices  # absence checks FAIL, shares say "sampled"
        per_phase[w.name] = agg.result()
    base = windows[0].name if windows else None
    rows: dict[str, tuple[BottleneckRow, ...]] = {}
    found: list[str] = []
    for w in windows:
        agg = per_phase[w.name]
        if base is None or w.name == base:
            rows[w.name] = agg.rows
            continue
        rows[w.name] = bottleneck.diff(agg.rows, per_phase[base].rows)
        found.extend(bottleneck.findings(bottleneck.fault_context(w), agg.rows, per_phase[base].rows))
    return trace_checks(scenario.traces, per_phase, saturated), rows, tuple(found), notes


def chart_series(prom: "Prometheus", start: float, end: float, system: "System | None" = None) -> tuple[Series, ...]:
    from .abort import sli_expr

    slis = system.slis.resolved() if system is not None else None
    out = []
    for name, sli in (("latency p99 (s)", "latency_p99"), ("latency p50 (s)", "latency_p50"), ("error ratio", "error_ratio")):
        points = prom.query_range(sli_expr(sli, slis), start, end, step=1.0)
        out.append(Series(name, tuple((t, v) for t, v in points if v == v)))  # drop NaN (no traffic)
    return tuple(out)


def analyse(scenario: "Scenario", windows: Sequence[PhaseWindow], prom: "Prometheus", jaeger: "Jaeger",
            run_start: float, run_end: float, client: "ClientHistory | None" = None,
            min_coverage: float = DEFAULT_MIN_COVERAGE, lost: "LostBackends | None" = None,
            system: "System | None" = None) -> Analysis:
    """Everything judged after the run, with the System's SLIs and trace service (None: the
    reference gateway's). With `lost`, a backend unreachable now fails only what needed it
    (runner.lost); without, StackUnavailable propagates. Each trace window is read from Jaeger
    once and shared by the bottleneck analysis, the trace checks and the effect rules."""
    from concurrent.futures import ThreadPoolExecutor

    from chaosctl.system.runtime import trace_service

    service = trace_service(system) if system is not None else TRACE_SERVICE
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="trace-fetch")
    try:
        return _analyse(scenario, windows, prom, Prefetched(jaeger, service, windows, pool), run_start, run_end,
                        client, min_coverage, lost, system, service)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # an interrupt does not wait for Jaeger's answers


class Prefetched:
    """Jaeger with every phase window that SharedFetches reads whole already asked for, in
    threads: Jaeger's answers (most of the analysis' wall time, little of its CPU) come while
    Prometheus is asked. Each answer, or its error, is handed over where it was asked before."""

    def __init__(self, jaeger: Any, service: str, windows: Sequence[PhaseWindow], pool: Any) -> None:
        from chaosctl.observe.jaeger import SHARE_MAX_S

        self.jaeger = jaeger
        self._pending = {(service, w.start, w.end): pool.submit(jaeger.fetch, service, w.start, w.end)
                         for w in windows if w.end - w.start <= SHARE_MAX_S}

    def fetch(self, service: str, start: float, end: float) -> Any:
        ahead = self._pending.pop((service, start, end), None)
        return ahead.result() if ahead is not None else self.jaeger.fetch(service, start, end)

    def __getattr__(self, name: str) -> Any:  # stream, close, ...: Jaeger's own
        return getattr(self.jaeger, name)


def _analyse(scenario: "Scenario", windows: Sequence[PhaseWindow], prom: "Prometheus", jaeger: Any,
             run_start: float, run_end: float, client: "ClientHistory | None", min_coverage: float,
             lost: "LostBackends | None", system: "System | None", service: str) -> Analysis:
    from chaosctl.observe.jaeger import SharedFetches

    jaeger = SharedFetches(jaeger)
    roots = system.traces.root_operations if system is not None else ()
    if lost is None:
        checks, slo_notes = slo_checks(prom, scenario, windows, client, min_coverage, system)
        trace_checks, rows, found, notes = trace_analysis(jaeger, scenario, windows, service, roots)
        series = chart_series(prom, run_start, run_end, system)
        return _with_effects(Analysis(tuple(checks + trace_checks), rows, found, series, tuple(slo_notes + notes)),
                             scenario, windows, prom, jaeger, service, system)
    from .lost import unjudged_slos, unjudged_traces

    checks, slo_notes = lost.guard("Prometheus", lambda: slo_checks(prom, scenario, windows, client, min_coverage, system),
                                   lambda why: (unjudged_slos(scenario, windows, why), []))
    trace_checks, rows, found, notes = lost.guard(
        "Jaeger", lambda: trace_analysis(jaeger, scenario, windows, service, roots),
        lambda why: (unjudged_traces(scenario, why), {}, (), [f"traces not analysed: {why}"]))
    series = lost.guard("Prometheus", lambda: chart_series(prom, run_start, run_end, system), lambda why: ())
    return _with_effects(Analysis(tuple(checks + trace_checks), rows, found, series, tuple(slo_notes + notes)),
                         scenario, windows, prom, jaeger, service, system)


def _with_effects(a: Analysis, scenario: "Scenario", windows: Sequence[PhaseWindow], prom: "Prometheus",
                  jaeger: "Jaeger", service: str, system: "System | None") -> Analysis:
    """Each fault's effect and the ttr objectives (runner.effects). A backend that does not
    answer makes an effect inconclusive and a ttr objective FAIL there, so no guard is needed."""
    from .effects import fault_effects, ttr_checks

    judged, effect_checks = fault_effects(scenario, windows, prom, jaeger, service, system)
    extra = tuple(effect_checks + ttr_checks(scenario, windows, prom, system))
    return Analysis(a.checks + extra, a.bottlenecks, a.findings, a.series, a.notes, tuple(judged))
