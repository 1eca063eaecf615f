"""Hand-written fakes for gateway unit tests: an in-memory registry and model servers
behind one httpx.MockTransport, a fake clock, and a gateway app wired to them."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chaosctl.services.gateway.app import create_app
from chaosctl.services.gateway.auth import mint_token
from chaosctl.services.gateway.core import Deps, GatewayConfig
from chaosctl.services.gateway.routing import CanaryRule
from chaosctl.services.telemetry import Telemetry

SECRET = "unit-test-secret-0123456789abcdef0123"
SERVICE_TOKEN = "unit-service-token-0123456789abcdef012345"
WALL_START = 1_800_000_000.0


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def record(name: str, model: str = "fraud-detector", version: str = "2.3.1", device: str = "gpu",
           health: str = "ready", queue: float = 0, mem: float = 0.1) -> dict[str, object]:  # fmt: skip
    total = 16 * 2**30
    return {
        "id": f"{name}-{model}-{version}", "name": name, "capability": "fraud-detection", "model": model,
        "version": version, "device": device, "region": "eu-west-1", "p99_ms": 50, "accuracy": 0.9,
        "tags": [], "health": health, "endpoint": f"http://{name}.direct",
        "load": {"queue_depth": queue, "memory_used_bytes": mem * total, "memory_total_bytes": total, "utilization": 0.1},
    }  # fmt: skip


Behaviour = Callable[[httpx.Request], httpx.Response]


def ok(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    host = request.url.host.removesuffix(".test")
    rows = body["inputs"]
    return httpx.Response(200, json={
        "model": request.url.path.split("/")[3], "version": body.get("version"), "device": "gpu",
        "server": host, "outputs": [0 for _ in rows], "confidence": [0.9 for _ in rows],
    })  # fmt: skip


def status(code: int) -> Behaviour:
    return lambda request: httpx.Response(code, json={"detail": f"fake {code}"})


def raises(exc: type[Exception]) -> Behaviour:
    def behave(request: httpx.Request) -> httpx.Response:
        raise exc("fake", request=request)

    return behave


@dataclass
class FakeStack:
    records: list[dict[str, object]] = field(default_factory=list)
    registry: Behaviour | None = None  # None: answer from `records`
    servers: dict[str, Behaviour] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)  # host of every call, in order
    seen_headers: list[httpx.Headers] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host.removesuffix(".test")
        self.calls.append(host)
        self.seen_headers.append(request.headers)
        if host == "registry":
            if self.registry is not None:
                return self.registry(request)
            model = request.url.params.get("model")
            return httpx.Response(200, json={"services": [r for r in self.records if r["model"] == model]})
        if request.headers.get("authorization") != f"Bearer {SERVICE_TOKEN}":  # as a real model server
            return httpx.Response(401, json={"detail": "model server routes need the service credential"})
        return self.servers.get(host, ok)(request)

    def upstream_calls(self) -> list[str]:
        return [c for c in self.calls if c != "registry"]


@dataclass
class Harness:
    client: TestClient
    stack: FakeStack
    clock: FakeClock
    wall: FakeClock
    spans: InMemorySpanExporter
    telemetry: Telemetry
    sleeps: list[float]

    def token(self, subject: str = "tester", **kw: float) -> str:
        return mint_token(SECRET, subject, 3600, now=self.wall.now, **kw)

    def predict(self, model: str = "fraud-detector", *, version: str | None = None, token: str | None = None,
                body: object = None, subject: str = "tester") -> httpx.Response:  # fmt: skip
        headers = {"Authorization": f"Bearer {token or self.token(subject)}"}
        if version is not None:
            headers["X-Model-Version"] = version
        payload = {"inputs": [[0.1, 0.2, 0.3]]} if body is None else body
        return self.client.post(f"/v1/models/{model}/predict", json=payload, headers=headers)

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        value = self.telemetry.registry.get_sample_value(name, labels or {})
        return 0.0 if value is None else value


def make_harness(stack: FakeStack, seed: int = 7, upstreams: set[str] | None = None, cache_client: object = None,
                 **config: object) -> Harness:  # fmt: skip
    """A gateway over `stack`; its upstreams (default: every server named in the stack) are
    dialled at `http://NAME.test` and their records must carry `http://NAME.direct`."""
    clock, wall = FakeClock(), FakeClock(WALL_START)
    spans = InMemorySpanExporter()
    telemetry = Telemetry("gateway", None, exporter=spans)
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    names = upstreams if upstreams is not None else {str(r["name"]) for r in stack.records} | set(stack.servers)
    settings: dict[str, object] = {
        "jwt_secret": SECRET,
        "registry_url": "http://registry.test",
        "upstream_urls": {n: f"http://{n}.test" for n in names},
        "upstream_endpoints": {n: f"http://{n}.direct" for n in names},
        "service_token": SERVICE_TOKEN,
        **config,
    }
    cfg = GatewayConfig(**settings)  # type: ignore[arg-type]
    deps = Deps(transport=httpx.MockTransport(stack.handle), clock=clock, wall_clock=wall,
                rng=random.Random(seed), sleep=fake_sleep, cache_client=cache_client)  # type: ignore[arg-type]  # fmt: skip
    app = create_app(cfg, telemetry, deps)
    return Harness(TestClient(app, raise_server_exceptions=False), stack, clock, wall, spans, telemetry, sleeps)


CANARY = (CanaryRule("fraud-detector", "2.3.1", "2.4.0", 0.05),)
