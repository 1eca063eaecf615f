"""Aggregate per-trace critical paths into per-(service, operation) bottleneck rows, and diff two sets.

Definitions (also in the report legend):
* critical_path_share: the operation's time on critical paths / the sum of the traces' durations;
* critical_path_ms: the operation's mean time on the critical path per trace;
* self_ms_p50/p99: percentiles of the spans' self time (duration minus the union of children);
* p99_ms: the 99th percentile of the spans' own (unclamped) duration;
* count / errors: spans, and spans with an error status.
A trace is analysed per root (verdict.critical_path): its roots and orphan subtrees are its
synchronous paths and make up the denominator; asynchronous and dropped subtrees count in the
rows (count, self time, p99) but never on the critical path. `traces` counts distinct trace ids.
Percentiles interpolate linearly between closest ranks (numpy's default), so tests can hand-compute them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from chaosctl.verdict.critical_path import TraceAnalysis
from chaosctl.verdict.model import BottleneckRow, PhaseWindow

MIN_SHARE_DELTA = 0.05  # a finding needs the share to move by at least 5 points


@dataclass(frozen=True)
class Aggregate:
    rows: tuple[BottleneckRow, ...]  # sorted by critical-path share, largest first
    traces: int
    spans: int
    orphans: int  # roots whose parent is missing from their trace (each analysed on its own)
    skew_adjusted: int
    asynchronous: int = 0  # spans in asynchronous subtrees (follows-from, consumer under producer)
    dropped: int = 0  # spans in subtrees that started after their parent ended (as jaeger-ui drops them)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks, q in [0, 100]. Empty input gives NaN."""
    n = len(sorted_values)
    if n == 0:
        return float("nan")
    pos = (n - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def aggregate(analyses: Sequence[TraceAnalysis]) -> Aggregate:
    crit: dict[tuple[str, str], int] = defaultdict(int)
    selfs: dict[tuple[str, str], list[int]] = defaultdict(list)
    durs: dict[tuple[str, str], list[int]] = defaultdict(list)
    errors: dict[tuple[str, str], int] = defaultdict(int)
    total_us = n_spans = 0
    for trace in analyses:
        on_path = trace.synchronous
        total_us += trace.duration_us if on_path else 0
        for r in trace.spans:
            key = (r.span.service, r.span.operation)
            crit[key] += r.critical_us if on_path else 0
            selfs[key].append(r.self_us)
            durs[key].append(r.span.duration_us)
            errors[key] += r.span.error
            n_spans += 1
    n = len({t.trace_id for t in analyses})
    rows = rows_of(crit, selfs, durs, errors, total_us, n)
    return Aggregate(
        rows=rows,
        traces=n,
        spans=n_spans,
        orphans=sum(t.orphans for t in analyses),
        skew_adjusted=sum(t.skew_adjusted for t in analyses),
        asynchronous=sum(len(t.spans) for t in analyses if t.kind == "async"),
        dropped=sum(len(t.spans) for t in analyses if t.kind == "dropped"),
    )


def rows_of(crit: Mapping[tuple[str, str], int], selfs: Mapping[tuple[str, str], Sequence[int]],
            durs: Mapping[tuple[str, str], Sequence[int]], errors: Mapping[tuple[str, str], int], total_us: int, n: int
            ) -> tuple[BottleneckRow, ...]:
    """The rows, largest critical-path share first, from per-(service, operation) sums and values
    (shared by `aggregate` and the table analysis, so that both compute a row alike)."""
    rows = []
    for key in selfs:
        self_sorted, dur_sorted = sorted(selfs[key]), sorted(durs[key])
        rows.append(BottleneckRow(
            service=key[0],
            operation=key[1],
            critical_path_share=(crit[key] / total_us) if total_us else 0.0,
            critical_path_ms=(crit[key] / n / 1000.0) if n else 0.0,
            self_ms_p50=percentile(self_sorted, 50) / 1000.0,
            self_ms_p99=percentile(self_sorted, 99) / 1000.0,
            p99_ms=percentile(dur_sorted, 99) / 1000.0,
            count=len(dur_sorted),
            errors=errors[key],
        ))
    rows.sort(key=lambda r: (-r.critical_path_share, -r.p99_ms, r.service, r.operation))
    return tuple(rows)


def diff(current: Sequence[BottleneckRow], baseline: Sequence[BottleneckRow]) -> tuple[BottleneckRow, ...]:
    """The current rows with their share and p99 deltas against the baseline (absent there = 0 share)."""
    base = {(r.service, r.operation): r for r in baseline}
    out = []
    for r in current:
        b = base.get((r.service, r.operation))
        out.append(
            replace(
                r,
                delta_share_vs_baseline=r.critical_path_share - (b.critical_path_share if b else 0.0),
                delta_p99_ms_vs_baseline=(r.p99_ms - b.p99_ms) if b else None,
            )
        )
    return tuple(out)


def fault_context(phase: PhaseWindow) -> str:
    """'under latency on link:gateway->model-gpu-1' from the phase's fault descriptions."""
    if not phase.faults:
        return f"in phase {phase.name}"
    return "under " + " and ".join(_on(f) for f in phase.faults)


def _on(fault: str) -> str:
    kind, _, target = fault.partition(" ")
    return f"{kind} on {target}" if target and " on " not in fault else fault


def findings(
    context: str, current: Sequence[BottleneckRow], baseline: Sequence[BottleneckRow], top: int = 3
) -> tuple[str, ...]:
    """Sentences for the operations whose critical-path share moved most (up and down)."""
    cur = {(r.service, r.operation): r for r in current}
    base = {(r.service, r.operation): r for r in baseline}
    moves = []
    for key in cur.keys() | base.keys():
        c, b = cur.get(key), base.get(key)
        delta = (c.critical_path_share if c else 0.0) - (b.critical_path_share if b else 0.0)
        if abs(delta) >= MIN_SHARE_DELTA:
            moves.append((delta, key, c, b))
    moves.sort(key=lambda m: (-abs(m[0]), m[1]))
    return tuple(_sentence(context, key, c, b) for _, key, c, b in moves[:top])


def _sentence(context: str, key: tuple[str, str], c: BottleneckRow | None, b: BottleneckRow | None) -> str:
    service, operation = key
    before = b.critical_path_share if b else 0.0
    after = c.critical_path_share if c else 0.0
    text = f"{context} the {service}'s `{operation}` went from {before:.0%} to {after:.0%} of the critical path"
    if c and b:
        text += f"; p99 {c.p99_ms - b.p99_ms:+.0f} ms"
    elif c:
        text += f"; new on the critical path, p99 {c.p99_ms:.0f} ms"
    return text
