"""The gateway benchmark's load (benchmarks/gateway_overhead.py): wrk's request scripts, one wrk
run, and the nginx hop's config."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from gateway_report import Result

MODEL, VERSION, WIDTH = "fraud-detector", "2.3.1", 20

# The request's body: a fresh input per request (each wrk thread seeded apart, a per-thread
# counter in the second feature), since one fixed body is answered by the gateway's prediction
# cache and flatters its figures; or (WRK_FIXED, the --hits leg) one fixed body.
WRK_VARIED = """
local rest = string.rep(", 0.25", %(width_rest)d)
local threads, n = 0, 0
setup = function(thread) threads = threads + 1; thread:set("id", threads) end
init = function(args) math.randomseed((id or 0) * 7919 + os.time()) end
request = function()
  n = n + 1
  local body = '{"inputs": [[' .. string.format("%%.9f, %%d.%%07d", math.random(), id or 0, n) .. rest ..
    ']], "version": "%(version)s"}'
  return wrk.format(nil, nil, nil, body)
end
"""
WRK_FIXED = """
wrk.body = [==[%(body)s]==]
"""
WRK_COMMON = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.headers["X-Model-Version"] = "%(version)s"
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "non2xx": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def wrk_script(path: Path, token: str, *, fixed: bool) -> Path:
    """A wrk script posting as `token`: varied bodies (cache misses) or one fixed body (hits)."""
    body = json.dumps({"inputs": [[0.25] * WIDTH], "version": VERSION})
    part = WRK_FIXED % {"body": body} if fixed else WRK_VARIED % {"width_rest": WIDTH - 2, "version": VERSION}
    path.write_text(part + WRK_COMMON % {"token": token, "version": VERSION})
    return path


NGINX_CONF = """
daemon off;
worker_processes 1;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %(dir)s/body;
  proxy_temp_path %(dir)s/proxy;
  fastcgi_temp_path %(dir)s/fastcgi;
  uwsgi_temp_path %(dir)s/uwsgi;
  scgi_temp_path %(dir)s/scgi;
  upstream model { server 127.0.0.1:%(upstream)d; keepalive 64; }
  server {
    listen 127.0.0.1:%(port)d;
    location / {
      proxy_pass http://model;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
"""


def run_wrk(leg: str, url: str, script: Path, connections: int, seconds: float) -> Result:
    threads = 1 if connections == 1 else 2
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "5s",
           "-s", str(script), url]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    return Result(leg, data["requests"], data["duration_us"] / 1e6, data["p50_us"] / 1e3, data["p99_us"] / 1e3,
                  data["non2xx"], data["socket_errors"])  # fmt: skip
