"""`chaosctl run --rehearse`: the wiring check before gating on a new System.

The scenario runs as written (load, steady-state probes before and after, every
phase in order) with no fault injected and each phase cut to at most
REHEARSE_PHASE_S; then every query the real run would ask is asked over each
phase's window: each SLO's SLI query, each abort condition's query, the trace
query of the System's trace service. A query that returns no data or partial
data (coverage below the floor) FAILs naming the query; a query that answers
passes whatever its value (objectives are not judged: nothing was broken). The
rehearsal is its own scenario (`NAME-rehearsal`), so it never becomes a
`last_pass` baseline of the real one.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Sequence

from chaosctl.verdict.model import Check, PhaseWindow

from .engine import RunDeps, _analyse

if TYPE_CHECKING:
    from chaosctl.scenario.model import Scenario
    from chaosctl.system.model import System

    from .analysis import Analysis

REHEARSE_PHASE_S = 20.0  # several scrapes of a 5 s interval: coverage can be judged
SUFFIX = "-rehearsal"


def rehearsal_scenario(scenario: "Scenario") -> "Scenario":
    phases = tuple(p.model_copy(update={"faults": (), "duration": min(p.duration, REHEARSE_PHASE_S)})
                   for p in scenario.phases)
    metadata = scenario.metadata.model_copy(update={"name": scenario.name + SUFFIX})
    return scenario.model_copy(update={"metadata": metadata, "phases": phases})


def rehearsal_deps(base: RunDeps | None = None) -> RunDeps:
    """`base` (the real world by default) with the rehearsal's analysis."""
    return replace(base or RunDeps(), analyse=_rehearsal_analysis(base.analyse if base else _analyse))


def _rehearsal_analysis(real: Any) -> Any:
    def analyse(scenario: "Scenario", windows: Sequence[PhaseWindow], prom: Any, jaeger: Any, run_start: float,
                run_end: float, system: "System | None" = None, **kw: Any) -> "Analysis":
        done = real(scenario, windows, prom, jaeger, run_start, run_end, system=system, **kw)
        checks = [_slo(c, scenario, windows, system) if c.kind == "slo" else _traced(c) for c in done.checks]
        checks += abort_query_checks(scenario, windows, prom, system)
        if system is None or system.observability.jaeger is not None:  # no Jaeger: no trace query to rehearse
            checks += trace_query_checks(windows, jaeger, system)
        return replace(done, checks=tuple(checks), findings=())
    return analyse


def _no_data(c: Check) -> bool:
    return c.observed in ("", "no data") or "(partial)" in c.observed or "partial data" in c.reason


def _slo(c: Check, scenario: "Scenario", windows: Sequence[PhaseWindow], system: "System | None") -> Check:
    from chaosctl.verdict.slo import build_expr

    spec = next((s for s in scenario.slos if s.name == c.name), None)
    window = next((w for w in windows if w.name == c.phase), None)
    expr = ""
    if spec is not None and window is not None:
        try:
            expr = build_expr(spec, window.seconds, system.slis.resolved() if system is not None else None)
        except ValueError as exc:
            expr = f"(no query: {exc})"
    if _no_data(c):
        return replace(c, reason=f"SLI query returned {c.observed or 'no data'} over phase {c.phase!r}: {expr} -- {c.reason}")
    return replace(c, status="pass", objective=f"query answers (objective {c.objective} not judged in a rehearsal)",
                   reason="")


def _traced(c: Check) -> Check:
    # "0 traces" (verdict.traces: too few traces) is no answer at all: it must not read as PASS
    if c.kind != "trace" or _no_data(c) or "no trace" in c.reason.lower() or c.observed.startswith("0 traces"):
        return c
    return replace(c, status="pass", reason="", objective=f"{c.objective} (not judged in a rehearsal)")


def abort_query_checks(scenario: "Scenario", windows: Sequence[PhaseWindow], prom: Any,
                       system: "System | None") -> list[Check]:
    """Each abort condition's query at the end of each phase: no answer FAILs, naming it."""
    from .scenario_glue import abort_conditions

    out = []
    for cond in abort_conditions(scenario, system):
        for w in windows:
            try:
                value, why = prom.query(cond.promql, w.end), ""
            except ValueError as exc:  # rejected / several series
                value, why = None, str(exc)
            ok = value is not None and value == value  # NaN (0/0: no traffic) is no data too
            observed = "no data" if value is None else f"{value:.4g}"
            reason = "" if ok else f"abort query returned {observed} at the end of phase {w.name!r}: {cond.promql}" + (
                f" ({why})" if why else "")
            out.append(Check("abort", f"rehearse abort: {cond.name}", w.name, "pass" if ok else "fail", observed,
                             "query answers", reason))
    return out


def trace_query_checks(windows: Sequence[PhaseWindow], jaeger: Any, system: "System | None") -> list[Check]:
    """The bottleneck analysis's trace query per phase: no trace FAILs, naming service and window."""
    from chaosctl.system.runtime import trace_service

    from .analysis import TRACE_SERVICE

    service = trace_service(system) if system is not None else TRACE_SERVICE
    out = []
    for w in windows:
        t0 = time.monotonic()
        fetched = jaeger.fetch(service, w.start, w.end)
        traces = len({s.trace_id for s in fetched.spans})
        ok = traces > 0
        reason = "" if ok else (f"trace query returned no traces: service={service!r} over phase {w.name!r} "
                                f"[{w.start:.0f}, {w.end:.0f}]")
        out.append(Check("trace", f"rehearse traces: {service}", w.name, "pass" if ok else "fail",
                         f"{traces} traces, {len(fetched.spans)} spans ({time.monotonic() - t0:.1f}s)", "traces found", reason))
    return out
