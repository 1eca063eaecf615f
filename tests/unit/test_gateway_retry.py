"""Retries: only idempotent failures, bounded attempts, full-jitter backoff, spans per try."""

from __future__ import annotations

import random

import httpx
import pytest

from _gateway_fakes import FakeStack, make_harness, raises, record, status
from chaosctl.services.gateway.retry import Outcome, RetryPolicy, outcome_for_status


def test_backoff_is_full_jitter_within_exponential_bounds() -> None:
    policy = RetryPolicy(base_backoff_s=0.1, max_backoff_s=0.5)
    rng = random.Random(5)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (9, 0.5)]:
        draws = [policy.backoff_s(attempt, rng) for _ in range(2000)]
        assert 0.0 <= min(draws) and max(draws) <= ceiling
        assert max(draws) > 0.9 * ceiling and min(draws) < 0.1 * ceiling  # spread over the whole range


@pytest.mark.parametrize(
    ("outcome", "retry"),
    [(Outcome.CONNECT_ERROR, True), (Outcome.TIMEOUT, True), (Outcome.BAD_GATEWAY, True),
     (Outcome.UNAVAILABLE, True), (Outcome.SERVER_ERROR, False), (Outcome.CLIENT_ERROR, False)],  # fmt: skip
)
def test_only_idempotent_failures_are_retried(outcome: Outcome, retry: bool) -> None:
    assert RetryPolicy(max_attempts=3).should_retry(outcome, 1) is retry
    assert RetryPolicy(max_attempts=3).should_retry(outcome, 3) is False


def test_status_classification() -> None:
    assert [outcome_for_status(s) for s in (200, 404, 500, 502, 503, 504)] == [
        Outcome.OK, Outcome.CLIENT_ERROR, Outcome.SERVER_ERROR, Outcome.BAD_GATEWAY, Outcome.UNAVAILABLE,
        Outcome.SERVER_ERROR,
    ]  # fmt: skip


def _stack(first: object) -> FakeStack:
    return FakeStack(records=[record("model-gpu-1"), record("model-gpu-2", queue=2)], servers={"model-gpu-1": first})


def test_timeout_is_retried_on_the_next_server_with_a_span_per_try() -> None:
    h = make_harness(_stack(raises(httpx.ReadTimeout)))
    resp = h.predict()
    assert resp.status_code == 200 and resp.json()["server"] == "model-gpu-2"
    tries = [s for s in h.spans.get_finished_spans() if s.name.startswith("upstream ")]
    assert [(s.name, s.attributes["attempt"]) for s in tries] == [("upstream model-gpu-1", 1), ("upstream model-gpu-2", 2)]
    assert tries[0].attributes["outcome"] == "timeout"
    assert h.metric("chaosctl_gateway_retries_total", {"upstream": "model-gpu-1"}) == 1
    assert len(h.sleeps) == 1 and 0 <= h.sleeps[0] <= RetryPolicy().base_backoff_s


def test_per_try_timeout_cuts_a_slow_answer() -> None:
    import asyncio

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(2.0)
        return httpx.Response(200)

    h = make_harness(_stack(slow), retry=RetryPolicy(per_try_timeout_s=0.05))
    resp = h.predict()
    assert resp.json()["server"] == "model-gpu-2"
    assert h.metric("chaosctl_gateway_upstream_requests_total", {"upstream": "model-gpu-1", "outcome": "timeout", "region": "eu-west-1"}) == 1


@pytest.mark.parametrize("failure", [status(503), status(502), raises(httpx.ConnectError)])
def test_retryable_failures_move_on(failure: object) -> None:
    h = make_harness(_stack(failure))
    assert h.predict().json()["server"] == "model-gpu-2"


def test_500_is_not_retried() -> None:
    h = make_harness(_stack(status(500)))
    resp = h.predict()
    assert resp.status_code == 502
    assert h.stack.upstream_calls() == ["model-gpu-1"]


def test_attempts_are_bounded_and_exhaustion_is_503() -> None:
    stack = FakeStack(records=[record(f"model-gpu-{i}") for i in range(1, 6)],
                      servers={f"model-gpu-{i}": status(503) for i in range(1, 6)})  # fmt: skip
    h = make_harness(stack, retry=RetryPolicy(max_attempts=3))
    resp = h.predict()
    assert resp.status_code == 503
    assert len(stack.upstream_calls()) == 3
    assert len(h.sleeps) == 2


def test_single_server_is_retried_in_place() -> None:
    calls = iter([httpx.Response(503, json={"detail": "warming"})])

    def flaky(request: httpx.Request) -> httpx.Response:
        from _gateway_fakes import ok

        return next(calls, None) or ok(request)

    h = make_harness(FakeStack(records=[record("model-gpu-1")], servers={"model-gpu-1": flaky}))
    assert h.predict().status_code == 200
    assert h.stack.upstream_calls() == ["model-gpu-1", "model-gpu-1"]


def test_retry_budget_caps_retries_to_a_share_of_requests() -> None:
    from _gateway_fakes import FakeClock
    from chaosctl.services.gateway.retry import RetryBudget, RetryBudgetConfig

    clock = FakeClock()
    budget = RetryBudget(RetryBudgetConfig(ratio=0.2, min_per_s=0.0, window_s=10.0), clock)
    for _ in range(100):
        budget.record_request()
    spent = sum(budget.try_spend() for _ in range(50))
    assert spent == 20
    clock.advance(25.0)  # two windows later the past is forgotten
    assert not budget.try_spend()
    budget.record_request()
    budget.record_request()
    budget.record_request()
    budget.record_request()
    budget.record_request()
    assert budget.try_spend() and not budget.try_spend()


def test_gateway_stops_retrying_when_the_budget_is_spent() -> None:
    from chaosctl.services.gateway.retry import RetryBudgetConfig

    stack = FakeStack(records=[record("model-gpu-1"), record("model-gpu-2", queue=2)],
                      servers={"model-gpu-1": status(503), "model-gpu-2": status(503)})  # fmt: skip
    h = make_harness(stack, retry_budget=RetryBudgetConfig(ratio=0.0, min_per_s=0.2, window_s=10.0))
    h.predict()  # 2 retries allowed by the floor (0.2/s over 10 s)
    assert len(stack.upstream_calls()) == 3
    stack.calls.clear()
    assert h.predict().status_code == 503
    assert len(stack.upstream_calls()) == 1
    assert h.metric("chaosctl_gateway_retry_budget_exhausted_total") == 1
