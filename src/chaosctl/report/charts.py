"""Inline SVG charts for report.html: no script, no network, readable in any browser.

Time charts shade each phase and mark faults (dashed red lines at the edges of phases that had
faults, with the fault named); the share chart stacks each service's critical-path share per phase.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape as _escape

from chaosctl.console import plain
from chaosctl.verdict.model import BottleneckRow, PhaseWindow


def escape(text: object) -> str:
    """HTML/SVG-escaped, control characters removed (phase and service names are user text)."""
    return _escape(plain(text, multiline=True))

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")
PHASE_FILL = ("#eaf1fb", "#f6f6f6")
W, H = 880, 260
ML, MR, MT, MB = 64, 16, 34, 40  # margins


@dataclass(frozen=True)
class Line:
    label: str
    color: str
    points: tuple[tuple[float, float], ...]


def nice_max(v: float) -> float:
    if not 1e-300 < v < math.inf:  # NaN too; below 1e-300 the scale's power of ten underflows to 0
        return 1.0
    exp = 10.0 ** math.floor(math.log10(v))  # a float: 10**308 as an int overflows when scaled
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * exp:
            return m * exp
    return 10 * exp


def _segments(points: Sequence[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """Split a series where samples are missing (a gap over 3x the usual step)."""
    pts = sorted(p for p in points if math.isfinite(p[0]) and math.isfinite(p[1]))
    if len(pts) < 2:
        return [pts] if pts else []
    steps = sorted(b[0] - a[0] for a, b in zip(pts, pts[1:]))
    limit = 3 * steps[len(steps) // 2]
    out = [[pts[0]]]
    for a, b in zip(pts, pts[1:]):
        if b[0] - a[0] > limit:
            out.append([])
        out[-1].append(b)
    return out


def _phase_layer(phases: Sequence[PhaseWindow], x: Callable[[float], float]) -> list[str]:
    parts = []
    for i, p in enumerate(phases):
        x0, x1 = x(p.start), x(p.end)
        parts.append(f'<rect x="{x0:.1f}" y="{MT}" width="{max(0.0, x1 - x0):.1f}" height="{H - MT - MB}" fill="{PHASE_FILL[i % 2]}"/>')
        parts.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{MT - 6}" text-anchor="middle" font-size="11" fill="#555">{escape(p.name)}</text>')
        if p.faults:
            label = escape("; ".join(p.faults)[:70])
            for xe in (x0, x1):
                parts.append(f'<line x1="{xe:.1f}" y1="{MT}" x2="{xe:.1f}" y2="{H - MB}" stroke="#c00" stroke-dasharray="4 3"/>')
            parts.append(f'<text x="{x0 + 4:.1f}" y="{MT + 12}" font-size="10" fill="#c00">⚡ {label}</text>')
    return parts


def time_chart(title: str, lines: Sequence[Line], phases: Sequence[PhaseWindow], fmt: Callable[[float], str],
               marks: Sequence[tuple[float, str]] = ()) -> str:
    """A line chart over the run with phases shaded, faults marked and `marks` (time, label: where
    a time to recovery ended) drawn as green lines."""
    times = [t for ln in lines for t, _ in ln.points] + [p.start for p in phases] + [p.end for p in phases]
    times = [t for t in times if math.isfinite(t)]  # a NaN phase end (a run that died early) has no place
    values = [v for ln in lines for _, v in ln.points if math.isfinite(v)]
    t0, t1 = (min(times), max(times)) if times else (0.0, 1.0)
    t1 = t1 if t1 > t0 else t0 + 1
    span = (t1 - t0) or 1.0  # t0 + 1 == t0 beyond 2**53
    ymax = nice_max(max(values, default=0.0))

    def x(t: float) -> float:
        return ML + (t - t0) / span * (W - ML - MR)

    def y(v: float) -> float:
        return H - MB - v / ymax * (H - MT - MB)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{escape(title)}">',
             f'<rect width="{W}" height="{H}" fill="#fff"/>', *_phase_layer(phases, x),
             *_axes(t0, t1, ymax, fmt, x, y), *_line_layer(lines, x, y)]
    for t, label in marks:
        if t0 <= t <= t1:
            parts.append(f'<line x1="{x(t):.1f}" y1="{MT}" x2="{x(t):.1f}" y2="{H - MB}" stroke="#2a2" stroke-width="2"/>')
            parts.append(f'<text x="{x(t) + 4:.1f}" y="{MT + 26}" font-size="10" fill="#2a2">{escape(label)}</text>')
    if not values:
        parts.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" font-size="14" fill="#999">no data</text>')
    for i, ln in enumerate(lines):
        lx = ML + 10 + i * 130
        parts.append(f'<rect x="{lx}" y="{H - 14}" width="12" height="4" fill="{ln.color}"/>')
        parts.append(f'<text x="{lx + 16}" y="{H - 9}" font-size="11">{escape(ln.label)}</text>')
    parts.append(f'<text x="{ML}" y="14" font-size="13" font-weight="bold">{escape(title)}</text></svg>')
    return "\n".join(parts)


Scale = Callable[[float], float]


def _axes(t0: float, t1: float, ymax: float, fmt: Callable[[float], str], x: Scale, y: Scale) -> list[str]:
    """Six horizontal grid lines with their values, seven time ticks (+Ns from the start)."""
    parts = []
    for i in range(6):
        v = ymax * i / 5
        parts.append(f'<line x1="{ML}" y1="{y(v):.1f}" x2="{W - MR}" y2="{y(v):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{ML - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="10">{escape(fmt(v))}</text>')
    for i in range(7):
        t = t0 + (t1 - t0) * i / 6
        parts.append(f'<text x="{x(t):.1f}" y="{H - MB + 16}" text-anchor="middle" font-size="10">+{t - t0:.0f}s</text>')
    return parts


def _line_layer(lines: Sequence[Line], x: Scale, y: Scale) -> list[str]:
    """Each series as polylines broken at gaps (a lone sample as a dot)."""
    parts = []
    for ln in lines:
        for seg in _segments(ln.points):
            pts = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in seg)
            if len(seg) == 1:
                parts.append(f'<circle cx="{x(seg[0][0]):.1f}" cy="{y(seg[0][1]):.1f}" r="2.5" fill="{ln.color}"/>')
            else:
                parts.append(f'<polyline points="{pts}" fill="none" stroke="{ln.color}" stroke-width="2"/>')
    return parts

def service_shares(rows: Sequence[BottleneckRow]) -> dict[str, float]:
    shares: dict[str, float] = defaultdict(float)
    for r in rows:
        shares[r.service] += r.critical_path_share
    return dict(shares)


def operation_shares(rows: Sequence[BottleneckRow], keep: set[str]) -> dict[str, float]:
    shares: dict[str, float] = defaultdict(float)
    for r in rows:
        key = f"{r.service}: {r.operation}"
        shares[key if key in keep else "other"] += r.critical_path_share
    return dict(shares)


def top_operations(bottlenecks: dict[str, Sequence[BottleneckRow]], top: int = 7) -> set[str]:
    best: dict[str, float] = defaultdict(float)
    for rows in bottlenecks.values():
        for r in rows:
            key = f"{r.service}: {r.operation}"
            best[key] = max(best[key], r.critical_path_share)
    return set(sorted(best, key=lambda k: -best[k])[:top])


def share_chart(bottlenecks: dict[str, Sequence[BottleneckRow]], by: str = "service") -> str:
    """One stacked horizontal bar per phase: each service's (or top operation's) share of the critical path."""
    if by == "service":
        per_phase = {phase: service_shares(rows) for phase, rows in bottlenecks.items()}
        title = "Critical-path share per service, per phase"
    else:
        keep = top_operations(bottlenecks)
        per_phase = {phase: operation_shares(rows, keep) for phase, rows in bottlenecks.items()}
        title = "Critical-path share per operation (top 7), per phase"
    services = sorted({s for shares in per_phase.values() for s in shares}, key=lambda s: (s == "other", s))
    color = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(services)}
    bar_h, gap, left = 24, 12, 110
    per_row, col_w = (6, 120) if by == "service" else (3, 250)
    legend_rows = (len(services) + per_row - 1) // per_row
    height = MT + max(1, len(per_phase)) * (bar_h + gap) + 26 + 14 * legend_rows
    width = W - left - MR
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="{W}" height="{height}" role="img" aria-label="critical-path share">',
             f'<rect width="{W}" height="{height}" fill="#fff"/>',
             f'<text x="8" y="14" font-size="13" font-weight="bold">{title}</text>']
    for i, (phase, shares) in enumerate(per_phase.items()):
        top = MT + i * (bar_h + gap)
        parts.append(f'<text x="{left - 8}" y="{top + bar_h / 2 + 4}" text-anchor="end" font-size="11">{escape(phase)}</text>')
        x0 = float(left)
        for s in services:
            w = shares.get(s, 0.0) * width
            if w <= 0:
                continue
            parts.append(f'<rect x="{x0:.1f}" y="{top}" width="{w:.1f}" height="{bar_h}" fill="{color[s]}"><title>{escape(s)}: {shares[s]:.1%}</title></rect>')
            if w > 34:
                parts.append(f'<text x="{x0 + w / 2:.1f}" y="{top + bar_h / 2 + 4}" text-anchor="middle" font-size="10" fill="#fff">{shares[s]:.0%}</text>')
            x0 += w
    for i, s in enumerate(services):
        lx, ly = left + (i % per_row) * col_w, height - 14 * legend_rows + (i // per_row) * 14
        parts.append(f'<rect x="{lx}" y="{ly - 8}" width="10" height="10" fill="{color[s]}"/><text x="{lx + 14}" y="{ly + 1}" font-size="11">{escape(s if len(s) <= 36 else s[:35] + "…")}</text>')
    if not per_phase:
        parts.append(f'<text x="{W / 2}" y="{MT + 10}" text-anchor="middle" font-size="14" fill="#999">no traces</text>')
    parts.append("</svg>")
    return "\n".join(parts)
