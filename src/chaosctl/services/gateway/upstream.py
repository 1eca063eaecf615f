"""The gateway's HTTP side: its pooled connections and one predict try against a model server.

Why the predict try does not go through httpx: per POST to a model server, httpx's transport
(httpcore over anyio and h11, its pool scanned and each idle socket polled on every request) cost
~2.3 ms of client CPU at 16 concurrent requests, and was a third of the gateway's CPU per request.
It went through aiohttp (~0.24 ms), now through gateway/http_lean.py (keep-alive connections on
asyncio protocols, httptools' parser: less again, see there). The registry and the pipeline stages
still use the httpx clients (rare calls). A test's httpx transport (`Deps.transport`) takes the
predict try too, so the unit tests' fake servers answer it; the live tests drive the lean path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from chaosctl.services.gateway.deadline import deadline
from chaosctl.services.gateway.http_lean import HttpFailed, LeanHttp
from chaosctl.services.gateway.retry import Outcome, outcome_for_status

# Why several: httpcore scans every connection of a pool on each request and each response
# (expiry and idleness checks), so one pool of N busy connections costs O(N) per request; under
# 32 concurrent requests that was a third of the gateway's CPU. Shards of a few connections each
# keep the scan short.
SHARDS = 8
LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=8)
# The predict tries' connections: as many as the httpx shards allowed in all; an idle one is let
# go before uvicorn's 5 s keep-alive closes it from the server side (else a POST could be sent
# on a connection the server is closing: a spurious connect error, a retry and a breaker count).
UPSTREAM_CONNECTIONS = SHARDS * 64
UPSTREAM_KEEPALIVE_S = 3.0


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
        self._lean = LeanHttp(UPSTREAM_CONNECTIONS, UPSTREAM_KEEPALIVE_S)

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

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        """POST `body`: (status, response body). Raises TimeoutError, or `ConnectionFailed` when
        no answer came (refused, reset, closed mid-answer). The caller bounds the whole try
        (`timeout` is handed to a test's httpx transport too, as its per-read timeout)."""
        if self._given is not None:
            return await self._post_httpx(url, body, headers, timeout)
        try:
            return await self._lean.post(url, body, headers)
        except HttpFailed as exc:
            raise ConnectionFailed(str(exc)) from None

    async def _post_httpx(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        request = httpx.Request(
            "POST", url, content=body, headers=headers, extensions={"timeout": httpx.Timeout(timeout).as_dict()},
        )  # fmt: skip
        try:
            resp = await self.transport.handle_async_request(request)
            try:
                await resp.aread()
            finally:
                await resp.aclose()
        except httpx.TimeoutException:
            raise TimeoutError from None
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{type(exc).__name__}: {exc}") from None
        return resp.status_code, resp.content

    async def aclose(self) -> None:
        clients, self._clients, self._transports = self._clients, [], []
        for client in clients:
            await client.aclose()
        await self._lean.aclose()


class ConnectionFailed(Exception):
    """No answer from the upstream: refused, reset, or closed before the whole answer came."""


async def predict_try(pool: HttpPool, name: str, url: str, payload: Mapping[str, Any], headers: Mapping[str, str],
                      timeout: float) -> TryResult:  # fmt: skip
    """POST `payload` to `url` within `timeout` (the whole try, not only each socket read)."""
    try:
        with deadline(timeout):
            status, content = await pool.post(
                url, orjson.dumps(payload), {**headers, "content-type": "application/json"}, timeout
            )
    except TimeoutError:
        return TryResult(Outcome.TIMEOUT, detail=f"{name}: no answer within {timeout:g}s")
    except ConnectionFailed as exc:
        return TryResult(Outcome.CONNECT_ERROR, detail=f"{name}: {exc}")
    outcome = outcome_for_status(status)
    if outcome is not Outcome.OK:
        return TryResult(outcome, status, f"{name}: {_detail(status, content)}")
    try:
        return TryResult(Outcome.OK, status, body=PredictResponse.model_validate_json(content))
    except ValidationError:
        return TryResult(Outcome.SERVER_ERROR, status, f"{name}: malformed prediction")


def _detail(status: int, content: bytes) -> str:
    try:
        payload = orjson.loads(content)
    except orjson.JSONDecodeError:
        return f"HTTP {status}"
    if isinstance(payload, dict) and isinstance(payload.get("detail"), str):
        return f"HTTP {status}: {payload['detail']}"
    return f"HTTP {status}"
