"""Registry API: register / heartbeat / deregister / discover service records, over etcd x3.

The registry reaches each etcd member through its Toxiproxy link
(`topology.via_proxy("registry", "registry-store[i]")`) so that link faults hit it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse

from chaosctl.services.registry.etcd import EtcdClient, EtcdError, EtcdUnavailable
from chaosctl.services.registry.records import Heartbeat, Record, RecordIn, select, valid_range
from chaosctl.services.registry.records import Query as Q
from chaosctl.services.registry.cache import WatchCache
from chaosctl.services.registry.store import PREFIX, RecordNotFound, RegistryStore
from chaosctl.services.credential import require_service_token
from chaosctl.services.telemetry import Telemetry
from chaosctl.settings import Settings
from chaosctl.stack.topology import Topology


def etcd_endpoints(topology: Topology) -> list[str]:
    return [topology.via_proxy("registry", member) for member in topology.etcd_members]


def create_app(
    telemetry: Telemetry, endpoints: list[str], transport: Any = None, *, service_token: str, watch_cache: bool = True
) -> FastAPI:
    """The registry ASGI app; `transport` (an httpx transport) replaces the network in unit tests.

    Writes (register, heartbeat, deregister) need `service_token` as a bearer credential;
    discovery stays open (it is what the gateway and operators read)."""
    etcd = EtcdClient(endpoints, tracer=telemetry.tracer, transport=transport)
    cache = WatchCache(etcd, PREFIX) if watch_cache else None
    store = RegistryStore(etcd, PREFIX, cache)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(cache.run()) if cache is not None else None
        yield
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await etcd.aclose()
        telemetry.shutdown()

    app = FastAPI(title="chaosctl registry", lifespan=lifespan)
    telemetry.install(app)
    app.state.store = store

    @app.exception_handler(EtcdUnavailable)
    async def _unavailable(_req: Any, exc: EtcdUnavailable) -> JSONResponse:
        return JSONResponse({"detail": f"registry store unavailable: {exc}"}, status_code=503)

    @app.exception_handler(EtcdError)
    async def _etcd_error(_req: Any, exc: EtcdError) -> JSONResponse:
        return JSONResponse({"detail": f"registry store error: {exc}"}, status_code=502)

    _routes(app, store, etcd, telemetry.registry, service_token)
    return app


def _routes(app: FastAPI, store: RegistryStore, etcd: EtcdClient, registry: Any, service_token: str) -> None:
    from prometheus_client import Counter

    discoveries = Counter("chaosctl_registry_discovery_total", "Discovery answers by source (watch cache or etcd read)",
                          ("source",), registry=registry)  # fmt: skip
    _health_route(app, store, etcd)
    _record_routes(app, store, require_service_token(service_token, "registry writes"))
    _discovery_route(app, store, discoveries)


def _health_route(app: FastAPI, store: RegistryStore, etcd: EtcdClient) -> None:
    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        try:
            await store.ping()
        except EtcdError as exc:
            return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
        return JSONResponse({"status": "ready", "etcd": etcd.current})


def _record_routes(app: FastAPI, store: RegistryStore, credential: Callable[..., None]) -> None:
    """Register / heartbeat / deregister: a service's own record (service credential only:
    an anonymous write could point the gateway elsewhere or take a real server out)."""
    writer = [Depends(credential)]  # runs before the body is read: a 401 changes nothing

    @app.post("/v1/services", status_code=201, dependencies=writer)
    async def register(rec: RecordIn) -> dict[str, Any]:
        reg = await store.register(rec)
        return {"id": reg.id, "lease_id": str(reg.lease_id), "ttl": reg.ttl}

    @app.put("/v1/services/{record_id}/heartbeat", dependencies=writer)
    async def heartbeat(record_id: str, hb: Heartbeat | None = None) -> dict[str, Any]:
        try:
            ttl = await store.heartbeat(record_id, hb or Heartbeat())
        except RecordNotFound:
            raise HTTPException(404, f"no live record {record_id!r} (lease expired?)") from None
        return {"id": record_id, "ttl": ttl}

    @app.delete("/v1/services/{record_id}", dependencies=writer)
    async def deregister(record_id: str) -> dict[str, Any]:
        return {"id": record_id, "deleted": await store.deregister(record_id)}


def _discovery_route(app: FastAPI, store: RegistryStore, discoveries: Any) -> None:
    from opentelemetry import trace

    @app.get("/v1/services")
    async def discover(
        capability: str | None = None,
        model: str | None = None,
        version: str | None = None,
        device: str | None = None,
        region: str | None = None,
        max_p99_ms: float | None = None,
        tag: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
        health: Annotated[list[str], Query()] = [],  # noqa: B006
    ) -> dict[str, list[Record]]:
        q = _discovery_query(capability, model, version, device, region, max_p99_ms, tag, health)
        records, source = await store.records()
        discoveries.labels(source).inc()
        trace.get_current_span().set_attribute("registry.source", source)
        return {"services": select(records, q)}


def _discovery_query(
    capability: str | None,
    model: str | None,
    version: str | None,
    device: str | None,
    region: str | None,
    max_p99_ms: float | None,
    tag: list[str],
    health: list[str],
) -> Q:
    """The discovery filter from query parameters; a bad one is the client's 422."""
    if version is not None and not valid_range(version):
        raise HTTPException(422, f"version: {version!r} is no semver version or range")
    healths = tuple(h for item in health for h in item.split(",") if h)  # ?health=a,b and ?health=a&health=b
    try:
        return Q(capability=capability, model=model, version=version, device=device, region=region,
                 max_p99_ms=max_p99_ms, tags=tuple(tag), health=healths)  # fmt: skip
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


def serve(name: str, topology: Topology, settings: Settings) -> None:
    """Run the registry on `topology.registry_port` until SIGTERM."""
    from chaosctl.services.telemetry import serve as run

    telemetry = Telemetry(name, topology)
    run(create_app(telemetry, etcd_endpoints(topology), service_token=settings.service_token), topology.registry_port)
