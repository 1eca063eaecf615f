"""report.html: one self-contained page (inline CSS and SVG, no script, no network)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape as _escape
from pathlib import Path

from chaosctl.console import plain
from chaosctl.report.charts import Line, share_chart, time_chart
from chaosctl.report.model import RunReport, fault_lines, run_error, ttr_marks
from chaosctl.verdict.model import BottleneckRow

FILENAME = "report.html"
# Series names the run fills (verdict/series.py); values in seconds and fractions.
LATENCY_SERIES = (("latency_p50", "p50", "#1f77b4"), ("latency_p99", "p99", "#d62728"))
ERROR_SERIES = (("error_ratio", "error ratio", "#9467bd"),)
VERDICT_COLOR = {"pass": "#1a7f37", "fail": "#cf222e", "aborted": "#cf222e", "error": "#9a6700"}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#1f2328;max-width:960px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.verdict{display:inline-block;padding:6px 14px;border-radius:6px;color:#fff;font-weight:bold;font-size:18px}
table{border-collapse:collapse;font-size:13px;margin:6px 0;width:100%} th,td{border:1px solid #d0d7de;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa} td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1a7f37;font-weight:bold} .fail{color:#cf222e;font-weight:bold} .muted{color:#57606a;font-size:12px}
svg{display:block;margin:8px 0;max-width:100%;height:auto}
"""


def escape(text: object) -> str:
    """HTML-escaped, control characters removed (names come from scenarios and span data)."""
    return _escape(plain(text, multiline=True))


def series_key(name: str) -> str:
    """'latency p99 (s)' and 'latency_p99' alike -> 'latency_p99' (the run names series for people)."""
    words = re.sub(r"\(.*?\)", "", name.lower())
    return re.sub(r"[^a-z0-9]+", "_", words).strip("_")


def _series(report: RunReport, spec: tuple[tuple[str, str, str], ...]) -> list[Line]:
    by_name = {series_key(s.name): s for s in report.series}
    return [Line(label, color, by_name[name].points) for name, label, color in spec if name in by_name]


def _ms(v: float) -> str:
    return f"{v * 1000:.0f} ms"


def _table(headers: list[str], rows: list[list[str]], numeric_from: int = 99) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i >= numeric_from else f"<td>{c}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(x: float | None, scale: float = 1.0, suffix: str = "", signed: bool = False) -> str:
    if x is None or x != x:
        return "-"
    return f"{x * scale:+.1f}{suffix}" if signed else f"{x * scale:.1f}{suffix}"


def _bottleneck_rows(rows: tuple[BottleneckRow, ...], top: int = 10) -> list[list[str]]:
    return [
        [escape(r.service), escape(r.operation), _fmt(r.critical_path_share, 100, "%"),
         _fmt(r.delta_share_vs_baseline, 100, " pts", True), _fmt(r.critical_path_ms), _fmt(r.self_ms_p50),
         _fmt(r.self_ms_p99), _fmt(r.p99_ms), _fmt(r.delta_p99_ms_vs_baseline, signed=True), str(r.count), str(r.errors)]
        for r in rows[:top]
    ]


@dataclass(frozen=True)
class Trend:
    """Each check's observed value over the scenario's last runs, oldest first (from the run history)."""

    runs: tuple[str, ...]  # column headings: run ids
    # (check, ((observed, status, value or None) per run)); value: the observed number, for the sparkline
    rows: tuple[tuple[str, tuple[tuple[str, str, float | None], ...]], ...]


def _sparkline(values: list[float | None], width: int = 90, height: int = 22) -> str:
    """The values' shape (oldest left), scaled to their own range; gaps where a run had none."""
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return "-"
    low, span = min(known), (max(known) - min(known)) or 1.0
    step = width / (len(values) - 1)
    dots = [(i * step, height - 2 - (v - low) / span * (height - 4)) for i, v in enumerate(values) if v is not None]
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in dots)
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" style="margin:0">'
            f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="1.5"/></svg>')


def _trend(trend: Trend) -> str:
    cells = [[escape(label), _sparkline([v for _, _, v in values])]
             + [f'<span class="{escape(status)}">{escape(observed)}</span>' if observed else "-"
                for observed, status, _ in values] for label, values in trend.rows]
    return (f"<h2>Trend over the last {len(trend.runs)} runs</h2>"
            + _table(["check", "trend"] + list(trend.runs), cells, 2))


def render(report: RunReport, trend: Trend | None = None) -> str:
    failed = sum(1 for c in report.checks if not c.passed)
    parts = [
        f"<h1>chaosctl report: {escape(report.scenario)}</h1>",
        f'<div class="verdict" style="background:{VERDICT_COLOR.get(report.verdict, "#555")}">verdict: {escape(report.verdict.upper())}</div>',
        f'<p class="muted">{len(report.checks) - failed} checks passed, {failed} failed; run of {report.ended - report.started:.0f} s</p>',
        *([f'<p class="fail">{escape(run_error(report))}</p>'] if run_error(report) else []),
        "<h2>Latency and errors over time</h2>",
        time_chart("Gateway latency (p50, p99)", _series(report, LATENCY_SERIES), report.phases, _ms, ttr_marks(report)),
        time_chart("Error ratio (5xx / all)", _series(report, ERROR_SERIES), report.phases, lambda v: f"{v:.0%}" if v >= 0.1 or v == 0 else f"{v:.1%}"),
        "<h2>Phases</h2>",
        _table(["phase", "start", "duration", "faults"],
               [[escape(p.name), f"+{p.start - report.started:.1f} s", f"{p.seconds:.1f} s", escape("; ".join(fault_lines(p)) or "-")] for p in report.phases]),
        "<h2>Checks</h2>",
        _table(["status", "kind", "phase", "check", "observed", "objective", "reason"],
               [[f'<span class="{c.status}">{c.status.upper()}</span>', c.kind, escape(c.phase), escape(c.name),
                 escape(c.observed), escape(c.objective), escape(c.reason)] for c in report.checks]),
        "<h2>Where the time went</h2>",
        share_chart(report.bottlenecks),
        share_chart(report.bottlenecks, by="operation"),
    ]
    if report.findings:
        parts.append("<ul>" + "".join(f"<li>{escape(f)}</li>" for f in report.findings) + "</ul>")
    for phase, rows in report.bottlenecks.items():
        parts.append(f"<h3>{escape(phase)}</h3>")
        parts.append(_table(["service", "operation", "critical-path share", "Δ share vs baseline", "critical path ms/trace",
                             "self p50 ms", "self p99 ms", "p99 ms", "Δ p99 ms", "spans", "errors"], _bottleneck_rows(rows), 2))
    if trend is not None and trend.rows:
        parts.append(_trend(trend))
    if report.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in report.notes) + "</ul>")
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>chaosctl: {escape(report.scenario)}</title>'
            f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n")


def write(report: RunReport, directory: Path, trend: Trend | None = None) -> Path:
    path = Path(directory) / FILENAME
    path.write_text(render(report, trend), encoding="utf-8")
    return path
