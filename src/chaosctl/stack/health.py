"""Readiness probes of the components, one cheap HTTP check each.

A probe returns a `Probe(ok, reason)`; it never raises for a connection error,
because "not listening yet" is the normal state while a component starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from chaosctl.stack.configs import RUN_MARKER_JOB
from chaosctl.stack.topology import HOST, Topology

TIMEOUT = httpx.Timeout(2.0)


def client() -> httpx.Client:
    """The client every probe of the local stack goes through. No TLS context: every URL probed
    is plain HTTP on the loopback (topology.HOST), and a verifying client loads the CA bundle
    when it is made, 50-130 ms of CPU each, several times on the tail of every `up`."""
    return httpx.Client(verify=False)


@dataclass(frozen=True)
class Probe:
    ok: bool
    reason: str = ""
    retry_in: float | None = None  # not ready, but says when it expects to be (seconds): ask again then


def _get(client: httpx.Client, url: str) -> httpx.Response | Probe:
    try:
        return client.get(url, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        return Probe(False, f"{url}: {type(exc).__name__}")


def redis_ping(host: str, port: int, timeout: float = 2.0) -> Probe:
    """Redis answers PING: +PONG, or -NOAUTH when a password is set (up, and refusing strangers;
    the probe needs no secret)."""
    import socket

    where = f"redis://{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(256)
    except OSError as exc:
        return Probe(False, f"{where}: {type(exc).__name__}")
    if reply.startswith((b"+PONG", b"-NOAUTH")):
        return Probe(True)
    return Probe(False, f"{where}: unexpected answer {reply[:80]!r} (loading, or not Redis)")


def kafka_broker(host: str, port: int, timeout: float = 2.0) -> Probe:
    """The broker answers an ApiVersions request (v0) without error: it listens only once started.
    A hand-made request (8 bytes of header) instead of a Kafka client in `up`'s process."""
    import socket
    import struct

    where = f"kafka://{host}:{port}"
    client_id = b"chaosctl-probe"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id  # api key 18 = ApiVersions
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            reply = b""
            while len(reply) < 10:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except OSError as exc:
        return Probe(False, f"{where}: {type(exc).__name__}")
    if len(reply) < 10:
        return Probe(False, f"{where}: closed the connection before answering")
    correlation, error = struct.unpack(">ih", reply[4:10])
    if correlation != 7 or error != 0:
        return Probe(False, f"{where}: ApiVersions answered error {error}")
    return Probe(True)


def http_ok(client: httpx.Client, url: str) -> Probe:
    resp = _get(client, url)
    if isinstance(resp, Probe):
        return resp
    if resp.status_code != 200:
        return Probe(False, f"{url}: HTTP {resp.status_code} {resp.text[:200]}")
    return Probe(True)


def service(client: httpx.Client, url: str) -> Probe:
    """A service's /healthz answers 200. A warming GPU model server's 503 says how long its warm-up
    still runs (`ready_in_s`), so that `up` asks again then rather than up to a poll later."""
    resp = _get(client, url)
    if isinstance(resp, Probe):
        return resp
    if resp.status_code == 200:
        return Probe(True)
    try:
        ready_in = resp.json().get("ready_in_s")
    except (ValueError, AttributeError):
        ready_in = None
    retry_in = float(ready_in) if isinstance(ready_in, int | float) and 0 <= ready_in < 60 else None
    return Probe(False, f"{url}: HTTP {resp.status_code} {resp.text[:200]}", retry_in)


def etcd_member(client: httpx.Client, url: str) -> Probe:
    """`/health` is true only when the member is up and sees a leader (quorum). etcd (3.4) answers
    nothing on its client port before its cluster has a leader: the request hangs until its timeout
    (`up` asks every pending component at once and does not wait for this one: starting.py)."""
    resp = _get(client, f"{url}/health")
    if isinstance(resp, Probe):
        return resp
    try:
        healthy = resp.status_code == 200 and resp.json().get("health") == "true"
    except ValueError:
        healthy = False
    return Probe(True) if healthy else Probe(False, f"{url}/health: {resp.text[:200]}")


def jaeger(client: httpx.Client, topo: Topology) -> Probe:
    """Healthy, answering queries, and receiving OTLP (an empty export is accepted)."""
    health = http_ok(client, f"http://{HOST}:{topo.jaeger_health_port}/status")
    if not health.ok:
        return health
    query = http_ok(client, f"http://{HOST}:{topo.jaeger_query_port}/api/v3/services")
    if not query.ok:
        return query
    url = f"http://{HOST}:{topo.jaeger_otlp_http_port}/v1/traces"
    try:
        resp = client.post(url, json={}, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        return Probe(False, f"{url}: {type(exc).__name__}")
    return Probe(True) if resp.status_code == 200 else Probe(False, f"{url}: HTTP {resp.status_code}")


def prometheus_targets(client: httpx.Client, url: str, jobs: tuple[str, ...]) -> Probe:
    """Every job in `jobs` has all its targets up (the run marker is not required)."""
    resp = _get(client, f"{url}/api/v1/targets?state=active")
    if isinstance(resp, Probe):
        return resp
    try:
        targets = resp.json()["data"]["activeTargets"]
    except (ValueError, KeyError, TypeError):
        return Probe(False, f"{url}/api/v1/targets: unexpected answer {resp.text[:200]}")
    health = {t["labels"]["job"]: t["health"] for t in targets if t["labels"].get("job") != RUN_MARKER_JOB}
    down = [job for job in jobs if health.get(job) != "up"]
    if down:
        return Probe(False, "Prometheus targets not up yet: " + ", ".join(down))
    return Probe(True, "every target up")


def registered(client: httpx.Client, url: str, servers: tuple[str, ...]) -> Probe:
    """The registry lists at least one record of each of `servers`."""
    resp = _get(client, f"{url}/v1/services")
    if isinstance(resp, Probe):
        return resp
    try:
        names = {rec["name"] for rec in resp.json()["services"]}
    except (ValueError, KeyError, TypeError):
        return Probe(False, f"{url}/v1/services: unexpected answer {resp.text[:200]}")
    missing = [s for s in servers if s not in names]
    if missing:
        return Probe(False, "not registered yet: " + ", ".join(missing))
    return Probe(True, "every model server registered")


def proxies(client: httpx.Client, url: str, names: tuple[str, ...]) -> Probe:
    """Toxiproxy holds a proxy for every link (a restarted one has none until populated)."""
    resp = _get(client, f"{url}/proxies")
    if isinstance(resp, Probe):
        return resp
    try:
        have = set(resp.json())
    except (ValueError, TypeError):
        return Probe(False, f"{url}/proxies: unexpected answer {resp.text[:200]}")
    missing = [n for n in names if n not in have]
    return Probe(False, "proxies missing: " + ", ".join(missing)) if missing else Probe(True, "every link proxied")
