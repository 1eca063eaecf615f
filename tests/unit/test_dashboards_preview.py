"""The dashboard preview: panels drawn from range queries, phases shaded from the run marker."""

from __future__ import annotations

from typer.testing import CliRunner

from chaosctl.cli import app
from chaosctl.dashboards import build_all, expand
from chaosctl.dashboards import preview as pv


def fake_prometheus(calls: list[str]):
    def query_range(prometheus, expr, start, end, step):
        calls.append(expr)
        if "chaosctl_run_phase == 1" in expr and expr.startswith("max by (phase)"):
            return [pv.Series({"phase": "baseline"}, ((100.0, 1.0), (130.0, 1.0))),
                    pv.Series({"phase": "fault"}, ((132.0, 1.0), (160.0, 1.0)))]
        if "chaosctl_gateway_retries_total" in expr:
            return []  # a panel without data must say so
        return [pv.Series({"code": "200", "job": "gateway"}, ((100.0, 0.1), (130.0, 0.25), (160.0, float("nan"))))]

    return query_range


def test_render_draws_every_panel_with_phases(monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(pv, "query_range", fake_prometheus(calls))
    data = build_all()["services.json"]
    html = pv.render("services.json", data, "http://127.0.0.1:1", 100.0, 160.0)
    titles = [p["title"] for p in data["panels"] if p["type"] != "row"]
    assert html.count("<svg") == len(titles)
    assert all(f'aria-label="{t}' in html for t in ("Retries", "Circuit breakers"))
    assert "baseline" in html and "fault" in html and "no data" in html
    assert sum("chaosctl_gateway_upstream" in c for c in calls) >= 3


def test_legend_formats_and_units():
    assert pv.legend("{{upstream}} p99", {"upstream": "model-gpu-1"}) == "model-gpu-1 p99"
    assert pv.legend("__auto", {"__name__": "x", "job": "gateway"}) == "job=gateway"
    assert pv._fmt("s")(0.25) == "250 ms" and pv._fmt("percentunit")(0.995) == "100%"


def test_expand_puts_every_variable_on_all():
    assert expand('rate(x{service=~"$service"}[$__rate_interval])') == 'rate(x{service=~".*"}[30s])'


def test_cli_preview_writes_html(monkeypatch, tmp_path):
    monkeypatch.setattr(pv, "query_range", fake_prometheus([]))
    result = CliRunner().invoke(app, ["dashboards", "--preview-from", "http://127.0.0.1:1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ai-gpu.html", "chaos-run.html", "overview.html", "services.html"]
