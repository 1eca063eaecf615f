"""The gateway's prediction cache with a hand-written fake Redis: key derivation, hits that skip
the model server, canary isolation, TTL, and bypass (never a failed request) when Redis fails."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from _gateway_fakes import CANARY, FakeStack, Harness, make_harness, record, status
from chaosctl.services.gateway.prediction_cache import PredictionCacheConfig, cache_key, canonical_inputs


@dataclass
class FakeRedis:
    """GET/SET PX over a dict; `mode` "ok" | "down" (connection refused) | "hang" (never answers)."""

    clock: Callable[[], float] = lambda: 0.0
    mode: str = "ok"
    data: dict[str, tuple[bytes, float]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    async def _act(self, op: str) -> None:
        self.calls.append(op)
        if self.mode == "down":
            raise ConnectionError("fake: connection refused")
        if self.mode == "hang":
            await asyncio.Event().wait()

    async def get(self, name: str) -> bytes | None:
        await self._act("get")
        value = self.data.get(name)
        return value[0] if value is not None and self.clock() < value[1] else None

    async def set(self, name: str, value: bytes, px: int | None = None) -> bool:
        await self._act("set")
        assert px is not None and px > 0, "every entry must carry a TTL"
        self.data[name] = (value, self.clock() + px / 1000)
        return True

    async def aclose(self) -> None:
        pass


def _harness(redis: FakeRedis, records: list | None = None, **config: object) -> Harness:
    stack = FakeStack(records=records or [record("model-gpu-1")])
    cfg = config.pop("prediction_cache", PredictionCacheConfig(ttl_s=30.0, timeout_s=0.05))
    h = make_harness(stack, cache_client=redis, prediction_cache=cfg, **config)
    redis.clock = h.clock
    return h


def _lookups(h: Harness, result: str) -> float:
    return h.metric("chaosctl_gateway_prediction_cache_total", {"result": result})


def test_key_is_model_version_and_the_hash_of_canonical_inputs() -> None:
    key = cache_key("fraud-detector", "2.3.1", [[1, 2.5]])
    assert key == cache_key("fraud-detector", "2.3.1", [[1.0, 2.5]])  # 1 and 1.0 are one input
    assert key.startswith("chaosctl:prediction:v1:fraud-detector:2.3.1:") and len(key.rsplit(":", 1)[1]) == 64
    others = {cache_key("fraud-detector", "2.4.0", [[1, 2.5]]), cache_key("image-classifier", "2.3.1", [[1, 2.5]]),
              cache_key("fraud-detector", "2.3.1", [[2.5, 1]]), cache_key("fraud-detector", "2.3.1", [[1], [2.5]])}
    assert key not in others and len(others) == 4
    assert canonical_inputs([[1, 0.1]]) == b"[[1.0,0.1]]"


def test_repeated_inputs_hit_and_skip_the_model_server() -> None:
    redis = FakeRedis()
    h = _harness(redis)
    first, second = h.predict(), h.predict()
    assert first.status_code == second.status_code == 200 and first.json() == second.json()
    assert (first.headers["X-Prediction-Cache"], second.headers["X-Prediction-Cache"]) == ("miss", "hit")
    assert h.stack.upstream_calls() == ["model-gpu-1"]  # the second answer came from the cache
    assert (_lookups(h, "hit"), _lookups(h, "miss")) == (1.0, 1.0)
    assert _stores(h, "ok", 1.0) == 1.0
    assert h.metric("chaosctl_gateway_prediction_cache_duration_seconds_count", {"op": "get"}) == 2.0
    lookups = [s for s in h.spans.get_finished_spans() if s.name == "cache lookup"]
    assert [s.attributes["cache.hit"] for s in lookups] == [False, True]
    assert [s.name for s in h.spans.get_finished_spans()].count("cache store") == 1
    routes = [s for s in h.spans.get_finished_spans() if s.name == "POST /v1/models/{model}/predict"]
    assert [s.attributes["prediction_cache"] for s in routes] == ["miss", "hit"]
    other = h.predict(body={"inputs": [[9.0, 9.0, 9.0]]})
    assert other.headers["X-Prediction-Cache"] == "miss" and len(h.stack.upstream_calls()) == 2


def test_entries_expire_after_the_ttl() -> None:
    redis = FakeRedis()
    h = _harness(redis, prediction_cache=PredictionCacheConfig(ttl_s=5.0))
    h.predict()
    h.clock.advance(4.9)
    assert h.predict().headers["X-Prediction-Cache"] == "hit"
    h.clock.advance(0.2)
    assert h.predict().headers["X-Prediction-Cache"] == "miss"
    assert len(h.stack.upstream_calls()) == 2
    with pytest.raises(ValueError, match="must expire"):
        PredictionCacheConfig(ttl_s=0)


def test_the_canary_never_gets_the_stable_versions_cached_answer() -> None:
    records = [record("model-gpu-1", version="2.3.1"), record("model-gpu-2", version="2.4.0")]
    redis = FakeRedis()
    h = _harness(redis, records, canary=(CANARY[0].__class__("fraud-detector", "2.3.1", "2.4.0", 0.5),))
    # Pinned versions first: the stable answer is cached, the canary's key is another.
    assert h.predict(version="2.3.1").json()["version"] == "2.3.1"
    canary = h.predict(version="2.4.0")
    assert canary.json()["version"] == "2.4.0" and canary.headers["X-Prediction-Cache"] == "miss"
    # Unpinned, same inputs: the canary rule splits them; each answer is the routed version's own.
    versions = [h.predict().json()["version"] for _ in range(60)]
    assert {"2.3.1", "2.4.0"} == set(versions)
    assert h.stack.upstream_calls() == ["model-gpu-1", "model-gpu-2"]  # each version computed once
    assert _lookups(h, "hit") == 60.0


def test_the_canary_rule_decides_before_the_cache() -> None:
    """Weight 1.0 to the canary: a cached stable answer for the same inputs is never served."""
    records = [record("model-gpu-1", version="2.3.1"), record("model-gpu-2", version="2.4.0")]
    redis = FakeRedis()
    h = _harness(redis, records, canary=(CANARY[0].__class__("fraud-detector", "2.3.1", "2.4.0", 1.0),))
    assert h.predict(version="2.3.1").json()["version"] == "2.3.1"
    answers = [h.predict() for _ in range(3)]
    assert [a.json()["version"] for a in answers] == ["2.4.0"] * 3
    assert [a.headers["X-Prediction-Cache"] for a in answers] == ["miss", "hit", "hit"]


def test_a_failed_prediction_is_not_stored() -> None:
    redis = FakeRedis()
    h = _harness(redis)
    h.stack.servers["model-gpu-1"] = status(500)
    assert h.predict().status_code == 502
    assert "set" not in redis.calls and not redis.data


def test_redis_down_is_bypassed_counted_and_retried_after_the_cooldown() -> None:
    redis = FakeRedis(mode="down")
    cfg = PredictionCacheConfig(ttl_s=30.0, timeout_s=0.05, failure_threshold=4, cooldown_s=2.0)
    h = _harness(redis, prediction_cache=cfg)
    answers = [h.predict() for _ in range(4)]
    assert [a.status_code for a in answers] == [200] * 4
    assert [a.headers["X-Prediction-Cache"] for a in answers] == ["error", "error", "bypass", "bypass"]
    assert _lookups(h, "error") == 2.0 and _lookups(h, "bypass") == 2.0  # lookup + store failures open it
    assert _stores(h, "error", 2.0) == 2.0
    calls = len(redis.calls)
    assert h.predict().status_code == 200 and len(redis.calls) == calls  # open: Redis not asked
    redis.mode = "ok"
    h.clock.advance(2.0)
    assert h.predict().headers["X-Prediction-Cache"] == "miss"  # the half-open probe succeeded
    assert h.predict().headers["X-Prediction-Cache"] == "hit"


def test_a_hanging_redis_costs_at_most_the_timeout_and_is_counted() -> None:
    redis = FakeRedis(mode="hang")
    h = _harness(redis, prediction_cache=PredictionCacheConfig(ttl_s=30.0, timeout_s=0.02))
    with h.client:  # one event loop for the test (the store runs on after the answer)
        resp = h.predict()
        assert resp.status_code == 200 and resp.headers["X-Prediction-Cache"] == "timeout"
        assert _lookups(h, "timeout") == 1.0
        assert _stores(h, "timeout", 1.0) == 1.0  # the store, off the response path, timed out too
    assert h.stack.upstream_calls() == ["model-gpu-1"]


def _stores(h: Harness, result: str, expected: float) -> float:
    """The stores counted under `result`, once they reach `expected` (or 2 s passed): a store
    runs after the answer went out."""
    from chaosctl.waiting import wait_until

    return wait_until(lambda: h.metric("chaosctl_gateway_prediction_cache_stores_total", {"result": result}), 2.0,
                      interval=0.005, done=lambda v: v >= expected)  # fmt: skip


@dataclass
class SlowSetRedis(FakeRedis):
    """Answers GET at once and every SET only after `set_delay_s`."""

    set_delay_s: float = 0.5

    async def set(self, name: str, value: bytes, px: int | None = None) -> bool:
        await asyncio.sleep(self.set_delay_s)
        return await super().set(name, value, px)


def test_the_answer_does_not_wait_for_the_store_which_is_still_made_counted_and_traced() -> None:
    redis = SlowSetRedis()
    h = _harness(redis, prediction_cache=PredictionCacheConfig(ttl_s=30.0, timeout_s=1.0))
    with h.client:  # one event loop for the test (the store runs on after the answer)
        resp = h.predict()
        assert resp.status_code == 200 and resp.headers["X-Prediction-Cache"] == "miss"
        assert redis.data == {}  # answered while the SET was still under way (it takes 0.5 s)
        assert _stores(h, "ok", 1.0) == 1.0 and len(redis.data) == 1
        assert h.predict().headers["X-Prediction-Cache"] == "hit"
    spans = h.spans.get_finished_spans()
    (store,) = [s for s in spans if s.name == "cache store"]
    (route,) = [s for s in spans if s.name == "POST /v1/models/{model}/predict" and s.attributes["prediction_cache"] == "miss"]
    assert store.parent is not None and store.parent.span_id == route.context.span_id
    assert store.context.trace_id == route.context.trace_id and store.start_time >= route.end_time


def test_stores_under_way_are_awaited_when_the_gateway_closes() -> None:
    redis = SlowSetRedis(set_delay_s=0.2)
    h = _harness(redis, prediction_cache=PredictionCacheConfig(ttl_s=30.0, timeout_s=1.0))
    with h.client:
        assert h.predict().headers["X-Prediction-Cache"] == "miss" and redis.data == {}
    assert len(redis.data) == 1 and h.metric("chaosctl_gateway_prediction_cache_stores_total", {"result": "ok"}) == 1.0


def test_no_cache_configured_means_off_and_nothing_counted() -> None:
    h = make_harness(FakeStack(records=[record("model-gpu-1")]))
    assert [h.predict().headers["X-Prediction-Cache"] for _ in range(2)] == ["off", "off"]
    assert sum(_lookups(h, r) for r in ("hit", "miss", "error", "timeout", "bypass")) == 0.0
    assert len(h.stack.upstream_calls()) == 2


def test_stack_gateway_dials_the_cache_through_its_link_with_the_install_password() -> None:
    from chaosctl.services.gateway.app import default_config
    from chaosctl.settings import Settings
    from chaosctl.stack.topology import Topology

    topo = Topology(31000)
    cfg = default_config(topo, Settings(jwt_secret="s" * 40, service_token="v" * 40, cache_password="c" * 40,
                                        prediction_cache_ttl_s=12.5))  # fmt: skip
    link = topo.link("link:gateway->prediction-cache")
    assert cfg.prediction_cache.url == f"redis://127.0.0.1:{link.listen_port}"
    assert link.upstream_port == topo.prediction_cache_port != link.listen_port
    assert (cfg.prediction_cache.password, cfg.prediction_cache.ttl_s) == ("c" * 40, 12.5)


def test_redis_config_is_loopback_passworded_unpersisted_and_lru_bounded() -> None:
    from chaosctl.stack.configs import redis_config

    text = redis_config(21033, "p" * 43)
    lines = set(text.splitlines())
    assert {"bind 127.0.0.1", "port 21033", f'requirepass "{"p" * 43}"', 'save ""', "appendonly no",
            "maxmemory 64mb", "maxmemory-policy allkeys-lru", "protected-mode yes"} <= lines  # fmt: skip
    with pytest.raises(ValueError, match="password"):
        redis_config(21033, "")


def test_local_launch_puts_the_password_in_a_private_file_not_the_command_line(tmp_path) -> None:
    import stat

    from chaosctl.settings import Settings
    from chaosctl.stack import components as comps
    from chaosctl.stack.topology import Topology

    topo = Topology(21500)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "redis-server").write_text("#!/bin/sh\n")
    (tools / "redis-server").chmod(0o755)
    settings = Settings(state_dir=tmp_path, port_base=21500, tool_dirs=(tools,), cache_password="c" * 40)
    launch = comps.launch("prediction-cache", settings, topo, topo.components)
    conf = tmp_path / "config" / "prediction-cache.conf"
    assert launch.argv == (str(tools / "redis-server"), str(conf))
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600 and f'requirepass "{"c" * 40}"' in conf.read_text()
    assert comps.kind("prediction-cache") == "redis" and comps.ports(topo, "prediction-cache") == (21533,)
    assert "prediction-cache" in comps.stages(topo)[0]  # up before the gateway that dials it
    from chaosctl.errors import UsageError

    with pytest.raises(UsageError, match="cache_password"):
        comps.launch("prediction-cache", Settings(state_dir=tmp_path, port_base=21500, tool_dirs=(tools,)), topo, ())


def test_docker_spec_reads_the_password_from_the_environment() -> None:
    from chaosctl.stack import docker_specs as spec

    secret = (("CHAOSCTL_CACHE_PASSWORD", "c" * 40),)
    c = spec.container_spec("prediction-cache", 25000, secret)
    assert c.published == ((17033, 25033),) and dict(c.environment)["CHAOSCTL_CACHE_PASSWORD"] == "c" * 40
    assert not any("c" * 40 in part for part in c.command)
    script = c.command[-1]
    assert c.command[-3:-1] == ("sh", "-c") and '"$CHAOSCTL_CACHE_PASSWORD" | exec redis-server - ' in script
    for flag in ("--port 17033", "--bind 127.0.0.1", "--save ''", "--appendonly no", "--maxmemory-policy allkeys-lru"):
        assert flag in script


def test_prediction_cache_is_a_topology_target_and_not_scraped() -> None:
    from chaosctl.stack.configs import scrape_targets, toxiproxy_proxies
    from chaosctl.stack.topology import Topology

    topo = Topology(21500)
    assert "prediction-cache" in topo.targets and "link:gateway->prediction-cache" in topo.targets
    assert "prediction-cache" not in scrape_targets(topo)
    proxies = {p["name"]: p for p in toxiproxy_proxies(topo)}
    assert proxies["gateway__prediction-cache"]["upstream"] == "127.0.0.1:21533"


def test_a_store_asked_by_a_task_begun_inside_stores_held_after_it_ended_is_still_made() -> None:
    """The held stores ride the context, which a task started inside the block inherits: once the block
    ended, such a task's store starts at once (it used to join a list nobody drained: lost, no error)."""
    from chaosctl.services.gateway.prediction_cache import PredictionCache, stores_held
    from chaosctl.services.telemetry import Telemetry

    redis = FakeRedis()

    async def main() -> None:
        cache = PredictionCache(PredictionCacheConfig(ttl_s=30.0, timeout_s=1.0), redis, Telemetry("gw", None))
        block_ended = asyncio.Event()

        async def background() -> None:
            cache.store_later("inside", b"1")  # while the block runs: held until it ends
            await block_ended.wait()
            cache.store_later("after", b"2")

        with stores_held():
            task = asyncio.get_running_loop().create_task(background())
            await asyncio.sleep(0)  # the task asks its first store inside the block
            assert redis.calls == []
        block_ended.set()
        await task
        await cache.aclose()  # waits for the stores under way

    asyncio.run(main())
    assert sorted(redis.data) == ["after", "inside"]
