"""GPU faults beyond memory exhaustion on the simulated device: device lost, ECC errors, thermal
throttling: device state, engine behaviour, span events, metrics, and the admin API's auth."""

from __future__ import annotations

import asyncio
import random

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_modelserver_engine import SERVICE_TOKEN, TOKEN, TRACEPARENT, _engine, _rows, _wait_ready, fast_trainer

from chaosctl.services.modelserver.app import create_app
from chaosctl.services.modelserver.engine import GpuFailed
from chaosctl.services.modelserver.gpufaults import DeviceFaults, GpuFault
from chaosctl.services.telemetry import Telemetry

AUTH = {"X-Admin-Token": TOKEN}


def test_device_fault_state_counts_what_each_fault_hit() -> None:
    faults = DeviceFaults(random.Random(7))
    faults.before_batch()
    faults.after_batch()  # nothing set: no error
    assert faults.throttled_delay(0.01) == 0.0 and faults.active() == dict.fromkeys(faults.active(), False)
    faults.set_lost(True)
    with pytest.raises(GpuFault, match="device lost") as lost:
        faults.before_batch()
    assert lost.value.kind == "device-lost" and faults.failed["device-lost"] == 1
    faults.set_lost(False)
    faults.set_ecc(count=2)
    kinds = []
    for _ in range(3):
        try:
            faults.after_batch()
            kinds.append("ok")
        except GpuFault as exc:
            kinds.append(exc.kind)
    assert kinds == ["ecc-error", "ecc-error", "ok"] and faults.failed["ecc-error"] == 2
    faults.set_ecc(rate=0.5)
    hits = 0
    for _ in range(400):
        try:
            faults.after_batch()
        except GpuFault:
            hits += 1
    assert 150 <= hits <= 250  # seeded: about half
    faults.set_throttle(4.0)
    assert faults.throttled_delay(0.01) == pytest.approx(0.03) and faults.throttled == 1
    with pytest.raises(ValueError):
        faults.set_throttle(0.5)
    with pytest.raises(ValueError):
        faults.set_ecc(rate=1.5)
    assert faults.state()["simulated"] is True


def test_engine_lost_device_fails_every_batch_until_restored_and_reports_unhealthy() -> None:
    async def go() -> None:
        engine = _engine()
        await engine.load(fast_trainer)
        assert engine.device is not None
        engine.device.faults.set_lost(True)
        assert engine.health() == "unhealthy"
        for _ in range(3):
            with pytest.raises(GpuFailed, match="device lost") as exc:
                await engine.predict("fraud-detector", None, _rows(1))
            assert exc.value.status == 503
        engine.device.faults.set_lost(False)
        assert engine.health() == "ready"
        assert (await engine.predict("fraud-detector", None, _rows(1))).outputs
        assert engine.device.used_bytes == sum(a.bytes for a in engine.device.allocations("weights"))  # no batch leaked
        await engine.close()

    asyncio.run(go())


def test_engine_ecc_fails_the_batch_in_flight_and_throttle_multiplies_batch_time() -> None:
    async def go() -> tuple[float, float]:
        engine = _engine()
        await engine.load(fast_trainer)
        assert engine.device is not None
        engine.device.faults.set_ecc(count=1)
        with pytest.raises(GpuFailed, match="ECC") as exc:
            await engine.predict("fraud-detector", None, _rows(2))
        assert exc.value.status == 500 and engine.device.meter.busy == 0
        assert (await engine.predict("fraud-detector", None, _rows(2))).outputs  # count used up
        seen: list[float] = []
        engine.observers.append(lambda _m, _n, seconds, _c: seen.append(seconds))
        for _ in range(5):
            await engine.predict("fraud-detector", None, _rows(1))
        engine.device.faults.set_throttle(20.0)
        for _ in range(5):
            await engine.predict("fraud-detector", None, _rows(1))
        await engine.close()
        return min(seen[:5]), min(seen[5:])

    plain, throttled = asyncio.run(go())
    assert throttled >= 15 * plain  # x20 of the compute time (the wait is a real sleep)


def _client(exporter: InMemorySpanExporter, server: str = "model-gpu-1") -> TestClient:
    engine = _engine(server)
    tel = Telemetry(server, None, exporter=exporter)
    engine.tracer = tel.tracer
    app = create_app(engine, tel, TOKEN, trainer=fast_trainer, service_token=SERVICE_TOKEN)
    return TestClient(app, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"})


def _trace(exporter: InMemorySpanExporter) -> list:
    want = int(TRACEPARENT.split("-")[1], 16)
    return [s for s in exporter.get_finished_spans() if s.context.trace_id == want]


def _predict(client: TestClient) -> int:
    return client.post("/v1/models/fraud-detector/predict", json={"inputs": _rows(1)},
                       headers={"traceparent": TRACEPARENT}).status_code  # fmt: skip


def test_admin_routes_need_the_admin_token() -> None:
    with _client(InMemorySpanExporter()) as client:
        _wait_ready(client)
        calls = [("post", "/admin/gpu/lost", None), ("delete", "/admin/gpu/lost", None),
                 ("post", "/admin/gpu/ecc", {"rate": 0.5}), ("delete", "/admin/gpu/ecc", None),
                 ("post", "/admin/gpu/throttle", {"factor": 3}), ("delete", "/admin/gpu/throttle", None)]  # fmt: skip
        for method, path, body in calls:
            for headers in ({}, {"X-Admin-Token": "wrong"}, {"Authorization": f"Bearer {SERVICE_TOKEN}"}):
                resp = client.request(method, path, json=body, headers=headers)
                assert resp.status_code == 401, (method, path, headers)
        state = client.get("/admin/gpu", headers=AUTH).json()["faults"]
        assert not state["device_lost"] and state["throttle_factor"] == 1.0 and state["ecc"]["rate"] == 0
        assert client.post("/admin/gpu/ecc", json={}, headers=AUTH).status_code == 422
        assert client.post("/admin/gpu/ecc", json={"rate": 0.5, "count": 2}, headers=AUTH).status_code == 422
        assert client.post("/admin/gpu/throttle", json={"factor": 0.5}, headers=AUTH).status_code == 422
    with _client(InMemorySpanExporter(), "model-cpu-1") as cpu:
        _wait_ready(cpu)
        assert cpu.post("/admin/gpu/lost", headers=AUTH).status_code == 409


def test_each_fault_shows_in_metrics_and_span_events() -> None:
    exporter = InMemorySpanExporter()
    with _client(exporter) as client:
        _wait_ready(client)
        assert client.post("/admin/gpu/lost", headers=AUTH).status_code == 200
        assert client.get("/healthz").json() == {"status": "unhealthy", "server": "model-gpu-1",
                                                 "device_kind": "simulated", "reason": "GPU device lost (simulated)"}
        assert _predict(client) == 503
        metrics = client.get("/metrics").text
        assert 'chaosctl_gpu_fault_active{kind="device-lost",simulated="true"} 1.0' in metrics
        assert 'chaosctl_gpu_failed_batches_total{reason="device-lost",simulated="true"} 1.0' in metrics
        assert client.delete("/admin/gpu/lost", headers=AUTH).json()["device_lost"] is False
        assert client.delete("/admin/gpu/lost", headers=AUTH).status_code == 200  # idempotent
        assert _predict(client) == 200
        client.post("/admin/gpu/ecc", json={"count": 1}, headers=AUTH)
        assert _predict(client) == 500
        client.post("/admin/gpu/throttle", json={"factor": 2.5}, headers=AUTH)
        assert _predict(client) == 200
        metrics = client.get("/metrics").text
        client.delete("/admin/gpu/throttle", headers=AUTH)
        after = client.get("/metrics").text
    assert 'chaosctl_gpu_failed_batches_total{reason="ecc-error",simulated="true"} 1.0' in metrics
    assert 'chaosctl_gpu_throttle_factor{simulated="true"} 2.5' in metrics
    assert 'chaosctl_gpu_throttled_batches_total{simulated="true"} 1.0' in metrics
    assert 'chaosctl_gpu_fault_active{kind="thermal-throttle",simulated="true"} 1.0' in metrics
    assert 'chaosctl_gpu_fault_active{kind="thermal-throttle",simulated="true"} 0.0' in after
    spans = _trace(exporter)
    inference = [s for s in spans if s.name == "inference"]
    assert [s.attributes.get("gpu.fault") for s in inference] == ["device-lost", None, "ecc-error", "thermal-throttle"]
    assert [s.status.is_ok for s in inference] == [False, True, False, True]
    for span in inference:
        if span.attributes.get("gpu.fault"):
            (event,) = span.events
            assert event.name.startswith("gpu.") and event.attributes["gpu.fault.simulated"] is True
    assert inference[3].events[0].attributes["gpu.throttle.factor"] == 2.5
    routes = [s for s in spans if s.name == "POST /v1/models/{model}/predict"]
    assert [e.name for s in routes for e in s.events] == ["gpu.device_lost", "gpu.ecc_error", "gpu.thermal_throttle"]



def test_on_a_cuda_device_the_faults_are_still_simulated_and_say_so() -> None:
    """CUDA path (a fake runtime): the same faults, labelled simulated, with device.kind cuda on the
    events; they take no device memory (only gpu-exhaustion's allocations are real there)."""
    from test_modelserver_cuda import FakeCudart

    from chaosctl.services.modelserver.cuda import CudaGpu
    from chaosctl.services.modelserver.engine import Engine, ModelServerConfig
    from chaosctl.stack.topology import model_server

    lib = FakeCudart()
    exporter = InMemorySpanExporter()
    engine = Engine(model_server("model-gpu-1"), ModelServerConfig(warmup_s=0.0), gpu_device=CudaGpu(lib))
    tel = Telemetry("model-gpu-1", None, exporter=exporter)
    engine.tracer = tel.tracer
    app = create_app(engine, tel, TOKEN, trainer=fast_trainer, service_token=SERVICE_TOKEN)
    with TestClient(app, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}) as client:
        _wait_ready(client)
        state = client.post("/admin/gpu/ecc", json={"count": 1}, headers=AUTH).json()
        assert state["simulated"] is True and lib.live == {}
        assert _predict(client) == 500
        client.post("/admin/gpu/lost", headers=AUTH)
        assert _predict(client) == 503 and client.get("/healthz").status_code == 503
        client.delete("/admin/gpu/lost", headers=AUTH)
        assert _predict(client) == 200
        metrics = client.get("/metrics").text
    assert 'chaosctl_gpu_failed_batches_total{reason="ecc-error",simulated="true"} 1.0' in metrics
    assert 'chaosctl_gpu_failed_batches_total{reason="device-lost",simulated="true"} 1.0' in metrics
    events = [e for s in _trace(exporter) if s.name == "inference" for e in s.events]
    assert [e.name for e in events] == ["gpu.ecc_error", "gpu.device_lost"]
    assert all(e.attributes["device.kind"] == "cuda" and e.attributes["gpu.fault.simulated"] is True for e in events)
