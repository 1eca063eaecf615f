"""Recording a finished run: report (report.json shape) -> RunRecord -> the history file."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .model import RunRecord, from_report
from .store import open_history

if TYPE_CHECKING:
    from chaosctl.report.model import RunReport
    from chaosctl.settings import Settings

REFERENCE_SYSTEM = "reference"  # the name of the reference System (systems/reference.system.yaml)
GIT_TIMEOUT_S = 5.0


def file_hash(path: Path | None) -> str | None:
    """sha256 of the scenario file; None when there is no file or it cannot be read."""
    if path is None:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def git_revision(folder: Path | None) -> str | None:
    """HEAD of the git work tree holding `folder`; None outside one, without git, or on any error."""
    if folder is None:
        return None
    try:
        done = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    rev = done.stdout.strip()
    return rev if done.returncode == 0 and len(rev) >= 40 else None


def report_data(report: "RunReport | Mapping[str, Any]") -> Mapping[str, Any]:
    """report.json's shape, whether given a RunReport or the loaded JSON."""
    if isinstance(report, Mapping):
        return report
    from chaosctl.report.json import to_dict

    return to_dict(report)


def build_record(report: "RunReport | Mapping[str, Any]", *, scenario_file: Path | None = None,
                 system: str = REFERENCE_SYSTEM, report_dir: Path | None = None, run_id: str | None = None) -> RunRecord:
    folder = Path(scenario_file).resolve().parent if scenario_file is not None else None
    return from_report(report_data(report), run_id=run_id, scenario_hash=file_hash(scenario_file), system=system,
                       git_rev=git_revision(folder), report_dir=str(Path(report_dir).resolve()) if report_dir else None)


def record_run(history_path: Path, report: "RunReport | Mapping[str, Any]", *, scenario_file: Path | None = None,
               system: str = REFERENCE_SYSTEM, report_dir: Path | None = None) -> RunRecord:
    """Record a finished run in the history at `history_path` (created and migrated as needed)."""
    record = build_record(report, scenario_file=scenario_file, system=system, report_dir=report_dir)
    with open_history(history_path) as history:
        history.add(record)
    return record


def record_after_run(settings: "Settings", report: "RunReport", scenario_file: Path | None, report_dir: Path | None,
                     echo: Callable[[str], None] = print, system: str = REFERENCE_SYSTEM) -> RunRecord | None:
    """The run path's call, after the reports are written: record, then add the trend to
    report.html. A history failure never fails a run: it is printed and the run goes on."""
    path = settings.history_path
    try:
        record = record_run(path, report, scenario_file=scenario_file, system=system, report_dir=report_dir)
    except Exception as exc:  # noqa: BLE001 - the run's verdict and reports stand without history
        echo(f"warning: run not recorded in the history {path}: {exc}")
        return None
    echo(f"history: run {record.id} recorded in {path}")
    if report_dir is not None:
        try:
            from .trend import write_html_with_trend

            write_html_with_trend(path, report, record, report_dir)
        except Exception as exc:  # noqa: BLE001 - the report without a trend is still the report
            echo(f"warning: no trend in report.html: {exc}")
    return record
