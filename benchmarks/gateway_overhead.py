"""Gateway hop overhead, side by side in one run: a model server called directly, through
an nginx `proxy_pass` hop, and through the chaosctl gateway (JWT check, rate limit,
registry cache, canary routing, balancing, breaker, retries, prediction cache, events to Kafka,
spans to Jaeger, metrics).

    chaosctl up                                   # the stack: registry, model servers, Redis, Kafka, Jaeger
    .venv/bin/python benchmarks/gateway_overhead.py [--port-base N] [--duration 8] [--connections 32] [--hits]

All three legs hit the same model server (model-gpu-1, fraud-detector 2.3.1) with the
same kind of body: a fresh input per request (one fixed body would be answered by the
gateway's prediction cache). The gateway under test is started by this script, pinned to
that server and dialling it directly (not through Toxiproxy, which the stack's gateway uses for faults),
so the only difference between the legs is the hop. Every request is a prediction cache MISS
(the gateway asks Redis, then the model, then stores the answer); `--hits` adds a leg
"gw-hits" with one fixed body, answered from the cache after the first request (all hits). nginx runs with one worker (the
gateway is one process) and upstream keep-alive. Load comes from wrk (C, closed loop):
1 connection for latency (p50/p99), N connections for maximum throughput.

Needs `wrk` and `nginx` on PATH (Debian: apt-get install wrk nginx-light).
Prints a table and the ratios; exits 3 when the stack or a tool is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from chaosctl.services.gateway.auth import mint_token
from chaosctl.settings import Settings, load_settings
from chaosctl.stack.topology import EVENTS, PREDICTION_CACHE, Topology
from chaosctl.waiting import http_answers, wait_until

SERVER = "model-gpu-1"
MODEL, VERSION, WIDTH = "fraud-detector", "2.3.1", 20
PATH = f"/v1/models/{MODEL}/predict"
GATEWAY_OFFSET, NGINX_OFFSET, BEFORE_OFFSET = 88, 89, 87  # free offsets of the topology's port layout (90-95: pipeline)

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


@dataclass(frozen=True)
class Result:
    leg: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    hop_cpu_ms: float = 0.0  # CPU of the hop's processes (nginx / gateway) per request
    server_cpu_ms: float = 0.0  # CPU of the model server per request
    cache_hit_pct: float | None = None  # prediction cache hits among a gateway's lookups (None: no gateway)
    cache_skipped_pct: float | None = None  # lookups answered without Redis (bypass, timeout, error)
    added_p50_ms: float = 0.0  # over the direct leg: the median of the rounds' differences (latency mode)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# -- processes -----------------------------------------------------------------------


def wait_http(url: str, timeout_s: float = 30.0) -> None:
    if wait_until(lambda: http_answers(url), timeout_s, interval=0.2):
        return
    raise SystemExit(f"error: {url} did not come up within {timeout_s:g}s")


@contextmanager
def child(cmd: list[str], ready_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process of ours, in its own session, stopped by its pid (SIGTERM, then SIGKILL)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(ready_url)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def serve_bench_gateway(port_base: int, port: int) -> None:
    """The gateway under test (run in a child process): the stack's config (events to Kafka
    included), minus Toxiproxy on the registry and model server hops."""
    from chaosctl.services.gateway.app import create_app, default_config, default_events
    from chaosctl.services.gateway.events import EventPublisher
    from chaosctl.services.telemetry import Telemetry, serve
    from dataclasses import replace

    settings = load_settings(port_base=port_base)
    topology = Topology(port_base)
    config = replace(
        default_config(topology, settings),
        registry_url=topology.url("registry"),
        upstream_urls={SERVER: topology.url(SERVER)},
        servers=frozenset({SERVER}),
        # As patient as the load generator (wrk --timeout 5s): this measures the hop, not
        # how the retry policy copes with a model server driven past its capacity.
        retry=replace(default_config(topology, settings).retry, per_try_timeout_s=5.0),
    )
    try:
        from chaosctl.services.gateway.app import gateway_telemetry
    except ImportError:  # an older tree (--compare)
        telemetry = Telemetry("gateway", topology)
    else:
        telemetry = gateway_telemetry("gateway", topology)
    events = EventPublisher(default_events(topology, settings), telemetry)
    app = create_app(config, telemetry, events=events)
    try:  # as the stack's gateway does before it serves
        from chaosctl.services.gateway.app import tune_gc
    except ImportError:  # an older tree (--compare)
        pass
    else:
        tune_gc()
    try:  # each response in one write, as the stack's gateway serves (an older tree: not known)
        serve(app, port, corked=True)
    except TypeError:
        serve(app, port)


# -- load ----------------------------------------------------------------------------


def run_wrk(leg: str, url: str, script: Path, connections: int, seconds: float) -> Result:
    threads = 1 if connections == 1 else 2
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "5s",
           "-s", str(script), url]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    return Result(leg, data["requests"], data["duration_us"] / 1e6, data["p50_us"] / 1e3, data["p99_us"] / 1e3,
                  data["non2xx"], data["socket_errors"])  # fmt: skip


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU of processes and their children (nginx workers)."""
    import psutil

    total = 0.0
    for pid in pids:
        proc = psutil.Process(pid)
        for p in (proc, *proc.children(recursive=True)):
            times = p.cpu_times()
            total += times.user + times.system
    return total


@dataclass(frozen=True)
class Leg:
    name: str
    url: str
    hop_pids: tuple[int, ...]  # () for the direct leg
    # wrk script: a client JWT for the gateway; the service credential where the model server is called directly
    script: Path
    metrics_url: str | None = None  # a gateway's /metrics: its prediction cache hits are counted


def cache_counts(metrics_url: str | None) -> tuple[float, float, float]:
    """(hits, lookups that did not get an answer from Redis: bypass | timeout | error, lookups) of a
    gateway's prediction cache so far; zeros for a leg without one. Those lookups cost less CPU
    than a miss (no store follows, and a bypass asks nothing): a busy machine's figures say so."""
    if metrics_url is None:
        return 0.0, 0.0, 0.0
    hits = skipped = total = 0.0
    for line in httpx.get(metrics_url, timeout=5.0).text.splitlines():
        if line.startswith("chaosctl_gateway_prediction_cache_total{"):
            value = float(line.rsplit(" ", 1)[1])
            total += value
            hits += value if 'result="hit"' in line else 0.0
            skipped += value if any(f'result="{r}"' in line for r in ("bypass", "timeout", "error")) else 0.0
    return hits, skipped, total


def measure(legs: list[Leg], server_pid: int, connections: int, seconds: float,
            profile: Path | None = None, rounds: int = 1) -> list[Result]:
    """`rounds` wrk runs per leg of seconds/rounds each, the legs' order reversed every other round
    (a drift of the shared machine falls on every leg alike), with the CPU that the hop and the model
    server spent (and, through a gateway, the share of prediction cache hits). A leg's p50/p99: the
    median over its rounds; its added p50: the median of (its p50 - the direct leg's) per round, so
    that an nginx hop's ~0.1 ms is not lost in the drift between two long runs. `profile`: py-spy
    records the "gateway" leg's process (one round).

    CPU per request does not depend on how busy the (shared) machine is; latency and
    throughput do."""
    import statistics

    for leg in legs:  # warm-up: connections, registry cache, batcher
        run_wrk("warm-up", leg.url, leg.script, connections, 2)
    runs: dict[str, list[Result]] = {leg.name: [] for leg in legs}
    for r in range(rounds):
        for leg in legs if r % 2 == 0 else reversed(legs):
            spy = profile if r == 0 and leg.name == "gateway" else None
            runs[leg.name].append(_measure_leg(leg, server_pid, connections, max(1, round(seconds / rounds)), spy))  # wrk: whole seconds
    direct = [res.p50_ms for res in runs[legs[0].name]]
    return [_merged(name, results, statistics.median(res.p50_ms - d for res, d in zip(results, direct)))
            for name, results in runs.items()]  # fmt: skip


def _merged(name: str, results: list[Result], added_p50_ms: float) -> Result:
    import statistics

    n = max(1, sum(res.requests for res in results))
    def per_request(field: str) -> float:
        return sum(getattr(res, field) * res.requests for res in results) / n
    def pct(field: str) -> float | None:
        known = [getattr(res, field) for res in results if getattr(res, field) is not None]
        return statistics.fmean(known) if known else None
    return Result(name, sum(res.requests for res in results), sum(res.seconds for res in results),
                  statistics.median(res.p50_ms for res in results), statistics.median(res.p99_ms for res in results),
                  sum(res.non2xx for res in results), sum(res.socket_errors for res in results),
                  per_request("hop_cpu_ms"), per_request("server_cpu_ms"), pct("cache_hit_pct"),
                  pct("cache_skipped_pct"), added_p50_ms)  # fmt: skip


def _measure_leg(leg: Leg, server_pid: int, connections: int, seconds: float, profile: Path | None) -> Result:
    from dataclasses import replace

    spy = py_spy(leg.hop_pids[0], seconds, profile) if profile is not None else None
    (hop0, srv0), (hit0, skip0, look0) = (cpu_seconds(list(leg.hop_pids)), cpu_seconds([server_pid])), cache_counts(leg.metrics_url)
    res = run_wrk(leg.name, leg.url, leg.script, connections, seconds)
    (hop1, srv1), (hit1, skip1, look1) = (cpu_seconds(list(leg.hop_pids)), cpu_seconds([server_pid])), cache_counts(leg.metrics_url)
    if spy is not None:
        spy.wait(seconds + 30)
    n = max(1, res.requests)
    hit_pct = 100.0 * (hit1 - hit0) / (look1 - look0) if look1 > look0 else None
    skip_pct = 100.0 * (skip1 - skip0) / (look1 - look0) if look1 > look0 else None
    return replace(res, hop_cpu_ms=(hop1 - hop0) * 1e3 / n, server_cpu_ms=(srv1 - srv0) * 1e3 / n,
                   cache_hit_pct=hit_pct, cache_skipped_pct=skip_pct)  # fmt: skip


def py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy (next to this Python, else on PATH) sampling `pid` for `seconds`: a flame graph SVG."""
    exe = Path(sys.executable).with_name("py-spy")
    cmd = [str(exe) if exe.exists() else "py-spy", "record", "--pid", str(pid), "--duration", str(int(seconds)),
           "--rate", "200", "--nonblocking", "--output", str(out)]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def listening_pid(port: int) -> int:
    import psutil

    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return conn.pid
    raise SystemExit(f"error: no process listens on 127.0.0.1:{port}")


# -- report --------------------------------------------------------------------------


def table(title: str, results: list[Result]) -> str:
    base = results[0]
    rows = [f"{title}", f"  {'leg':<9} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'+p99 ms':>8} {'req/s':>9} "
                        f"{'non-2xx':>8} {'sock err':>8} {'hop cpu ms/req':>15} {'server cpu ms/req':>18} {'cache hits':>10} {'no redis':>9}"]  # fmt: skip
    for r in results:
        rows.append(f"  {r.leg:<9} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.p50_ms - base.p50_ms:8.2f} "
                    f"{r.p99_ms - base.p99_ms:8.2f} {r.rps:9.0f} {r.non2xx:8d} {r.socket_errors:8d} "
                    f"{r.hop_cpu_ms:15.2f} {r.server_cpu_ms:18.2f} "
                    f"{'-' if r.cache_hit_pct is None else f'{r.cache_hit_pct:.0f}%':>10} "
                    f"{'-' if r.cache_skipped_pct is None else f'{r.cache_skipped_pct:.0f}%':>9}")  # fmt: skip
    return "\n".join(rows)


def ratios(lat: dict[str, Result], thr: dict[str, Result]) -> str:
    lines = ["ratios (latency: higher is slower; throughput: higher is better)"]
    pairs = [("gateway", "direct"), ("nginx", "direct"), ("gateway", "nginx")]
    if "before" in lat:
        pairs += [("before", "direct"), ("before", "nginx"), ("gateway", "before")]
    for a, b in pairs:
        lines.append(
            f"  {a}/{b}: p50 x{lat[a].p50_ms / lat[b].p50_ms:.2f}  p99 x{lat[a].p99_ms / lat[b].p99_ms:.2f}  "
            f"max throughput x{thr[a].rps / thr[b].rps:.2f}"
        )
    lines.append("  added p50 (1 connection, median of the rounds' differences): " + ", ".join(
        f"{leg} {lat[leg].added_p50_ms:.3f} ms" for leg in lat if leg != "direct"))
    return "\n".join(lines + targets(lat, thr))


def targets(lat: dict[str, Result], thr: dict[str, Result]) -> list[str]:
    """Each gateway leg against issue 14's bounds: <= 1 ms CPU per request, added p50 <= 3x an
    nginx hop's, >= 0.5x the direct throughput at the throughput mode's connections."""
    nginx_added = lat["nginx"].added_p50_ms
    lines = [f"targets: cpu <= 1 ms/req, added p50 <= 3x nginx's ({nginx_added:.3f} ms), throughput >= 0.5x direct"]
    for leg in (name for name in lat if name not in ("direct", "nginx")):
        added = lat[leg].added_p50_ms
        lines.append(
            f"  {leg:<8} cpu {lat[leg].hop_cpu_ms:.2f} ms/req (1 conn), {thr[leg].hop_cpu_ms:.2f} (max thr)  "
            + (f"added p50 x{added / nginx_added:.1f} nginx's  " if nginx_added > 0 else
               "added p50 vs nginx's: n/a (nginx's added p50 <= 0: a machine too busy to tell)  ")
            + f"throughput x{thr[leg].rps / thr['direct'].rps:.2f} direct"
        )
    lines.append(f"  nginx    cpu {lat['nginx'].hop_cpu_ms:.3f} ms/req (1 conn), {thr['nginx'].hop_cpu_ms:.3f} (max thr)")
    return lines


def preflight(topology: Topology) -> None:
    missing = [t for t in ("wrk", "nginx") if shutil.which(t) is None]
    if missing:
        print(f"error: {', '.join(missing)} not on PATH (Debian: apt-get install wrk nginx-light)", file=sys.stderr)
        raise SystemExit(3)
    for name in ("registry", SERVER):
        try:
            httpx.get(f"{topology.url(name)}/healthz", timeout=2.0).raise_for_status()
        except httpx.HTTPError as exc:
            print(f"error: {name} at {topology.url(name)} is not ready ({exc}); run `chaosctl up` first", file=sys.stderr)
            raise SystemExit(3) from None
    for name in (PREDICTION_CACHE, EVENTS):  # the gateway's own Redis and Kafka links: every mechanism on
        host, _, port = topology.via_proxy("gateway", name).split("://", 1)[1].rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=2.0).close()
        except OSError as exc:
            print(f"error: {name} at {host}:{port} is not reachable ({exc}); run `chaosctl up` first", file=sys.stderr)
            raise SystemExit(3) from None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port-base", type=int, default=None)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per leg and mode")
    parser.add_argument("--connections", type=int, default=32, help="connections for the throughput mode")
    parser.add_argument("--rounds", type=int, default=5,
                        help="latency mode: split each leg's --duration into this many runs, legs interleaved")
    parser.add_argument("--serve-gateway", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--compare", type=Path, default=None,
                        help="a BEFORE tree's src/: its gateway as a leg \"before\" (PYTHONPATH), same run")
    parser.add_argument("--hits", action="store_true",
                        help="add a leg \"gw-hits\": the gateway sent one fixed body (prediction cache hits)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="py-spy flame graph (SVG) of the gateway during its throughput run")
    return parser.parse_args()


def build_legs(topology: Topology, d: Path, settings: Settings, hits: bool, hops: dict[str, tuple[int, int]]) -> list[Leg]:
    """The legs in order; `hops`: leg name -> (port, pid) of each hop process started."""
    token = mint_token(settings.jwt_secret, "benchmark", 3600, rate_per_s=1e9, burst=1e9)
    client = wrk_script(d / "post-client.lua", token, fixed=False)
    service = wrk_script(d / "post-service.lua", settings.service_token, fixed=False)
    legs = [Leg("direct", f"{topology.url(SERVER)}{PATH}", (), service)]
    for name, (port, pid) in hops.items():
        gateway = name != "nginx"
        legs.append(Leg(name, f"http://127.0.0.1:{port}{PATH}", (pid,), client if gateway else service,
                        f"http://127.0.0.1:{port}/metrics" if gateway else None))  # fmt: skip
    if hits:
        port, pid = hops["gateway"]
        legs.append(Leg("gw-hits", f"http://127.0.0.1:{port}{PATH}", (pid,),
                        wrk_script(d / "post-fixed.lua", token, fixed=True), f"http://127.0.0.1:{port}/metrics"))  # fmt: skip
    return legs


def main() -> int:
    args = parse_args()
    settings = load_settings(port_base=args.port_base)
    topology = Topology(settings.port_base)
    if args.serve_gateway is not None:
        serve_bench_gateway(settings.port_base, args.serve_gateway)
        return 0
    preflight(topology)
    gw_port, nginx_port = settings.port_base + GATEWAY_OFFSET, settings.port_base + NGINX_OFFSET
    before_port = settings.port_base + BEFORE_OFFSET
    with tempfile.TemporaryDirectory(prefix="chaosctl-bench-") as tmp:
        d = Path(tmp)
        (d / "nginx.conf").write_text(NGINX_CONF % {"dir": d, "upstream": topology.model_server_port(SERVER), "port": nginx_port})
        gw_cmd = [sys.executable, __file__, "--port-base", str(settings.port_base), "--serve-gateway", str(gw_port)]
        nginx_cmd = ["nginx", "-p", str(d), "-e", str(d / "error.log"), "-c", str(d / "nginx.conf")]
        before_cmd = [*gw_cmd[:-1], str(before_port)]
        with child(gw_cmd, f"http://127.0.0.1:{gw_port}/healthz", d / "gateway.log") as gw, \
             child(nginx_cmd, f"http://127.0.0.1:{nginx_port}/healthz", d / "nginx.log") as ngx, \
             optional_child(args.compare, before_cmd, f"http://127.0.0.1:{before_port}/healthz", d / "before.log") as old:  # fmt: skip
            hops = {"nginx": (nginx_port, ngx.pid), "gateway": (gw_port, gw.pid)}
            if old is not None:
                hops["before"] = (before_port, old.pid)
            legs = build_legs(topology, d, settings, args.hits, hops)
            server_pid = listening_pid(topology.model_server_port(SERVER))
            load0 = os.getloadavg()
            lat = measure(legs, server_pid, 1, args.duration, rounds=max(1, args.rounds))
            thr = measure(legs, server_pid, args.connections, args.duration, args.profile)
    print(f"gateway hop overhead: {SERVER} ({MODEL} {VERSION}), {args.duration:g}s per leg and mode "
          f"(latency: {max(1, args.rounds)} interleaved rounds), wrk; "
          f"varied bodies (prediction cache misses){'; gw-hits: one fixed body' if args.hits else ''}")
    print(table("latency, 1 connection (closed loop)", lat))
    print(table(f"max throughput, {args.connections} connections", thr))
    print(ratios({r.leg: r for r in lat}, {r.leg: r for r in thr}))
    print(f"load average: {' '.join(f'{x:.2f}' for x in load0)} before, "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} after, on {os.cpu_count()} cpus")
    return 0


@contextmanager
def optional_child(src: Path | None, cmd: list[str], ready_url: str, log: Path) -> Iterator[subprocess.Popen[bytes] | None]:
    """The BEFORE tree's gateway (PYTHONPATH=src) when --compare is given, else nothing."""
    if src is None:
        yield None
        return
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(src)
    try:
        with child(cmd, ready_url, log) as proc:
            os.environ.pop("PYTHONPATH") if old is None else os.environ.__setitem__("PYTHONPATH", old)
            yield proc
    finally:
        os.environ.pop("PYTHONPATH", None) if old is None else os.environ.__setitem__("PYTHONPATH", old)


if __name__ == "__main__":
    sys.exit(main())
