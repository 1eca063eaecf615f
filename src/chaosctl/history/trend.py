"""The trend in report.html: each check's observed value over the scenario's last runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .model import RunRecord
from .store import open_history

if TYPE_CHECKING:
    from chaosctl.report.html import Trend
    from chaosctl.report.model import RunReport

TREND_RUNS = 10


def build_trend(runs: list[RunRecord], current: RunRecord) -> "Trend":
    """Rows: the current run's checks that have a value; columns: `runs` (oldest first)."""
    from chaosctl.report.html import Trend

    rows = []
    for check in current.checks:
        if check.value is None:
            continue
        cells = []
        for run in runs:
            found = run.check(*check.key)
            cells.append((found.observed, found.status, found.value if found.unit == check.unit else None)
                         if found else ("", "", None))
        rows.append((f"{check.name} [{check.phase}]", tuple(cells)))
    return Trend(tuple(r.id for r in runs), tuple(rows))


def write_html_with_trend(history_path: Path, report: "RunReport", current: RunRecord, report_dir: Path,
                          last: int = TREND_RUNS) -> Path | None:
    """Rewrite report.html with the trend; None when this is the scenario's only run."""
    from chaosctl.report import html

    with open_history(history_path, create=False) as history:
        runs = history.recent(current.scenario, current.system, last)
    if len(runs) < 2:
        return None
    return html.write(report, Path(report_dir), build_trend(runs, current))
