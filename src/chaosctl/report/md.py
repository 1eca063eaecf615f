"""report.md: the same content as the HTML page for places that render Markdown (PR comments,
CI summaries). Charts are text: a sparkline per series per phase and a bar per service share."""

from __future__ import annotations

import math
import re
from pathlib import Path

from chaosctl.console import plain
from chaosctl.report.charts import service_shares
from chaosctl.report.model import RunReport, fault_lines, run_error

FILENAME = "report.md"
BLOCKS = "▁▂▃▄▅▆▇█"


# Markdown's inline punctuation, escaped with a backslash (CommonMark: any ASCII punctuation
# may be); `<`, `>` and `&` become entities so that no name opens an HTML tag or a comment.
_INLINE = re.compile(r"([\\`*_\[\]{}()|~!#])")
_BLOCK_START = re.compile(r"^(\s*)([-+=>]|\d+[.)])")  # a list item, quote, heading rule at the start of a line


def _text(text: object) -> str:
    """User text (scenario, check and span names, reasons) as inert Markdown: shown as written."""
    out = _INLINE.sub(r"\\\1", plain(text)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BLOCK_START.sub(r"\1\\\2", out)


def _cell(text: str) -> str:
    return _text(text) or "-"


def _bar(share: float, width: int = 20) -> str:
    """A share as a bar of at most `width` blocks (a corrupt share of 1e300 must not build a 1e301-char string)."""
    return "█" * round(min(1.0, max(0.0, share)) * width) if math.isfinite(share) else "?"


def sparkline(values: list[float], top: float) -> str:
    if not values:
        return "(no data)"
    top = top if top > 0 else 1.0
    return "".join(BLOCKS[_level(v / top)] if math.isfinite(v / top) else " " for v in values)


def _level(fraction: float) -> int:
    return int(min(1.0, max(0.0, fraction)) * (len(BLOCKS) - 1))  # clamped first: 1e308 * 7 is inf


def _series_lines(report: RunReport) -> list[str]:
    lines = []
    for s in report.series:
        top = max((v for _, v in s.points if math.isfinite(v)), default=0.0)
        for p in report.phases:
            vals = [v for t, v in s.points if p.start <= t <= p.end]
            finite = [v for v in vals if math.isfinite(v)]
            peak = f"max {max(finite):.4g}" if finite else "no data"
            lines.append(f"| {_cell(s.name)} | {_cell(p.name)} | `{sparkline(vals, top)}` | {peak} |")
    return ["| series | phase | over time | |", "|---|---|---|---|", *lines] if lines else ["(no time series)"]


def _run_problem(report: RunReport) -> list[str]:
    problem = run_error(report)
    return ["", f"**{_cell(problem)}**"] if problem else []


def render(report: RunReport) -> str:
    failed = sum(1 for c in report.checks if not c.passed)
    out = [f"# chaosctl report: {_text(report.scenario)}", "", f"**Verdict: {report.verdict.upper()}** "
           f"({len(report.checks) - failed} checks passed, {failed} failed)", *_run_problem(report), "", "## Phases", "",
           "| phase | start | duration | faults |", "|---|---|---|---|"]
    out += [f"| {_cell(p.name)} | +{p.start - report.started:.1f} s | {p.seconds:.1f} s | {_cell('; '.join(fault_lines(p)))} |" for p in report.phases]
    out += ["", "## Checks", "", "| status | kind | phase | check | observed | objective | reason |", "|---|---|---|---|---|---|---|"]
    out += [f"| {'PASS' if c.passed else '**FAIL**'} | {c.kind} | {_cell(c.phase)} | {_cell(c.name)} | {_cell(c.observed)} | "
            f"{_cell(c.objective)} | {_cell(c.reason)} |" for c in report.checks]
    out += ["", "## Over time", "", *_series_lines(report), "", "## Where the time went", ""]
    for phase, rows in report.bottlenecks.items():
        out.append(f"**{_text(phase)}**: " + ", ".join(
            f"{_text(svc)} {_bar(share)} {share:.0%}" for svc, share in sorted(service_shares(rows).items(), key=lambda kv: -kv[1])))
        out += ["", "| service | operation | crit share | Δ share | crit ms | self p50 | p99 ms | Δ p99 | spans | errors |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows[:10]:
            ds = "-" if r.delta_share_vs_baseline is None else f"{r.delta_share_vs_baseline * 100:+.1f} pts"
            dp = "-" if r.delta_p99_ms_vs_baseline is None else f"{r.delta_p99_ms_vs_baseline:+.1f}"
            out.append(f"| {_cell(r.service)} | {_cell(r.operation)} | {r.critical_path_share:.1%} | {ds} | {r.critical_path_ms:.1f} | "
                       f"{r.self_ms_p50:.1f} | {r.p99_ms:.1f} | {dp} | {r.count} | {r.errors} |")
        out.append("")
    out += [f"- {_text(f)}" for f in report.findings]
    if report.notes:
        out += ["", "## Notes", "", *[f"- {_text(n)}" for n in report.notes]]
    return "\n".join(out) + "\n"


def write(report: RunReport, directory: Path) -> Path:
    path = Path(directory) / FILENAME
    path.write_text(render(report), encoding="utf-8")
    return path
