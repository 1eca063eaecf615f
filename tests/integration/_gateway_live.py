"""Helpers for gateway tests against the real stack: requests, Toxiproxy toxics, model
server admin calls, the gateway's own /metrics, Jaeger traces. Every fault helper is a
context manager that reverts in `finally`."""

from __future__ import annotations

import contextlib
import random
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

from chaosctl.services.gateway.auth import mint_token
from chaosctl.settings import Settings
from chaosctl.stack.topology import Topology

T = TypeVar("T")
WIDTH = {"fraud-detector": 20, "image-classifier": 64}


@dataclass
class Live:
    settings: Settings
    topology: Topology
    client: httpx.Client

    @property
    def gateway(self) -> str:
        return self.topology.url("gateway")

    def token(self, subject: str = "gateway-it", **plan: float) -> str:
        # A generous default plan: these tests send bursts that are not about rate limits.
        plan = plan or {"rate_per_s": 10_000.0, "burst": 10_000.0}
        return mint_token(self.settings.jwt_secret, subject, 3600, **plan)

    def predict(self, model: str = "fraud-detector", *, version: str | None = None, token: str | None = None,
                traceparent: str | None = None, timeout: float = 10.0,
                inputs: list[list[float]] | None = None) -> httpx.Response:  # fmt: skip
        headers = {"Authorization": f"Bearer {token or self.token()}"}
        if version:
            headers["X-Model-Version"] = version
        if traceparent:
            headers["traceparent"] = traceparent
        # Fresh inputs by default: the gateway's prediction cache would answer repeated ones
        # without reaching a model server (what most of these tests are about).
        body = {"inputs": inputs or [[random.uniform(-1.0, 1.0) for _ in range(WIDTH[model])]]}
        return self.client.post(f"{self.gateway}/v1/models/{model}/predict", json=body, headers=headers, timeout=timeout)

    def metric(self, name: str, **labels: str) -> float:
        text = self.client.get(f"{self.gateway}/metrics").text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return float(sample.value)
        return 0.0

    def breakers(self) -> dict[str, str]:
        return dict(self.client.get(f"{self.gateway}/healthz").json()["breakers"])

    # -- faults ------------------------------------------------------------------

    @contextlib.contextmanager
    def toxic(self, dest: str, kind: str, stream: str = "downstream", **attributes: int) -> Iterator[None]:
        proxy = self.topology.link_to("gateway", dest).proxy_name
        api = f"http://127.0.0.1:{self.topology.toxiproxy_port}/proxies/{proxy}/toxics"
        name = f"gw-it-{kind}-{secrets.token_hex(3)}"
        body = {"name": name, "type": kind, "stream": stream, "toxicity": 1.0, "attributes": attributes}
        self.client.post(api, json=body).raise_for_status()
        try:
            yield
        finally:
            self.client.delete(f"{api}/{name}")
            assert all(t["name"] != name for t in self.client.get(api).json()), f"toxic {name} left behind"

    def admin(self, server: str, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"X-Admin-Token": self.settings.admin_token}
        resp = self.client.request(method, f"{self.topology.url(server)}{path}", json=body, headers=headers)
        resp.raise_for_status()
        return resp

    @contextlib.contextmanager
    def failing(self, server: str) -> Iterator[None]:
        self.admin(server, "POST", "/admin/errors", {"rate": 1.0})
        try:
            yield
        finally:
            self.admin(server, "DELETE", "/admin/errors")

    @contextlib.contextmanager
    def gpu_full(self, *servers: str, fraction: float = 0.97) -> Iterator[None]:
        ids: list[tuple[str, str]] = []
        try:
            for server in servers:
                alloc = self.admin(server, "POST", "/admin/gpu/allocate", {"fraction": fraction}).json()
                ids.append((server, str(alloc["allocation_id"])))
            yield
        finally:
            for server, alloc_id in ids:
                self.admin(server, "DELETE", f"/admin/gpu/allocations/{alloc_id}")

    # -- waiting -----------------------------------------------------------------

    def settle(self, timeout_s: float = 60.0) -> None:
        """Back to normal: every breaker closed (half-open ones get probed by traffic)."""
        def closed() -> bool:
            self.predict()
            return all(state == "closed" for state in self.breakers().values())

        wait_until(closed, timeout_s, "gateway breakers to close", step_s=0.5)

    def jaeger_trace(
        self, trace_id: str, complete: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 20.0
    ) -> list[dict[str, Any]]:
        """Spans of one trace from Jaeger's query API (polls until `complete(spans)`: services
        export in batches, so a trace fills up over a moment)."""
        url = f"http://127.0.0.1:{self.topology.jaeger_query_port}/api/traces/{trace_id}"

        def spans() -> list[dict[str, Any]] | None:
            resp = self.client.get(url)
            if resp.status_code != 200:
                return None
            data = resp.json().get("data") or []
            if not data:
                return None
            procs = data[0]["processes"]
            out = [{**s, "service": procs[s["processID"]]["serviceName"],
                    "tags": {t["key"]: t["value"] for t in s.get("tags", [])}} for s in data[0]["spans"]]  # fmt: skip
            return out if complete(out) else None

        return wait_until(spans, timeout_s, f"trace {trace_id} in Jaeger")


def new_traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


def wait_until(probe: Callable[[], T | None], timeout_s: float, what: str, step_s: float = 0.25) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(step_s)
