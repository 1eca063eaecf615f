"""Registry API and its etcd client over an in-memory etcd (httpx.MockTransport), incl. failover."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi.testclient import TestClient

from chaosctl.services.registry.app import create_app
from chaosctl.services.registry.etcd import EtcdClient, EtcdUnavailable, LeaseNotFound
from chaosctl.services.telemetry import Telemetry

MEMBERS = ["http://m0:1", "http://m1:1", "http://m2:1"]


def _d(s: str) -> bytes:
    return base64.b64decode(s)


@dataclass
class FakeEtcd:
    """Just enough of etcd's JSON gateway: kv put/range/deleterange, leases. `down` members refuse."""

    kv: dict[bytes, tuple[bytes, int]] = field(default_factory=dict)
    leases: set[int] = field(default_factory=set)
    down: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    next_lease: int = 100

    def handler(self, request: httpx.Request) -> httpx.Response:
        member = f"http://{request.url.host}:1"
        self.calls.append(f"{request.url.host}{request.url.path}")
        if member in self.down:
            raise httpx.ConnectError("refused", request=request)
        body = json.loads(request.content or b"{}")
        op = getattr(self, request.url.path.removeprefix("/v3/").replace("/", "_"))
        status, out = op(body)
        return httpx.Response(status, json=out)

    def kv_put(self, b: dict) -> tuple[int, dict]:
        lease = int(b.get("lease", 0))
        if lease and lease not in self.leases:
            return 404, {"error": "etcdserver: requested lease not found", "code": 5}
        self.kv[_d(b["key"])] = (_d(b["value"]), lease)
        return 200, {"header": {}}

    def kv_range(self, b: dict) -> tuple[int, dict]:
        start = _d(b["key"])
        end = _d(b["range_end"]) if "range_end" in b else None
        keys = sorted(k for k in self.kv if (k == start if end is None else start <= k < end))
        kvs = [{"key": base64.b64encode(k).decode(), "value": base64.b64encode(self.kv[k][0]).decode(),
                "lease": str(self.kv[k][1])} for k in keys]  # fmt: skip
        return 200, {"kvs": kvs} if kvs else {}

    def kv_deleterange(self, b: dict) -> tuple[int, dict]:
        return 200, {"deleted": str(int(self.kv.pop(_d(b["key"]), None) is not None))}

    def lease_grant(self, b: dict) -> tuple[int, dict]:
        self.next_lease += 1
        self.leases.add(self.next_lease)
        return 200, {"ID": str(self.next_lease), "TTL": b["TTL"]}

    def lease_keepalive(self, b: dict) -> tuple[int, dict]:
        lease = int(b["ID"])
        return 200, {"result": {"ID": b["ID"], **({"TTL": "10"} if lease in self.leases else {})}}

    def lease_revoke(self, b: dict) -> tuple[int, dict]:
        self.expire(int(b["ID"]))
        return 200, {}

    def expire(self, lease: int) -> None:
        self.leases.discard(lease)
        self.kv = {k: v for k, v in self.kv.items() if v[1] != lease}


def _client(fake: FakeEtcd) -> EtcdClient:
    return EtcdClient(MEMBERS, transport=httpx.MockTransport(fake.handler))


def test_client_fails_over_and_remembers_good_member() -> None:
    async def go() -> None:
        fake = FakeEtcd(down={MEMBERS[0]})
        etcd = _client(fake)
        await etcd.put("/a", b"1")
        assert etcd.current == MEMBERS[1]
        fake.calls.clear()
        assert (await etcd.get("/a")).value == b"1"  # type: ignore[union-attr]
        assert fake.calls == ["m1/v3/kv/range"]  # no second try on the dead member
        fake.down = {MEMBERS[1], MEMBERS[2]}
        assert (await etcd.get("/a")).value == b"1"  # type: ignore[union-attr]
        assert etcd.current == MEMBERS[0]
        fake.down = set(MEMBERS)
        with pytest.raises(EtcdUnavailable, match="no etcd member answered"):
            await etcd.get("/a")
        await etcd.aclose()

    asyncio.run(go())


def test_client_fails_over_on_5xx_and_reports_lease_not_found() -> None:
    async def go() -> None:
        fake = FakeEtcd()

        def handler(request: httpx.Request) -> httpx.Response:
            if request.url.host == "m0":
                return httpx.Response(503, json={"error": "etcdserver: no leader", "code": 14})
            return fake.handler(request)

        etcd = EtcdClient(MEMBERS, transport=httpx.MockTransport(handler))
        lease = await etcd.lease_grant(5)
        assert await etcd.lease_keepalive(lease) == 10
        fake.expire(lease)
        with pytest.raises(LeaseNotFound):
            await etcd.lease_keepalive(lease)
        with pytest.raises(LeaseNotFound):
            await etcd.put("/k", b"v", lease)
        await etcd.aclose()

    asyncio.run(go())


RECORD = {
    "name": "model-gpu-1", "capability": "fraud-detection", "model": "fraud-detector",
    "version": "2.3.1", "device": "gpu", "region": "eu-west-1", "p99_ms": 50, "accuracy": 0.9,
    "tags": ["pci-dss"], "health": "warming", "endpoint": "http://127.0.0.1:17040", "ttl": 10,
}  # fmt: skip


SERVICE_TOKEN = "unit-service-token-0123456789abcdef0123"


def _api(fake: FakeEtcd, token: str | None = SERVICE_TOKEN) -> TestClient:
    """The registry app; its client sends `token` as the service credential (None: anonymous)."""
    app = create_app(Telemetry("registry", None), MEMBERS, transport=httpx.MockTransport(fake.handler),
                     service_token=SERVICE_TOKEN, watch_cache=False)  # fmt: skip
    return TestClient(app, headers={"Authorization": f"Bearer {token}"} if token else None)


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-0123456789abcdef0123456",
                                           f"Basic {SERVICE_TOKEN}", f"Bearer {SERVICE_TOKEN}x", "Bearer "])
def test_writes_without_the_service_credential_are_401_and_touch_nothing(authorization) -> None:
    fake = FakeEtcd()
    with _api(fake) as owner, _api(fake, token=None) as anon:
        rid = owner.post("/v1/services", json=RECORD).json()["id"]
        before = dict(fake.kv), set(fake.leases)
        fake.calls.clear()
        headers = {"Authorization": authorization} if authorization else {}
        evil = {**RECORD, "name": "evil", "endpoint": "http://203.0.113.9:80"}
        answers = [
            anon.post("/v1/services", json=evil, headers=headers),
            anon.put(f"/v1/services/{rid}/heartbeat", json={"health": "unhealthy"}, headers=headers),
            anon.delete(f"/v1/services/{rid}", headers=headers),
        ]
        assert [a.status_code for a in answers] == [401, 401, 401]
        assert all("service credential" in a.json()["detail"] for a in answers)
        assert answers[0].headers["www-authenticate"] == "Bearer"
        assert fake.calls == [] and (dict(fake.kv), set(fake.leases)) == before  # etcd never asked
        (rec,) = anon.get("/v1/services").json()["services"]  # discovery stays open
        assert rec["id"] == rid and rec["health"] == "warming"


def test_register_heartbeat_discover_deregister() -> None:
    fake = FakeEtcd()
    with _api(fake) as api:
        reg = api.post("/v1/services", json=RECORD).json()
        assert reg["id"] == "model-gpu-1--fraud-detector--2.3.1" and reg["ttl"] == 10
        other = {**RECORD, "version": "2.4.0", "device": "cpu", "name": "model-cpu-1"}
        api.post("/v1/services", json=other)
        hb = {"health": "ready", "load": {"queue_depth": 3, "utilization": 0.5}}
        assert api.put(f"/v1/services/{reg['id']}/heartbeat", json=hb).status_code == 200
        found = api.get("/v1/services", params={"capability": "fraud-detection", "version": "2.x",
                                                 "device": "gpu"}).json()["services"]  # fmt: skip
        assert len(found) == 1
        rec = found[0]
        assert rec["health"] == "ready" and rec["load"]["queue_depth"] == 3
        assert rec["endpoint"] == RECORD["endpoint"] and rec["tags"] == ["pci-dss"] and rec["accuracy"] == 0.9
        assert len(api.get("/v1/services", params={"health": "ready,warming"}).json()["services"]) == 2
        assert api.get("/v1/services", params={"tag": ["pci-dss", "x"]}).json()["services"] == []
        assert api.delete(f"/v1/services/{reg['id']}").json()["deleted"] is True
        assert [r["name"] for r in api.get("/v1/services").json()["services"]] == ["model-cpu-1"]


def test_heartbeat_after_lease_expiry_is_404_and_reregister_replaces() -> None:
    fake = FakeEtcd()
    with _api(fake) as api:
        reg = api.post("/v1/services", json=RECORD).json()
        fake.expire(int(reg["lease_id"]))
        assert api.put(f"/v1/services/{reg['id']}/heartbeat", json={}).status_code == 404
        assert api.get("/v1/services").json()["services"] == []
        first = api.post("/v1/services", json=RECORD).json()
        second = api.post("/v1/services", json=RECORD).json()
        assert first["lease_id"] != second["lease_id"]
        assert int(first["lease_id"]) not in fake.leases  # the replaced lease was revoked
        assert len(api.get("/v1/services").json()["services"]) == 1


def test_bad_queries_and_bodies_are_422_and_store_loss_is_503() -> None:
    fake = FakeEtcd()
    with _api(fake) as api:
        assert api.get("/v1/services", params={"version": "garbage>>"}).status_code == 422
        assert api.get("/v1/services", params={"device": "tpu"}).status_code == 422
        assert api.post("/v1/services", json={**RECORD, "device": "tpu"}).status_code == 422
        assert api.get("/healthz").status_code == 200
        fake.down = set(MEMBERS)
        assert api.get("/healthz").status_code == 503
        assert api.get("/v1/services").status_code == 503
        metrics = api.get("/metrics").text
        assert 'route="/v1/services",service="registry"' in metrics


def test_heartbeat_writes_only_significant_changes() -> None:
    fake = FakeEtcd()
    with _api(fake) as api:
        rid = api.post("/v1/services", json={**RECORD, "health": "ready"}).json()["id"]

        def puts_after(body: dict) -> int:
            fake.calls.clear()
            assert api.put(f"/v1/services/{rid}/heartbeat", json=body).status_code == 200
            return sum(c.endswith("/v3/kv/put") for c in fake.calls)

        assert puts_after({"load": {"utilization": 0.50}}) == 1
        assert puts_after({"load": {"utilization": 0.52}}) == 0  # jitter: lease kept alive, no write
        assert puts_after({"load": {"utilization": 0.52, "queue_depth": 4}}) == 1
        assert puts_after({"health": "saturated", "load": {"utilization": 0.52, "queue_depth": 4}}) == 1
        assert api.get("/v1/services").json()["services"][0]["health"] == "saturated"
