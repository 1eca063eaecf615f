"""The gateway's resilience mechanisms against the real stack (etcd x3, registry, model
servers, Toxiproxy, Jaeger): one test per mechanism, each failing if the mechanism is gone.

Tests share the session's gateway; each leaves it as found (faults reverted in
`finally`, breakers closed again via `settle`).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any
from concurrent.futures import ThreadPoolExecutor

import pytest

from _gateway_live import Live, new_traceparent, wait_until
from chaosctl.services.gateway.auth import mint_token

pytestmark = pytest.mark.integration

GPUS = ("model-gpu-1", "model-gpu-2")


def test_missing_expired_and_forged_tokens_get_401(live: Live) -> None:
    secret = live.settings.jwt_secret
    expired = mint_token(secret, "late", 60, now=time.time() - 3600)
    forged = mint_token("not-the-stack-secret-0123456789abcdef", "gateway-it", 3600)
    url = f"{live.gateway}/v1/models/fraud-detector/predict"
    assert live.client.post(url, json={"inputs": [[0.5] * 20]}).status_code == 401
    assert live.predict(token=expired).status_code == 401
    assert live.predict(token=forged).status_code == 401
    assert live.predict().status_code == 200


def test_rate_limit_gives_429_with_retry_after(live: Live) -> None:
    token = live.token("gateway-it-ratelimit", rate_per_s=1.0, burst=3.0)
    codes = [live.predict(token=token) for _ in range(6)]
    assert [r.status_code for r in codes[:3]] == [200, 200, 200]
    refused = [r for r in codes if r.status_code == 429]
    assert refused, [r.status_code for r in codes]
    assert int(refused[0].headers["Retry-After"]) >= 1
    assert live.predict().status_code == 200  # another client is not affected


def test_canary_weights_hold_over_many_requests(live: Live) -> None:
    n = 600
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: live.predict(), range(n)))
    assert all(a.status_code == 200 for a in answers), Counter(a.status_code for a in answers)
    versions = Counter(a.json()["version"] for a in answers)
    share = versions["2.4.0"] / n
    # 95/5 split: 5% +- ~3.5 standard deviations at n=600.
    assert 0.02 <= share <= 0.085, versions
    assert all(a.json()["server"] == "model-gpu-2" for a in answers if a.json()["version"] == "2.4.0")


def test_version_header_exact_range_and_404(live: Live) -> None:
    assert live.predict(version="2.4.0").json()["version"] == "2.4.0"
    assert live.predict(version="~2.3").json()["version"] == "2.3.1"
    assert live.predict(version="9.x").status_code == 404
    assert live.predict("image-classifier").json()["model"] == "image-classifier"
    assert live.client.post(f"{live.gateway}/v1/models/no-such-model/predict", json={"inputs": [[1.0]]},
                            headers={"Authorization": f"Bearer {live.token()}"}).status_code == 404  # fmt: skip


def test_one_trace_spans_gateway_registry_and_model_server(live: Live) -> None:
    time.sleep(2.5)  # past the cache's refresh interval: this request asks the registry
    trace_id, parent = new_traceparent()
    resp = live.predict(traceparent=parent)
    assert resp.status_code == 200
    server = resp.json()["server"]

    def complete(spans: list[dict[str, Any]]) -> bool:
        return {"gateway", "registry", server} <= {s["service"] for s in spans} and any(
            s["operationName"] == "POST /v1/models/{model}/predict" and s["service"] == "gateway" for s in spans
        )

    spans = live.jaeger_trace(trace_id, complete)
    by_id = {s["spanID"]: s for s in spans}
    lookup = next(s for s in spans if s["operationName"] == "registry lookup")
    assert lookup["tags"]["cache.result"] == "miss"
    registry_root = next(s for s in spans if s["service"] == "registry" and s["operationName"].startswith("GET "))
    assert by_id[registry_root["references"][0]["spanID"]]["operationName"] == "registry lookup"
    server_root = next(s for s in spans if s["service"] == server and s["operationName"].startswith("POST "))
    assert by_id[server_root["references"][0]["spanID"]]["operationName"] == f"upstream {server}"


def test_saturated_gpu_is_skipped(live: Live) -> None:
    # Only model-gpu-2 serves the canary 2.4.0; with its memory full the gateway must not send it there.
    assert live.predict(version="2.4.0").json()["server"] == "model-gpu-2"
    with live.gpu_full("model-gpu-2"):
        wait_until(lambda: live.predict(version="2.4.0").status_code == 503, 20, "the gateway to see gpu-2 saturated")
        detail = live.predict(version="2.4.0").json()["detail"]
        assert "model-gpu-2" in detail and "saturated" in detail
        served = Counter(live.predict(version="2.x").json()["server"] for _ in range(20))
        assert "model-gpu-2" not in served and served["model-gpu-1"] > 0, served
    wait_until(lambda: live.predict(version="2.4.0").status_code == 200, 20, "gpu-2 to be used again")


def test_every_gpu_saturated_falls_back_to_cpu(live: Live) -> None:
    before = live.metric("chaosctl_gateway_fallbacks_total")
    with live.gpu_full(*GPUS):
        wait_until(lambda: live.predict().json().get("device") == "cpu", 20, "the CPU fallback")
        answers = [live.predict() for _ in range(10)]
        assert {(a.status_code, a.json()["server"]) for a in answers} == {(200, "model-cpu-1")}
    assert live.metric("chaosctl_gateway_fallbacks_total") >= before + 10
    wait_until(lambda: live.predict().json()["device"] == "gpu", 20, "GPU serving again")


def test_breaker_opens_on_failing_server_moves_traffic_and_closes_after_recovery(live: Live) -> None:
    live.settle()
    with live.failing("model-gpu-1"):
        codes = [live.predict("image-classifier").status_code for _ in range(8)]
        assert live.breakers()["model-gpu-1"] == "open"
        assert codes.count(502) <= 3, codes  # at most the 3 failures that trip it
        served = Counter(live.predict("image-classifier").json()["server"] for _ in range(20))
        assert "model-gpu-1" not in served, served
        assert live.metric("chaosctl_gateway_breaker_state", upstream="model-gpu-1") == 2
    # Recovered: after the 30 s cool-down (counted from the trip, not from here) the half-open probe
    # succeeds and closes it. /healthz reports half_open as soon as the cool-down has passed.
    wait_until(lambda: live.breakers()["model-gpu-1"] != "open", 35, "the breaker's cool-down to end", step_s=0.2)
    wait_until(lambda: live.predict("image-classifier").json()["server"] == "model-gpu-1", 10, "the probe to gpu-1")
    assert live.breakers()["model-gpu-1"] == "closed"


def test_latency_beyond_per_try_timeout_is_retried_and_traced(live: Live) -> None:
    live.settle()
    retries_before = live.metric("chaosctl_gateway_retries_total", upstream="model-gpu-1")
    with live.toxic("model-gpu-1", "latency", latency=2500):
        trace_id, parent = new_traceparent()
        resp = live.predict("image-classifier", traceparent=parent)
        assert resp.status_code == 200 and resp.json()["server"] != "model-gpu-1"
    assert live.metric("chaosctl_gateway_retries_total", upstream="model-gpu-1") == retries_before + 1
    server = resp.json()["server"]

    def complete(spans: list[dict[str, Any]]) -> bool:
        names = {(s["service"], s["operationName"]) for s in spans}
        return {("gateway", "POST /v1/models/{model}/predict"), (server, "POST /v1/models/{model}/predict")} <= names

    spans = live.jaeger_trace(trace_id, complete)
    tries = sorted((s["tags"]["attempt"], s["operationName"]) for s in spans if s["operationName"].startswith("upstream "))
    assert tries == [(1, "upstream model-gpu-1"), (2, f"upstream {server}")], tries
    first = next(s for s in spans if s["operationName"] == "upstream model-gpu-1")
    assert 0.9e6 <= first["duration"] <= 2.0e6  # cut by the 1 s per-try timeout, not the 2.5 s toxic
    live.settle()


def test_registry_outage_is_ridden_out_from_cache_within_ttl_then_surfaces(live: Live) -> None:
    live.settle()
    assert live.predict().status_code == 200  # a fresh answer in the cache
    stale_before = live.metric("chaosctl_gateway_registry_cache_total", result="stale")
    with live.toxic("registry", "timeout", timeout=0):  # the registry link swallows everything
        start = time.monotonic()
        codes: list[int] = []
        while time.monotonic() - start < 25:  # well inside the 30 s TTL
            codes.append(live.predict().status_code)
            time.sleep(0.5)
        assert set(codes) == {200}, Counter(codes)
        assert live.metric("chaosctl_gateway_registry_cache_total", result="stale") > stale_before
        assert live.breakers()["registry"] in ("open", "half_open")
        wait_until(lambda: live.predict().status_code == 503, 15, "the outage to surface after the TTL")
        assert "registry" in live.predict().json()["detail"]
    wait_until(lambda: live.predict().status_code == 200, 20, "the registry to be used again")


def test_every_gpu_server_down_falls_back_to_cpu(live: Live, stack) -> None:  # noqa: ANN001
    live.settle()
    before = live.metric("chaosctl_gateway_fallbacks_total")
    try:
        for server in GPUS:
            stack.backend.kill(server)
        # Their registry records live on until the lease expires: the gateway still tries
        # them, fails to connect, retries and falls back; then their breakers open.
        answers = [live.predict() for _ in range(12)]
        assert [a.status_code for a in answers] == [200] * 12
        assert {a.json()["server"] for a in answers} == {"model-cpu-1"}
        assert live.metric("chaosctl_gateway_fallbacks_total") >= before + 12
        assert live.breakers()["model-gpu-1"] == "open" and live.breakers()["model-gpu-2"] == "open"
    finally:
        for server in GPUS:
            if not stack.backend.is_running(server):
                stack.backend.start(server)
    live.settle(timeout_s=90)
    wait_until(lambda: live.predict().json()["device"] == "gpu", 30, "GPU serving again")
