"""Per-client token buckets: 429 with Retry-After, refill over time, clients independent."""

from __future__ import annotations

from _gateway_fakes import FakeClock, FakeStack, make_harness, record
from chaosctl.services.gateway.ratelimit import RateLimitConfig, RateLimiter


def test_bucket_allows_burst_then_refuses_with_retry_after_then_refills() -> None:
    clock = FakeClock()
    rl = RateLimiter(RateLimitConfig(rate_per_s=2, burst=3), clock)
    assert [rl.check("a").allowed for _ in range(4)] == [True, True, True, False]
    refused = rl.check("a")
    assert not refused.allowed and 0 < refused.retry_after_s <= 0.5 and refused.retry_after_header == "1"
    assert rl.check("b").allowed  # another client has its own bucket
    clock.advance(0.5)
    assert rl.check("a").allowed
    assert not rl.check("a").allowed


def test_token_plan_overrides_default() -> None:
    rl = RateLimiter(RateLimitConfig(rate_per_s=1000, burst=1000), FakeClock())
    assert [rl.check("slow", 1.0, 2.0).allowed for _ in range(3)] == [True, True, False]


def test_bucket_memory_is_bounded() -> None:
    clock = FakeClock()
    rl = RateLimiter(RateLimitConfig(max_clients=100), clock)
    for i in range(1000):
        clock.advance(0.001)
        rl.check(f"c{i}")
    assert len(rl._buckets) <= 100


def test_gateway_answers_429_with_retry_after_per_subject() -> None:
    h = make_harness(FakeStack(records=[record("model-gpu-1")]), rate_limit=RateLimitConfig(rate_per_s=1, burst=2))
    codes = [h.predict(subject="greedy").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    refused = h.predict(subject="greedy")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert h.predict(subject="polite").status_code == 200
    assert h.metric("chaosctl_gateway_rate_limited_total") == 2
    h.clock.advance(1.0)
    assert h.predict(subject="greedy").status_code == 200
