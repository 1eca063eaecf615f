"""A thin async etcd v3 client over etcd's JSON gRPC-gateway (`/v3/...`) with member failover.

Why hand-written: the `etcd3` Python package is unmaintained and breaks with
current protobuf, and the JSON gateway (served by etcd 3.4+ under `/v3/`) needs
nothing but HTTP. Keys and values travel base64-encoded; int64 fields are JSON
strings.

Failover: every request goes first to the member that answered last; on a
connection error, a timeout or a 5xx answer (no leader, unavailable) it is retried
on the next member, so losing one member of three costs callers no failed request,
only one short connect timeout. Only when every member fails twice (two rounds, for
a leader election to finish) does `EtcdUnavailable` reach the caller.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from chaosctl.services.errors import ServiceError

CONNECT_TIMEOUT_S = 0.25
REQUEST_TIMEOUT_S = 1.5
ROUNDS = 2
ROUND_PAUSE_S = 0.2


class EtcdError(ServiceError):
    """etcd refused a request (bad request, lease not found, ...)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class LeaseNotFound(EtcdError):
    """The lease expired or was revoked."""


class EtcdUnavailable(EtcdError):
    """No member of the cluster answered."""


@dataclass(frozen=True)
class WatchBatch:
    revision: int
    puts: tuple[KeyValue, ...]
    deletes: tuple[str, ...]
    created: bool


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    lease: int
    mod_revision: int


def _b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def prefix_end(prefix: str) -> str:
    """The `range_end` that selects every key starting with `prefix` (last byte + 1)."""
    raw = prefix.encode()
    return (raw[:-1] + bytes([raw[-1] + 1])).decode("latin-1")


class EtcdClient:
    """Async client for a list of member URLs (`http://127.0.0.1:PORT`), tried in turn."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        tracer: Any = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("no etcd endpoints")
        self.endpoints = tuple(e.rstrip("/") for e in endpoints)
        self._good = 0  # index of the member that answered last
        self.last_write_revision = 0  # store revision of this client's latest write (read-your-writes)
        self._tracer = tracer
        timeout = httpx.Timeout(REQUEST_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def current(self) -> str:
        return self.endpoints[self._good]

    # -- transport with failover ------------------------------------------------

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST `body` to `path` on the last good member, failing over to the others."""
        if self._tracer is None:
            return await self._call(path, body, None)
        with self._tracer.start_as_current_span(f"etcd {path.removeprefix('/v3/')}") as span:
            return await self._call(path, body, span)

    async def _call(self, path: str, body: dict[str, Any], span: Any) -> dict[str, Any]:
        failures: list[str] = []
        n = len(self.endpoints)
        # Two rounds: a leader election (after the leader's loss) can outlast one round of
        # per-member timeouts on a busy machine; the second round then finds the new leader.
        for attempt in range(n * ROUNDS):
            if attempt and attempt % n == 0:
                await asyncio.sleep(ROUND_PAUSE_S)
            index = (self._good + attempt) % n
            try:
                resp = await self._http.post(self.endpoints[index] + path, json=body)
            except httpx.HTTPError as exc:  # connect refused/timeout, read timeout, reset
                failures.append(f"{self.endpoints[index]}: {type(exc).__name__}")
                continue
            if resp.status_code >= 500:
                failures.append(f"{self.endpoints[index]}: HTTP {resp.status_code} {resp.text[:120]}")
                continue
            self._good = index
            if span is not None:
                span.set_attribute("etcd.member", self.endpoints[index])
                span.set_attribute("etcd.attempts", attempt + 1)
            return _decode(resp)
        if span is not None:
            span.set_attribute("error", True)
        raise EtcdUnavailable("no etcd member answered: " + "; ".join(failures))

    # -- KV ---------------------------------------------------------------------

    def _wrote(self, data: dict[str, Any]) -> None:
        rev = int(data.get("header", {}).get("revision", 0))
        self.last_write_revision = max(self.last_write_revision, rev)

    async def put(self, key: str, value: bytes, lease: int = 0) -> None:
        body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease:
            body["lease"] = str(lease)
        self._wrote(await self.call("/v3/kv/put", body))

    async def get(self, key: str) -> KeyValue | None:
        out = await self.range(key, exact=True)
        return out[0] if out else None

    async def range(self, key: str, *, exact: bool = False, limit: int = 0) -> list[KeyValue]:
        """Every key under the prefix `key` (or exactly `key`)."""
        return (await self.range_rev(key, exact=exact, limit=limit))[0]

    async def range_rev(
        self, key: str, *, exact: bool = False, limit: int = 0, member: int | None = None
    ) -> tuple[list[KeyValue], int]:
        """Like `range`, plus the store revision it was read at. `member` pins one member (no failover)."""
        body: dict[str, Any] = {"key": _b64(key)}
        if not exact:
            body["range_end"] = _b64(prefix_end(key).encode("latin-1"))
        if limit:
            body["limit"] = str(limit)
        if member is None:
            data = await self.call("/v3/kv/range", body)
        else:
            data = _decode(await self._http.post(self.endpoints[member] + "/v3/kv/range", json=body))
        revision = int(data.get("header", {}).get("revision", 0))
        return [_kv(item) for item in data.get("kvs", [])], revision

    async def delete(self, key: str) -> int:
        data = await self.call("/v3/kv/deleterange", {"key": _b64(key)})
        self._wrote(data)
        return int(data.get("deleted", 0))

    # -- leases -----------------------------------------------------------------

    async def lease_grant(self, ttl: int) -> int:
        data = await self.call("/v3/lease/grant", {"TTL": str(ttl)})
        return int(data["ID"])

    async def lease_keepalive(self, lease: int) -> int:
        """Refresh `lease`; its new TTL. `LeaseNotFound` when it has expired."""
        data = await self.call("/v3/lease/keepalive", {"ID": str(lease)})
        ttl = int(data.get("result", {}).get("TTL", 0))
        if ttl <= 0:
            raise LeaseNotFound(f"lease {lease} expired", 5)
        return ttl

    async def lease_revoke(self, lease: int) -> None:
        try:
            self._wrote(await self.call("/v3/lease/revoke", {"ID": str(lease)}))
        except LeaseNotFound:
            pass  # already gone: revoking is idempotent

    # -- watch ------------------------------------------------------------------

    async def watch(self, prefix: str, start_revision: int, member: int) -> AsyncIterator[WatchBatch]:
        """Changes under `prefix` from `start_revision` on, from one member, until the stream breaks.

        The first batch (`created`) has no events. Raises httpx/EtcdError when the member goes away.
        """
        body = {"create_request": {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix).encode("latin-1")),
                                   "start_revision": str(start_revision)}}  # fmt: skip
        timeout = httpx.Timeout(None, connect=CONNECT_TIMEOUT_S)  # a quiet stream is no failure
        async with self._http.stream("POST", self.endpoints[member] + "/v3/watch", json=body, timeout=timeout) as resp:
            if resp.status_code >= 400:
                raise EtcdError(f"watch refused: HTTP {resp.status_code}")
            async for line in resp.aiter_lines():
                if line.strip():
                    yield _watch_batch(json.loads(line))


def _decode(resp: httpx.Response) -> dict[str, Any]:
    """The JSON body; 4xx answers become EtcdError / LeaseNotFound."""
    # The keepalive stream answers one JSON object per line; we send one request, read the first.
    text = resp.text.strip().splitlines()[0] if resp.text.strip() else "{}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EtcdError(f"etcd answered non-JSON (HTTP {resp.status_code}): {text[:120]}") from exc
    error = data.get("error")
    if isinstance(error, dict):  # stream-style error {"error": {"grpc_code", "message"}}
        error = error.get("message")
    if resp.status_code >= 400 or error:
        message = str(error or data.get("message") or f"HTTP {resp.status_code}")
        if "lease not found" in message:
            raise LeaseNotFound(message, data.get("code"))
        raise EtcdError(message, data.get("code"))
    return data


def _kv(item: dict[str, Any]) -> KeyValue:
    return KeyValue(
        key=base64.b64decode(item["key"]).decode(),
        value=base64.b64decode(item.get("value", "")),
        lease=int(item.get("lease", 0)),
        mod_revision=int(item.get("mod_revision", 0)),
    )


def _watch_batch(line: dict[str, Any]) -> WatchBatch:
    result = line.get("result")
    if not isinstance(result, dict):
        raise EtcdError(f"watch stream error: {str(line.get('error', line))[:200]}")
    if result.get("canceled"):
        raise EtcdError(f"watch canceled: {result.get('cancel_reason', '')}")
    puts, deletes = [], []
    for ev in result.get("events", []):
        if ev.get("type") == "DELETE":
            deletes.append(base64.b64decode(ev["kv"]["key"]).decode())
        else:
            puts.append(_kv(ev["kv"]))
    revision = int(result.get("header", {}).get("revision", 0))
    return WatchBatch(revision, tuple(puts), tuple(deletes), bool(result.get("created")))
