"""The gateway's prediction cache on the real stack (Redis behind its Toxiproxy link): repeated
inputs hit; a killed Redis or a slow link never fails a request (the cache is bypassed and the
bypass counted); starting Redis again (the kill's revert) brings hits back."""

from __future__ import annotations

import random
import time

import httpx
import pytest

from _gateway_live import Live, wait_until

pytestmark = pytest.mark.integration
CACHE = "prediction-cache"


def _rows() -> list[list[float]]:
    return [[random.uniform(-1.0, 1.0) for _ in range(20)]]


def _cache(resp: httpx.Response) -> str:
    assert resp.status_code == 200, resp.text
    return resp.headers["X-Prediction-Cache"]


def _lookups(live: Live, result: str) -> float:
    return live.metric("chaosctl_gateway_prediction_cache_total", result=result)


def test_repeated_inputs_hit_and_do_not_reach_a_model_server(live: Live) -> None:
    rows = _rows()
    before = {r: _lookups(live, r) for r in ("hit", "miss")}
    upstream_before = sum(live.metric("chaosctl_gateway_upstream_requests_total", upstream=m, outcome="ok")
                          for m in ("model-gpu-1", "model-gpu-2", "model-cpu-1"))  # fmt: skip
    first = live.predict(inputs=rows, version="2.3.1")
    answers = [live.predict(inputs=rows, version="2.3.1") for _ in range(10)]
    assert _cache(first) == "miss" and [_cache(a) for a in answers] == ["hit"] * 10
    assert all(a.json() == first.json() for a in answers)
    assert _lookups(live, "hit") - before["hit"] >= 10 and _lookups(live, "miss") - before["miss"] >= 1
    upstream_after = sum(live.metric("chaosctl_gateway_upstream_requests_total", upstream=m, outcome="ok")
                         for m in ("model-gpu-1", "model-gpu-2", "model-cpu-1"))  # fmt: skip
    assert upstream_after - upstream_before == 1  # one model call for eleven answers
    # The canary's answer for the same inputs is its own, not the cached stable one.
    canary = live.predict(inputs=rows, version="2.4.0")
    assert _cache(canary) == "miss" and canary.json()["version"] == "2.4.0"


def test_killed_redis_is_bypassed_and_its_restart_brings_hits_back(stack, live: Live) -> None:  # noqa: ANN001
    rows = _rows()
    assert _cache(live.predict(inputs=rows)) in ("miss", "hit")
    errors_before = _lookups(live, "error") + _lookups(live, "bypass") + _lookups(live, "timeout")
    stack.backend.kill(CACHE)
    try:
        wait_until(lambda: not stack.backend.is_running(CACHE), 10, "Redis to exit")
        started = time.monotonic()
        results = [_cache(live.predict(inputs=rows)) for _ in range(20)]  # every one a 200 (asserted)
        took = time.monotonic() - started
        assert set(results) <= {"error", "timeout", "bypass"} and "bypass" in results, results
        assert _lookups(live, "error") + _lookups(live, "bypass") + _lookups(live, "timeout") - errors_before >= 20
        assert took < 20 * 1.0, f"20 requests took {took:.1f}s with the cache down"
    finally:
        stack.backend.start(CACHE)  # the kill's revert: a fresh (empty) Redis, ready
    # Empty after the restart: a miss first (once the gateway's breaker lets it try), then hits.
    wait_until(lambda: _cache(live.predict(inputs=rows)) == "hit", 30, "hits again after Redis restarted")


def test_a_slow_cache_link_costs_at_most_the_timeout(live: Live) -> None:
    rows = _rows()
    wait_until(lambda: _cache(live.predict(inputs=rows)) == "hit", 30, "a cached answer")
    timeouts_before = _lookups(live, "timeout")
    with live.toxic(CACHE, "latency", latency=500):
        durations, results = [], []
        for _ in range(10):
            t0 = time.monotonic()
            results.append(_cache(live.predict(inputs=rows)))
            durations.append(time.monotonic() - t0)
        assert "hit" not in results and set(results) <= {"timeout", "error", "bypass"}, results
        assert _lookups(live, "timeout") > timeouts_before
        # Never the toxic's 500 ms: the lookup gives up after its short timeout.
        assert sorted(durations)[len(durations) // 2] < 0.4, durations
    wait_until(lambda: _cache(live.predict(inputs=rows)) == "hit", 30, "hits again once the link is healthy")
