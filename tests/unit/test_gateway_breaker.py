"""Circuit breaker: state machine on a fake clock, and the gateway moving traffic away."""

from __future__ import annotations

from _gateway_fakes import FakeClock, FakeStack, make_harness, ok, record, status
from chaosctl.services.gateway.breaker import BreakerConfig, BreakerState, CircuitBreaker


def test_opens_after_threshold_consecutive_failures_only() -> None:
    b = CircuitBreaker(BreakerConfig(failure_threshold=3, cooldown_s=30), FakeClock())
    b.record_failure()
    b.record_failure()
    b.record_success()  # the streak is broken
    b.record_failure()
    b.record_failure()
    assert b.state is BreakerState.CLOSED
    b.record_failure()
    assert b.state is BreakerState.OPEN
    assert not b.try_acquire()


def test_half_open_after_cooldown_allows_one_probe_then_closes_or_reopens() -> None:
    clock = FakeClock()
    b = CircuitBreaker(BreakerConfig(3, 30), clock)
    for _ in range(3):
        b.record_failure()
    clock.advance(29.9)
    assert b.state is BreakerState.OPEN
    clock.advance(0.2)
    assert b.state is BreakerState.HALF_OPEN
    assert b.try_acquire()
    assert not b.try_acquire()  # one probe at a time
    b.record_failure()
    assert b.state is BreakerState.OPEN  # a failed probe reopens at once
    clock.advance(30)
    assert b.try_acquire()
    b.record_success()
    assert b.state is BreakerState.CLOSED


def test_gateway_breaker_moves_traffic_away_and_closes_after_recovery() -> None:
    stack = FakeStack(records=[record("model-gpu-1"), record("model-gpu-2", queue=3)],
                      servers={"model-gpu-1": status(500)})  # fmt: skip
    h = make_harness(stack)
    # 500 is not retried (not idempotent-safe), so each request costs gpu-1 one failure.
    assert [h.predict().status_code for _ in range(3)] == [502, 502, 502]
    assert h.metric("chaosctl_gateway_breaker_state", {"upstream": "model-gpu-1"}) == 2
    stack.calls.clear()
    assert all(h.predict().json()["server"] == "model-gpu-2" for _ in range(5))
    assert "model-gpu-1" not in stack.upstream_calls()
    stack.servers["model-gpu-1"] = ok  # recovery
    h.clock.advance(30.0)
    assert h.metric("chaosctl_gateway_breaker_state", {"upstream": "model-gpu-1"}) == 1
    assert h.predict().json()["server"] == "model-gpu-1"  # the half-open probe
    assert h.metric("chaosctl_gateway_breaker_state", {"upstream": "model-gpu-1"}) == 0


def test_half_open_server_is_probed_even_when_ranked_below_a_healthy_one() -> None:
    stack = FakeStack(records=[record("model-gpu-1", queue=5), record("model-gpu-2")],
                      servers={"model-gpu-1": status(503), "model-gpu-2": status(503)})  # fmt: skip
    h = make_harness(stack)
    for _ in range(3):
        h.predict()  # both trip: each request tries gpu-2 then gpu-1 (503 is retried)
    assert h.metric("chaosctl_gateway_breaker_state", {"upstream": "model-gpu-1"}) == 2
    stack.servers.clear()  # both recover
    h.clock.advance(31)
    # Both are half-open: the first request probes the better-ranked gpu-2, the next one
    # probes gpu-1 although the now-closed gpu-2 ranks above it.
    assert [h.predict().json()["server"] for _ in range(2)] == ["model-gpu-2", "model-gpu-1"]
    assert h.metric("chaosctl_gateway_breaker_state", {"upstream": "model-gpu-1"}) == 0
