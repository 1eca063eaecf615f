"""report.json: the shape in docs/architecture.md (Outputs) plus `schema_version`, and the loader back to RunReport.

NaN and infinities are not JSON; they are written as null (series points with no value are
dropped, a chart shows the gap). The loader validates with pydantic so that a hand-edited or
truncated report.json gives "what is wrong and where", exit 2, never a traceback.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

from chaosctl.errors import ScenarioInvalid
from chaosctl.report.model import SCHEMA_VERSION, RunReport

FILENAME = "report.json"


def _clean(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def to_dict(report: RunReport) -> dict:
    raw = asdict(report)
    raw["series"] = [
        {"name": s["name"], "points": [[t, v] for t, v in s["points"] if math.isfinite(t) and math.isfinite(v)]}
        for s in raw["series"]
    ]
    raw["phases"] = [_phase(p) for p in raw["phases"]]
    return {"schema_version": SCHEMA_VERSION, **_clean(raw)}  # type: ignore[dict-item]


def _phase(phase: dict) -> dict:
    """`faults` as rows: each fault's label, times, effect and evidence (schema_version 2;
    version 1 had the labels only)."""
    rows = phase.pop("rows", None) or [{"label": label} for label in phase["faults"]]
    return {**phase, "faults": rows}


def dumps(report: RunReport) -> str:
    return json.dumps(to_dict(report), indent=2, allow_nan=False) + "\n"


def write(report: RunReport, directory: Path) -> Path:
    path = Path(directory) / FILENAME
    path.write_text(dumps(report), encoding="utf-8")
    return path


def load(path: Path) -> RunReport:
    """report.json (or a folder holding it) -> RunReport; ScenarioInvalid naming the problem."""
    from pydantic import TypeAdapter, ValidationError

    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioInvalid(f"{path}: cannot read: {exc.strerror}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioInvalid(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    if not isinstance(raw, dict):
        raise ScenarioInvalid(f"{path}: expected a JSON object")
    version = raw.pop("schema_version", None)
    if version not in (1, SCHEMA_VERSION):
        raise ScenarioInvalid(f"{path}: schema_version {version!r} is not supported (expected {SCHEMA_VERSION})")
    _nulls_to_nan(raw)
    _rows_back(raw)
    try:
        return TypeAdapter(RunReport).validate_python(raw)
    except ValidationError as exc:
        raise ScenarioInvalid(
            [f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        ) from None


_ROW_FLOATS = ("critical_path_share", "critical_path_ms", "self_ms_p50", "self_ms_p99", "p99_ms")


def _nulls_to_nan(raw: dict) -> None:
    """Undo the writer's NaN -> null on the non-optional float fields of bottleneck rows."""
    for rows in (raw.get("bottlenecks") or {}).values():
        for row in rows if isinstance(rows, list) else ():
            if isinstance(row, dict):
                for key in _ROW_FLOATS:
                    if key in row and row[key] is None:
                        row[key] = math.nan


def _rows_back(raw: dict) -> None:
    """Fault rows (version 2) back to PhaseWindow's labels + rows; version 1's labels stay."""
    for phase in raw.get("phases") or ():
        faults = phase.get("faults") if isinstance(phase, dict) else None
        if isinstance(faults, list) and faults and all(isinstance(f, dict) for f in faults):
            if any(set(f) - {"label"} for f in faults):  # labels only: a report without fault times
                phase["rows"] = faults
            phase["faults"] = [f.get("label") for f in faults]
