"""Plain data shared by the verdict, the run and the reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CheckKind = Literal["slo", "trace", "steady_state", "abort", "fault", "effect"]
CheckStatus = Literal["pass", "fail"]


@dataclass(frozen=True)
class FaultRow:
    """One fault of a phase as it ran, and what the system showed of it (verdict.effect)."""

    label: str  # e.g. "latency link:gateway->model-gpu-1"
    injected_at: float | None = None  # unix seconds: inject() called (and verified in effect)
    reverted_at: float | None = None  # unix seconds: its revert returned
    effect: str = ""  # confirmed | not observed | inconclusive ("" not judged)
    evidence: str = ""
    # unix seconds: verify() returned, the fault confirmed in place. Between injected_at and this,
    # work the fault did not reach yet can still succeed (a batch already on its way to a device).
    in_effect_at: float | None = None


@dataclass(frozen=True)
class PhaseWindow:
    """The exact wall-clock window of one phase (unix seconds)."""

    name: str
    start: float
    end: float
    faults: tuple[str, ...] = ()  # human-readable fault descriptions, e.g. "latency link:gateway->model-gpu-1"
    rows: tuple[FaultRow, ...] = ()  # the same faults with their times and effects

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class Check:
    """One verdict line. `observed`/`objective` are human-readable strings."""

    kind: CheckKind
    name: str
    phase: str
    status: CheckStatus
    observed: str = ""
    objective: str = ""
    reason: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"


@dataclass(frozen=True)
class BottleneckRow:
    service: str
    operation: str
    critical_path_share: float  # 0..1
    critical_path_ms: float
    self_ms_p50: float
    self_ms_p99: float
    p99_ms: float
    count: int
    errors: int = 0
    delta_share_vs_baseline: float | None = None
    delta_p99_ms_vs_baseline: float | None = None


@dataclass(frozen=True)
class Series:
    """A time series for charts: (unix seconds, value) points."""

    name: str
    points: tuple[tuple[float, float], ...] = field(default_factory=tuple)
