"""The autoscaler service: the control loop, `/healthz`, `/metrics`, and admin routes.

Admin routes (header `X-Admin-Token`, 401 without): `GET /admin/autoscaler` (state, decisions,
replicas), `PUT /admin/autoscaler/enabled {"enabled": bool}`, `PUT /admin/autoscaler/pools/{pool}
{"min", "max"}`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from chaosctl.services.autoscaler.config import POOLS, AutoscalerConfig
from chaosctl.services.autoscaler.controller import Controller
from chaosctl.services.autoscaler.policy import Bounds
from chaosctl.services.credential import require_admin_token
from chaosctl.services.telemetry import Telemetry
from chaosctl.settings import Settings
from chaosctl.stack.topology import REPLICA_SLOTS, Topology

log = logging.getLogger("chaosctl.autoscaler")


class EnabledBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


class BoundsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: int = Field(ge=0, le=REPLICA_SLOTS)
    max: int = Field(ge=0, le=REPLICA_SLOTS)


def create_app(controller: Controller, telemetry: Telemetry, admin_token: str, on_close: Any = None) -> FastAPI:
    app = FastAPI(title="chaosctl autoscaler", lifespan=_lifespan(controller, telemetry, on_close))
    telemetry.install(app, trace_requests=False)  # the control loop's spans matter, not /metrics scrapes
    admin = require_admin_token(admin_token)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ready", "enabled": controller.enabled}

    @app.get("/admin/autoscaler", dependencies=[Depends(admin)])
    async def show() -> dict[str, Any]:
        return _state(controller)

    @app.put("/admin/autoscaler/enabled", dependencies=[Depends(admin)])
    async def enable(body: EnabledBody) -> dict[str, Any]:
        controller.enabled = body.enabled
        controller.metrics.enabled.set(1 if body.enabled else 0)
        return _state(controller)

    @app.put("/admin/autoscaler/pools/{pool}", dependencies=[Depends(admin)])
    async def bounds(pool: str, body: BoundsBody) -> dict[str, Any]:
        if pool not in POOLS:
            raise HTTPException(404, f"unknown pool {pool!r}; pools: {', '.join(POOLS)}")
        if body.min > body.max:
            raise HTTPException(422, f"min ({body.min}) must not exceed max ({body.max})")
        controller.set_bounds(pool, Bounds(body.min, body.max))
        return _state(controller)

    return app


def _state(controller: Controller) -> dict[str, Any]:
    return {
        "enabled": controller.enabled,
        "pools": {p: {"bounds": asdict(controller.config.policies[p].bounds),
                      "decision": asdict(d) if (d := controller.last_decision.get(p)) else None} for p in POOLS},
        "replicas": [{"name": r.name, "pool": r.pool, "state": r.state, "pid": r.proc.pid if r.proc else None}
                     for r in controller.replicas.values()],
    }  # fmt: skip


def _lifespan(controller: Controller, telemetry: Telemetry, on_close: Any) -> Any:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_loop(controller))
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await controller.close()
            if on_close is not None:
                await on_close()
            telemetry.shutdown()

    return lifespan


async def _loop(controller: Controller) -> None:
    while True:
        try:
            await controller.tick()
        except Exception:  # noqa: BLE001 - one bad round must not end autoscaling
            log.exception("autoscaler round failed")
        await asyncio.sleep(controller.config.interval_s)


def serve(name: str, topology: Topology, settings: Settings) -> None:
    """Run the autoscaler on its topology port until SIGTERM; its replicas stop with it."""
    from chaosctl.services.autoscaler.httpapi import HttpReplicaApi
    from chaosctl.services.autoscaler.metrics import AutoscalerMetrics
    from chaosctl.services.autoscaler.replicas import ProcessLauncher, stop_recorded
    from chaosctl.services.telemetry import serve as run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per poll would bury the decisions
    stop_recorded(settings.state_dir)  # replicas of an autoscaler that died: this one does not know them
    telemetry = Telemetry(name, topology)
    api = HttpReplicaApi(topology, settings.service_token, settings.admin_token, inject=telemetry.inject)
    controller = Controller(AutoscalerConfig(), ProcessLauncher(settings.state_dir, topology.port_base), api,
                            AutoscalerMetrics(telemetry.registry, POOLS, telemetry.tracer))  # fmt: skip

    async def on_close() -> None:
        await api.aclose()
        await asyncio.to_thread(stop_recorded, settings.state_dir)  # a replica whose start was cut short

    run(create_app(controller, telemetry, settings.admin_token, on_close), topology.autoscaler_port)
