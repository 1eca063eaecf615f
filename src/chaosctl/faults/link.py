"""Link faults as Toxiproxy toxics: latency (+jitter), jitter, bandwidth, timeout,
reset-peer, slow-close, limit-data; each with `toxicity` and `direction`
(Toxiproxy's `stream`: upstream = client->server bytes, downstream = server->client).

Why a thin httpx wrapper and not the pinned toxiproxy-python 0.1.1 client:
that client keeps the server address in class attributes of `APIConsumer`
(process-global, so two stacks on different port bases cannot be addressed
side by side, as the tests do), sends requests with no timeout (a revert
against a hung Toxiproxy would block forever, which a revert must never do),
drops the created toxic from `add_toxic`'s return value, and pulls in
`requests` + `future` for four HTTP calls. Toxiproxy's HTTP API is small and
stable (GET/POST /proxies/{name}/toxics, DELETE /proxies/{name}/toxics/{toxic}).

The toxic's name is derived from the fault id, so a revert (also from
`chaosctl recover`) deletes exactly the toxic this fault added and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import httpx

from chaosctl.errors import FaultError

from .base import FaultContext, FaultRecord

TOXIC_PREFIX = "chaosctl-"


@dataclass(frozen=True)
class Toxic:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: Mapping[str, float]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "Toxic":
        attrs = {k: float(v) for k, v in (raw.get("attributes") or {}).items()}
        return cls(str(raw["name"]), str(raw["type"]), str(raw.get("stream", "downstream")), float(raw.get("toxicity", 1.0)), attrs)


class ToxiproxyClient:
    """The few Toxiproxy API calls chaosctl needs, with timeouts and clear errors."""

    def __init__(self, url: str, timeout_s: float = 5.0, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s, transport=transport)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise FaultError(f"toxiproxy at {self.url} unreachable: {exc}") from exc

    def proxies(self) -> list[str]:
        resp = self._call("GET", "/proxies")
        resp.raise_for_status()
        return sorted(resp.json())

    def toxics(self, proxy: str) -> list[Toxic]:
        resp = self._call("GET", f"/proxies/{proxy}/toxics")
        if resp.status_code == 404:
            raise FaultError(f"toxiproxy has no proxy {proxy!r}")
        resp.raise_for_status()
        return [Toxic.from_json(t) for t in resp.json()]

    def add_toxic(self, proxy: str, toxic: Toxic) -> None:
        body = {"name": toxic.name, "type": toxic.type, "stream": toxic.stream, "toxicity": toxic.toxicity,
                "attributes": {k: int(v) for k, v in toxic.attributes.items()}}  # Go int64 fields
        resp = self._call("POST", f"/proxies/{proxy}/toxics", json=body)
        if resp.status_code == 409:  # already there (a retried inject): fine, verify() checks it
            return
        if resp.status_code >= 400:
            raise FaultError(f"toxiproxy refused toxic {toxic.name} on {proxy}: {resp.status_code} {resp.text.strip()}")

    def remove_toxic(self, proxy: str, name: str) -> bool:
        """Delete a toxic; False when it was not there (idempotent revert)."""
        resp = self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")
        if resp.status_code == 404:
            return False
        if resp.status_code >= 400:
            raise FaultError(f"toxiproxy could not remove toxic {name} from {proxy}: {resp.status_code} {resp.text.strip()}")
        return True

    def upstream(self, proxy: str) -> str:
        """Where the proxy forwards to (host:port)."""
        resp = self._call("GET", f"/proxies/{proxy}")
        if resp.status_code == 404:
            raise FaultError(f"toxiproxy has no proxy {proxy!r}")
        resp.raise_for_status()
        return str(resp.json()["upstream"])

    def set_upstream(self, proxy: str, upstream: str) -> None:
        """Point the proxy at `upstream` (its listen address, toxics and state stay; open connections close)."""
        resp = self._call("POST", f"/proxies/{proxy}", json={"upstream": upstream})
        if resp.status_code >= 400:
            raise FaultError(f"toxiproxy could not point {proxy} at {upstream}: {resp.status_code} {resp.text.strip()[:200]}")

    def all_toxics(self) -> dict[str, list[Toxic]]:
        """Every proxy's toxics (for tests and leftovers checks)."""
        return {p: self.toxics(p) for p in self.proxies()}


def _ms(params: Mapping[str, Any], *names: str, default: float | None = None) -> float:
    """A duration param in seconds (as the scenario loader gives it) -> Toxiproxy milliseconds."""
    for n in names:
        if params.get(n) is not None:
            return float(params[n]) * 1000.0
    if default is None:
        raise FaultError(f"missing parameter {names[0]!r}")
    return default


def _first(params: Mapping[str, Any], *names: str) -> float:
    for n in names:
        if params.get(n) is not None:
            return float(params[n])
    raise FaultError(f"missing parameter {names[0]!r}")


def toxic_for(record: FaultRecord) -> Toxic:
    """Translate a link fault record into the Toxiproxy toxic that implements it."""
    p = record.params
    kind = record.type
    if kind in ("latency", "jitter"):
        ttype = "latency"
        attrs = {"latency": _ms(p, "latency", default=0.0), "jitter": _ms(p, "jitter", default=0.0)}
    elif kind == "bandwidth":  # KB/s, Toxiproxy's unit (the scenario loader converts)
        ttype, attrs = "bandwidth", {"rate": max(1.0, _first(p, "rate"))}
    elif kind == "timeout":
        ttype, attrs = "timeout", {"timeout": _ms(p, "timeout", default=0.0)}
    elif kind == "reset-peer":
        ttype, attrs = "reset_peer", {"timeout": _ms(p, "timeout", "after", default=0.0)}
    elif kind == "slow-close":
        ttype, attrs = "slow_close", {"delay": _ms(p, "delay", default=1000.0)}
    elif kind == "limit-data":
        ttype, attrs = "limit_data", {"bytes": _first(p, "bytes", "limit")}
    else:
        raise FaultError(f"not a link fault: {kind}")
    attrs = {k: float(round(v)) for k, v in attrs.items()}  # Toxiproxy takes whole numbers
    stream = str(p.get("direction") or p.get("stream") or "downstream")
    toxicity = float(p.get("toxicity", 1.0) if p.get("toxicity") is not None else 1.0)
    return Toxic(TOXIC_PREFIX + record.id, ttype, stream, toxicity, attrs)


@dataclass
class LinkFault:
    """A toxic on the System link's proxy: an existing Toxiproxy (the reference stack's), or
    the one chaosctl runs for the System's managed links (faults.proxyserver)."""

    record: FaultRecord
    ctx: FaultContext

    def _proxy(self) -> tuple[ToxiproxyClient, str]:
        return self.ctx.toxiproxy_for(self.ctx.link(self.record.target))

    @property
    def proxy(self) -> str:
        return self._proxy()[1]

    def inject(self) -> None:
        client, proxy = self._proxy()
        client.add_toxic(proxy, toxic_for(self.record))

    def verify(self) -> str:
        want = toxic_for(self.record)
        client, proxy = self._proxy()
        for t in client.toxics(proxy):
            if t.name == want.name:
                attrs = ", ".join(f"{k}={v:g}" for k, v in sorted(t.attributes.items()))
                return f"toxiproxy lists {t.type} on {proxy} ({t.stream}, toxicity {t.toxicity:g}, {attrs})"
        raise FaultError(f"{self.record.label}: toxic {want.name} is not listed by toxiproxy on {proxy}")

    def revert(self) -> None:
        link = self.ctx.link(self.record.target)
        if link.managed:
            from .proxyserver import running_managed

            if running_managed(self.ctx.settings, self.ctx.resolved_system) is None:
                return  # chaosctl's own proxy is gone, and its toxics with it
        client, proxy = self._proxy()
        client.remove_toxic(proxy, TOXIC_PREFIX + self.record.id)
