"""Readiness probes against in-memory HTTP answers (httpx.MockTransport)."""

from __future__ import annotations

import httpx

from chaosctl.stack import health
from chaosctl.stack.topology import Topology

TOPO = Topology(21500)


def _client(handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_etcd_member_is_ready_only_with_health_true():
    answers = {"21500": {"health": "true"}, "21501": {"health": "false", "reason": "RAFT NO LEADER"}}

    def handler(req: httpx.Request) -> httpx.Response:
        body = answers[str(req.url.port)]
        return httpx.Response(200 if body["health"] == "true" else 503, json=body)

    with _client(handler) as client:
        assert health.etcd_member(client, "http://127.0.0.1:21500").ok
        probe = health.etcd_member(client, "http://127.0.0.1:21501")
    assert not probe.ok and "RAFT NO LEADER" in probe.reason


def test_a_connection_error_is_not_ready_not_an_exception():
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=req)

    with _client(handler) as client:
        probe = health.http_ok(client, "http://127.0.0.1:21530/healthz")
    assert not probe.ok and "ConnectError" in probe.reason


def _targets(jobs: dict[str, str]) -> dict:
    return {"status": "success", "data": {"activeTargets": [
        {"labels": {"job": job}, "health": h} for job, h in jobs.items()]}}


def test_prometheus_targets_names_the_jobs_not_up_and_ignores_the_run_marker():
    answer = _targets({"gateway": "up", "registry": "down", "chaosctl-run": "down"})
    with _client(lambda req: httpx.Response(200, json=answer)) as client:
        probe = health.prometheus_targets(client, "http://p", ("gateway", "registry", "jaeger"))
        assert not probe.ok and probe.reason.endswith("registry, jaeger")
        assert health.prometheus_targets(client, "http://p", ("gateway",)).ok


def test_jaeger_needs_health_query_and_otlp():
    seen: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(f"{req.method} {req.url.port}{req.url.path}")
        if req.url.path == "/v1/traces":
            return httpx.Response(503)
        return httpx.Response(200, json={})

    with _client(handler) as client:
        probe = health.jaeger(client, TOPO)
    assert not probe.ok and "HTTP 503" in probe.reason
    assert seen == ["GET 21563/status", "GET 21562/api/v3/services", "POST 21561/v1/traces"]


def test_registered_lists_the_model_servers_without_a_record():
    answer = {"services": [{"name": "model-gpu-1", "model": "fraud-detector"}]}
    with _client(lambda req: httpx.Response(200, json=answer)) as client:
        probe = health.registered(client, "http://r", ("model-gpu-1", "model-cpu-1"))
        assert not probe.ok and probe.reason == "not registered yet: model-cpu-1"
        assert health.registered(client, "http://r", ("model-gpu-1",)).ok


def test_proxies_names_the_missing_links():
    answer = {"gateway__registry": {"name": "gateway__registry"}}
    with _client(lambda req: httpx.Response(200, json=answer)) as client:
        probe = health.proxies(client, "http://t", ("gateway__registry", "gateway__model-gpu-1"))
        assert not probe.ok and probe.reason == "proxies missing: gateway__model-gpu-1"
        assert health.proxies(client, "http://t", ("gateway__registry",)).ok


def test_a_warming_service_says_when_to_ask_again_and_nothing_else_does():
    answers = {
        21530: (503, {"status": "warming", "reason": "warming up after model load", "ready_in_s": 0.42}),
        21531: (503, {"status": "warming", "reason": "loading models"}),
        21532: (503, {"status": "warming", "ready_in_s": "soon"}),
        21533: (200, {"status": "ready"}),
    }

    def handler(req: httpx.Request) -> httpx.Response:
        code, body = answers[req.url.port]
        return httpx.Response(code, json=body)

    with _client(handler) as client:
        probes = [health.service(client, f"http://127.0.0.1:{port}/healthz") for port in answers]
    assert [(p.ok, p.retry_in) for p in probes] == [(False, 0.42), (False, None), (False, None), (True, None)]
    assert "warming up after model load" in probes[0].reason

