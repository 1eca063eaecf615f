"""What the run engine reads from a System instead of the reference stack: SLI queries and
their scrape jobs (SLO verdicts, abort conditions, charts), the load plan (templates,
auth from an env var), the addresses (SystemTopology), the rehearsal's query checks,
and chaosctl's own Toxiproxy refusing a taken listen port."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from _coverage_fakes import BASELINE, FAULT, ScrapedPrometheus, seconds

from chaosctl.errors import StackUnavailable
from chaosctl.runner.rehearse import abort_query_checks, rehearsal_deps, rehearsal_scenario
from chaosctl.runner.scenario_glue import abort_conditions, load_plan
from chaosctl.scenario.model import SLO, Scenario
from chaosctl.settings import Settings
from chaosctl.stack.topology import Topology
from chaosctl.system.model import System
from chaosctl.system.reference import reference_system
from chaosctl.system.runtime import SystemTopology, sli_jobs, slis_of
from chaosctl.verdict.slo import Evidence, build_expr, evaluate

SYSTEM = {
    "apiVersion": "chaosctl/v1", "kind": "System", "metadata": {"name": "shop"},
    "observability": {"prometheus": {"url": "http://127.0.0.1:9090"}},
    "slis": {"preset": "prometheus-client", "selector": 'job="checkout"'},
    "components": [{"name": "checkout", "kind": "process", "match": "uvicorn checkout", "start": "uvicorn checkout:app",
                    "url": "http://127.0.0.1:8001"}],
    "links": [{"name": "checkout->payments", "listen": "127.0.0.1:18002", "upstream": "127.0.0.1:8002"}],
    "load": {"base_url": "http://127.0.0.1:8001",
             "auth": {"header": "X-Api-Key", "value_env": "SHOP_API_KEY"},
             "requests": [{"name": "buy", "method": "POST", "path": "/buy", "json": {"sku": 1}, "weight": 3},
                          {"name": "browse", "path": "/items", "json_file": "body.json"}]},
}  # fmt: skip
SCENARIO = {
    "apiVersion": "chaosctl/v1", "kind": "Scenario", "metadata": {"name": "shop-chaos"},
    "load": {"users": 4, "spawn_rate": 4, "requests": [{"model": "browse", "weight": 2}]},
    "phases": [{"name": "baseline", "duration": "40s"}, {"name": "fault", "duration": "40s"}],
    "abort": [{"when": "error_ratio > 0.5", "for": "5s"}],
    "slos": [{"name": "p99", "sli": "latency_p99", "objective": "< 300ms"}],
}  # fmt: skip


def _system(**over: object) -> System:
    return System.model_validate({**SYSTEM, **over})


def test_slo_queries_and_coverage_jobs_come_from_the_system() -> None:
    system = _system()
    slo = SLO.model_validate({"name": "p99", "sli": "latency_p99", "objective": "< 300ms"})
    expr = build_expr(slo, 40.0, slis_of(system))
    assert expr == ('histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="checkout"}'
                    '[40000ms])))')
    assert sli_jobs(system) == ("checkout",)
    prom = ScrapedPrometheus(0.12, {"checkout": seconds(BASELINE) | seconds(FAULT, up_until=1050.0)})
    checks = evaluate(prom, [slo], [BASELINE, FAULT], Evidence(slis=slis_of(system), sli_jobs=sli_jobs(system)))
    assert [c.status for c in checks] == ["pass", "fail"]
    assert "partial data" in checks[1].reason and "checkout" in checks[1].reason  # the System's job, not the gateway
    assert expr in prom.queries


def test_the_reference_system_asks_exactly_what_the_engine_asked_before() -> None:
    system = reference_system(Topology())
    assert sli_jobs(system) == ("gateway",)
    for sli in ("latency_p99", "error_ratio", "success_ratio", "throughput"):
        slo = SLO.model_validate({"name": sli, "sli": sli, "objective": "> 0"})
        assert build_expr(slo, 12.5, slis_of(system)) == build_expr(slo, 12.5)
    scenario = Scenario.model_validate(SCENARIO | {"load": {"users": 1, "spawn_rate": 1, "requests": [{"model": "fraud-detector"}]}})
    assert abort_conditions(scenario, system) == abort_conditions(scenario)


def test_abort_conditions_read_the_system_sli_and_its_jobs() -> None:
    (cond,) = abort_conditions(Scenario.model_validate(SCENARIO), _system())
    assert 'http_requests_total{job="checkout",status=~"5.."}' in cond.promql and cond.jobs == ("checkout",)


def test_load_plan_takes_the_system_templates_and_keeps_the_secret_out(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "body.json").write_text('{"page": 2}')
    monkeypatch.setenv("SHOP_API_KEY", "s3cret-value")
    scenario = Scenario.model_validate(SCENARIO)
    plan = load_plan(scenario, 2.0, _system(), tmp_path)
    assert plan.templates == ({"name": "browse", "method": "GET", "path": "/items", "headers": {}, "json": {"page": 2},
                               "weight": 2.0},)  # the scenario names one template and sets its weight
    assert (plan.auth_header, plan.auth_env, plan.auth_mint, plan.auth_prefix) == ("X-Api-Key", "SHOP_API_KEY", False, "")
    written = plan.write(tmp_path / "plan.json").read_text()
    assert "s3cret-value" not in written and json.loads(written)["auth_env"] == "SHOP_API_KEY"
    unnamed = Scenario.model_validate(SCENARIO | {"load": {"users": 1, "spawn_rate": 1, "requests": [{"model": "x"}]}})
    assert [t["name"] for t in load_plan(unnamed, 2.0, _system(), tmp_path).templates] == ["buy", "browse"]
    reference = load_plan(unnamed, 2.0, reference_system(Topology()))
    assert reference.templates == () and reference.auth_mint  # the gateway's predict route, as before


def test_system_topology_answers_with_the_system_addresses() -> None:
    topo = SystemTopology(port_base=24300, system=_system())
    assert topo.url("prometheus") == "http://127.0.0.1:9090" and topo.url("checkout") == "http://127.0.0.1:8001"
    assert topo.run_marker_port == Topology(24300).run_marker_port
    with pytest.raises(KeyError, match="'gateway' has no url in System 'shop'"):
        topo.url("gateway")
    ref = SystemTopology(port_base=24300, system=reference_system(Topology(24300)))
    assert [ref.url(n) for n in ("gateway", "prometheus", "jaeger")] == [Topology(24300).url(n) for n in ("gateway", "prometheus", "jaeger")]


class AnswersSome:
    def __init__(self, answer: dict[str, float]) -> None:
        self.answer = answer

    def query(self, expr: str, at: float) -> float | None:
        return next((v for k, v in self.answer.items() if k in expr), None)


def test_rehearsal_has_no_fault_and_fails_naming_an_abort_query_without_data() -> None:
    from chaosctl.system.fit import system_targets

    scenario = Scenario.model_validate(SCENARIO | {"phases": [
        {"name": "baseline", "duration": "40s"},
        {"name": "fault", "duration": "5m", "faults": [{"type": "process-kill", "target": "checkout"}]}]},
        context={"topology": system_targets(_system(), 24300)})
    rehearsal = rehearsal_scenario(scenario)
    assert rehearsal.name == "shop-chaos-rehearsal" and all(not p.faults for p in rehearsal.phases)
    assert [p.duration for p in rehearsal.phases] == [20.0, 20.0]
    checks = abort_query_checks(rehearsal, [BASELINE, FAULT], AnswersSome({}), _system())
    assert [c.status for c in checks] == ["fail", "fail"]
    assert checks[0].reason.startswith("abort query returned no data at the end of phase 'baseline': ")
    assert 'http_requests_total{job="checkout",status=~"5.."}' in checks[0].reason
    ok = abort_query_checks(rehearsal, [BASELINE], AnswersSome({"http_requests_total": 0.0}), _system())
    assert [c.status for c in ok] == ["pass"]
    assert rehearsal_deps().analyse is not None


def test_chaosctl_toxiproxy_refuses_a_taken_listen_port(tmp_path: Path) -> None:
    from chaosctl.faults.proxyserver import ManagedToxiproxy

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        system = _system(links=[{"name": "checkout->payments", "listen": f"127.0.0.1:{port}", "upstream": "127.0.0.1:8002"}])
        with pytest.raises(StackUnavailable, match=rf"listen address already in use: checkout->payments listen 127.0.0.1:{port}"):
            ManagedToxiproxy.start(Settings(state_dir=tmp_path), system)


def test_trace_root_operations_keep_matching_roots_and_their_detached_subtrees() -> None:
    from types import SimpleNamespace as T

    from chaosctl.runner.analysis import keep_roots

    def root(trace: str, span: str, op: str, sync: bool = True, origin: str = "") -> T:
        return T(trace_id=trace, root=T(span_id=span, operation=op), synchronous=sync, origin=origin)

    a, b = root("t1", "s1", "POST /v1/chat"), root("t2", "s2", "GET /healthz")
    detached = root("t1", "s9", "consume", sync=False, origin="s1")
    assert keep_roots([a, b, detached], ("POST /v1/*",)) == [a, detached]
    assert keep_roots([a, b], ()) == [a, b]
