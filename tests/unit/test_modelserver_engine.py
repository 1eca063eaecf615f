"""Model server engine and app: dynamic batching, OOM, warm-up, admin API and its auth (no processes)."""

from __future__ import annotations

import asyncio
import time

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chaosctl.services.modelserver.app import create_app
from chaosctl.services.modelserver.device import GiB
from chaosctl.services.modelserver.engine import BadInputs, Engine, ModelServerConfig, NotReady, UnknownModel
from chaosctl.services.modelserver.models import RECIPES, LoadedModel, MiB, sample_inputs
from chaosctl.services.telemetry import Telemetry
from chaosctl.stack.topology import model_server

TOKEN = "unit-admin-token-0123456789abcdef0123456"
SERVICE_TOKEN = "unit-service-token-0123456789abcdef012345"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def fast_trainer(name: str, version: str, capability: str) -> LoadedModel:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    recipe = RECIPES[(name, version)]
    x, y = make_classification(n_samples=200, n_features=recipe.n_features, random_state=0)
    return LoadedModel(name, version, capability, recipe.n_features, recipe.weight_bytes, 0.9,
                       LogisticRegression().fit(x, y))  # fmt: skip


def _engine(server: str = "model-gpu-2", **cfg: object) -> Engine:
    config = ModelServerConfig(**{"warmup_s": 0.0, **cfg})  # type: ignore[arg-type]
    return Engine(model_server(server), config)


def _rows(n: int = 1, model: str = "fraud-detector") -> list[list[float]]:
    return sample_inputs(model, n)


def test_concurrent_requests_are_batched_within_the_window() -> None:
    async def go() -> list[int]:
        engine = _engine(batch_window_s=0.05, max_batch_rows=32)
        await engine.load(fast_trainer)
        preds = await asyncio.gather(*(engine.predict("fraud-detector", "2.4.0", _rows()) for _ in range(10)))
        await engine.close()
        assert all(p.version == "2.4.0" and len(p.outputs) == 1 for p in preds)
        return [p.batch_size for p in preds]

    assert asyncio.run(go()) == [10] * 10


def test_batches_respect_max_rows_and_batching_can_be_off() -> None:
    async def go(**cfg: object) -> list[int]:
        engine = _engine(**cfg)
        await engine.load(fast_trainer)
        preds = await asyncio.gather(*(engine.predict("fraud-detector", None, _rows(3)) for _ in range(12)))
        await engine.close()
        assert all(p.version == "2.3.1" for p in preds)  # no version: the stable one
        return [p.batch_size for p in preds]

    sizes = asyncio.run(go(batch_window_s=0.05, max_batch_rows=10))
    assert max(sizes) <= 9 and max(sizes) > 3  # 3 rows each: at most 3 requests per batch
    assert asyncio.run(go(batching=False)) == [3] * 12


def test_out_of_device_memory_and_bad_requests() -> None:
    async def go() -> None:
        # weights of gpu-2 take 6.5 GiB; 7 GiB leaves room for 32 rows of 16 MiB, not 64
        engine = _engine(memory_total_bytes=7 * GiB, activation_bytes_per_row=16 * MiB)
        await engine.load(fast_trainer)
        assert len((await engine.predict("fraud-detector", "2.3.1", _rows(16))).outputs) == 16
        with pytest.raises(NotReady, match="out of device memory"):
            await engine.predict("fraud-detector", "2.3.1", _rows(40))
        with pytest.raises(UnknownModel):
            await engine.predict("fraud-detector", "9.9.9", _rows())
        with pytest.raises(BadInputs, match=r"inputs\[0\]: 20 features"):
            await engine.predict("fraud-detector", None, _rows(1, "image-classifier"))
        with pytest.raises(BadInputs, match="finite"):
            await engine.predict("fraud-detector", None, [[float("nan")] * 20])
        await engine.close()

    asyncio.run(go())


def test_warming_refuses_then_serves() -> None:
    class Clock:
        now = 50.0

        def __call__(self) -> float:
            return self.now

    async def go() -> None:
        clock = Clock()
        engine = Engine(model_server("model-gpu-1"), ModelServerConfig(warmup_s=4.0), clock=clock)
        assert engine.health() == "warming"  # still loading
        await engine.load(fast_trainer)
        assert engine.health() == "warming"
        with pytest.raises(NotReady, match="warming"):
            await engine.predict("image-classifier", None, _rows(1, "image-classifier"))
        clock.now += 4.1
        assert engine.health() == "ready"
        assert (await engine.predict("image-classifier", None, _rows(1, "image-classifier"))).outputs
        await engine.close()

    asyncio.run(go())


def _client(server: str = "model-gpu-2", exporter: InMemorySpanExporter | None = None,
            credential: str | None = SERVICE_TOKEN) -> TestClient:  # fmt: skip
    """A model-server app whose client sends `credential` as bearer (None: anonymous)."""
    engine = _engine(server)
    tel = Telemetry(server, None, exporter=exporter)
    engine.tracer = tel.tracer
    app = create_app(engine, tel, TOKEN, trainer=fast_trainer, service_token=SERVICE_TOKEN)
    return TestClient(app, headers={"Authorization": f"Bearer {credential}"} if credential else None)


def test_every_route_but_health_and_metrics_needs_a_credential() -> None:
    with _client(credential=None) as anon:
        _wait_ready(anon)  # /healthz is open (probes, Prometheus)
        assert anon.get("/metrics").status_code == 200
        predict = {"inputs": _rows(1)}
        refused = [
            anon.post("/v1/models/fraud-detector/predict", json=predict),
            anon.post("/v1/models/fraud-detector/predict", json=predict, headers={"Authorization": "Bearer nope"}),
            anon.post("/v1/models/fraud-detector/predict", json=predict, headers={"X-Admin-Token": TOKEN}),
            anon.post("/v1/models/fraud-detector/predict", json=predict, headers={"Authorization": f"Bearer {TOKEN}"}),
            anon.get("/v1/load"),
            anon.get("/admin/gpu", headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}),  # service != admin
        ]
        assert [r.status_code for r in refused] == [401] * len(refused)
        assert "chaosctl_model_batch_size_count" not in anon.get("/metrics").text  # nothing reached the model
        ok = anon.post("/v1/models/fraud-detector/predict", json=predict,
                       headers={"Authorization": f"Bearer {SERVICE_TOKEN}"})  # fmt: skip
        assert ok.status_code == 200, ok.text
        assert "chaosctl_model_batch_size_count" in anon.get("/metrics").text


def _wait_ready(client: TestClient) -> None:
    deadline = time.monotonic() + 10
    while client.get("/healthz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/healthz").json()
        time.sleep(0.02)


def test_predict_route_traces_and_metrics() -> None:
    exporter = InMemorySpanExporter()
    with _client(exporter=exporter) as client:
        _wait_ready(client)
        resp = client.post("/v1/models/fraud-detector/predict", json={"inputs": _rows(2), "version": "2.4.0"},
                           headers={"traceparent": TRACEPARENT})  # fmt: skip
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["server"] == "model-gpu-2" and body["device"] == "gpu" and body["version"] == "2.4.0"
        assert len(body["outputs"]) == 2 and all(0.5 <= c <= 1 for c in body["confidence"])
        assert client.post("/v1/models/nope/predict", json={"inputs": _rows()}).status_code == 404
        assert client.post("/v1/models/fraud-detector/predict", json={"inputs": [[1, 2]]}).status_code == 422
        assert client.post("/v1/models/fraud-detector/predict", json={"inputs": []}).status_code == 422
        # Not features: a JSON boolean or string (lax pydantic took true as 1.0), or a non-finite number.
        for cell in (True, "0.5"):
            bad = [[0.1] * 19 + [cell]]
            assert client.post("/v1/models/fraud-detector/predict", json={"inputs": bad}).status_code == 422, cell
        nan = '{"inputs": [[' + ", ".join(["0.1"] * 19 + ["NaN"]) + "]]}"
        resp = client.post("/v1/models/fraud-detector/predict", content=nan, headers={"Content-Type": "application/json"})
        assert resp.status_code == 422
        load = client.get("/v1/load").json()
        assert load["memory_total_bytes"] == 16 * GiB and load["device_kind"] == "simulated"
        metrics = client.get("/metrics").text
    for name in ("chaosctl_model_inference_duration_seconds_bucket", "chaosctl_model_batch_size_bucket",
                 "chaosctl_model_queue_depth", "chaosctl_gpu_memory_used_bytes", "chaosctl_gpu_memory_total_bytes",
                 "chaosctl_gpu_utilization_ratio", "chaosctl_model_confidence_bucket", "chaosctl_model_warming 0.0",
                 'chaosctl_model_version_info{model="fraud-detector",version="2.4.0"} 1.0',
                 'chaosctl_model_server_region_info{region="a"} 1.0'):  # fmt: skip
        assert name in metrics
    spans = [s for s in exporter.get_finished_spans() if s.context.trace_id == int(TRACEPARENT.split("-")[1], 16)]
    (route,) = [s for s in spans if s.name == "POST /v1/models/{model}/predict"]
    (inference,) = [s for s in spans if s.name == "inference"]
    assert format(route.parent.span_id, "016x") == TRACEPARENT.split("-")[2]
    assert inference.parent.span_id == route.context.span_id
    assert inference.attributes["model"] == "fraud-detector" and inference.attributes["batch.size"] == 2
    assert inference.attributes["version"] == "2.4.0" and inference.attributes["device"] == "gpu"


def test_admin_needs_token_and_drives_faults() -> None:
    auth = {"X-Admin-Token": TOKEN}
    with _client() as client:
        _wait_ready(client)
        assert client.get("/admin/gpu").status_code == 401
        assert client.post("/admin/gpu/allocate", json={"fraction": 0.95},
                           headers={"X-Admin-Token": "wrong"}).status_code == 401  # fmt: skip
        assert client.post("/admin/errors", json={"rate": 1.0}).status_code == 401
        alloc = client.post("/admin/gpu/allocate", json={"fraction": 0.95}, headers=auth).json()
        assert client.get("/healthz").json()["status"] == "saturated"
        state = client.get("/admin/gpu", headers=auth).json()
        assert state["fault_bytes"] == alloc["bytes"] and state["memory_used_bytes"] == int(16 * GiB * 0.95)
        assert client.post("/admin/gpu/allocate", json={"bytes": 8 * GiB}, headers=auth).status_code == 409
        assert client.delete(f"/admin/gpu/allocations/{alloc['allocation_id']}", headers=auth).json()["released"]
        assert not client.delete(f"/admin/gpu/allocations/{alloc['allocation_id']}", headers=auth).json()["released"]
        assert client.get("/healthz").json()["status"] == "ready"
        client.post("/admin/gpu/compute", json={"saturation": 1.0}, headers=auth)
        assert client.get("/v1/load").json()["utilization"] == 1.0
        client.delete("/admin/gpu/compute", headers=auth)
        client.post("/admin/errors", json={"rate": 1.0}, headers=auth)
        assert client.post("/v1/models/fraud-detector/predict", json={"inputs": _rows()}).status_code == 500
        client.delete("/admin/errors", headers=auth)
        assert client.post("/v1/models/fraud-detector/predict", json={"inputs": _rows()}).status_code == 200
    with _client("model-cpu-1") as cpu:
        _wait_ready(cpu)
        assert cpu.get("/admin/gpu", headers=auth).status_code == 409
        assert cpu.post("/v1/models/fraud-detector/predict", json={"inputs": _rows()}).json()["device"] == "cpu"


def test_a_warming_gpu_server_says_how_long_its_warm_up_still_runs() -> None:
    class Clock:
        now = 100.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    engine = Engine(model_server("model-gpu-1"), ModelServerConfig(warmup_s=4.0), clock=clock)
    app = create_app(engine, Telemetry("model-gpu-1", None), TOKEN, trainer=fast_trainer, service_token=SERVICE_TOKEN)
    with TestClient(app) as client:
        deadline = time.monotonic() + 10
        while not engine.loaded:  # the lifespan places the models in the background
            assert time.monotonic() < deadline
            time.sleep(0.01)
        clock.now += 1.5
        warming = client.get("/healthz")
        assert warming.status_code == 503 and warming.json()["ready_in_s"] == 2.5  # the warm-up, not shortened
        clock.now += 2.5
        assert client.get("/healthz").status_code == 200 and "ready_in_s" not in client.get("/healthz").json()
    cpu = Engine(model_server("model-cpu-1"), ModelServerConfig(warmup_s=4.0), clock=clock)
    with TestClient(create_app(cpu, Telemetry("model-cpu-1", None), TOKEN, trainer=fast_trainer,
                               service_token=SERVICE_TOKEN)) as client:  # fmt: skip
        assert "ready_in_s" not in client.get("/healthz").json()  # no device, no warm-up
