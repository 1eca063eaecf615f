"""The gateway's registry lookup: which servers serve a model, asked through the registry's link,
cached (gateway/cache.py), behind the registry's breaker, kept to upstreams the stack defined.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from chaosctl.services.gateway.breaker import CircuitBreaker
from chaosctl.services.gateway.cache import RegistryUnavailable, TTLCache
from chaosctl.services.gateway.metrics import GatewayMetrics
from chaosctl.services.gateway.records import ServiceRecord, parse_answer
from chaosctl.services.gateway.upstream import HttpPool

if TYPE_CHECKING:  # pragma: no cover
    from chaosctl.services.gateway.core import GatewayConfig
    from chaosctl.services.telemetry import Telemetry


class RegistryLookup:
    def __init__(self, config: GatewayConfig, telemetry: Telemetry, metrics: GatewayMetrics, pool: HttpPool,
                 breaker: CircuitBreaker, clock: Any) -> None:  # fmt: skip
        self.config, self.tel, self.metrics, self.pool, self.breaker = config, telemetry, metrics, pool, breaker
        self.cache: TTLCache[tuple[ServiceRecord, ...]] = TTLCache(self.fetch, config.cache, clock)
        self._results = {r: metrics.cache.labels(r) for r in ("hit", "miss", "stale")}  # children looked up once

    async def lookup(self, model: str) -> tuple[ServiceRecord, ...]:
        """The records of `model`'s servers this gateway may route to; RegistryUnavailable past the TTL."""
        with self.tel.span("registry lookup", attributes={"model": model}) as span:
            try:
                cached = await self.cache.get(model)
            except RegistryUnavailable:
                span.set_attribute("cache.result", "unavailable")
                raise
            self._results[cached.result].inc()
            self.metrics.cache_age.set(cached.age_s)
            span.set_attributes({"cache.result": cached.result, "cache.age_s": cached.age_s})
            allowed = self.config.servers
            return tuple(r for r in cached.value if r.model == model and (allowed is None or r.name in allowed))

    async def fetch(self, model: str) -> tuple[ServiceRecord, ...]:
        """Ask the registry (through its link); its breaker fails fast during an outage."""
        if not self.breaker.try_acquire():
            raise RegistryUnavailable("registry breaker open")
        try:
            async with asyncio.timeout(self.config.registry_timeout_s):
                resp = await self.pool.client.get(
                    f"{self.config.registry_url}/v1/services",
                    params={"model": model},
                    headers=dict(self.tel.inject({})),
                    timeout=self.config.registry_timeout_s,
                )
            resp.raise_for_status()
            records = self.known_upstreams(parse_answer(resp.json()))
        except asyncio.CancelledError:
            self.breaker.release()
            raise
        except Exception:
            self.breaker.record_failure()
            raise
        self.breaker.record_success()
        return records

    def known_upstreams(self, records: tuple[ServiceRecord, ...]) -> tuple[ServiceRecord, ...]:
        """Only records of upstreams the stack defined; the rest are counted and dropped
        (a record is data from the registry, not a reason to send client inputs anywhere)."""
        kept = []
        for rec in records:
            expected = self.config.upstream_endpoints.get(rec.name)
            if rec.name not in self.config.upstream_urls:
                self.metrics.ignored_records.labels("unknown_server").inc()
            elif expected is not None and rec.endpoint.rstrip("/") != expected.rstrip("/"):
                self.metrics.ignored_records.labels("foreign_endpoint").inc()
            else:
                kept.append(rec)
        return tuple(kept)
