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
from gateway_load import MODEL, NGINX_CONF, VERSION, run_wrk, wrk_script  # beside this script
from gateway_report import Result, merged, ratios, table

SERVER = "model-gpu-1"
PATH = f"/v1/models/{MODEL}/predict"
GATEWAY_OFFSET, NGINX_OFFSET, BEFORE_OFFSET = 88, 89, 87  # free offsets of the topology's port layout (90-95: pipeline)

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
    """`rounds` wrk runs per leg of seconds/rounds each (whole seconds: wrk's), the legs' order
    reversed every other round, with the CPU that the hop and the model server spent (and, through a
    gateway, the share of prediction cache hits). A leg's p50/p99: the median over its rounds; its
    added p50: the mean of (its p50 - the direct leg's) per round. With an even number of rounds the
    order is A B B A ..., so a drift of the shared machine that is linear over the run cancels out of
    that mean, and an nginx hop's ~0.1 ms is not lost in it. `profile`: py-spy records the "gateway"
    leg's process (first round).

    CPU per request does not depend on how busy the (shared) machine is; latency and
    throughput do."""
    import statistics

    for leg in legs:  # warm-up: connections, registry cache, batcher
        run_wrk("warm-up", leg.url, leg.script, connections, 2)
    runs: dict[str, list[Result]] = {leg.name: [] for leg in legs}
    for r in range(rounds):
        for leg in legs if r % 2 == 0 else reversed(legs):
            spy = profile if r == 0 and leg.name == "gateway" else None
            runs[leg.name].append(_measure_leg(leg, server_pid, connections, round_seconds(seconds, rounds), spy))
    direct = [res.p50_ms for res in runs[legs[0].name]]
    return [merged(name, results, statistics.fmean(res.p50_ms - d for res, d in zip(results, direct)))
            for name, results in runs.items()]  # fmt: skip


def round_seconds(seconds: float, rounds: int) -> int:
    return max(1, round(seconds / rounds))


def wait_cpu_settled(pids: list[int], still_ms: float = 3.0, limit_s: float = 3.0) -> None:
    """Until the CPU of `pids` stopped rising (under `still_ms` in 0.2 s): after wrk ends, a gateway
    still encodes and exports the run's spans (a 500 ms batch delay); read at once, that CPU would
    be missed, once per round."""
    last = [cpu_seconds(pids)]

    def still() -> bool:
        now = cpu_seconds(pids)
        rose, last[0] = now - last[0], now
        return rose * 1e3 < still_ms
    wait_until(still, limit_s, interval=0.2)


def _measure_leg(leg: Leg, server_pid: int, connections: int, seconds: int, profile: Path | None) -> Result:
    from dataclasses import replace

    spy = py_spy(leg.hop_pids[0], seconds, profile) if profile is not None else None
    (hop0, srv0), (hit0, skip0, look0) = (cpu_seconds(list(leg.hop_pids)), cpu_seconds([server_pid])), cache_counts(leg.metrics_url)
    res = run_wrk(leg.name, leg.url, leg.script, connections, seconds)
    wait_cpu_settled([*leg.hop_pids, server_pid])  # the run's tail (its spans' export) counts in its leg
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
    parser.add_argument("--rounds", type=int, default=4,
                        help="latency mode: each leg's --duration in this many wrk runs (whole seconds each), "
                             "the legs' order reversed every other round; keep it even")
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
    rounds = max(1, args.rounds)
    print(f"gateway hop overhead: {SERVER} ({MODEL} {VERSION}), {args.duration:g}s per leg and mode "
          f"(latency: {rounds} rounds of {round_seconds(args.duration, rounds)} s, order A B B A), wrk; "
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
