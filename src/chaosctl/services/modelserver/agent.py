"""Registration agent: keeps one registry record per (model, version) of this server alive.

Registers once the models are trained (health `warming`), heartbeats every
`interval` with health and load, registers again when the registry answers 404
(the lease expired, e.g. during a registry or etcd outage), deregisters on shutdown.
The registry is called directly (not through a Toxiproxy link), with the service
credential. A registry that is down is retried at the next tick; it never stops the server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx

from chaosctl.services.credential import bearer_header
from chaosctl.services.modelserver.engine import Engine
from chaosctl.services.registry.records import Load, RecordIn

log = logging.getLogger("chaosctl.modelserver.agent")


def records_for(engine: Engine, endpoint: str) -> list[RecordIn]:
    spec, out = engine.spec, []
    for (name, version), model in engine.models.items():
        cap = next(m.capability for m in spec.models if (m.name, m.version) == (name, version))
        out.append(RecordIn(
            name=spec.name, capability=cap, model=name, version=version, device=spec.device,  # type: ignore[arg-type]
            region=spec.region, p99_ms=spec.p99_ms, accuracy=round(model.accuracy, 4),
            tags=("pci-dss", "gdpr") if name == "fraud-detector" else ("gdpr",),
            health=engine.health(), endpoint=endpoint, ttl=engine.config.ttl_s,  # type: ignore[arg-type]
        ))  # fmt: skip
    return out


class RegistryAgent:
    def __init__(
        self,
        engine: Engine,
        registry_url: str,
        endpoint: str,
        *,
        token: str,
        inject: Callable[[dict[str, str]], Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        held: bool = False,
    ) -> None:
        self.engine = engine
        # Held: register nothing until released (an autoscaler's replica registers only once it
        # is warm; scale-down holds it again and deregisters before the drain).
        self.held = held
        self.registry_url = registry_url.rstrip("/")
        self.endpoint = endpoint
        self._inject = inject
        # Every call carries the service credential: the registry refuses anonymous writes.
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(2.0, connect=0.5), transport=transport,
                                       headers=bearer_header(token))  # fmt: skip
        self.registered: dict[str, RecordIn] = {}  # record id -> what was registered
        self.registrations = 0
        self.heartbeats = 0
        self._failing = False  # log the registry going away and coming back, not every tick

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self._inject is not None:
            self._inject(headers)
        return headers

    def _heartbeat_body(self) -> dict[str, Any]:
        report = self.engine.load_report()
        load = Load(**{k: report[k] for k in ("queue_depth", "memory_used_bytes", "memory_total_bytes", "utilization")})
        return {"health": self.engine.health(), "load": load.model_dump()}

    async def tick(self) -> None:
        """One round: register what is not registered, heartbeat the rest. Never raises."""
        if not self.engine.models or self.held:
            return
        body = self._heartbeat_body()
        for rec in records_for(self.engine, self.endpoint):
            try:
                await self._sync(rec, body)
            except httpx.HTTPError as exc:
                if not self._failing:
                    log.warning("registry %s failing (%s: %s); retrying every %.0fs", self.registry_url,
                                rec.record_id(), exc, self.engine.config.heartbeat_s)  # fmt: skip
                self._failing = True
                continue
            if self._failing:
                log.warning("registry %s answering again", self.registry_url)
                self._failing = False

    async def _sync(self, rec: RecordIn, body: dict[str, Any]) -> None:
        rid = rec.record_id()
        if rid in self.registered:
            resp = await self._http.put(f"{self.registry_url}/v1/services/{rid}/heartbeat",
                                        json=body, headers=self._headers())  # fmt: skip
            if resp.status_code != 404:
                resp.raise_for_status()
                self.heartbeats += 1
                return
            del self.registered[rid]  # the lease expired (registry or etcd outage): register again
        full = rec.model_copy(update={"health": body["health"], "load": Load(**body["load"])})
        resp = await self._http.post(f"{self.registry_url}/v1/services",
                                     json=full.model_dump(mode="json"), headers=self._headers())  # fmt: skip
        resp.raise_for_status()
        self.registered[rid] = rec
        self.registrations += 1

    async def run(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self.engine.config.heartbeat_s)

    async def deregister(self) -> None:
        for rid in list(self.registered):
            try:
                await self._http.delete(f"{self.registry_url}/v1/services/{rid}", timeout=1.0)
            except httpx.HTTPError:
                pass  # the lease expires anyway
            self.registered.pop(rid, None)

    async def release(self) -> list[str]:
        """Stop holding: register at once (the ids registered; empty when the registry failed)."""
        self.held = False
        await self.tick()
        return sorted(self.registered)

    async def hold(self) -> None:
        """Hold and deregister: the gateway stops finding this server at its next registry read."""
        self.held = True
        await self.deregister()

    async def aclose(self) -> None:
        await self._http.aclose()
