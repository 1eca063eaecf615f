"""The terminal report: phases with faults, checks, top bottlenecks per phase with the diff."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from chaosctl.console import default_console, markup, plain
from chaosctl.report.model import RunReport, fault_lines, run_error
from chaosctl.verdict.model import BottleneckRow

VERDICT_STYLE = {"pass": "bold green", "fail": "bold red", "aborted": "bold red", "error": "bold yellow"}


def _pct(x: float | None, signed: bool = False) -> str:
    if x is None or x != x:
        return "-"
    return f"{x * 100:+.1f} pts" if signed else f"{x * 100:.1f}%"


def _ms(x: float | None, signed: bool = False) -> str:
    if x is None or x != x:
        return "-"
    return f"{x:+.1f}" if signed else f"{x:.1f}"


def phases_table(report: RunReport) -> Table:
    t = Table(title="Phases", title_justify="left")
    for col in ("phase", "start", "duration", "faults"):
        t.add_column(col)
    for p in report.phases:
        faults = "\n".join(plain(f) for f in fault_lines(p)) or "-"
        t.add_row(Text(plain(p.name)), f"+{p.start - report.started:.1f}s", f"{p.seconds:.1f}s", Text(faults))
    return t


def checks_table(report: RunReport) -> Table:
    t = Table(title="Checks", title_justify="left")
    for col in ("", "kind", "phase", "check", "observed", "objective", "reason"):
        t.add_column(col, overflow="fold")
    for c in report.checks:
        mark = "[green]PASS[/]" if c.passed else "[red]FAIL[/]"
        t.add_row(mark, Text(plain(c.kind)), *(Text(plain(x)) for x in (c.phase, c.name, c.observed, c.objective, c.reason)))
    return t


def bottleneck_table(title: str, rows: Sequence[BottleneckRow], top: int = 8) -> Table:
    t = Table(title=title, title_justify="left")
    for col in ("service", "operation", "crit share", "Δ share", "crit ms", "self p50", "self p99", "p99 ms", "Δ p99", "count", "err"):
        t.add_column(col, justify="left" if col in ("service", "operation") else "right")
    for r in list(rows)[:top]:
        t.add_row(
            Text(plain(r.service)), Text(plain(r.operation)), _pct(r.critical_path_share), _pct(r.delta_share_vs_baseline, True),
            _ms(r.critical_path_ms), _ms(r.self_ms_p50), _ms(r.self_ms_p99), _ms(r.p99_ms),
            _ms(r.delta_p99_ms_vs_baseline, True), str(r.count), str(r.errors),
        )
    return t


def render(report: RunReport, console: Console | None = None) -> None:
    console = console or default_console()
    console.print(phases_table(report))
    if report.checks:
        console.print(checks_table(report))
    for phase, rows in report.bottlenecks.items():
        console.print(bottleneck_table(f"Bottlenecks: {markup(phase)}", rows))
    for line in report.findings:
        console.print(f"• {plain(line)}", markup=False, highlight=False)
    for line in report.notes:
        console.print(f"note: {plain(line)}", style="dim", markup=False)
    failed = sum(1 for c in report.checks if not c.passed)
    if run_error(report):
        console.print(plain(run_error(report)), style="bold yellow", markup=False, highlight=False)
    style = VERDICT_STYLE.get(report.verdict, "bold")
    console.print(f"[{style}]verdict: {report.verdict.upper()}[/] ({len(report.checks) - failed} passed, {failed} failed)")
