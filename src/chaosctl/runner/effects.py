"""After the run: each fault's effect (verdict.effect) and the time-to-recovery objectives
(verdict.ttr), from Jaeger spans and Prometheus range queries over the exact windows the
phase runner recorded (a fault's injected_at / reverted_at). Glue only: the rules live in
chaosctl.verdict; names of links and components come from the System."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Sequence

from chaosctl.errors import ChaosctlError
from chaosctl.verdict.gpu_effect import GPU_DEVICE_TYPES
from chaosctl.verdict.effect import CONFIRMED, INCONCLUSIVE, Effect, FaultFacts, Hop, Observed, judge, service_of
from chaosctl.verdict.model import Check, FaultRow, PhaseWindow

if TYPE_CHECKING:
    from chaosctl.scenario.model import SLO, Scenario
    from chaosctl.system.model import System

STEP_S = 1.0
_GPU_SERIES = {"gpu_memory_used": "chaosctl_gpu_memory_used_bytes", "gpu_memory_total": "chaosctl_gpu_memory_total_bytes",
               "gpu_utilization": "chaosctl_gpu_utilization_ratio"}
_PROCESS_SERIES = {"up": "up", "start_time": "process_start_time_seconds"}
# GPU faults beyond memory: counters summed over their other labels (batch_size_count: every model and version)
_GPU_DEVICE_SERIES = {"failed_lost": 'chaosctl_gpu_failed_batches_total{reason="device-lost"}',
                      "failed_ecc": 'chaosctl_gpu_failed_batches_total{reason="ecc-error"}',
                      "batches": "chaosctl_model_batch_size_count", "throttle_factor": "chaosctl_gpu_throttle_factor"}


def _specs_for(rows: Sequence[FaultRow], specs: Sequence[Any]) -> list[tuple[FaultRow, Any]]:
    """Pair each row with its spec by label, in order (a phase may hold the same label twice)."""
    left = list(specs)
    out = []
    for row in rows:
        spec = next((s for s in left if s.label == row.label), None)
        if spec is not None:
            left.remove(spec)
            out.append((row, spec))
    return out


class _Gather:
    """Spans and series per window, fetched once each."""

    def __init__(self, prom: Any, jaeger: Any, service: str, traced: Sequence[str] = ()) -> None:
        self.prom, self.jaeger, self.service = prom, jaeger, service
        self.traced = traced  # the System's trace services (empty: any name is one)
        self._spans: dict[tuple[str, float, float], tuple[Any, ...]] = {}

    def spans(self, service: str, start: float, end: float) -> tuple[Any, ...]:
        key = (service, start, end)
        if key not in self._spans:
            lo, hi = int(start * 1e6), int(end * 1e6)
            got = self.jaeger.fetch(service, start, end).spans
            self._spans[key] = tuple(s for s in got if lo <= s.start_us and s.end_us <= hi)
        return self._spans[key]

    def series(self, roles: dict[str, str], job: str, start: float, end: float,
               agg: str = "max") -> dict[str, list[tuple[float, float]]]:  # fmt: skip
        out = {}
        for role, metric in roles.items():  # a metric may carry label matchers of its own: name{reason="x"}
            name, _, labels = metric.partition("{")
            matchers = ",".join(m for m in (f'job="{job}"', labels.rstrip("}")) if m)
            out[role] = self.prom.query_range(f"{agg}({name}{{{matchers}}})", start, end, STEP_S)
        return out

    def observed(self, spec: Any, hop: Hop | None, start: float, end: float) -> Observed:
        job = service_of(spec.target)
        traced = hop is not None and (not self.traced or hop.source in self.traced)
        service = hop.source if traced else self.service  # the link's caller, when it sends traces
        roles = _PROCESS_SERIES if spec.type.startswith("process-") else _GPU_SERIES if spec.type == "gpu-exhaustion" else {}
        series = self.series(roles, job, start, end)
        if spec.type in GPU_DEVICE_TYPES:
            series |= self.series(_GPU_DEVICE_SERIES, job, start, end, agg="sum")
        if spec.type.startswith("request-") and hop is None:  # the service's faulted-request counter, every version
            series["request_faults"] = self.prom.query_range(
                f'sum(chaosctl_request_faults_total{{job="{job}"}})', start, end, STEP_S)
            series["up"] = self.prom.query_range(f'max(up{{job="{job}"}})', start, end, STEP_S)
        return Observed(start, end, self.spans(service, start, end), series)


def _hop(system: "System | None", target: str) -> Hop | None:
    if not target.startswith("link:"):
        return None
    if system is None:
        src, _, dst = target.removeprefix("link:").partition("->")
        return Hop(service_of(src), service_of(dst))
    try:
        link = system.link(target)
    except (KeyError, ValueError, ChaosctlError):
        return None
    if link is None:
        return None
    return Hop(service_of(link.source), service_of(link.dest), link.listen or "")


def _region_services(system: "System | None", region: str) -> list[str]:
    from chaosctl.scenario.faults import region_members

    members = region_members(None) if system is None else {c.name: c.region for c in system.components if c.region}
    return sorted(service_of(name) for name, r in members.items() if r == region)


def _judge_one(gather: _Gather, spec: Any, row: FaultRow, base: PhaseWindow | None, end: float,
               system: "System | None") -> Effect:
    if row.injected_at is None:
        return Effect(INCONCLUSIVE, "the fault was not verified in effect")
    facts = FaultFacts(spec.type, spec.target, spec.model_dump(mode="json", exclude_none=True), row.in_effect_at)
    if spec.type == "region-partition":  # its region's components, as traces name them
        facts = replace(facts, params={**facts.params, "members": _region_services(system, spec.region)})
    hop = _hop(system, spec.target)
    try:
        during = gather.observed(spec, hop, row.injected_at, row.reverted_at or end)
        before = gather.observed(spec, hop, base.start, base.end) if base is not None else None
    except ChaosctlError as exc:  # a backend gone: say so, never confirm
        return Effect(INCONCLUSIVE, f"could not gather the evidence: {exc}")
    return judge(facts, before, during, hop)


def fault_effects(scenario: "Scenario", windows: Sequence[PhaseWindow], prom: Any, jaeger: Any, service: str,
                  system: "System | None" = None) -> tuple[list[PhaseWindow], list[Check]]:
    """Every window with its fault rows judged; an `effect` check per fault with expect_effect."""
    gather = _Gather(prom, jaeger, service, system.traces.services if system is not None else ())
    base = windows[0] if windows and not windows[0].rows else None
    out, checks = [], []
    for w in windows:
        try:
            specs = scenario.phase(w.name).faults
        except KeyError:
            out.append(w)
            continue
        rows = []
        for row, spec in _specs_for(w.rows, specs):
            effect = _judge_one(gather, spec, row, base if base is not w else None, w.end, system)
            rows.append(replace(row, effect=effect.verdict, evidence=effect.evidence))
            if spec.expect_effect:
                checks.append(Check("effect", f"{row.label} took effect", w.name,
                                    "pass" if effect.verdict == CONFIRMED else "fail",
                                    effect.verdict, CONFIRMED, effect.evidence))
        out.append(replace(w, rows=tuple(rows)) if rows else w)
    return out, checks


def ttr_checks(scenario: "Scenario", windows: Sequence[PhaseWindow], prom: Any, system: "System | None" = None) -> list[Check]:
    """One check per ttr objective: seconds from the last revert before its phase ends until
    the SLI is back in the first phase's band for the hold time. A phase that never ran (an
    aborted run) FAILs: no recovery was shown."""
    ran = {w.name for w in windows}
    return [_ttr(slo, windows, prom, system) if slo.phase in ran else
            Check("slo", slo.name, slo.phase, "fail", "not run", f"ttr({slo.ttr}) {slo.objective.describe()}",
                  f"phase {slo.phase!r} never ran") for slo in scenario.slos if slo.ttr is not None]


def _ttr(slo: "SLO", windows: Sequence[PhaseWindow], prom: Any, system: "System | None") -> Check:
    from chaosctl.verdict.ttr import DEFAULT_HOLD_S, DEFAULT_TOLERANCE, baseline_band, time_to_recovery

    from .abort import sli_expr

    phase = next(w for w in windows if w.name == slo.phase)
    objective = f"ttr({slo.ttr}) {slo.objective.describe()}"

    def fail(observed: str, why: str) -> Check:
        return Check("slo", slo.name, phase.name, "fail", observed, objective, why)

    base = windows[0]
    try:  # asked first: a rehearsal (no fault) still learns whether the SLI's query answers
        points = prom.query_range(sli_expr(slo.ttr, system.slis.resolved() if system is not None else None),
                                  base.start, phase.end, STEP_S)
    except ChaosctlError as exc:
        return fail("not measured", f"Prometheus: {exc}")
    if not any(v == v for t, v in points if phase.start <= t <= phase.end):
        return fail("no data", f"no {slo.ttr} data in phase {phase.name!r}")
    reverts = [r.reverted_at for w in windows for r in w.rows if r.reverted_at is not None and r.reverted_at <= phase.end]
    if not reverts:
        return fail("no revert", f"no fault was reverted before the end of phase {phase.name!r}: nothing to recover from")
    revert = max(reverts)
    band = baseline_band(slo.ttr, points, base.start, base.end, slo.tolerance if slo.tolerance is not None else DEFAULT_TOLERANCE)
    if band is None:
        return fail("no baseline", f"no {slo.ttr} data in phase {base.name!r}: no band to recover into")
    hold = slo.hold if slo.hold is not None else DEFAULT_HOLD_S
    rec = time_to_recovery(points, band, revert, phase.end, hold, STEP_S)
    if rec.seconds is None:
        return fail("not recovered", f"{rec.reason} (band {band.describe()} from phase {base.name!r})")
    ok = slo.objective.holds(rec.seconds)
    return Check("slo", slo.name, phase.name, "pass" if ok else "fail", f"{rec.seconds:.1f}s", objective,
                 f"{slo.ttr} {rec.reason} {rec.seconds:.1f} s after the revert")
