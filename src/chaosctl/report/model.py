"""The one object every report writer takes (terminal, JSON, JUnit, HTML, Markdown)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from chaosctl.verdict.model import BottleneckRow, Check, PhaseWindow, Series

Verdict = Literal["pass", "fail", "aborted", "error"]
SCHEMA_VERSION = 2  # 2: phases[].faults[] are rows {label, injected_at, reverted_at, effect, evidence}


@dataclass(frozen=True)
class RunReport:
    scenario: str
    verdict: Verdict
    started: float
    ended: float
    phases: tuple[PhaseWindow, ...]
    checks: tuple[Check, ...]
    bottlenecks: dict[str, tuple[BottleneckRow, ...]] = field(default_factory=dict)
    # Findings in words, e.g. "under latency on link:gateway->model-gpu-1 ... went from 12% to 71%".
    findings: tuple[str, ...] = ()
    series: tuple[Series, ...] = ()  # latency p50/p99, error ratio over time, for charts
    notes: tuple[str, ...] = ()  # e.g. load generator CPU, abort reason, missing components
    # A run cut short by SIGINT/SIGTERM: the report holds what was gathered until then (verdict "aborted").
    interrupted: bool = False
    error: str = ""  # verdict "error": what went wrong (the exception and where), every fault reverted
    # Seeded schedules by phase name: seed, count, min_gap and the drawn faults (scenario.schedule), to replay a failure.
    schedules: dict[str, dict] = field(default_factory=dict)


def run_error(report: RunReport) -> str:
    """Why the run did not complete, for every writer ("" when it did)."""
    if report.interrupted:
        return "the run was interrupted (SIGINT/SIGTERM): partial report"
    return f"the run failed: {report.error}" if report.error else ""


def fault_lines(phase: PhaseWindow) -> tuple[str, ...]:
    """Each fault of a phase with its effect and the evidence (verdict.effect), for every writer."""
    if not phase.rows:
        return phase.faults
    return tuple(f"{r.label}: effect {r.effect}" + (f" ({r.evidence})" if r.evidence else "") if r.effect else r.label
                 for r in phase.rows)


def ttr_marks(report: RunReport) -> tuple[tuple[float, str], ...]:
    """(unix time, label) where each measured time to recovery ended: the last revert before
    its phase's end + the TTR (runner.effects' rule), for the charts."""
    out = []
    for c in report.checks:
        if c.kind != "slo" or not c.objective.startswith("ttr(") or not c.observed.endswith("s"):
            continue
        try:
            seconds = float(c.observed[:-1])
        except ValueError:
            continue  # "not recovered", "no data": nothing to mark
        phase = next((p for p in report.phases if p.name == c.phase), None)
        reverts = [r.reverted_at for p in report.phases for r in p.rows
                   if phase is not None and r.reverted_at is not None and r.reverted_at <= phase.end]
        if reverts:
            out.append((max(reverts) + seconds, f"recovered +{seconds:g}s"))
    return tuple(out)
