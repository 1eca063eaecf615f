"""No shared secrets, no anonymous writes, on the real stack (issue 10, part 5).

* the install's secrets are random, in a 0600 file in a 0700 state dir; a token signed with
  the constant that earlier versions shipped gets 401;
* anonymous (or wrongly credentialed) registry register / heartbeat / delete get 401 and
  change nothing, as a discovery query right after shows;
* a direct model-server call without the service credential gets 401 (so the gateway's auth
  and rate limits cannot be walked around); the admin API wants the admin token;
* a record registered WITH the credential but naming no upstream of the stack (an outside
  endpoint) never gets traffic, and the gateway counts it;
* Prometheus has no lifecycle or admin API.
"""

from __future__ import annotations

import json
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from _gateway_live import Live, wait_until
from chaosctl.credentials import KNOWN_CONSTANTS, secrets_path
from chaosctl.services.gateway.auth import mint_token
from chaosctl.stack.topology import MODEL_SERVERS

pytestmark = pytest.mark.integration

OLD_JWT_SECRET = "chaosctl-dev-secret-change-me-0123456789"
REAL_RECORD = "model-gpu-1--fraud-detector--2.3.1"


def _service(live: Live) -> dict[str, str]:
    return {"Authorization": f"Bearer {live.settings.service_token}"}


def _records(live: Live) -> dict[str, dict]:
    resp = live.client.get(f"{live.topology.url('registry')}/v1/services")
    resp.raise_for_status()
    return {r["id"]: r for r in resp.json()["services"]}


def test_the_install_secrets_are_random_and_private(live: Live) -> None:
    settings = live.settings
    path = secrets_path(settings.state_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(settings.state_dir.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())
    values = [settings.jwt_secret, settings.admin_token, settings.service_token]
    assert values == [stored["jwt_secret"], stored["admin_token"], stored["service_token"]]
    assert not set(values) & KNOWN_CONSTANTS and len(set(values)) == 3


def test_a_token_signed_with_the_old_constant_secret_gets_401(live: Live) -> None:
    old = mint_token(OLD_JWT_SECRET, "attacker", 3600, rate_per_s=1e9, burst=1e9)
    refused = live.predict(token=old)
    assert refused.status_code == 401, refused.text
    assert live.predict().status_code == 200  # the install's own secret still works


def test_anonymous_registry_writes_get_401_and_change_nothing(live: Live) -> None:
    api = live.topology.url("registry")
    before = _records(live)
    assert REAL_RECORD in before and before[REAL_RECORD]["health"] in ("ready", "saturated")
    evil = {"name": "evil-anon", "capability": "fraud-detection", "model": "fraud-detector", "version": "2.3.1",
            "device": "gpu", "p99_ms": 1, "health": "ready", "endpoint": "http://127.0.0.1:9", "ttl": 60}  # fmt: skip
    wrong = [{}, {"Authorization": f"Bearer {live.settings.admin_token}"},  # another role's secret
             {"Authorization": f"Bearer {live.token()}"}, {"X-Admin-Token": live.settings.admin_token}]  # fmt: skip
    for headers in wrong:
        answers = [
            live.client.post(f"{api}/v1/services", json=evil, headers=headers),
            live.client.put(f"{api}/v1/services/{REAL_RECORD}/heartbeat", json={"health": "unhealthy"}, headers=headers),
            live.client.delete(f"{api}/v1/services/{REAL_RECORD}", headers=headers),
        ]
        assert [a.status_code for a in answers] == [401, 401, 401], (headers.keys(), [a.text for a in answers])
        after = _records(live)  # right away: a real agent would repair a change within a heartbeat
        assert set(after) == set(before), "a record appeared or disappeared"
        assert after[REAL_RECORD]["health"] != "unhealthy"
        assert after[REAL_RECORD]["endpoint"] == before[REAL_RECORD]["endpoint"]
    assert live.predict().status_code == 200


def test_direct_model_server_calls_need_the_service_credential(live: Live) -> None:
    for server in MODEL_SERVERS:
        url = live.topology.url(server.name)
        model = server.models[0].name
        body = {"inputs": [[0.5] * (20 if model == "fraud-detector" else 64)]}
        refused = [
            live.client.post(f"{url}/v1/models/{model}/predict", json=body),
            live.client.post(f"{url}/v1/models/{model}/predict", json=body,
                             headers={"Authorization": f"Bearer {live.token()}"}),  # a client JWT is not enough
            live.client.post(f"{url}/v1/models/{model}/predict", json=body,
                             headers={"X-Admin-Token": live.settings.admin_token}),
            live.client.get(f"{url}/v1/load"),
            live.client.get(f"{url}/admin/gpu", headers=_service(live)),  # the gateway's credential is no admin
        ]  # fmt: skip
        assert [r.status_code for r in refused] == [401] * 5, (server.name, [r.text for r in refused])
        assert live.client.get(f"{url}/healthz").status_code == 200
        assert live.client.get(f"{url}/metrics").status_code == 200
        ok = live.client.post(f"{url}/v1/models/{model}/predict", json=body, headers=_service(live))
        assert ok.status_code == 200 and ok.json()["server"] == server.name, ok.text


class _Outside:
    """An HTTP server outside the stack that would answer predictions (and counts every request)."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                hits.append(self.path)
                rows = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}").get("inputs", [])
                out = json.dumps({"model": "fraud-detector", "version": "2.3.1", "device": "gpu", "server": "evil",
                                  "outputs": [1 for _ in rows], "confidence": [1.0 for _ in rows]}).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: object) -> None:
                pass

        self.hits = hits
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Outside:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def test_a_credentialed_record_outside_the_stack_gets_no_traffic(live: Live) -> None:
    api = live.topology.url("registry")
    with _Outside() as outside:
        assert httpx.post(f"{outside.url}/v1/models/fraud-detector/predict", json={"inputs": [[1]]}).status_code == 200
        outside.hits.clear()  # it answers: only the gateway's choice keeps it out
        base = {"capability": "fraud-detection", "model": "fraud-detector", "device": "gpu", "region": "eu-west-1",
                "p99_ms": 1, "accuracy": 0.99, "health": "ready", "endpoint": outside.url, "ttl": 60,
                "load": {"queue_depth": 0, "memory_used_bytes": 0, "memory_total_bytes": 1, "utilization": 0}}  # fmt: skip
        records = [
            {**base, "name": "evil-outside", "version": "2.3.1"},  # competes with the real 2.3.1 servers
            {**base, "name": "evil-outside", "version": "2.9.8"},  # a version only it claims
            {**base, "name": "model-gpu-1", "version": "2.9.9"},  # a stack name with a foreign endpoint
        ]
        ids = []
        unknown0 = live.metric("chaosctl_gateway_ignored_records_total", reason="unknown_server")
        foreign0 = live.metric("chaosctl_gateway_ignored_records_total", reason="foreign_endpoint")
        try:
            for rec in records:
                resp = live.client.post(f"{api}/v1/services", json=rec, headers=_service(live))
                assert resp.status_code == 201, resp.text
                ids.append(resp.json()["id"])
            assert {r["name"] for r in _records(live).values()} >= {"evil-outside", "model-gpu-1"}
            # The gateway's registry cache refreshes (on use) every 2 s: predict until it has read and dropped them.
            def dropped() -> bool:
                assert outside.hits == [], outside.hits
                live.predict(version="2.x")
                return (live.metric("chaosctl_gateway_ignored_records_total", reason="unknown_server") > unknown0
                        and live.metric("chaosctl_gateway_ignored_records_total", reason="foreign_endpoint") > foreign0)

            wait_until(dropped, 20, "the gateway to read and ignore the outside records")
            answers = [live.predict(version="2.x") for _ in range(30)]
            assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]
            assert {a.json()["server"] for a in answers} <= {m.name for m in MODEL_SERVERS}
            assert live.predict(version="2.9.8").status_code == 404
            assert live.predict(version="2.9.9").status_code == 404
            assert outside.hits == [], outside.hits
        finally:
            for rid in ids:
                live.client.delete(f"{api}/v1/services/{rid}", headers=_service(live))
    assert not {r["name"] for r in _records(live).values()} & {"evil-outside"}


def test_prometheus_has_no_lifecycle_or_admin_api(live: Live) -> None:
    prom = live.topology.url("prometheus")
    for path in ("/-/reload", "/-/quit"):  # with the lifecycle API on, /-/quit would stop it here
        resp = live.client.post(f"{prom}{path}")
        assert resp.status_code == 403 and "Lifecycle API is not enabled" in resp.text, (path, resp.text)
    for path in ("/api/v1/admin/tsdb/snapshot", "/api/v1/admin/tsdb/delete_series?match[]=up"):
        resp = live.client.post(f"{prom}{path}")
        assert resp.json()["error"] == "admin APIs disabled", (path, resp.status_code, resp.text)
    assert live.client.get(f"{prom}/-/ready").status_code == 200  # still up
