"""Toxiproxy's HTTP API, as the link faults use it: proxies, toxics, upstreams.

Why a thin httpx wrapper and not the pinned toxiproxy-python 0.1.1 client:
that client keeps the server address in class attributes of `APIConsumer`
(process-global, so two stacks on different port bases cannot be addressed
side by side, as the tests do), sends requests with no timeout (a revert
against a hung Toxiproxy would block forever, which a revert must never do),
drops the created toxic from `add_toxic`'s return value, and pulls in
`requests` + `future` for four HTTP calls. Toxiproxy's HTTP API is small and
stable (GET/POST /proxies/{name}/toxics, DELETE /proxies/{name}/toxics/{toxic}).

Its own module so that the fault context (base.py) reaches Toxiproxy without
importing the link faults, which import the context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import httpx

from chaosctl.errors import FaultError

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
