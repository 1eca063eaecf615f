"""A gated Locust (the run starts it before its pre-flight checks) spawns its users but sends no
request until the gate opens; then the users run. Real Locust against a small local HTTP server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from chaosctl.load.locust_run import LocustRun
from chaosctl.load.plan import LoadPlan, PlannedRequest
from chaosctl.waiting import wait_until


class Counting(BaseHTTPRequestHandler):
    count = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).count += 1
        body = json.dumps({"outputs": [0]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None: ...


@pytest.fixture
def server() -> Iterator[str]:
    Counting.count = 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_users_spawn_but_send_nothing_until_the_gate_opens(server: str, tmp_path: Path) -> None:
    plan = LoadPlan(users=2, spawn_rate=20, requests=(PlannedRequest("fraud-detector"),), wait_min_s=0.05, wait_max_s=0.1)
    load = LocustRun(plan, server, 60.0, tmp_path, "secret")
    load.start(gated=True)
    try:
        # every user spawned, and two later flushes of the stats history (1 s apart) still show no request
        assert wait_until(lambda: load.spawned_users()[0] >= 2, 60.0, interval=0.05), (tmp_path / "locust.log").read_text()
        rows = _history_rows(tmp_path)
        assert wait_until(lambda: _history_rows(tmp_path) >= rows + 2, 30.0, interval=0.05)
        assert Counting.count == 0 and load.spawned_users()[1] == 0 and load.spawned_signal() == -1
        load.open_gate()
        assert load.wait_spawned(2, timeout_s=30.0)
        assert Counting.count > 0
    finally:
        load.stop()


def _history_rows(out: Path) -> int:
    try:
        return (out / "locust_stats_history.csv").read_text().count("Aggregated")
    except OSError:
        return 0
