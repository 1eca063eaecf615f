"""`chaosctl history` and `chaosctl compare`: tables for people (rich; cells are plain Text, so
a scenario or check name is never read as markup) or JSON for machines."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from chaosctl.errors import UsageError

from .compare import check_rows, compare, resolve, share_rows, to_json
from .store import RunRow, open_history

VERDICTS = ("pass", "fail", "aborted", "error")
# Names and observed values come from scenario files and span data: no terminal escapes on the way out.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + "Z"


def _table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]):  # -> rich.table.Table
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title), title_justify="left")
    for h in headers:
        table.add_column(Text(h), overflow="fold")
    for row in rows:
        table.add_row(*(Text(_CONTROL.sub("", str(cell))) for cell in row))
    return table


def list_runs(history_path: Path, scenario: str | None, verdict: str | None, limit: int) -> list[RunRow]:
    if verdict is not None and verdict not in VERDICTS:
        raise UsageError(f"--verdict {verdict!r}: expected one of {', '.join(VERDICTS)}")
    if limit < 1:
        raise UsageError(f"--limit {limit}: expected a positive number of runs")
    with open_history(history_path, create=False) as history:
        return history.runs(scenario=scenario, verdict=verdict, limit=limit)


def show_history(history_path: Path, scenario: str | None = None, verdict: str | None = None, limit: int = 20,
                 json_out: bool = False) -> None:
    runs = list_runs(history_path, scenario, verdict, limit)
    if json_out:
        print(json.dumps({"history": str(history_path), "runs": [asdict(r) for r in runs]}, indent=2))
        return
    from chaosctl.console import default_console

    con = default_console()
    if not runs:
        con.print(f"no runs recorded in {history_path}" + (" match" if scenario or verdict else ""), markup=False)
        return
    rows = [[r.id, r.scenario, r.verdict.upper(), f"{r.checks - r.failed}/{r.checks}", _when(r.started),
             f"{r.ended - r.started:.0f} s", (r.git_rev or "-")[:12], r.system] for r in runs]
    con.print(_table(f"runs in {history_path} (newest first)",
                     ["run id", "scenario", "verdict", "checks passed", "started (UTC)", "took", "git", "system"], rows))


def show_compare(history_path: Path, a: str, b: str, json_out: bool = False) -> None:
    result = compare(resolve(a, history_path), resolve(b, history_path))
    if json_out:
        print(json.dumps(to_json(result), indent=2, allow_nan=False))
        return
    from chaosctl.console import default_console

    con = default_console()
    for label, run in (("A", result.a), ("B", result.b)):
        con.print(f"{label}: {run.id}  {run.scenario}  {run.verdict.upper()}  {_when(run.started)}"
                  f"  git {(run.git_rev or '-')[:12]}", markup=False, highlight=False)
    con.print(_table("checks (B vs A)", ["kind", "phase", "check", "A", "B", "delta", "delta %", "status"],
                     check_rows(result)))
    if result.shares:
        con.print(_table("critical-path share per operation (B vs A)",
                         ["phase", "service", "operation", "A", "B", "delta"], share_rows(result)))
    else:
        con.print("no critical-path shares in either run", markup=False)
