"""Grafana dashboards as code: generated into `dashboards/` by `chaosctl dashboards`.

Output is deterministic (sorted keys, panel ids by position, no timestamps) so
that a test can prove the committed JSON is what the code generates, and the
live test can pull every PromQL expression out of the JSON (`panel_queries`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PanelQuery:
    """One PromQL expression of a dashboard, and where it comes from."""

    dashboard: str  # file name
    panel: str  # panel title, or "annotation: NAME" / "variable: NAME"
    expr: str


def default_out_dir() -> Path:
    """The checkout's dashboards/ when run from one; installed from a wheel: ./dashboards."""
    from chaosctl.settings import project_root

    root = project_root()
    return root / "dashboards" if (root / "pyproject.toml").is_file() else Path("dashboards")


def build_all() -> dict[str, dict]:
    """File name -> dashboard JSON (as plain data), for every dashboard."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    from chaosctl.dashboards.boards import ANNOTATION_EXTRAS, DASHBOARDS

    out: dict[str, dict] = {}
    for name, make in DASHBOARDS.items():
        data = json.loads(json.dumps(make().build(), cls=JSONEncoder))
        for i, panel in enumerate(data.get("panels", []), start=1):
            panel["id"] = i  # stable ids: Grafana needs them unique, the SDK leaves them unset
        for ann in data.get("annotations", {}).get("list", []):
            ann.update(ANNOTATION_EXTRAS.get(ann.get("name"), {}))
        out[name] = data
    return out


def render(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_dashboards(out_dir: Path) -> list[Path]:
    """Write every dashboard into `out_dir` (created if needed); returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in build_all().items():
        path = out_dir / name
        path.write_text(render(data), encoding="utf-8")
        written.append(path)
    return written


_LABEL_VALUES = re.compile(r"^label_values\((?P<metric>[^,]+),\s*(?P<label>\w+)\)$")


def _variable_expr(query: str) -> str:
    """A `label_values(metric, label)` variable as the PromQL that proves it has values."""
    match = _LABEL_VALUES.match(query.strip())
    if match is None:
        return query
    return f"count by ({match['label']}) ({match['metric']})"


def panel_queries(name: str, data: dict) -> list[PanelQuery]:
    """Every PromQL expression in one dashboard: panel targets, annotations, variables."""
    found = [
        PanelQuery(name, panel.get("title", ""), target["expr"])
        for panel in data.get("panels", [])
        for target in panel.get("targets", [])
        if target.get("expr")
    ]
    for ann in data.get("annotations", {}).get("list", []):
        if ann.get("expr"):
            found.append(PanelQuery(name, f"annotation: {ann['name']}", ann["expr"]))
    for var in data.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            found.append(PanelQuery(name, f"variable: {var['name']}", _variable_expr(str(var["query"]))))
    return found


# What Grafana substitutes, with values that fit a 1 s scrape interval (live test, preview).
BUILTINS = {"$__rate_interval": "30s", "$__range": "5m", "$__interval": "5s"}
MULTI_VARIABLES = ("$datasource", "$service", "$upstream", "$server", "$model", "$scenario")


def expand(expr: str, builtins: dict[str, str] | None = None) -> str:
    """An expression as Prometheus would get it from Grafana with every variable on "All" (`.*`)."""
    for name, value in (builtins or BUILTINS).items():
        expr = expr.replace(name, value)
    for name in MULTI_VARIABLES:
        expr = expr.replace(name, ".*")
    return expr


def all_queries() -> list[PanelQuery]:
    return [pq for name, data in build_all().items() for pq in panel_queries(name, data)]
