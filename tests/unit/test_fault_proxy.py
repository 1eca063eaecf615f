"""The HTTP fault proxy (services/faultproxy.py) in-process over a fake upstream: rules
apply to matching requests only (model from the path, version from header, path segment or
JSON body), everything else passes through unchanged, the admin read-back needs the token."""

from __future__ import annotations

import json
import random

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from chaosctl.services.faultproxy import ADMIN_PATH, create_app, load_rules, model_and_version
from chaosctl.services.request_faults import Match, RequestFaults, Rule

ADMIN = "0123456789abcdef0123456789abcdef-admin"


class _Raw(httpx.AsyncByteStream):
    """A body streamed as a real server's is (httpx reads a `content=` body at once, which a
    streaming proxy cannot stream again)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self):  # noqa: ANN204
        yield self.data


class Upstream:
    """Echoes what it got (method, path, query, selected headers, body) as JSON."""

    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        echo = {"method": request.method, "path": request.url.path, "query": request.url.query.decode(),
                "x-tenant": request.headers.get("x-tenant"), "body": request.content.decode()}  # fmt: skip
        return httpx.Response(201, headers={"X-Upstream": "yes", "Content-Type": "application/json"},
                              stream=_Raw(json.dumps(echo).encode()))


def _proxy(*rules: Rule, seed: int = 1) -> tuple[TestClient, Upstream]:
    upstream = Upstream()
    faults = RequestFaults(CollectorRegistry(), random.Random(seed))
    app = create_app("http://callee.test", list(rules), ADMIN, faults, transport=httpx.MockTransport(upstream))
    return TestClient(app), upstream


def test_model_and_version_from_path_header_or_json_body() -> None:
    assert model_and_version("/v1/models/fraud/predict", {}, b"") == ("fraud", None)
    assert model_and_version("/v2/models/fraud/versions/2.4.0/infer", {}, b"") == ("fraud", "2.4.0")
    assert model_and_version("/v1/models/fraud/predict", {"x-model-version": "2.3.1"}, b"") == ("fraud", "2.3.1")
    body = json.dumps({"inputs": [[1.0]], "version": "2.4.0"}).encode()
    assert model_and_version("/api", {"content-type": "application/json"}, body) == (None, "2.4.0")
    assert model_and_version("/api", {"content-type": "text/plain"}, body) == (None, None)


def test_passes_everything_through_when_no_rule_matches() -> None:
    client, upstream = _proxy(Rule(id="r", action="abort", match=Match(version="2.4.0")))
    resp = client.post("/v1/models/m/predict?x=1", json={"version": "2.3.1"}, headers={"X-Tenant": "a"})
    assert resp.status_code == 201 and resp.headers["X-Upstream"] == "yes"
    assert resp.json() == {"method": "POST", "path": "/v1/models/m/predict", "query": "x=1", "x-tenant": "a",
                           "body": '{"version":"2.3.1"}'}  # fmt: skip
    assert client.delete("/anything").status_code == 201 and len(upstream.seen) == 2


def test_aborts_only_matching_requests_and_never_forwards_them() -> None:
    client, upstream = _proxy(Rule(id="canary", action="abort", status=503, match=Match(version="~2.4", path="/v1/")))
    hit = client.post("/v1/models/m/predict", json={"version": "2.4.0"})
    assert hit.status_code == 503 and hit.headers["X-Request-Fault"] == "abort; rule=canary"
    assert upstream.seen == []
    assert client.post("/v1/models/m/predict", json={"version": "2.3.1"}).status_code == 201
    assert client.post("/other", json={"version": "2.4.0"}).status_code == 201  # path does not match


def test_percent_share_and_the_admin_read_back() -> None:
    client, _ = _proxy(Rule(id="half", action="abort", status=500, percent=0.5, match=Match(headers={"X-Tenant": "b"})), seed=3)
    codes = [client.get("/x", headers={"X-Tenant": "b"}).status_code for _ in range(400)]
    assert 0.4 < codes.count(500) / 400 < 0.6
    assert all(client.get("/x", headers={"X-Tenant": "a"}).status_code == 201 for _ in range(20))
    assert client.get(ADMIN_PATH).status_code == 401
    assert client.get(ADMIN_PATH, headers={"X-Admin-Token": "nope" * 10}).status_code == 401
    answer = client.get(ADMIN_PATH, headers={"X-Admin-Token": ADMIN}).json()
    assert [r["id"] for r in answer["rules"]] == ["half"]
    assert answer["faulted"] == [{"model": "", "version": "", "action": "abort", "count": codes.count(500)}]


def test_upstream_down_is_a_502_naming_the_proxy() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    app = create_app("http://callee.test", [], ADMIN, transport=httpx.MockTransport(down))
    resp = TestClient(app).get("/x")
    assert resp.status_code == 502 and "fault proxy: upstream" in resp.json()["detail"]


def test_rules_file_must_hold_valid_rules(tmp_path) -> None:  # noqa: ANN001
    good = tmp_path / "r.json"
    good.write_text(json.dumps([{"id": "a", "action": "delay", "delay": 0.1}]))
    assert load_rules(good)[0].delay == 0.1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": "a", "action": "explode"}]))
    with pytest.raises(ValueError):
        load_rules(bad)


def test_repeated_answer_headers_pass_through_each_on_its_own() -> None:
    """Two Set-Cookie headers stay two (joined with a comma they would be one broken cookie)."""

    def cookies(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=[("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/")], stream=_Raw(b"ok"))

    app = create_app("http://callee.test", [], ADMIN, transport=httpx.MockTransport(cookies))
    resp = TestClient(app).get("/x")
    assert resp.status_code == 200 and resp.text == "ok"
    assert resp.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
