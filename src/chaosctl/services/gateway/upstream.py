"""The gateway's HTTP side: its pooled connections and one predict try against a model server.

Why the predict try goes to the pool's transport and not through `httpx.AsyncClient`: the
client's layers (auth flow, redirects, cookies, default headers, URL merging) were ~10% of the
gateway's CPU per request and none of them applies to a POST to an upstream the stack defined.
The registry and the pipeline stages still use the clients (same pooled connections).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from chaosctl.services.gateway.retry import Outcome, outcome_for_status

# Why several: httpcore scans every connection of a pool on each request and each response
# (expiry and idleness checks), so one pool of N busy connections costs O(N) per request; under
# 32 concurrent requests that was a third of the gateway's CPU. Shards of a few connections each
# keep the scan short.
SHARDS = 8
LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=8)


class PredictResponse(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    model: str
    version: str
    device: str
    server: str
    outputs: list[Any]
    confidence: list[float] | float


@dataclass(frozen=True)
class TryResult:
    outcome: Outcome
    status: int | None = None
    detail: str = ""
    body: PredictResponse | None = None


class HttpPool:
    """A few pooled HTTP clients, taken in turn; (re)opened on first use. `transport`: a test's."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None, timeout_s: float) -> None:
        self._given = transport
        self._timeout = httpx.Timeout(timeout_s)
        self._transports: list[httpx.AsyncBaseTransport] = []
        self._clients: list[httpx.AsyncClient] = []
        self._turn = 0

    def _shard(self) -> int:
        if not self._clients or self._clients[0].is_closed:
            tls = httpx.create_ssl_context() if self._given is None else None  # one for all: loading CAs is slow
            self._transports = [self._given or httpx.AsyncHTTPTransport(verify=tls, limits=LIMITS) for _ in range(SHARDS)]
            self._clients = [httpx.AsyncClient(transport=t, timeout=self._timeout) for t in self._transports]
        self._turn = (self._turn + 1) % SHARDS
        return self._turn

    @property
    def client(self) -> httpx.AsyncClient:
        shard = self._shard()  # first: it may (re)open the lists
        return self._clients[shard]

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        shard = self._shard()
        return self._transports[shard]

    async def aclose(self) -> None:
        clients, self._clients, self._transports = self._clients, [], []
        for client in clients:
            await client.aclose()


async def predict_try(pool: HttpPool, name: str, url: str, payload: Mapping[str, Any], headers: Mapping[str, str],
                      timeout: float) -> TryResult:  # fmt: skip
    """POST `payload` to `url` within `timeout` (the whole try, not only each socket read)."""
    request = httpx.Request(
        "POST", url, content=orjson.dumps(payload), headers={**headers, "content-type": "application/json"},
        extensions={"timeout": httpx.Timeout(timeout).as_dict()},
    )  # fmt: skip
    try:
        async with asyncio.timeout(timeout):
            resp = await pool.transport.handle_async_request(request)
            try:
                await resp.aread()
            finally:
                await resp.aclose()
    except (TimeoutError, httpx.TimeoutException):
        return TryResult(Outcome.TIMEOUT, detail=f"{name}: no answer within {timeout:g}s")
    except httpx.TransportError as exc:
        return TryResult(Outcome.CONNECT_ERROR, detail=f"{name}: {type(exc).__name__}: {exc}")
    outcome = outcome_for_status(resp.status_code)
    if outcome is not Outcome.OK:
        return TryResult(outcome, resp.status_code, f"{name}: {_detail(resp)}")
    try:
        return TryResult(Outcome.OK, resp.status_code, body=PredictResponse.model_validate_json(resp.content))
    except ValidationError:
        return TryResult(Outcome.SERVER_ERROR, resp.status_code, f"{name}: malformed prediction")


def _detail(resp: httpx.Response) -> str:
    try:
        payload = resp.json()
    except ValueError:
        return f"HTTP {resp.status_code}"
    if isinstance(payload, dict) and isinstance(payload.get("detail"), str):
        return f"HTTP {resp.status_code}: {payload['detail']}"
    return f"HTTP {resp.status_code}"
