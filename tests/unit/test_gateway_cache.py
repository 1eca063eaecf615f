"""Registry cache: hit within refresh, miss after, stale serve during an outage within TTL, 503 after."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from _gateway_fakes import FakeClock, FakeStack, make_harness, record, status
from chaosctl.services.gateway.cache import CacheConfig, RegistryUnavailable, TTLCache


def _cache(answers: list[object], clock: FakeClock) -> TTLCache[str]:
    async def fetch(key: str) -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return f"{key}:{answer}"

    return TTLCache(fetch, CacheConfig(refresh_s=2, ttl_s=30), clock)


def test_hit_miss_stale_and_expiry() -> None:
    clock = FakeClock()
    cache = _cache(["v1", "v2", OSError("down"), OSError("down")], clock)
    get = lambda: asyncio.run(cache.get("m"))  # noqa: E731
    first = get()
    assert (first.value, first.result) == ("m:v1", "miss")
    clock.advance(1.0)
    again = get()
    assert (again.value, again.result) == ("m:v1", "hit")
    clock.advance(1.5)
    fresh = get()
    assert (fresh.value, fresh.result) == ("m:v2", "miss")
    clock.advance(29.0)
    stale = get()
    assert (stale.value, stale.result, stale.age_s) == ("m:v2", "stale", 29.0)
    clock.advance(1.5)  # 30.5 s old: past the TTL, the outage surfaces
    with pytest.raises(RegistryUnavailable):
        get()


def test_nothing_cached_and_registry_down_raises() -> None:
    cache = _cache([OSError("down")], FakeClock())
    with pytest.raises(RegistryUnavailable):
        asyncio.run(cache.get("m"))


def test_cache_is_bounded() -> None:
    clock = FakeClock()

    async def fetch(key: str) -> str:
        clock.advance(0.001)
        return key

    cache = TTLCache(fetch, CacheConfig(max_entries=4), clock)
    for i in range(10):
        asyncio.run(cache.get(f"k{i}"))
    assert len(cache._entries) == 4


def test_gateway_rides_out_registry_outage_within_ttl_then_surfaces_it() -> None:
    stack = FakeStack(records=[record("model-gpu-1")])
    h = make_harness(stack)
    assert h.predict().status_code == 200
    stack.registry = status(503)  # the registry loses its store
    h.clock.advance(5.0)
    assert h.predict().status_code == 200
    assert h.metric("chaosctl_gateway_registry_cache_total", {"result": "stale"}) == 1
    # After 3 failures the registry breaker opens: stale answers without waiting on the registry.
    for _ in range(3):
        h.clock.advance(1.0)
        assert h.predict().status_code == 200
    calls = stack.calls.count("registry")
    h.clock.advance(1.0)
    assert h.predict().status_code == 200
    assert stack.calls.count("registry") == calls
    h.clock.advance(25.0)  # > 30 s since the last good answer
    resp = h.predict()
    assert resp.status_code == 503 and "registry" in resp.json()["detail"]
    stack.registry = None  # registry back; once its breaker half-opens, fresh answers flow again
    h.clock.advance(5.0)
    assert h.predict().status_code == 200


def test_connect_errors_to_registry_are_an_outage_too() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    stack = FakeStack(records=[record("model-gpu-1")])
    h = make_harness(stack)
    assert h.predict().status_code == 200
    stack.registry = refuse
    h.clock.advance(10)
    assert h.predict().status_code == 200
    assert h.metric("chaosctl_gateway_registry_cache_total", {"result": "stale"}) == 1


def test_one_registry_call_per_key_at_a_time() -> None:
    clock = FakeClock()
    calls: list[str] = []
    release = None

    async def fetch(key: str) -> str:
        calls.append(key)
        await release.wait()
        return f"{key}:{len(calls)}"

    cache: TTLCache[str] = TTLCache(fetch, CacheConfig(refresh_s=2, ttl_s=30), clock)

    async def scenario() -> list[tuple[str, str]]:
        nonlocal release
        release = asyncio.Event()
        # Nothing cached: concurrent requests share one fetch.
        first = [asyncio.create_task(cache.get("m")) for _ in range(5)]
        await asyncio.sleep(0)
        release.set()
        cold = [(c.value, c.result) for c in await asyncio.gather(*first)]
        # Cached but due for refresh while the registry is slow: one request waits for it,
        # the others are answered from the cache at once.
        clock.advance(3)
        release = asyncio.Event()
        slow = asyncio.create_task(cache.get("m"))
        await asyncio.sleep(0)
        quick = [await cache.get("m") for _ in range(3)]
        assert not slow.done()
        release.set()
        warm = [(q.value, q.result) for q in quick] + [((await slow).value, "slow")]
        return cold + warm

    out = asyncio.run(scenario())
    assert calls == ["m", "m"]
    assert out[:5] == [("m:1", "miss")] + [("m:1", "hit")] * 4
    assert out[5:] == [("m:1", "hit")] * 3 + [("m:2", "slow")]
