"""Request-scoped faults on the real reference stack (issue 12 part 4).

A request-abort on the canary version only (fraud-detector 2.4.0, 50%, 503) at the
gateway: errors appear only for requests routed to the canary, checked per version in
the clients' answers, in Prometheus (the gateway's chaosctl_request_faults_total and
chaosctl_gateway_routed_requests_total, per version) and in Jaeger (the gateway's
route spans: every error span carries version 2.4.0 and the request-fault event
attributes; no 2.3.1 span is an error). After the revert no rule is left and the
canary answers again. The same rule on a model server (model-gpu-2) aborts only its
2.4.0 calls. Then the shipped scenario canary-abort.yaml (shortened) PASSes with the
fault's effect confirmed. Last, the HTTP fault proxy chaosctl runs on a link (here the real
Toxiproxy link gateway->model-gpu-2): only the canary's calls are aborted, and
`chaosctl recover` (from the journal, as after a crash) points the link back and stops it.

Command: CHAOSCTL_TEST_PORT_BASE=20000 .venv/bin/python -m pytest -s -p no:cacheprovider \
    --basetemp=/tmp/h1-pt tests/integration/test_request_faults_live.py
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import yaml
from _run_live import chaosctl, wait_serving

from chaosctl.errors import FaultError
from chaosctl.faults.base import FaultContext
from chaosctl.faults.catalogue import build_fault
from chaosctl.faults.journal import Journal
from chaosctl.observe.jaeger import Jaeger
from chaosctl.observe.prometheus import Prometheus
from chaosctl.runner.recover import recover_faults
from chaosctl.scenario.faults import RequestAbort, RequestDelay
from chaosctl.services.gateway.auth import mint_token

pytestmark = pytest.mark.integration

SHIPPED = Path(__file__).resolve().parents[2] / "scenarios" / "canary-abort.yaml"
PREDICT = "/v1/models/fraud-detector/predict"
ROUTE = "POST /v1/models/{model}/predict"
STABLE, CANARY = "2.3.1", "2.4.0"


def _rows() -> list[list[float]]:
    # Fresh inputs every time: the gateway's prediction cache would answer a repeated one.
    return [[random.uniform(-2.0, 2.0) for _ in range(20)]]


def _send(stack, pins: list[str | None]) -> list[tuple[str | None, int, str, str]]:
    """(pinned version, status, answering version or '', X-Request-Fault) per request."""
    token = mint_token(stack.settings.jwt_secret, "request-faults-it", 600, rate_per_s=1000.0, burst=1000.0)
    out = []
    with httpx.Client(base_url=stack.topology.url("gateway"), timeout=10) as client:
        for pin in pins:
            headers = {"Authorization": f"Bearer {token}"} | ({"X-Model-Version": pin} if pin else {})
            resp = client.post(PREDICT, json={"inputs": _rows()}, headers=headers)
            version = resp.json().get("version", "") if resp.status_code == 200 else ""
            out.append((pin, resp.status_code, version, resp.headers.get("X-Request-Fault", "")))
    return out


def _prom_value(prom: Prometheus, expr: str) -> float:
    value = prom.query(expr, time.time())
    return 0.0 if value is None else value


def _wait_metric(prom: Prometheus, expr: str, want: float, timeout: float = 30.0) -> float:
    deadline = time.monotonic() + timeout
    while True:
        got = _prom_value(prom, expr)
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def _routed(prom: Prometheus, version: str, code: str) -> str:
    return (f'sum(chaosctl_gateway_routed_requests_total{{job="gateway",model="fraud-detector",'
            f'version="{version}",code=~"{code}"}}) or vector(0)')


def _route_spans(stack, start: float, end: float, want: int, timeout: float = 60.0) -> list:
    """The gateway's predict route spans in [start, end], once at least `want` are in Jaeger."""
    jaeger = Jaeger(stack.topology.url("jaeger"))
    deadline = time.monotonic() + timeout
    while True:
        spans = [s for s in jaeger.fetch("gateway", start, end).spans if s.operation == ROUTE and not s.parent_id]
        if len(spans) >= want or time.monotonic() > deadline:
            return spans
        time.sleep(1.0)


def test_canary_only_abort_at_the_gateway_errors_only_the_canary(stack):
    wait_serving(stack.settings, stack.topology)
    prom = Prometheus(stack.topology.url("prometheus"))
    faulted = 'sum(chaosctl_request_faults_total{job="gateway",version="%s"}) or vector(0)'
    before = {v: _prom_value(prom, faulted % v) for v in (STABLE, CANARY)}
    stable_5xx_before = _prom_value(prom, _routed(prom, STABLE, "5.."))
    ctx = FaultContext.for_settings(stack.settings)
    spec = RequestAbort(type="request-abort", target="gateway", status=503, percent=0.5,
                        match={"model": "fraud-detector", "version": CANARY})  # fmt: skip
    fault = build_fault(spec, ctx)
    start = time.time()
    try:
        fault.inject()
        print("verify:", fault.verify())
        pins: list[str | None] = [CANARY] * 160 + [STABLE] * 160 + [None] * 320
        random.Random(5).shuffle(pins)
        answers = _send(stack, pins)
    finally:
        fault.revert()
        ctx.close()
    end = time.time()

    by_pin = {p: Counter(code for q, code, _, _ in answers if q == p) for p in (CANARY, STABLE, None)}
    aborted = [a for a in answers if a[1] != 200]
    canary_share = by_pin[CANARY][503] / sum(by_pin[CANARY].values())
    unpinned_canary = sum(1 for p, code, v, _ in answers if p is None and code == 200 and v == CANARY)
    print(f"pinned {CANARY}: {dict(by_pin[CANARY])} ({canary_share:.0%} aborted); pinned {STABLE}: "
          f"{dict(by_pin[STABLE])}; unpinned: {dict(by_pin[None])} ({unpinned_canary} answered by {CANARY})")
    assert by_pin[STABLE] == Counter({200: 160})  # stable: not one error
    assert 0.3 <= canary_share <= 0.7  # 50% of 160, binomial: far inside
    assert all(code == 503 and hdr.startswith("abort; rule=") for _, code, _, hdr in aborted)
    assert all(v == STABLE for p, code, v, _ in answers if p is None and code == 200 and v != CANARY)

    # Prometheus: the faults counter rose by exactly the aborts, for the canary only; stable's 5xx did not move.
    want = before[CANARY] + len(aborted)
    assert _wait_metric(prom, faulted % CANARY, want) == want
    assert _prom_value(prom, faulted % STABLE) == before[STABLE]
    assert _prom_value(prom, _routed(prom, STABLE, "5..")) == stable_5xx_before
    print(f"prometheus: chaosctl_request_faults_total{{version={CANARY}}} +{len(aborted)}, "
          f"{{version={STABLE}}} +0; routed 5xx of {STABLE} +0")

    # Jaeger: every error span of the gateway's route is a faulted canary request; no stable span failed.
    spans = _route_spans(stack, start, end, len(answers))
    errors = [s for s in spans if s.error]
    attrs = [dict(s.attributes) for s in errors]
    print(f"jaeger: {len(spans)} route spans, {len(errors)} errors, versions of errors: "
          f"{Counter(a.get('version') for a in attrs)}")
    assert len(spans) >= len(answers)
    assert len(errors) == len(aborted)
    assert all(a.get("version") == CANARY and a.get("request_fault.action") == "abort" for a in attrs)
    assert not any(s.error for s in spans if dict(s.attributes).get("version") == STABLE)

    # After the revert: no rule left, the canary answers.
    with pytest.raises(FaultError, match="not active"):
        build_fault(spec, FaultContext.for_settings(stack.settings)).verify()
    rules = httpx.get(stack.topology.url("gateway") + "/admin/request-faults",
                      headers={"X-Admin-Token": stack.settings.admin_token}).json()  # fmt: skip
    assert rules == {"rules": []}
    again = _send(stack, [CANARY] * 40)
    assert Counter(code for _, code, _, _ in again) == Counter({200: 40})


def test_model_server_rule_aborts_only_its_canary_calls_and_needs_the_admin_token(stack):
    url = stack.topology.url("model-gpu-2")
    assert httpx.put(url + "/admin/request-faults/x", json={"action": "abort"}).status_code == 401
    ctx = FaultContext.for_settings(stack.settings)
    fault = build_fault(RequestAbort(type="request-abort", target="model-gpu-2", match={"version": "~2.4"}), ctx)
    auth = {"Authorization": f"Bearer {stack.settings.service_token}"}
    try:
        fault.inject()
        codes = {v: [httpx.post(url + PREDICT, json={"inputs": _rows(), "version": v}, headers=auth, timeout=10).status_code
                     for _ in range(10)] for v in (CANARY, STABLE)}  # fmt: skip
    finally:
        fault.revert()
        ctx.close()
    print("model-gpu-2 direct:", {v: Counter(c) for v, c in codes.items()})
    assert codes == {CANARY: [503] * 10, STABLE: [200] * 10}
    assert httpx.post(url + PREDICT, json={"inputs": _rows(), "version": CANARY}, headers=auth, timeout=10).status_code == 200

    delay = build_fault(RequestDelay(type="request-delay", target="model-gpu-2", delay="400ms", match={"version": CANARY}), ctx)
    took: dict[str, list[float]] = {CANARY: [], STABLE: []}
    try:
        delay.inject()
        for version in [CANARY, STABLE] * 5:
            t0 = time.perf_counter()
            resp = httpx.post(url + PREDICT, json={"inputs": _rows(), "version": version}, headers=auth, timeout=10)
            took[version].append(time.perf_counter() - t0)
            assert resp.status_code == 200
    finally:
        delay.revert()
        ctx.close()
    print("request-delay 400ms on 2.4.0, seconds:", {v: [round(t, 3) for t in ts] for v, ts in took.items()})
    assert min(took[CANARY]) >= 0.4 and sorted(took[STABLE])[2] < 0.4  # the median stable call is not held


def test_shipped_canary_abort_scenario_passes_with_its_effect_confirmed(stack, tmp_path):
    raw = yaml.safe_load(SHIPPED.read_text())
    for phase, seconds in zip(raw["phases"], ("12s", "20s", "12s")):
        phase["duration"] = seconds
    scenario = tmp_path / "canary-abort.yaml"
    scenario.write_text(yaml.safe_dump(raw, sort_keys=False))
    wait_serving(stack.settings, stack.topology)
    out = tmp_path / "report"
    res = chaosctl(stack.settings, "run", str(scenario), "--report-dir", str(out), timeout=300)
    report = json.loads((out / "report.json").read_text())
    checks = {(c["name"], c["phase"]): c for c in report["checks"]}
    for (name, phase), c in sorted(checks.items()):
        print(f"{phase:>13} {name}: {c['status']} observed {c['observed']} ({c['objective']})")
    row = next(p for p in report["phases"] if p["name"] == "canary-abort")["faults"][0]
    print("effect:", row["effect"], row["evidence"])
    assert res.returncode == 0 and report["verdict"] == "pass", res.stdout + res.stderr
    assert row["effect"] == "confirmed"
    assert Journal(stack.settings.journal_path).pending() == []
    rules = httpx.get(stack.topology.url("gateway") + "/admin/request-faults",
                      headers={"X-Admin-Token": stack.settings.admin_token}).json()  # fmt: skip
    assert rules == {"rules": []}


def test_http_fault_proxy_on_a_link_faults_only_the_canary_and_leaves_nothing(stack):
    """The fault proxy chaosctl runs for a System link, here on the reference stack's real
    Toxiproxy link gateway->model-gpu-2 (the canary's only server); runs last: the canary's
    breaker opens under it and the test waits until the canary answers again."""
    from chaosctl.faults.link import ToxiproxyClient
    from chaosctl.faults.pidcheck import alive

    wait_serving(stack.settings, stack.topology)
    link = "link:gateway->model-gpu-2"
    ctx = FaultContext.for_settings(stack.settings)
    proxy = ctx.toxiproxy_for(ctx.link(link))[1]
    toxiproxy = ToxiproxyClient(stack.topology.url("toxiproxy"))  # our own: ctx.close() closes the fault's
    original = toxiproxy.upstream(proxy)
    fault = build_fault(RequestAbort(type="request-abort", target=link, status=503, match={"version": CANARY}), ctx)
    journal = Journal(stack.settings.journal_path)
    journal.record_inject(fault.record)  # as the run does, so that `recover` finds it
    try:
        fault.inject()
        print("verify:", fault.verify())
        state = fault._state()  # type: ignore[attr-defined]
        assert state is not None and toxiproxy.upstream(proxy) == f"127.0.0.1:{state['port']}"
        answers = _send(stack, [CANARY] * 20 + [STABLE] * 40)
        seen = httpx.get(f"http://127.0.0.1:{state['port']}/__chaosctl__/request-faults",
                         headers={"X-Admin-Token": stack.settings.admin_token}).json()["faulted"]  # fmt: skip
        print("after traffic:", fault.verify())
    finally:
        try:  # as after a SIGKILLed run: `chaosctl recover` rebuilds the fault from the journal and its state file
            assert recover_faults(stack.settings, echo=print) == 1  # the request fault; a failed revert raises
        finally:
            fault.revert()  # idempotent: nothing left to do when recover did it
            ctx.close()
    assert journal.pending() == []
    by_pin = {p: Counter(code for q, code, _, _ in answers if q == p) for p in (CANARY, STABLE)}
    print(f"through the fault proxy: pinned {CANARY}: {dict(by_pin[CANARY])}; pinned {STABLE}: {dict(by_pin[STABLE])}; "
          f"proxy counted {seen}")
    assert by_pin[STABLE] == Counter({200: 40})
    assert 200 not in by_pin[CANARY]
    assert {c["version"] for c in seen} == {CANARY} and sum(c["count"] for c in seen) >= 1
    assert toxiproxy.upstream(proxy) == original  # the link points at the callee again
    assert not alive(int(state["pid"]), float(state["started"]))
    assert not list(stack.settings.state_dir.glob("httpproxy-*.json"))
    deadline = time.monotonic() + 90  # the canary's breaker (30 s cooldown) lets it back in
    while _send(stack, [CANARY])[0][1] != 200:
        assert time.monotonic() < deadline, "the canary did not answer again after the revert"
        time.sleep(1.0)
    toxiproxy.close()


SYSTEM = """\
apiVersion: chaosctl/v1
kind: System
metadata: {{name: tiny-http}}
observability:
  prometheus: {{url: "http://127.0.0.1:9"}}
slis: {{preset: prometheus-client, selector: 'job="api"'}}
components:
  - {{name: api, kind: process, match: 'never-started-{backend}'}}
  - {{name: backend, kind: process, match: 'http\\\\.server {backend} '}}
links:
  - {{name: api->backend, listen: "127.0.0.1:{listen}", upstream: "127.0.0.1:{backend}"}}
load:
  base_url: "http://127.0.0.1:{listen}"
  requests: [{{name: root, method: GET, path: /ok.txt}}]
"""
SCENARIO = """\
apiVersion: chaosctl/v1
kind: Scenario
metadata: {{name: tiny-request-fault}}
load: {{users: 1, spawn_rate: 1, requests: [{{model: root}}]}}
phases:
  - name: fault
    duration: 5s
    faults: [{{type: request-abort, target: "{target}", status: 503, match: {{path: /fail}}}}]
steady_state:
  - {{name: up, probe: promql, query: 'vector(1)', condition: ">= 1"}}
"""


def test_request_abort_on_a_users_link_through_chaosctls_own_toxiproxy(tmp_path):
    """A user's System: a `python -m http.server` backend behind a link chaosctl proxies with
    its own toxiproxy-server (ports: CHAOSCTL_TEST_PORT_BASE + 1800, 1801). Only /fail* is
    aborted; everything else passes through; after the revert nothing is in the path."""
    from conftest import PORT_BASE, skip_unless_binaries, stack_settings

    from chaosctl.errors import ChaosctlError
    from chaosctl.system.fit import load_scenario_for_system
    from chaosctl.system.load import load_system

    backend_port, listen = PORT_BASE + 1800, PORT_BASE + 1801
    settings = stack_settings(tmp_path / "state", PORT_BASE + 1800)
    skip_unless_binaries(settings)
    system_path = tmp_path / "tiny.system.yaml"
    system_path.write_text(SYSTEM.format(backend=backend_port, listen=listen))
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO.format(target="backend"))
    with pytest.raises(ChaosctlError, match="request-abort cannot reach 'backend'|unknown request-fault target 'backend'"):
        load_scenario_for_system(scenario, system_path, settings.port_base)  # a process takes them on its links only
    scenario.write_text(SCENARIO.format(target="link:api->backend"))
    spec = load_scenario_for_system(scenario, system_path, settings.port_base)[0].phases[0].faults[0]
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "ok.txt").write_text("fine\n")
    (tmp_path / "www" / "fail.txt").write_text("would be fine\n")
    backend = subprocess.Popen([sys.executable, "-m", "http.server", str(backend_port), "--bind", "127.0.0.1"],
                               cwd=tmp_path / "www", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    ctx = FaultContext(settings, ctx_topology(settings), backend_factory=lambda: None,
                       system=load_system(system_path), system_path=system_path)  # fmt: skip
    try:
        _wait_http(f"http://127.0.0.1:{backend_port}/ok.txt")
        ctx.start_links()
        via = f"http://127.0.0.1:{listen}"
        assert httpx.get(via + "/fail.txt").status_code == 200
        fault = build_fault(spec, ctx)
        try:
            fault.inject()
            print("verify:", fault.verify())
            failed, ok = httpx.get(via + "/fail.txt"), httpx.get(via + "/ok.txt")
            print("through the link:", failed.status_code, failed.headers.get("X-Request-Fault"), "/", ok.status_code, ok.text.strip())
            assert failed.status_code == 503 and failed.headers["X-Request-Fault"].startswith("abort; rule=")
            assert ok.status_code == 200 and ok.text == "fine\n"
        finally:
            fault.revert()
        assert httpx.get(via + "/fail.txt").text == "would be fine\n"  # nothing left in the path
        assert not list(settings.state_dir.glob("httpproxy-*.json"))  # state and rules files gone (the log stays)
    finally:
        ctx.close()  # stops chaosctl's toxiproxy-server
        backend.terminate()
        backend.wait(10)


def ctx_topology(settings):  # noqa: ANN001, ANN201
    from chaosctl.stack.topology import Topology

    return Topology(settings.port_base)


def _wait_http(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer"
        time.sleep(0.1)
