"""What the history keeps of a run (frozen, plain data), built from report.json's shape."""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass
from typing import Any, Mapping

from .values import parse_observed


@dataclass(frozen=True)
class CheckRecord:
    kind: str
    name: str
    phase: str
    status: str
    observed: str
    value: float | None  # `observed` read back (values.parse_observed); None: not a plain number
    unit: str
    objective: str
    reason: str

    @property
    def key(self) -> tuple[str, str, str]:
        return self.kind, self.name, self.phase


@dataclass(frozen=True)
class ShareRecord:
    """One (phase, service, operation) row of the critical-path analysis."""

    phase: str
    service: str
    operation: str
    share: float | None  # 0..1 of the critical path
    critical_path_ms: float | None
    p99_ms: float | None

    @property
    def key(self) -> tuple[str, str, str]:
        return self.phase, self.service, self.operation


@dataclass(frozen=True)
class RunRecord:
    id: str
    scenario: str
    scenario_hash: str | None  # sha256 of the scenario file, when the run knew it
    system: str
    git_rev: str | None  # HEAD of the scenario folder's git work tree, when there is one
    started: float
    ended: float
    verdict: str
    report_dir: str | None
    checks: tuple[CheckRecord, ...] = ()
    shares: tuple[ShareRecord, ...] = ()

    def check(self, kind: str, name: str, phase: str) -> CheckRecord | None:
        return next((c for c in self.checks if c.key == (kind, name, phase)), None)


def new_run_id(started: float) -> str:
    """Sortable and unique enough for one machine's runs: 20261201-143500-3fa9c1."""
    return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(started))}-{secrets.token_hex(3)}"


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _checks(raw: Mapping[str, Any]) -> tuple[CheckRecord, ...]:
    out = []
    for c in raw.get("checks") or ():
        observed = str(c.get("observed") or "")
        value, unit = parse_observed(observed)
        out.append(CheckRecord(str(c.get("kind", "")), str(c.get("name", "")), str(c.get("phase", "")),
                               str(c.get("status", "")), observed, value, unit, str(c.get("objective") or ""),
                               str(c.get("reason") or "")))
    return tuple(out)


def _shares(raw: Mapping[str, Any]) -> tuple[ShareRecord, ...]:
    out: dict[tuple[str, str, str], ShareRecord] = {}
    for phase, rows in (raw.get("bottlenecks") or {}).items():
        for r in rows or ():
            rec = ShareRecord(str(phase), str(r.get("service", "")), str(r.get("operation", "")),
                              _float(r.get("critical_path_share")), _float(r.get("critical_path_ms")), _float(r.get("p99_ms")))
            out.setdefault(rec.key, rec)  # a (phase, service, operation) is one row; keep the first
    return tuple(out.values())


def from_report(raw: Mapping[str, Any], *, run_id: str | None = None, scenario_hash: str | None = None,
                system: str = "reference", git_rev: str | None = None, report_dir: str | None = None) -> RunRecord:
    """A RunRecord from report.json's shape (docs/architecture.md, Outputs): the one place a report becomes history."""
    started = _float(raw.get("started")) or 0.0
    return RunRecord(
        id=run_id or new_run_id(started), scenario=str(raw.get("scenario", "")), scenario_hash=scenario_hash,
        system=system, git_rev=git_rev, started=started, ended=_float(raw.get("ended")) or started,
        verdict=str(raw.get("verdict", "")), report_dir=report_dir, checks=_checks(raw), shares=_shares(raw),
    )
