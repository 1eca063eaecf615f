"""`chaosctl compare A B`: what changed between two runs, per check and per operation.

A and B are run ids from the history (or unique prefixes) or report folders / report.json
files; both become RunRecords through the same builder as the history, so a run compares the
same way whether it was recorded or not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from chaosctl.errors import UsageError

from .model import RunRecord
from .record import build_record
from .store import open_history
from .values import percent_change, show, show_delta


@dataclass(frozen=True)
class CheckDelta:
    kind: str
    name: str
    phase: str
    status_a: str | None  # None: the check is not in that run
    status_b: str | None
    observed_a: str | None
    observed_b: str | None
    unit: str
    delta: float | None  # b - a, in `unit`
    delta_pct: float | None  # (b - a) / |a|

    @property
    def status_change(self) -> str:
        if self.status_a == self.status_b:
            return ""
        return f"{self.status_a or 'absent'} -> {self.status_b or 'absent'}"


@dataclass(frozen=True)
class ShareDelta:
    phase: str
    service: str
    operation: str
    share_a: float | None
    share_b: float | None
    delta: float | None  # b - a, fraction of the critical path


@dataclass(frozen=True)
class Comparison:
    a: RunRecord
    b: RunRecord
    checks: tuple[CheckDelta, ...]
    shares: tuple[ShareDelta, ...]


def resolve(ref: str, history_path: Path) -> RunRecord:
    """A run id (or unique prefix) in the history, else a report folder or report.json file."""
    path = Path(ref)
    if path.exists():
        from chaosctl.report.json import load

        return build_record(load(path), report_dir=path if path.is_dir() else path.parent, run_id=f"{path}")
    with open_history(history_path, create=False) as history:
        found = history.get(ref)
    if found is None:
        raise UsageError(f"{ref!r}: neither a run id in the history {history_path} nor a report folder")
    return found


def _check_delta(key: tuple[str, str, str], a: RunRecord, b: RunRecord) -> CheckDelta:
    ca, cb = a.check(*key), b.check(*key)
    same_unit = ca is not None and cb is not None and ca.unit == cb.unit
    delta = cb.value - ca.value if same_unit and ca.value is not None and cb.value is not None else None  # type: ignore[union-attr]
    pct = percent_change(ca.value, cb.value) if same_unit else None  # type: ignore[union-attr]
    unit = (cb or ca).unit if (cb or ca) else ""  # type: ignore[union-attr]
    return CheckDelta(*key, ca.status if ca else None, cb.status if cb else None, ca.observed if ca else None,
                      cb.observed if cb else None, unit, delta, pct)


def compare(a: RunRecord, b: RunRecord) -> Comparison:
    keys = list(dict.fromkeys([c.key for c in a.checks] + [c.key for c in b.checks]))
    sa, sb = {s.key: s for s in a.shares}, {s.key: s for s in b.shares}
    shares = []
    for key in dict.fromkeys([*sa, *sb]):
        va = sa[key].share if key in sa else None
        vb = sb[key].share if key in sb else None
        shares.append(ShareDelta(*key, va, vb, vb - va if va is not None and vb is not None else None))
    shares.sort(key=lambda d: (d.phase, -abs(d.delta or 0.0)))
    return Comparison(a, b, tuple(_check_delta(k, a, b) for k in keys), tuple(shares))


def _meta(run: RunRecord) -> dict:
    keep = ("id", "scenario", "scenario_hash", "system", "git_rev", "started", "ended", "verdict", "report_dir")
    return {k: v for k, v in asdict(run).items() if k in keep}


def to_json(c: Comparison) -> dict:
    return {
        "a": _meta(c.a), "b": _meta(c.b),
        "checks": [{**asdict(d), "status_change": d.status_change} for d in c.checks],
        "critical_path": [asdict(d) for d in c.shares],
    }


def check_rows(c: Comparison) -> list[list[str]]:
    return [[d.kind, d.phase, d.name, d.observed_a or "-", d.observed_b or "-", show_delta(d.delta, d.unit),
             "-" if d.delta_pct is None else f"{d.delta_pct:+.1%}", d.status_change] for d in c.checks]


def share_rows(c: Comparison) -> list[list[str]]:
    pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
    return [[d.phase, d.service, d.operation, pct(d.share_a), pct(d.share_b),
             "-" if d.delta is None else f"{d.delta * 100:+.1f} pts"] for d in c.shares]


__all__ = ["CheckDelta", "Comparison", "ShareDelta", "check_rows", "compare", "resolve", "share_rows", "show", "to_json"]
