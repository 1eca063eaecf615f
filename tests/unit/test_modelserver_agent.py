"""Registration agent against an in-memory registry (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import json

import httpx

from chaosctl.services.modelserver.agent import RegistryAgent
from chaosctl.services.modelserver.engine import Engine, ModelServerConfig
from chaosctl.services.modelserver.models import RECIPES, LoadedModel
from chaosctl.stack.topology import model_server


def fast_trainer(name: str, version: str, capability: str) -> LoadedModel:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    recipe = RECIPES[(name, version)]
    x, y = make_classification(n_samples=200, n_features=recipe.n_features, random_state=0)
    return LoadedModel(name, version, capability, recipe.n_features, recipe.weight_bytes, 0.9,
                       LogisticRegression().fit(x, y))  # fmt: skip


SERVICE_TOKEN = "unit-service-token-0123456789abcdef012345"


class FakeRegistry:
    def __init__(self) -> None:
        self.records: dict[str, dict] = {}
        self.up = True
        self.log: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("refused", request=request)
        path = request.url.path
        self.log.append(f"{request.method} {path}")
        if request.headers.get("authorization") != f"Bearer {SERVICE_TOKEN}":  # as the real registry
            return httpx.Response(401, json={"detail": "registry writes need the service credential"})
        if request.method == "POST":
            rec = json.loads(request.content)
            rid = f"{rec['name']}--{rec['model']}--{rec['version']}"
            self.records[rid] = rec
            return httpx.Response(201, json={"id": rid, "lease_id": "1", "ttl": rec["ttl"]})
        rid = path.split("/")[3]
        if request.method == "DELETE":
            self.records.pop(rid, None)
            return httpx.Response(200, json={"deleted": True})
        if rid not in self.records:
            return httpx.Response(404, json={"detail": "expired"})
        self.records[rid].update(json.loads(request.content))
        return httpx.Response(200, json={"id": rid, "ttl": 10})


def test_registers_heartbeats_reregisters_after_expiry_and_deregisters() -> None:
    async def go() -> None:
        fake = FakeRegistry()
        engine = Engine(model_server("model-gpu-2"), ModelServerConfig(warmup_s=0.0))
        await engine.load(fast_trainer)
        agent = RegistryAgent(engine, "http://registry", "http://127.0.0.1:1", token=SERVICE_TOKEN,
                              transport=httpx.MockTransport(fake.handler))  # fmt: skip
        await agent.tick()
        assert sorted(fake.records) == [
            "model-gpu-2--fraud-detector--2.3.1", "model-gpu-2--fraud-detector--2.4.0",
            "model-gpu-2--image-classifier--1.2.0",
        ]  # fmt: skip
        rec = fake.records["model-gpu-2--fraud-detector--2.4.0"]
        assert rec["device"] == "gpu" and rec["capability"] == "fraud-detection" and rec["health"] == "ready"
        assert rec["endpoint"] == "http://127.0.0.1:1" and 0.5 < rec["accuracy"] <= 1
        assert rec["load"]["memory_total_bytes"] == engine.config.memory_total_bytes
        engine.device.allocate_fraction(0.95)  # type: ignore[union-attr]
        await agent.tick()
        assert agent.heartbeats == 3 and fake.records["model-gpu-2--fraud-detector--2.3.1"]["health"] == "saturated"
        del fake.records["model-gpu-2--fraud-detector--2.3.1"]  # its lease expired
        fake.up = False
        await agent.tick()  # registry down: no crash
        fake.up = True
        await agent.tick()
        assert "model-gpu-2--fraud-detector--2.3.1" in fake.records and agent.registrations == 4
        await agent.deregister()
        assert fake.records == {}
        await agent.aclose()
        await engine.close()

    asyncio.run(go())


def test_a_refused_credential_registers_nothing_and_never_crashes_the_server() -> None:
    async def go() -> None:
        fake = FakeRegistry()
        engine = Engine(model_server("model-cpu-1"), ModelServerConfig(warmup_s=0.0))
        await engine.load(fast_trainer)
        agent = RegistryAgent(engine, "http://registry", "http://127.0.0.1:1", token="another-install-token",
                              transport=httpx.MockTransport(fake.handler))  # fmt: skip
        await agent.tick()
        await agent.tick()
        assert fake.records == {} and agent.registrations == 0 and agent.registered == {}
        assert fake.log and all(entry.startswith("POST ") for entry in fake.log)  # retried, never heartbeats
        await agent.aclose()
        await engine.close()

    asyncio.run(go())
