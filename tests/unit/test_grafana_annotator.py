"""Grafana annotations against a small local HTTP server that records every call."""

from __future__ import annotations

import json
import sys
import threading
import time
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
    delay_s: float = 0.0


class _Server(ThreadingHTTPServer):
    # Join every handler at server_close(): in `make test` a handler of the slow-Grafana case
    # outlived its test, hit the client that had given up, and its traceback landed in the
    # next test's captured stderr (test_history_cli failed on "Traceback" it did not print).
    daemon_threads = False

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up is expected here
            super().handle_error(request, client_address)


@pytest.fixture
def grafana():
    state = FakeGrafana(url="")

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            time.sleep(state.delay_s)
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

    server = _Server(("127.0.0.1", 0), Handler)
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


def test_run_annotations_open_and_close_phase_and_fault_regions(grafana):
    from chaosctl.observe.grafana import RunAnnotations

    run = RunAnnotations(GrafanaAnnotator(grafana.url, "tok"), "registry-node-loss")
    run.phase_started("fault", at=100.0)
    run.fault_injected("f1", "process-kill registry-store[0]", at=101.0)
    run.fault_reverted("f1", at=130.0)
    run.phase_ended("fault", at=160.0)
    run.phase_ended("never-started", at=161.0)  # ignored, no call
    run.finish()
    calls = [(c.method, c.path, c.body) for c in grafana.calls]
    assert calls == [
        ("POST", "/api/annotations", {"time": 100000, "text": "registry-node-loss: phase fault",
                                      "tags": ["chaosctl", "fault", "phase", "registry-node-loss"]}),
        ("POST", "/api/annotations", {"time": 101000, "text": "registry-node-loss: fault process-kill registry-store[0]",
                                      "tags": ["chaosctl", "fault", "registry-node-loss"]}),
        ("PATCH", "/api/annotations/2", {"timeEnd": 130000}),
        ("PATCH", "/api/annotations/1", {"timeEnd": 160000}),
    ]


def test_run_annotations_without_grafana_do_nothing():
    from chaosctl.observe.grafana import RunAnnotations

    run = RunAnnotations(None, "s")
    run.phase_started("baseline", at=1.0)
    run.fault_injected("f1", "latency link:gateway->registry", at=1.5)
    assert run._open == {}  # nothing was posted, so nothing is left to close
    run.phase_ended("baseline", at=2.0)


def test_a_slow_grafana_never_delays_the_run(grafana):
    from chaosctl.observe.grafana import RunAnnotations

    grafana.delay_s = 1.0
    run = RunAnnotations(GrafanaAnnotator(grafana.url, "tok", timeout_s=3.0), "s")
    began = time.monotonic()
    run.phase_started("fault", at=1.0)
    run.phase_ended("fault", at=2.0)
    assert time.monotonic() - began < 0.2  # the run's thread did not wait for Grafana
    run.finish(timeout_s=0.1)  # gives up quickly, without raising
    assert time.monotonic() - began < 0.8
