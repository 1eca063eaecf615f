"""The predict route's fast path: what it takes, what it leaves to FastAPI, and that both answer alike."""

from __future__ import annotations

import json
from typing import Any

import pytest

from _gateway_fakes import FakeStack, Harness, make_harness, record
from chaosctl.services.gateway.fastpath import header_map, parse_inputs, plain_headers


def _h() -> tuple[Harness, list[str]]:
    """A harness whose fast-path handler notes each request it served."""
    h = make_harness(FakeStack(records=[record("model-gpu-1")]))
    app: Any = h.client.app
    fast, served = app.fast_path, []
    inner = fast.handler

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        served.append(scope["path"])
        await inner(scope, receive, send)

    fast.handler = spy
    return h, served


@pytest.mark.parametrize(
    ("body", "rows"),
    [
        (b'{"inputs": [[0.5, 1.5]], "version": "2.3.1"}', [[0.5, 1.5]]),
        (b'{"inputs": [[0.5], [2.5]]}', [[0.5], [2.5]]),
        (b'{"inputs": [[1, 2.0]]}', None),  # an int: FastAPI's strict float decides
        (b'{"inputs": [[true]]}', None),
        (b'{"inputs": [[0.5, 1.5], [0.5]]}', None),  # ragged
        (b'{"inputs": [[]]}', None),
        (b'{"inputs": []}', None),
        (b'{"inputs": [[NaN]]}', None),
        (b'{"inputs": [[1e400]]}', None),
        (b'[[0.5]]', None),
        (b"{", None),
        (b"", None),
    ],
)
def test_parse_inputs_takes_only_plain_float_rows(body: bytes, rows: list[list[float]] | None) -> None:
    assert parse_inputs(body, max_rows=4, max_features=4) == rows


def test_parse_inputs_leaves_oversized_bodies_to_fastapi() -> None:
    assert parse_inputs(b'{"inputs": [[0.5], [0.5], [0.5]]}', max_rows=2, max_features=4) is None
    assert parse_inputs(b'{"inputs": [[0.5, 0.5, 0.5]]}', max_rows=2, max_features=2) is None


def _scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"headers": list(headers)}


JSON = (b"content-type", b"application/json")


@pytest.mark.parametrize(
    ("headers", "plain"),
    [
        ((JSON, (b"authorization", b"Bearer abc")), ("Bearer abc", "")),
        ((JSON, (b"authorization", b"bearer abc"), (b"x-model-version", b" 2.x ")), ("bearer abc", "2.x")),
        (((b"authorization", b"Bearer abc"),), None),  # no content type
        (((b"content-type", b"text/plain"), (b"authorization", b"Bearer abc")), None),
        ((JSON, (b"authorization", b"Basic abc")), None),
        ((JSON, (b"authorization", b"Bearer ")), None),
        ((JSON,), None),
        ((JSON, (b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")), None),
        ((JSON, (b"authorization", b"Bearer a"), (b"x-model-version", b"9" * 65)), None),
    ],
)
def test_plain_headers(headers: tuple[tuple[bytes, bytes], ...], plain: tuple[str, str] | None) -> None:
    assert plain_headers(_scope(*headers)) == plain


def test_fast_and_fastapi_paths_answer_alike() -> None:
    h, served = _h()
    fast = h.predict(body={"inputs": [[1.0, 2.0]]})
    slow = h.predict(body={"inputs": [[1, 2]]})  # ints: left to the FastAPI route
    assert served == ["/v1/models/fraud-detector/predict"]
    assert fast.status_code == slow.status_code == 200
    assert fast.json() == slow.json()
    assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"
    assert fast.headers["x-prediction-cache"] == slow.headers["x-prediction-cache"]
    route = {"service": "gateway", "route": "/v1/models/{model}/predict", "method": "POST", "code": "200"}
    assert h.metric("chaosctl_http_requests_total", route) == 2.0
    names = [s.name for s in h.spans.get_finished_spans()]
    assert names.count("POST /v1/models/{model}/predict") == 2


@pytest.mark.parametrize("model", ["fraud-detector", "unknown-model"])
def test_fast_and_fastapi_paths_refuse_alike(model: str) -> None:
    h, served = _h()
    forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.forged"
    for token in (forged, None):  # a forged token (401), then a valid one (404 for an unknown model)
        fast = h.predict(model, body={"inputs": [[1.0]]}, token=token)
        slow = h.predict(model, body={"inputs": [[1]]}, token=token)
        assert fast.status_code == slow.status_code and fast.status_code in (200, 401, 404)
        assert json.loads(fast.content) == json.loads(slow.content)
        assert fast.headers.get("www-authenticate") == slow.headers.get("www-authenticate")
    assert len(served) == 2


def test_a_body_in_several_chunks_is_replayed_to_fastapi_when_not_plain() -> None:
    h, served = _h()
    chunks = [b'{"inputs": ', b"[[1, ", b"2]]}"]
    resp = h.client.post("/v1/models/fraud-detector/predict", content=iter(chunks),
                         headers={"Authorization": f"Bearer {h.token()}", "Content-Type": "application/json"})  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert served == []


def test_header_map_is_request_facts_headers_from_starlette() -> None:
    """The fast path's request-fault facts: the same header map RequestFacts.of(path, Headers(scope))
    makes (mixed case, a repeated name: the last wins, latin-1 values), in one pass."""
    from starlette.datastructures import Headers

    from chaosctl.services.request_faults import RequestFacts

    raw = [(b"Authorization", b"Bearer t"), (b"x-chaos", b"a"), (b"X-Chaos", b"b"), (b"x-v", "\u00e9".encode("latin-1"))]
    scope = {"type": "http", "path": "/v1/models/m/predict", "headers": raw}
    assert header_map(scope) == RequestFacts.of(scope["path"], Headers(scope=scope)).headers
    assert header_map(scope) == {"authorization": "Bearer t", "x-chaos": "b", "x-v": "\u00e9"}
