"""A tiny instrumented HTTP API for the System integration test (not chaosctl code):
GET / calls its backend at UPSTREAM (through the link chaosctl proxies) and answers
200 with the backend's bytes, or 502 when the backend fails; /metrics exports
prometheus_client's http_request_duration_seconds / http_requests_total.

usage: python _tiny_api.py PORT UPSTREAM_HOST:PORT
"""

from __future__ import annotations

import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

DURATION = Histogram("http_request_duration_seconds", "request latency", ("method", "handler"),
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0))
REQUESTS = Counter("http_requests_total", "requests", ("method", "handler", "status"))
UPSTREAM = sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/metrics":
            self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            return
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(f"http://{UPSTREAM}/", timeout=5.0) as resp:
                code, body = 200, resp.read()[:64]
        except Exception as exc:  # noqa: BLE001 - any backend failure is a 502
            code, body = 502, str(exc).encode()
        self._send(code, body)
        DURATION.labels("GET", "/").observe(time.perf_counter() - t0)
        REQUESTS.labels("GET", "/", str(code)).inc()


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
