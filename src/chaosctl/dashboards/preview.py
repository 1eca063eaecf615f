"""A static preview of a generated dashboard, drawn from a live Prometheus without Grafana.

Every panel's expressions run as range queries over the window; each becomes an
inline SVG time chart (the report's chart code), shaded with the phases of the
run marker (`chaosctl_run_phase`), as the *Chaos run* dashboard shades them. It
is a look at what the dashboards show where Grafana is not installed (CI, this
machine), not a replacement for Grafana.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from html import escape
from pathlib import Path

import httpx

from chaosctl.dashboards import build_all, expand
from chaosctl.report.charts import PALETTE, Line, time_chart
from chaosctl.verdict.model import PhaseWindow

MAX_SERIES = 6  # per panel: the chart's legend has room for about this many
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: tuple[tuple[float, float], ...]


def query_range(prometheus: str, expr: str, start: float, end: float, step: float) -> list[Series]:
    params = {"query": expand(expr), "start": start, "end": end, "step": step}
    body = httpx.get(f"{prometheus}/api/v1/query_range", params=params, timeout=30).json()
    if body.get("status") != "success":
        return []
    return [
        Series(r["metric"], tuple((float(t), float(v)) for t, v in r["values"]))
        for r in body["data"]["result"]
    ]


def legend(fmt: str, labels: dict[str, str]) -> str:
    if not fmt or fmt == "__auto":
        return ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__") or "value"
    return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), fmt)


def phases(prometheus: str, start: float, end: float, step: float) -> list[PhaseWindow]:
    """Phase windows from the run marker: first to last instant each phase was 1."""
    found = query_range(prometheus, "max by (phase) (chaosctl_run_phase == 1)", start, end, step)
    windows = [PhaseWindow(s.labels.get("phase", "?"), s.points[0][0], s.points[-1][0] + step)
               for s in found if s.points]
    return sorted(windows, key=lambda w: w.start)


def _fmt(unit: str):
    if unit == "s":
        return lambda v: f"{v * 1000:.0f} ms"
    if unit == "percentunit":
        return lambda v: f"{v:.0%}"
    if unit == "bytes":
        return lambda v: f"{v / 2**30:.1f} GiB"
    return lambda v: f"{v:.3g}"


def panel_svg(prometheus: str, panel: dict, window: tuple[float, float, float], shading: list[PhaseWindow]) -> str:
    start, end, step = window
    lines: list[Line] = []
    for target in panel.get("targets", []):
        for series in query_range(prometheus, target["expr"], start, end, step):
            finite = [p for p in series.points if math.isfinite(p[1])]
            if finite:
                lines.append(Line(legend(target.get("legendFormat", ""), series.labels), "", tuple(finite)))
    lines.sort(key=lambda ln: -max(v for _, v in ln.points))
    shown = [Line(ln.label[:18], PALETTE[i % len(PALETTE)], ln.points) for i, ln in enumerate(lines[:MAX_SERIES])]
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
    extra = f" (+{len(lines) - MAX_SERIES} more)" if len(lines) > MAX_SERIES else ""
    # An invisible, last series spanning the window, so every panel shares one time axis.
    shown.append(Line("", "none", ((start, math.nan), (end, math.nan))))
    return time_chart(panel.get("title", "") + extra, shown, shading, _fmt(unit))


def render(name: str, data: dict, prometheus: str, start: float, end: float, step: float = 2.0) -> str:
    """One dashboard as a self-contained HTML page."""
    shading = phases(prometheus, start, end, step)
    cells = []
    for panel in data.get("panels", []):
        if panel.get("type") == "row":
            cells.append(f'<h2 class="row">{escape(panel.get("title", ""))}</h2>')
            continue
        wide = panel.get("gridPos", {}).get("w", 12) > 12
        svg = panel_svg(prometheus, panel, (start, end, step), shading)
        cells.append(f'<div class="panel{" wide" if wide else ""}">{svg}</div>')
    return (
        "<!doctype html><meta charset='utf-8'>"
        f"<title>{escape(data.get('title', name))}</title>"
        "<style>body{font-family:sans-serif;margin:16px;background:#f4f5f5}"
        ".grid{display:grid;grid-template-columns:1fr 1fr;gap:10px}"
        ".panel{background:#fff;border:1px solid #ddd;padding:4px}.panel svg{width:100%;height:auto}.wide svg{height:300px}"
        ".wide,.row{grid-column:1/3}.row{margin:8px 0 0;font-size:16px;color:#333}</style>"
        f"<h1>{escape(data.get('title', name))}</h1><p>preview from {escape(prometheus)}, "
        f"{(end - start) / 60:.0f} min; all variables on All</p>"
        f"<div class='grid'>{''.join(cells)}</div>"
    )


def write_previews(out_dir: Path, prometheus: str, seconds: float) -> list[Path]:
    """Draw every dashboard from `prometheus` over the last `seconds` into `out_dir/NAME.html`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    end = time.time()
    written = []
    for name, data in build_all().items():
        path = out_dir / name.replace(".json", ".html")
        path.write_text(render(name, data, prometheus.rstrip("/"), end - seconds, end), encoding="utf-8")
        written.append(path)
    return written
