"""A replica's held registration (modelserver agent + /admin/registration): nothing in the registry
until released, and released only when warm; holding again deregisters."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import Depends, FastAPI
from test_modelserver_agent import SERVICE_TOKEN, FakeRegistry, fast_trainer

from chaosctl.services.credential import require_admin_token
from chaosctl.services.modelserver.agent import RegistryAgent
from chaosctl.services.modelserver.engine import Engine, ModelServerConfig
from chaosctl.services.modelserver.registration import registration_router
from chaosctl.stack.topology import model_server

ADMIN = "unit-admin-token-0123456789abcdef0123456789"


def test_a_held_replica_registers_only_when_released_warm_and_holding_deregisters() -> None:
    async def go() -> None:
        fake = FakeRegistry()
        engine = Engine(model_server("model-gpu-scale-1"), ModelServerConfig(warmup_s=0.0))
        agent = RegistryAgent(engine, "http://registry", "http://127.0.0.1:1", token=SERVICE_TOKEN,
                              transport=httpx.MockTransport(fake.handler), held=True)  # fmt: skip
        app = FastAPI()
        app.include_router(registration_router(agent), dependencies=[Depends(require_admin_token(ADMIN))])
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://replica")
        admin = {"X-Admin-Token": ADMIN}
        assert (await client.post("/admin/registration")).status_code == 401
        assert (await client.post("/admin/registration", headers=admin)).status_code == 409  # still loading
        await engine.load(fast_trainer)
        await agent.tick()
        assert fake.records == {}  # warm but held: the heartbeat loop registers nothing
        resp = await client.post("/admin/registration", headers=admin)
        assert resp.status_code == 200 and resp.json()["held"] is False
        assert sorted(fake.records) == ["model-gpu-scale-1--fraud-detector--2.3.1",
                                        "model-gpu-scale-1--image-classifier--1.2.0"]
        assert {r["health"] for r in fake.records.values()} == {"ready"}
        resp = await client.delete("/admin/registration", headers=admin)
        assert resp.json() == {"held": True, "registered": []} and fake.records == {}
        await agent.tick()
        assert fake.records == {}  # held again: the next heartbeat does not bring it back
        await client.aclose()
        await agent.aclose()
        await engine.close()

    asyncio.run(go())
