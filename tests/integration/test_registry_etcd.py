"""Registry API against a real 3-member etcd cluster, reached through real Toxiproxy links.

The fixture starts etcd x3, toxiproxy-server (one proxy per registry->etcd link) and the
registry service (`python -m chaosctl.services registry`) on CHAOSCTL_TEST_PORT_BASE + 1000
(default 28000: away from the session stack at the base itself), and stops each by pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import _secrets as secret_env
import httpx
import pytest
from _secrets import SERVICE
from lanes import live_port_base

from chaosctl.settings import project_root
from chaosctl.stack.topology import Topology

pytestmark = pytest.mark.integration

PORT_BASE = live_port_base() + 1000


def _which(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=str(project_root() / ".tools" / "bin"))
    if path is None:
        pytest.fail(f"{name} not found on PATH or in .tools/bin (run `make setup`)")
    return path


def _wait(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready within {timeout}s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class Cluster:
    topo: Topology
    workdir: Path
    etcd: dict[int, subprocess.Popen] = field(default_factory=dict)
    others: list[subprocess.Popen] = field(default_factory=list)

    def start_member(self, i: int, state: str = "new") -> None:
        t = self.topo
        peers = ",".join(f"e{j}=http://127.0.0.1:{t.etcd_peer_port(j)}" for j in range(3))
        cmd = [
            _which("etcd"), "--name", f"e{i}", "--data-dir", str(self.workdir / f"etcd{i}"),
            "--listen-client-urls", f"http://127.0.0.1:{t.etcd_client_port(i)}",
            "--advertise-client-urls", f"http://127.0.0.1:{t.etcd_client_port(i)}",
            "--listen-peer-urls", f"http://127.0.0.1:{t.etcd_peer_port(i)}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{t.etcd_peer_port(i)}",
            "--initial-cluster", peers, "--initial-cluster-state", state,
            "--initial-cluster-token", "chaosctl-registry-test", "--pre-vote=true",
            "--heartbeat-interval", "100", "--election-timeout", "1000",
        ]  # fmt: skip
        log = open(self.workdir / f"etcd{i}.log", "ab")  # noqa: SIM115 - closed with the process
        self.etcd[i] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)

    def leader(self) -> int:
        for i in range(3):
            try:
                st = httpx.post(f"{self.topo.url(f'registry-store[{i}]')}/v3/maintenance/status", json={}).json()
            except httpx.HTTPError:
                continue
            if st.get("leader") == st["header"]["member_id"]:
                return i
        raise RuntimeError("no etcd leader")

    def spawn(self, args: list[str], log: str) -> subprocess.Popen:
        env = {**os.environ, **secret_env.ENV}
        out = open(self.workdir / log, "ab")  # noqa: SIM115
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.others.append(proc)
        return proc

    def stop(self) -> None:
        for proc in [*reversed(self.others), *self.etcd.values()]:
            _stop(proc)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    topo = Topology(PORT_BASE)
    c = Cluster(topo, tmp_path_factory.mktemp("registry-cluster"))
    try:
        for i in range(3):
            c.start_member(i)
        for i in range(3):
            _wait(f"{topo.url(f'registry-store[{i}]')}/health")
        tox = c.spawn([_which("toxiproxy-server"), "-host", "127.0.0.1", "-port", str(topo.toxiproxy_port)],
                      "toxiproxy.log")  # fmt: skip
        _wait(f"{topo.url('toxiproxy')}/version", proc=tox)
        for link in topo.links:
            if link.source == "registry":
                body = {"name": link.proxy_name, "listen": f"127.0.0.1:{link.listen_port}",
                        "upstream": f"127.0.0.1:{link.upstream_port}"}  # fmt: skip
                httpx.post(f"{topo.url('toxiproxy')}/proxies", json=body).raise_for_status()
        reg = c.spawn([sys.executable, "-m", "chaosctl.services", "registry", "--port-base", str(PORT_BASE)],
                      "registry.log")  # fmt: skip
        _wait(f"{topo.url('registry')}/healthz", proc=reg)
        yield c
    finally:
        c.stop()


def record(name: str, model: str, version: str, device: str, **kw: object) -> dict[str, object]:
    cap = "fraud-detection" if model == "fraud-detector" else "image-classification"
    rec: dict[str, object] = {
        "name": name, "capability": cap, "model": model, "version": version, "device": device,
        "region": "eu-west-1", "p99_ms": 50 if device == "gpu" else 250, "accuracy": 0.93,
        "tags": ["pci-dss"], "health": "ready", "endpoint": "http://127.0.0.1:9", "ttl": 10,
    }  # fmt: skip
    rec.update(kw)
    return rec


def test_discovery_returns_only_matching_records_with_full_metadata(cluster: Cluster) -> None:
    api = cluster.topo.url("registry")
    recs = [
        record("t-gpu-1", "fraud-detector", "2.3.1", "gpu"),
        record("t-gpu-2", "fraud-detector", "2.4.0", "gpu"),
        record("t-cpu-1", "fraud-detector", "2.3.1", "cpu"),
        record("t-gpu-3", "fraud-detector", "3.0.0", "gpu"),
        record("t-gpu-1", "image-classifier", "1.2.0", "gpu"),
    ]
    ids = [httpx.post(f"{api}/v1/services", json=r, headers=SERVICE).raise_for_status().json()["id"] for r in recs]
    try:
        q = {"capability": "fraud-detection", "version": "2.x", "device": "gpu"}
        found = httpx.get(f"{api}/v1/services", params=q).raise_for_status().json()["services"]
        assert sorted((r["name"], r["version"]) for r in found) == [("t-gpu-1", "2.3.1"), ("t-gpu-2", "2.4.0")]
        keys = {"id", "name", "capability", "model", "version", "device", "region", "p99_ms", "accuracy",
                "tags", "health", "endpoint", "load"}  # fmt: skip
        assert all(set(r) == keys for r in found)
        assert found[0]["tags"] == ["pci-dss"] and found[0]["accuracy"] == 0.93
        q2 = {"model": "fraud-detector", "version": ">=2.1,<3", "max_p99_ms": "100"}
        assert len(httpx.get(f"{api}/v1/services", params=q2).json()["services"]) == 2
        # answers came from the watch cache (read-your-writes: the records registered just above were in it)
        metrics = httpx.get(f"{api}/metrics").text
        cached = [ln for ln in metrics.splitlines() if ln.startswith('chaosctl_registry_discovery_total{source="cache"}')]
        assert cached and float(cached[0].split()[-1]) >= 1
    finally:
        for i in ids:
            httpx.delete(f"{api}/v1/services/{i}", headers=SERVICE)


def test_record_without_heartbeat_expires_within_ttl(cluster: Cluster) -> None:
    api = cluster.topo.url("registry")
    rid = httpx.post(f"{api}/v1/services", json=record("t-ttl", "fraud-detector", "2.3.1", "gpu", ttl=2), headers=SERVICE).json()["id"]
    q = {"model": "fraud-detector"}

    def present() -> bool:
        return any(r["id"] == rid for r in httpx.get(f"{api}/v1/services", params=q).json()["services"])

    for _ in range(4):  # heartbeats keep it alive past its TTL
        assert httpx.put(f"{api}/v1/services/{rid}/heartbeat", json={"health": "saturated"}, headers=SERVICE).status_code == 200
        time.sleep(1.0)
    assert present()
    start = time.monotonic()
    while present() and time.monotonic() - start < 8:
        time.sleep(0.25)
    elapsed = time.monotonic() - start
    assert not present(), "record outlived its lease"
    assert elapsed < 4.0, f"expired after {elapsed:.1f}s for a 2s TTL"
    assert httpx.put(f"{api}/v1/services/{rid}/heartbeat", json={}, headers=SERVICE).status_code == 404


def test_model_server_registers_warming_then_ready_and_deregisters_on_sigterm(cluster: Cluster) -> None:
    api = cluster.topo.url("registry")
    proc = cluster.spawn([sys.executable, "-m", "chaosctl.services", "model-gpu-2", "--port-base", str(PORT_BASE)],
                         "model-gpu-2.log")  # fmt: skip
    health_seen: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and "ready" not in health_seen:
            assert proc.poll() is None, "model server exited"
            found = httpx.get(f"{api}/v1/services", params={"capability": "fraud-detection", "version": "~2.4",
                                                             "device": "gpu"}).json()["services"]  # fmt: skip
            mine = [r for r in found if r["name"] == "model-gpu-2"]
            if mine:
                health_seen.append(mine[0]["health"])
                rec = mine[0]
            time.sleep(0.2)
        assert health_seen and health_seen[0] == "warming" and health_seen[-1] == "ready", health_seen
        assert rec["version"] == "2.4.0" and rec["endpoint"] == cluster.topo.url("model-gpu-2")
        assert rec["load"]["memory_total_bytes"] > 0 and 0.5 < rec["accuracy"] <= 1
        everything = httpx.get(f"{api}/v1/services").json()["services"]
        assert {(r["model"], r["version"]) for r in everything if r["name"] == "model-gpu-2"} == {
            ("fraud-detector", "2.3.1"), ("fraud-detector", "2.4.0"), ("image-classifier", "1.2.0")}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    left = [r for r in httpx.get(f"{api}/v1/services").json()["services"] if r["name"] == "model-gpu-2"]
    assert left == [], "records survived the server's graceful shutdown"


def _current_member(cluster: Cluster) -> int:
    """The member the registry talks to now (its /healthz names the proxy URL it used last)."""
    url = httpx.get(f"{cluster.topo.url('registry')}/healthz").json()["etcd"]
    members = cluster.topo.etcd_members
    return next(i for i, m in enumerate(members) if cluster.topo.via_proxy("registry", m) == url)


def _make_leader(cluster: Cluster, target: int) -> None:
    """Move Raft leadership to member `target` (etcd's MoveLeader, through the JSON gateway)."""
    def status(i: int) -> dict:
        return httpx.post(f"{cluster.topo.url(f'registry-store[{i}]')}/v3/maintenance/status", json={}).json()

    for _ in range(20):
        leader = cluster.leader()
        if leader == target:
            return
        target_id = status(target)["header"]["member_id"]
        httpx.post(f"{cluster.topo.url(f'registry-store[{leader}]')}/v3/maintenance/transfer-leadership",
                   json={"targetID": target_id}, timeout=10)  # fmt: skip
        time.sleep(0.5)
    raise RuntimeError(f"could not move leadership to member {target}")


def test_zz_losing_the_leader_member_in_use_under_concurrent_queries_fails_no_request(cluster: Cluster) -> None:
    """Kills the member that is both Raft leader and the one the registry talks to: the worst single loss.

    Runs last in this module (the `zz`) and leaves the member dead: a restart inside a test
    would be a new process that the leak check rightly flags; the fixture stops the rest.
    """
    api = cluster.topo.url("registry")
    victim = _current_member(cluster)
    _make_leader(cluster, victim)
    rid = httpx.post(f"{api}/v1/services", json=record("t-kill", "fraud-detector", "2.3.1", "gpu", ttl=3), headers=SERVICE).json()["id"]
    results: list[int | str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(timeout=10.0) as client:
            while not stop.is_set():
                try:
                    resp = client.get(f"{api}/v1/services", params={"model": "fraud-detector"})
                    if resp.status_code != 200:
                        results.append(f"{resp.status_code} {resp.text[:200]}")
                    elif not any(r["id"] == rid for r in resp.json()["services"]):
                        results.append("200 without the live record")
                    else:
                        results.append(200)
                except httpx.HTTPError as exc:
                    results.append(type(exc).__name__)

    beats: list[int | str] = []

    def heartbeat() -> None:  # writes too: the short-TTL record must survive the loss
        with httpx.Client(timeout=10.0) as client:
            while not stop.is_set():
                try:
                    beats.append(client.put(f"{api}/v1/services/{rid}/heartbeat", json={"health": "ready"}, headers=SERVICE).status_code)
                except httpx.HTTPError as exc:
                    beats.append(type(exc).__name__)
                time.sleep(0.5)

    threads = [threading.Thread(target=hammer) for _ in range(4)] + [threading.Thread(target=heartbeat)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.5)
        before = len(results)
        cluster.etcd[victim].kill()
        cluster.etcd[victim].wait(5)
        time.sleep(5.0)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    failed = [r for r in results if r != 200]
    assert len(results) - before > 20, "too few requests during the member loss to prove anything"
    assert failed == [], f"{len(failed)} of {len(results)} requests failed: {failed[:5]}"
    assert len(beats) >= 6 and set(beats) == {200}, f"heartbeats: {beats}"
    assert _current_member(cluster) != victim
    assert cluster.leader() != victim
