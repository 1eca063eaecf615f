"""Model server's web app: predict, load figures, health, and the token-protected GPU admin API (faults use it).

Imported by `app.serve` only once the models are placed (their warm-up runs meanwhile): FastAPI,
uvicorn and OpenTelemetry are what a start imports the longest after scikit-learn."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry import context as otel_context
from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict

from chaosctl.services.modelserver.agent import RegistryAgent
from chaosctl.services.modelserver.device import Allocation, DeviceOOM, SimulatedGpu
from chaosctl.services.modelserver.engine import Engine, ServeError
from chaosctl.services.modelserver.faultroutes import gpu_fault_routes
from chaosctl.services.modelserver.metrics import install_metrics
from chaosctl.services.modelserver.registration import registration_router
from chaosctl.services.modelserver import request_faults
from chaosctl.services.credential import require_admin_token, require_service_token
from chaosctl.services.validation import invalid_request
from chaosctl.services.telemetry import Telemetry
from chaosctl.settings import Settings
from chaosctl.stack.topology import REPLICAS, Topology


class PredictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Strict and finite, as at the gateway: true/false, "1" or NaN are not features.
    inputs: list[list[Annotated[float, Strict(), AllowInfNan(False)]]] = Field(min_length=1)
    version: str | None = None


class AllocateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bytes: int | None = Field(default=None, ge=0)
    fraction: float | None = Field(default=None, ge=0, le=1)


class ComputeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    saturation: float = Field(ge=0, le=1)


class ErrorsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: float = Field(ge=0, le=1)


def create_app(
    engine: Engine,
    telemetry: Telemetry,
    admin_token: str,
    agent: RegistryAgent | None = None,
    trainer: Any = None,
    *,
    service_token: str,
) -> FastAPI:
    """The model-server app. `trainer` replaces model training in unit tests.

    Every route but /healthz and /metrics needs a credential: predict and /v1/load the
    service credential (the gateway's), /admin the admin token; otherwise a client could
    call a server directly and walk around the gateway's auth and rate limits."""
    app = FastAPI(title=f"chaosctl model server {engine.spec.name}",
                  lifespan=_lifespan(engine, telemetry, agent, trainer))  # fmt: skip
    telemetry.install(app)
    install_metrics(engine, telemetry.registry)
    app.state.engine = engine

    @app.exception_handler(ServeError)
    async def _serve_error(_req: Request, exc: ServeError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    app.add_exception_handler(RequestValidationError, invalid_request)  # type: ignore[arg-type]
    faulted = request_faults.install(app, engine, telemetry, admin_token)  # after the credential, before the work
    _public_routes(app, engine, require_service_token(service_token, "model server routes"), faulted)
    _admin_routes(app, engine, admin_token)
    if agent is not None:
        app.include_router(registration_router(agent), dependencies=[Depends(require_admin_token(admin_token))])
    return app


def _lifespan(engine: Engine, telemetry: Telemetry, agent: RegistryAgent | None, trainer: Any) -> Any:
    """Place the models in the background unless `serve` placed them before the port opened (the
    port answers /healthz at once from here), start the batchers, then register and heartbeat."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async def start() -> None:
            await (engine.load(trainer) if trainer else engine.load())
            if agent is not None:
                await agent.run()

        task = asyncio.create_task(start())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if agent is not None:
                await agent.deregister()
                await agent.aclose()
            await engine.close()
            telemetry.shutdown()

    return lifespan


def _public_routes(app: FastAPI, engine: Engine, credential: Callable[..., None], faulted: Callable[..., Any]) -> None:
    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        health = engine.health()
        body = {"status": health, "server": engine.spec.name, "device_kind": engine.device_kind}
        if engine.load_error:
            body["reason"] = engine.load_error
        elif not engine.loaded:
            body["reason"] = "loading models"
        elif health == "warming":
            body["reason"] = "warming up after model load"
            if engine.device is not None:  # when to ask again (`up` waits on it): the warm-up is not cut short
                body["ready_in_s"] = round(engine.device.warm_in(), 3)
        elif health == "unhealthy":
            body["reason"] = "GPU device lost (simulated)"
        return JSONResponse(body, status_code=200 if health in ("ready", "saturated") else 503)

    @app.post("/v1/models/{model}/predict", dependencies=[Depends(credential), Depends(faulted)])
    async def predict(model: str, body: PredictBody) -> dict[str, Any]:
        # The telemetry middleware made the request's server span current (incoming context
        # extracted); the inference spans, created in the batch task, hang under it.
        pred = await engine.predict(model, body.version, body.inputs, otel_context.get_current())
        return {"model": pred.model, "version": pred.version, "device": engine.spec.device,
                "server": engine.spec.name, "outputs": pred.outputs, "confidence": pred.confidence}  # fmt: skip

    @app.get("/v1/load", dependencies=[Depends(credential)])
    async def load() -> dict[str, Any]:
        return engine.load_report()


def _admin_routes(app: FastAPI, engine: Engine, admin_token: str) -> None:
    admin = require_admin_token(admin_token)
    app.include_router(_gpu_router(engine), dependencies=[Depends(admin)])

    @app.post("/admin/errors", dependencies=[Depends(admin)])
    async def errors(body: ErrorsBody) -> dict[str, Any]:
        engine.error_rate = body.rate
        return {"rate": body.rate}

    @app.delete("/admin/errors", dependencies=[Depends(admin)])
    async def no_errors() -> dict[str, Any]:
        engine.error_rate = 0.0
        return {"rate": 0.0}


def _gpu_router(engine: Engine) -> APIRouter:
    """`/admin/gpu...`: what the `gpu-exhaustion` fault drives. 409 on a server without a GPU."""
    router = APIRouter(prefix="/admin/gpu")
    device = _gpu_dependency(engine)
    _gpu_memory_routes(router, device)
    _gpu_compute_routes(router, device)
    gpu_fault_routes(router, device)
    return router


GpuDependency = Callable[[], SimulatedGpu]


def _gpu_dependency(engine: Engine) -> GpuDependency:
    def device() -> SimulatedGpu:
        if engine.device is None:
            raise HTTPException(409, f"{engine.spec.name} has no GPU device")
        return engine.device

    return device


def _gpu_memory_routes(router: APIRouter, device: GpuDependency) -> None:
    @router.get("")
    async def gpu_state(dev: SimulatedGpu = Depends(device)) -> dict[str, Any]:
        return {"memory_used_bytes": dev.used_bytes, "memory_total_bytes": dev.total_bytes,
                "fault_bytes": dev.fault_bytes, "compute_saturation": dev.compute_saturation,
                "kind": dev.kind, "allocations": [asdict(a) for a in dev.allocations()],
                "faults": dev.faults.state()}  # fmt: skip

    @router.post("/allocate")
    async def allocate(body: AllocateBody, dev: SimulatedGpu = Depends(device)) -> dict[str, Any]:
        alloc = _allocate(dev, body)
        return {"allocation_id": alloc.id, "bytes": alloc.bytes}

    @router.delete("/allocations/{allocation_id}")
    async def release(allocation_id: str, dev: SimulatedGpu = Depends(device)) -> dict[str, Any]:
        is_fault = any(a.id == allocation_id for a in dev.allocations("fault"))
        return {"allocation_id": allocation_id, "released": is_fault and dev.release(allocation_id)}


def _allocate(dev: SimulatedGpu, body: AllocateBody) -> Allocation:
    """A fault allocation of `bytes` or of a `fraction` of the device (exactly one); 409 when it does not fit."""
    if (body.bytes is None) == (body.fraction is None):
        raise HTTPException(422, "give exactly one of 'bytes' or 'fraction'")
    try:
        if body.bytes is not None:
            return dev.allocate(body.bytes, "fault", "admin")
        return dev.allocate_fraction(body.fraction or 0.0, "admin")
    except DeviceOOM as exc:
        raise HTTPException(409, str(exc)) from None


def _gpu_compute_routes(router: APIRouter, device: GpuDependency) -> None:
    @router.post("/compute")
    async def saturate(body: ComputeBody, dev: SimulatedGpu = Depends(device)) -> dict[str, Any]:
        dev.compute_saturation = body.saturation
        return {"compute_saturation": body.saturation}

    @router.delete("/compute")
    async def unsaturate(dev: SimulatedGpu = Depends(device)) -> dict[str, Any]:
        dev.compute_saturation = 0.0
        return {"compute_saturation": 0.0}


def run(engine: Engine, topology: Topology, settings: Settings, trainer: Any) -> None:
    """Serve `engine` (its models placed, or placed by the lifespan with `trainer`) on its
    topology port until SIGTERM, registering it with the registry once loaded."""
    from chaosctl.services.telemetry import serve

    name = engine.spec.name
    telemetry = Telemetry(name, topology)
    engine.tracer = telemetry.tracer
    held = name in {r.name for r in REPLICAS}  # the autoscaler releases a replica's registration once it is warm
    agent = RegistryAgent(engine, topology.url("registry"), topology.url(name), token=settings.service_token, held=held)
    app = create_app(engine, telemetry, settings.admin_token, agent, trainer, service_token=settings.service_token)
    serve(app, topology.model_server_port(name))
