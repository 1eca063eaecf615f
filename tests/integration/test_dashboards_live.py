"""Every PromQL expression of every generated dashboard, run against the real stack's Prometheus.

The test drives the stack through what the panels show: steady load through the
gateway; then real faults through Toxiproxy (both GPU links down -> retries,
open breakers, CPU fallbacks; the CPU and registry links too -> 503s and stale
registry answers); then recovery with one GPU link still down while the queries
run. The run's phase marker (RunTelemetry, the one `chaosctl run` uses) marks a
phase and a fault on `topology.run_marker_port`. Each expression must parse and
return at least one finite sample: a panel that can never show anything is a bug.
"""

from __future__ import annotations

import math
import random
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from chaosctl.dashboards import PanelQuery, all_queries, expand
from chaosctl.dashboards.queries import RARE_EVENTS
from chaosctl.faults.base import FaultRecord
from chaosctl.load.plan import INPUT_WIDTHS
from chaosctl.runner.telemetry import RunTelemetry
from chaosctl.services.gateway.auth import mint_token

pytestmark = pytest.mark.integration

MAX_REQUESTS = 4000  # bound on the load, whatever happens
MAX_LOAD_S = 150.0
SCENARIO = "dashboards-live"


def substitute(expr: str) -> str:
    expanded = expand(expr)
    assert "$" not in expanded, f"unsubstituted variable in {expr}"
    return expanded


@dataclass
class Load:
    """Bounded background load through the gateway, on one thread."""

    gateway: str
    token: str
    stop: threading.Event = field(default_factory=threading.Event)
    codes: dict[int, int] = field(default_factory=dict)
    sent: int = 0

    def run(self) -> None:
        deadline = time.monotonic() + MAX_LOAD_S
        rng = random.Random(7)
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.gateway, headers=headers, timeout=5.0) as client:
            while not self.stop.is_set() and self.sent < MAX_REQUESTS and time.monotonic() < deadline:
                draw = rng.random()  # the pipelined model too: its stage panels need observations
                model = "fraud-detector" if draw < 0.7 else "fraud-pipeline" if draw < 0.8 else "image-classifier"
                rows = [[rng.uniform(-1, 1) for _ in range(INPUT_WIDTHS[model])] for _ in range(rng.randint(1, 3))]
                try:
                    code = client.post(f"/v1/models/{model}/predict", json={"inputs": rows}).status_code
                except httpx.HTTPError:
                    code = 0
                self.sent += 1
                self.codes[code] = self.codes.get(code, 0) + 1
                time.sleep(0.04)  # ~20 requests/s: enough for every rate, light on 2 cores


@contextmanager
def background_load(gateway: str, token: str):
    load = Load(gateway, token)
    thread = threading.Thread(target=load.run, name="dashboards-live-load", daemon=True)
    thread.start()
    try:
        yield load
    finally:
        load.stop.set()
        thread.join(timeout=15)


@contextmanager
def links_down(toxiproxy: str, proxies: list[str]):
    """Disable Toxiproxy proxies (connections refused: a real link outage); always re-enabled."""
    try:
        for name in proxies:
            httpx.post(f"{toxiproxy}/proxies/{name}", json={"enabled": False}, timeout=5).raise_for_status()
        yield
    finally:
        for name in proxies:
            httpx.post(f"{toxiproxy}/proxies/{name}", json={"enabled": True}, timeout=5)


def settle(gateway: str, token: str, limit_s: float = 60.0) -> dict[str, str]:
    """Leave the gateway as found: trickle requests until every breaker is closed again
    (open breakers cool down for 30 s, then a half-open probe closes them)."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + limit_s
    states: dict[str, str] = {}
    with httpx.Client(base_url=gateway, headers=headers, timeout=5.0) as client:
        while time.monotonic() < deadline:
            states = client.get("/healthz").json().get("breakers", {})
            if all(state == "closed" for state in states.values()):
                break
            # Both models, so every upstream gets its probe; fresh inputs, since the gateway's
            # prediction cache answers a repeated one without calling any model server (a
            # fixed input left model-cpu-1 half-open for the whole minute in CI).
            for model in INPUT_WIDTHS:
                inputs = [[random.uniform(-1.0, 1.0) for _ in range(INPUT_WIDTHS[model])]]
                client.post(f"/v1/models/{model}/predict", json={"inputs": inputs})
            time.sleep(0.5)
    return states


def instant(prometheus: str, expr: str) -> tuple[str, list[float]]:
    """(error or "", values) of an instant query at now."""
    resp = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = resp.json()
    if body.get("status") != "success":
        return f"{body.get('errorType')}: {body.get('error')}", []
    values = [float(r["value"][1]) for r in body["data"]["result"]]
    return "", values


def check_all(prometheus: str, queries: list[PanelQuery]) -> list[str]:
    problems = []
    for pq in queries:
        error, values = instant(prometheus, substitute(pq.expr))
        where = f"{pq.dashboard} / {pq.panel}: {pq.expr}"
        if error:
            problems.append(f"does not parse or evaluate ({error}) -- {where}")
        elif not any(math.isfinite(v) for v in values):
            problems.append(f"no data ({len(values)} series, none finite) -- {where}")
    return problems


def test_every_panel_query_returns_data(stack):
    topo = stack.topology
    token = mint_token(stack.settings.jwt_secret, subject="dashboards-live", ttl_s=600)
    link = {dest: topo.link_to(src, dest).proxy_name for src, dest in (
        ("gateway", "model-gpu-1"), ("gateway", "model-gpu-2"), ("gateway", "model-cpu-1"), ("gateway", "registry"),
        ("gateway", "model-gpu-b1"), ("gateway", "model-cpu-b1"))}
    toxiproxy, prometheus = topo.url("toxiproxy"), topo.url("prometheus")
    marker = RunTelemetry(SCENARIO, topo, export=False)
    marker.start()
    fault = FaultRecord("live-1", "process-pause", "link:gateway->model-gpu-1")
    try:
        with background_load(topo.url("gateway"), token) as load:
            with marker.phase("baseline"):
                time.sleep(8)
            with marker.phase("fault"):
                marker.fault_injected(fault, "proxy disabled")
                with links_down(toxiproxy, [link["model-gpu-1"], link["model-gpu-2"]]):
                    time.sleep(5)  # retries, open breakers, CPU fallbacks
                    # Region b's links too: else the gateway fails over there instead of answering 503.
                    with links_down(toxiproxy, [link["model-cpu-1"], link["registry"], link["model-gpu-b1"],
                                                link["model-cpu-b1"]]):
                        time.sleep(6)  # 503s; registry answers served stale from the cache
                with links_down(toxiproxy, [link["model-gpu-1"]]):
                    time.sleep(6)  # recovered elsewhere; scrapes catch up
                    queries = all_queries()
                    # Numerators that panels zero-fill must also have data on their own after the outage.
                    rare = [PanelQuery("queries.py", "rare-event numerator", e) for e in RARE_EVENTS]
                    problems = check_all(prometheus, queries + rare)
        assert len(queries) >= 50 and {pq.dashboard for pq in queries} == {
            "overview.json", "services.json", "ai-gpu.json", "chaos-run.json"}
        assert len(rare) == 5
        print(f"{len(queries)} + {len(rare)} expressions checked; load: {load.sent} requests, codes {load.codes}")
        assert load.sent > 100 and load.codes.get(200, 0) > 50, load.codes
        assert load.codes.get(503, 0) > 0, f"the outage should have produced 503s: {load.codes}"
        assert not problems, "panels without data:\n  " + "\n  ".join(problems)
    finally:
        marker.fault_reverted(fault)
        marker.close()
        states = settle(topo.url("gateway"), token)
    assert all(state == "closed" for state in states.values()), f"breakers did not close again: {states}"


def test_a_broken_expression_is_caught(stack):
    """The check itself can fail: a typo'd metric gives no data, bad syntax an error."""
    prometheus = stack.topology.url("prometheus")
    bad = [
        PanelQuery("x.json", "typo", "sum(rate(chaosctl_http_request_total[30s]))"),
        PanelQuery("x.json", "syntax", "sum(rate(chaosctl_http_requests_total[30s])"),
    ]
    problems = check_all(prometheus, bad)
    assert len(problems) == 2 and "no data" in problems[0] and "does not parse" in problems[1]
