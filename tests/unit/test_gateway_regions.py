"""Region-aware routing: local region first, failover to another region when the local one has no
server to take the request, the `region` label and span attribute, and the failover counter."""

from __future__ import annotations

import httpx

from _gateway_fakes import FakeStack, make_harness, raises, record

REGIONS = ("a", "b")


def _in(region: str, name: str, **kw: object) -> dict[str, object]:
    return {**record(name, **kw), "region": region}  # type: ignore[arg-type]


def _stack(**servers: object) -> FakeStack:
    return FakeStack(
        records=[_in("a", "model-gpu-1"), _in("a", "model-cpu-1", device="cpu"),
                 _in("b", "model-gpu-b1"), _in("b", "model-cpu-b1", device="cpu")],
        servers=dict(servers),  # type: ignore[arg-type]
    )  # fmt: skip


def test_local_region_first_even_when_the_other_regions_gpu_is_less_loaded() -> None:
    stack = _stack()
    stack.records[0] = _in("a", "model-gpu-1", queue=20)
    stack.records[1] = _in("a", "model-cpu-1", device="cpu", queue=30)
    h = make_harness(stack, region="a", regions=REGIONS)
    assert {h.predict().json()["server"] for _ in range(4)} == {"model-gpu-1"}
    assert h.metric("chaosctl_gateway_region_failovers_total", {"region": "b"}) == 0
    assert h.metric("chaosctl_gateway_upstream_requests_total",
                    {"upstream": "model-gpu-1", "outcome": "ok", "region": "a"}) == 4  # fmt: skip


def test_the_local_cpu_pool_comes_before_another_region() -> None:
    stack = _stack()
    stack.records[0] = _in("a", "model-gpu-1", health="warming")
    h = make_harness(stack, region="a", regions=REGIONS)
    assert h.predict().json()["server"] == "model-cpu-1"
    assert h.metric("chaosctl_gateway_region_failovers_total", {"region": "b"}) == 0


def test_fails_over_when_no_local_server_can_take_it_and_counts_it_once_per_request() -> None:
    stack = _stack()
    stack.records[0] = _in("a", "model-gpu-1", health="unhealthy")
    stack.records[1] = _in("a", "model-cpu-1", device="cpu", mem=0.99)
    h = make_harness(stack, region="a", regions=REGIONS)
    assert [h.predict().json()["server"] for _ in range(3)] == ["model-gpu-b1"] * 3
    assert h.metric("chaosctl_gateway_region_failovers_total", {"region": "b"}) == 3
    tries = [s for s in h.spans.get_finished_spans() if s.name.startswith("upstream ")]
    assert {s.attributes["region"] for s in tries} == {"b"}


def test_a_partitioned_local_region_trips_its_breakers_then_traffic_goes_to_the_other_region() -> None:
    cut = raises(httpx.ConnectTimeout)
    h = make_harness(_stack(**{"model-gpu-1": cut, "model-cpu-1": cut}), region="a", regions=REGIONS)
    answers = [h.predict() for _ in range(6)]
    assert all(a.status_code == 200 for a in answers)  # every local try failed: retried in region b
    assert h.metric("chaosctl_gateway_breaker_state", {"upstream": "model-gpu-1"}) == 2
    h.stack.calls.clear()
    assert {h.predict().json()["server"] for _ in range(5)} == {"model-gpu-b1"}
    assert set(h.stack.upstream_calls()) == {"model-gpu-b1"}  # no try wasted on region a while its breakers are open
    assert h.metric("chaosctl_gateway_region_failovers_total", {"region": "b"}) == 11


def test_without_failover_the_other_region_is_never_tried_and_the_503_says_why() -> None:
    cut = raises(httpx.ConnectTimeout)
    h = make_harness(_stack(**{"model-gpu-1": cut, "model-cpu-1": cut}), region="a", regions=REGIONS,
                     region_failover=False)  # fmt: skip
    answers = [h.predict() for _ in range(8)]
    assert {a.status_code for a in answers} == {503}
    assert "model-gpu-b1" not in h.stack.upstream_calls() and "model-cpu-b1" not in h.stack.upstream_calls()
    assert "region failover off" in answers[-1].json()["detail"]
    assert h.metric("chaosctl_gateway_region_failovers_total", {"region": "b"}) == 0


def test_a_region_unaware_gateway_routes_as_before() -> None:
    stack = _stack()
    stack.records[0] = _in("a", "model-gpu-1", queue=20)
    h = make_harness(stack)  # no region: least loaded GPU wherever it is
    assert h.predict().json()["server"] == "model-gpu-b1"
    assert h.metric("chaosctl_gateway_region_failovers_total", {"region": "b"}) == 0


def test_the_stacks_gateway_is_in_region_a_and_fails_over_unless_its_setting_says_not(tmp_path, monkeypatch) -> None:
    from chaosctl.services.gateway.app import default_config
    from chaosctl.settings import Settings, load_settings
    from chaosctl.stack.topology import Topology

    topo = Topology(24800)
    on = default_config(topo, Settings(state_dir=tmp_path, port_base=24800))
    assert (on.region, on.region_failover, on.regions) == ("a", True, ("a", "b"))
    assert {"model-gpu-b1", "model-cpu-b1"} <= set(on.upstream_urls)
    off = default_config(topo, Settings(state_dir=tmp_path, port_base=24800, gateway_region_failover=False))
    assert off.region_failover is False
    monkeypatch.setenv("CHAOSCTL_GATEWAY_REGION_FAILOVER", "0")
    assert load_settings(state_dir=tmp_path, port_base=24800).gateway_region_failover is False
