"""The autoscaler's calls to model servers: their own routes, dialled directly (not through links).

`/v1/load` and predict take the service credential, `/admin/registration` the admin token.
"""

from __future__ import annotations

from typing import Any

import httpx

from chaosctl.services.autoscaler.policy import ServerLoad
from chaosctl.services.credential import bearer_header
from chaosctl.services.modelserver.models import sample_inputs
from chaosctl.stack.topology import Topology, model_server


class HttpReplicaApi:
    def __init__(self, topology: Topology, service_token: str, admin_token: str, timeout_s: float = 1.0,
                 inject: Any = None, transport: httpx.AsyncBaseTransport | None = None) -> None:  # fmt: skip
        self.topology = topology
        self._inject = inject
        self._admin = {"X-Admin-Token": admin_token}
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=0.5), transport=transport,
                                       headers=bearer_header(service_token))  # fmt: skip

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self._inject is not None:
            self._inject(headers)  # the scale decision's trace reaches the replica
        return headers

    async def load(self, name: str) -> ServerLoad:
        try:
            resp = await self._http.get(f"{self.topology.url(name)}/v1/load")
            resp.raise_for_status()
            body = resp.json()
            return ServerLoad(name, True, str(body.get("health", "ready")), int(body.get("queue_depth", 0)),
                              float(body.get("utilization", 0.0)))  # fmt: skip
        except (httpx.HTTPError, ValueError, TypeError):
            return ServerLoad(name, reachable=False, health="unreachable")

    async def warm(self, name: str) -> bool:
        try:
            return (await self._http.get(f"{self.topology.url(name)}/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def warm_up(self, name: str, requests: int) -> None:
        """`requests` inferences per model, each answered 200, else an error naming the failure."""
        for model in {m.name for m in model_server(name).models}:
            for i in range(requests):
                resp = await self._http.post(f"{self.topology.url(name)}/v1/models/{model}/predict",
                                             json={"inputs": sample_inputs(model, 4, seed=i)}, headers=self._headers(),
                                             timeout=5.0)  # fmt: skip
                if resp.status_code != 200:
                    raise RuntimeError(f"warm-up inference on {model}: HTTP {resp.status_code} {resp.text[:200]}")

    async def register(self, name: str) -> bool:
        try:
            resp = await self._http.post(f"{self.topology.url(name)}/admin/registration",
                                         headers=self._headers(self._admin), timeout=5.0)  # fmt: skip
            return resp.status_code == 200 and bool(resp.json().get("registered"))
        except (httpx.HTTPError, ValueError):
            return False

    async def deregister(self, name: str) -> None:
        try:
            await self._http.delete(f"{self.topology.url(name)}/admin/registration",
                                    headers=self._headers(self._admin), timeout=5.0)  # fmt: skip
        except httpx.HTTPError:
            pass  # a replica that no longer answers holds no lease for long (TTL)

    async def aclose(self) -> None:
        await self._http.aclose()
