"""The dashboard generator: deterministic, committed, templated, and on the contract's metric names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaosctl.cli import app
from chaosctl.dashboards import all_queries, build_all, panel_queries, render, write_dashboards
from chaosctl.dashboards import queries as q

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "dashboards"
CONTRACTS = (ROOT / "docs" / "contracts.md").read_text()
# Metric names Prometheus or etcd define themselves (not in the contract).
EXTERNAL = {"up", "etcd_server_has_leader"}
FUNCTIONS = {
    "sum", "rate", "max", "min", "count", "histogram_quantile", "increase", "topk", "by", "on",
    "group_left", "bool", "le", "label_values", "clamp_min",
}  # fmt: skip


@pytest.fixture(scope="module")
def boards() -> dict[str, dict]:
    return build_all()


def test_regenerating_gives_the_committed_files(boards):
    committed = sorted(p.name for p in COMMITTED.glob("*.json"))
    assert committed == sorted(boards), "run `chaosctl dashboards` and commit dashboards/"
    for name, data in boards.items():
        assert (COMMITTED / name).read_text() == render(data), f"{name} is stale: run `chaosctl dashboards`"


def test_generation_is_deterministic(tmp_path):
    first = [p.read_bytes() for p in write_dashboards(tmp_path / "a")]
    second = [p.read_bytes() for p in write_dashboards(tmp_path / "b")]
    assert first == second
    assert not any(re.search(rb"20\d\d-\d\d-\d\dT", blob) for blob in first), "no timestamps in the output"


def test_the_four_dashboards_and_their_panels(boards):
    titles = {d["title"] for d in boards.values()}
    assert titles == {"chaosctl / Overview", "chaosctl / Services", "chaosctl / AI & GPU", "chaosctl / Chaos run"}
    uids = [d["uid"] for d in boards.values()]
    assert len(set(uids)) == len(uids)
    for data in boards.values():
        ids = [p["id"] for p in data["panels"]]
        assert ids == list(range(1, len(ids) + 1))
        assert sum(p["type"] != "row" for p in data["panels"]) >= 8


def test_every_panel_queries_the_datasource_variable(boards):
    for name, data in boards.items():
        variables = {v["name"]: v for v in data["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", name
        for panel in data["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == "${datasource}", (name, panel["title"])
            assert panel["targets"], (name, panel["title"])
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


def test_templated_by_service(boards):
    services = {v["name"]: v for v in boards["services.json"]["templating"]["list"]}
    assert services["service"]["query"] == "label_values(chaosctl_http_requests_total, service)"
    assert services["service"]["includeAll"] and services["service"]["allValue"] == ".*"
    used = " ".join(pq.expr for pq in panel_queries("services.json", boards["services.json"]))
    assert '$service' in used and '$upstream' in used
    ai = " ".join(pq.expr for pq in panel_queries("ai-gpu.json", boards["ai-gpu.json"]))
    assert '$server' in ai and '$model' in ai


def _metric_names(expr: str) -> set[str]:
    no_strings = re.sub(r'"[^"]*"', '""', expr)
    no_labels = re.sub(r"\{[^}]*\}", "", no_strings)
    no_ranges = re.sub(r"\[[^\]]*\]", "", no_labels)
    no_groups = re.sub(r"\b(by|on|group_left)\s*\([^)]*\)", "", no_ranges)
    words = set(re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*", no_groups))
    return {w for w in words if w not in FUNCTIONS}


def test_queries_use_only_contract_metric_names():
    for pq in all_queries():
        for metric in _metric_names(pq.expr):
            base = re.sub(r"_(bucket|sum|count)$", "", metric)
            assert metric in EXTERNAL or base in CONTRACTS, f"{pq.dashboard} / {pq.panel}: unknown metric {metric}"


def test_every_expression_is_balanced_and_windowed():
    for pq in all_queries():
        assert pq.expr.count("(") == pq.expr.count(")"), pq
        assert pq.expr.count("{") == pq.expr.count("}"), pq
        if "rate(" in pq.expr:
            assert re.search(r"\[(\$__rate_interval|\d+[smh])\]", pq.expr), pq


def test_thresholds_come_from_the_slos(boards):
    panels = {p["title"]: p for p in boards["overview.json"]["panels"]}
    steps = panels["p99 latency"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1] == {"color": "red", "value": q.SLO_P99_SECONDS}
    assert panels["p99 latency"]["fieldConfig"]["defaults"]["unit"] == "s"
    success = panels["Success ratio"]["fieldConfig"]["defaults"]
    assert success["unit"] == "percentunit" and success["thresholds"]["steps"][-1]["value"] == q.SLO_SUCCESS_RATIO
    assert f"/ {1 - q.SLO_SUCCESS_RATIO:.4g}" in q.burn_rate("5m")


def test_chaos_run_dashboard_shades_phases_and_faults(boards):
    data = boards["chaos-run.json"]
    annotations = {a["name"]: a for a in data["annotations"]["list"]}
    assert "chaosctl_run_phase" in annotations["phases"]["expr"]
    assert "chaosctl_run_fault_active" in annotations["faults"]["expr"]
    assert annotations["faults"]["titleFormat"] == "{{fault}} {{target}}" and annotations["phases"]["step"] == "1s"
    assert annotations["chaosctl events"]["target"]["tags"] == ["chaosctl"]
    kinds = {p["title"]: p["type"] for p in data["panels"]}
    assert kinds["Phases"] == "state-timeline" and kinds["Faults"] == "state-timeline"


def test_variables_become_checkable_queries(boards):
    found = panel_queries("services.json", boards["services.json"])
    var = next(pq for pq in found if pq.panel == "variable: service")
    assert var.expr == "count by (service) (chaosctl_http_requests_total)"


def test_cli_writes_into_out_dir(tmp_path):
    result = CliRunner().invoke(app, ["dashboards", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(build_all())


def test_rare_event_panels_show_zero_instead_of_no_data(boards):
    panels = {p["title"]: p for p in boards["overview.json"]["panels"]}
    expr = panels["Error ratio"]["targets"][0]["expr"]
    assert q.RARE_EVENTS and all(num in " ".join(pq.expr for pq in all_queries()) for num in q.RARE_EVENTS)
    assert " or 0 * " in expr and 'code=~"5.."' in expr
