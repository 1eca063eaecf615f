"""GPU-aware balancing: least-loaded ready GPU first; warming/saturated skipped; CPU fallback."""

from __future__ import annotations

from _gateway_fakes import FakeStack, make_harness, raises, record
from chaosctl.services.gateway.balancer import Balancer
from chaosctl.services.gateway.records import ServiceRecord

import httpx


def _plan(*records: dict[str, object], inflight: dict[str, int] | None = None, open_: set[str] = frozenset()):  # noqa: ANN202
    recs = [ServiceRecord.model_validate(r) for r in records]
    return Balancer().plan(recs, inflight or {}, lambda name: name in open_)


def test_least_loaded_gpu_first_then_cpu() -> None:
    plan = _plan(record("g1", queue=4), record("g2", queue=1), record("c1", device="cpu"))
    assert [c.name for c in plan.ordered] == ["g2", "g1", "c1"]


def test_own_inflight_counts_and_memory_breaks_ties() -> None:
    plan = _plan(record("g1", queue=1), record("g2", queue=1, mem=0.5), record("g3", queue=0), inflight={"g3": 3})
    assert [c.name for c in plan.gpu] == ["g1", "g2", "g3"]


def test_warming_saturated_unhealthy_and_open_breakers_are_skipped() -> None:
    plan = _plan(
        record("warm", health="warming"),
        record("sat", health="saturated"),
        record("full", mem=0.95),
        record("deep", queue=100),
        record("sick", health="unhealthy"),
        record("tripped"),
        record("good", queue=9),
        open_={"tripped"},
    )
    assert [c.name for c in plan.gpu] == ["good"]
    reasons = {s.name: s.reason for s in plan.skipped}
    assert reasons == {"warm": "warming", "sat": "saturated", "full": "memory saturated",
                       "deep": "queue saturated", "sick": "unhealthy", "tripped": "breaker open"}  # fmt: skip


def test_gateway_skips_saturated_gpu() -> None:
    stack = FakeStack(records=[record("model-gpu-1", mem=0.96), record("model-gpu-2", queue=7)])
    h = make_harness(stack)
    assert {h.predict().json()["server"] for _ in range(5)} == {"model-gpu-2"}


def test_gateway_falls_back_to_cpu_when_no_gpu_can_serve() -> None:
    stack = FakeStack(records=[record("model-gpu-1", health="warming"), record("model-gpu-2", mem=0.99),
                               record("model-cpu-1", device="cpu")])  # fmt: skip
    h = make_harness(stack)
    assert h.predict().json()["server"] == "model-cpu-1"
    assert h.metric("chaosctl_gateway_fallbacks_total") == 1


def test_gateway_falls_back_to_cpu_when_gpus_are_unreachable() -> None:
    stack = FakeStack(records=[record("model-gpu-1"), record("model-gpu-2"), record("model-cpu-1", device="cpu")],
                      servers={"model-gpu-1": raises(httpx.ConnectError), "model-gpu-2": raises(httpx.ConnectError)})  # fmt: skip
    h = make_harness(stack)
    resp = h.predict()
    assert resp.json()["server"] == "model-cpu-1"
    assert stack.upstream_calls() == ["model-gpu-1", "model-gpu-2", "model-cpu-1"]


def test_gateway_503_when_nothing_can_serve() -> None:
    stack = FakeStack(records=[record("model-gpu-1", health="warming"), record("model-cpu-1", device="cpu", health="unhealthy")])
    h = make_harness(stack)
    resp = h.predict()
    assert resp.status_code == 503
    assert "warming" in resp.json()["detail"]


def test_gateway_pinned_to_a_server_list_routes_only_there() -> None:
    stack = FakeStack(records=[record("model-gpu-1"), record("model-gpu-2", queue=9)])
    h = make_harness(stack, servers=frozenset({"model-gpu-2"}))
    assert {h.predict().json()["server"] for _ in range(3)} == {"model-gpu-2"}
