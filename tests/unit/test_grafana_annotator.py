"""Grafana annotations against a small local HTTP server that records every call."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chaosctl.observe.grafana import GrafanaAnnotator, annotator_from_settings
from chaosctl.settings import Settings


@dataclass
class Recorded:
    method: str
    path: str
    auth: str | None
    body: dict


@dataclass
class FakeGrafana:
    url: str
    calls: list[Recorded] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def grafana():
    state = FakeGrafana(url="")

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            state.calls.append(Recorded(self.command, self.path, self.headers.get("Authorization"), body))
            payload = json.dumps({"id": len(state.calls), "message": "Annotation added"}).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_PATCH = _record

        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_posts_a_phase_region_with_token_and_tags(grafana):
    annotator = GrafanaAnnotator(grafana.url, "glsa_secret")
    ident = annotator.annotate("phase fault", ["phase", "registry-node-loss"], start=1700000000.25, end=1700000060.5)
    assert ident == 1
    (call,) = grafana.calls
    assert (call.method, call.path, call.auth) == ("POST", "/api/annotations", "Bearer glsa_secret")
    assert call.body == {
        "time": 1700000000250,
        "timeEnd": 1700000060500,
        "text": "phase fault",
        "tags": ["chaosctl", "phase", "registry-node-loss"],
    }


def test_point_annotation_then_close(grafana):
    annotator = GrafanaAnnotator(grafana.url + "/", None)
    ident = annotator.annotate("fault latency link:gateway->model-gpu-1", ("fault",), start=10.0)
    assert annotator.close(ident, end=20.0)
    post, patch = grafana.calls
    assert "timeEnd" not in post.body and post.auth is None
    assert (patch.method, patch.path, patch.body) == ("PATCH", f"/api/annotations/{ident}", {"timeEnd": 20000})


def test_grafana_errors_never_raise(grafana):
    grafana.status = 401
    annotator = GrafanaAnnotator(grafana.url, "wrong")
    assert annotator.annotate("phase baseline", ["phase"], start=1.0) is None
    assert annotator.close(None, end=2.0) is False
    assert annotator.failures == 1


def test_unreachable_grafana_never_raises():
    # Port 9 (discard) on loopback: nothing listens there in this sandbox, the connect is refused.
    annotator = GrafanaAnnotator("http://127.0.0.1:9", "t", timeout_s=0.5)
    assert annotator.annotate("phase baseline", ["phase"], start=1.0) is None
    assert annotator.close(7, end=2.0) is False
    assert annotator.failures == 2


def test_only_built_when_a_grafana_url_is_set():
    assert annotator_from_settings(Settings()) is None
    annotator = annotator_from_settings(Settings(grafana_url="http://127.0.0.1:3000", grafana_token="tok"))
    assert annotator is not None and annotator.token == "tok"
