"""The autoscaler on real processes (issue 13 part 3).

1. A stack of its own (offset 2200: etcd, Toxiproxy, registry, autoscaler; no model server):
   the admin route sets the GPU pool's min to 1 (the CPU pool's max to 0), so the autoscaler
   starts a GPU replica, a real model server. It is in the registry only once warm (never a
   record while its /healthz says warming); the
   autoscaler is SIGKILLed, its replica outlives it, and `down` still stops it: no replica
   process or port is left.
2. The shipped gpu-scale-up scenario with the autoscaler off (paused 3 s into one 10 s exhaustion
   phase; was an 8 s baseline + 15 s phase) FAILs, and both autoscaler checks' reasons name its
   missing scrapes ("partial data: autoscaler scraped 3 of 10 s").

Measured (shared 2-core machine, load average 18-27): test 1 48 s; test 2 75 s after the session
stack's setup, with the 23 s of phases. 2026-12-02, 10 s of phases, load 30-39 (four stacks on 2
cores): test 2 84 s (run overhead 43 s of it: Locust start 18.9 s), setup 81 s; test 1 95 s at load
30-43. Command: CHAOSCTL_TEST_PORT_BASE=31500 .venv/bin/python -m pytest tests/integration/test_autoscaler_live.py
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import psutil
import pytest
from _run_live import assert_clean, chaosctl
from ruamel.yaml import YAML

from chaosctl.services.autoscaler.replicas import StateFile, state_path
from chaosctl.stack import procs
from chaosctl.stack.local import LocalBackend
from chaosctl.stack.topology import REPLICAS, Topology
from chaosctl.waiting import wait_until

pytestmark = pytest.mark.integration

SHIPPED = Path(__file__).resolve().parents[2] / "scenarios" / "gpu-scale-up.yaml"
GPU_REPLICA = "model-gpu-scale-1"


def _admin(settings, topo: Topology, method: str, path: str, **kw) -> httpx.Response:
    return httpx.request(method, f"{topo.url('autoscaler')}{path}", headers={"X-Admin-Token": settings.admin_token},
                         timeout=5.0, **kw)  # fmt: skip


def _observe(topo: Topology, name: str) -> tuple[int, bool]:
    """(the replica's /healthz status, 0 when it does not answer; whether the registry lists it)."""
    try:
        health = httpx.get(f"{topo.url(name)}/healthz", timeout=1.0).status_code
    except httpx.HTTPError:
        health = 0
    records = httpx.get(f"{topo.url('registry')}/v1/services", timeout=2.0).json()["services"]
    return health, any(r["name"] == name for r in records)


def _replica_ports_listening(topo: Topology) -> dict[int, int | None]:
    return procs.listeners([topo.model_server_port(r.name) for r in REPLICAS])


def test_replica_registers_once_warm_and_down_stops_it_after_its_autoscaler_died(own_stack_settings) -> None:
    settings = own_stack_settings(2200)
    topo = Topology(settings.port_base)
    names = (*topo.etcd_members, "toxiproxy", "registry", "autoscaler")
    backend = LocalBackend(settings, components=names)
    replica_pids: list[psutil.Process] = []
    try:
        backend.up()
        assert httpx.get(f"{topo.url('autoscaler')}/admin/autoscaler", timeout=5.0).status_code == 401
        assert _admin(settings, topo, "PUT", "/admin/autoscaler/pools/cpu", json={"min": 0, "max": 0}).status_code == 200
        assert _admin(settings, topo, "PUT", "/admin/autoscaler/pools/gpu", json={"min": 1, "max": 1}).status_code == 200
        seen: list[tuple[int, bool]] = []
        wait_until(lambda: seen.append(_observe(topo, GPU_REPLICA)) or seen[-1] == (200, True), 150.0, interval=0.2)
        assert seen[-1] == (200, True), f"{GPU_REPLICA} never registered: last {seen[-1]}"
        assert not [s for s in seen if s[1] and s[0] != 200], f"registered while not warm: {seen}"
        assert any(s == (503, False) for s in seen), "never saw it warming (unregistered) first"
        state = _admin(settings, topo, "GET", "/admin/autoscaler").json()
        assert {(r["name"], r["state"]) for r in state["replicas"]} == {(GPU_REPLICA, "ready")}, state
        metrics = httpx.get(f"{topo.url('autoscaler')}/metrics", timeout=5.0).text
        assert 'chaosctl_autoscaler_warmup_seconds_count{pool="gpu"} 1.0' in metrics
        assert 'chaosctl_autoscaler_ready_replicas{pool="cpu"} 0.0' in metrics  # max 0: none kept
        recorded = StateFile(state_path(settings.state_dir)).read()
        assert set(recorded) == {GPU_REPLICA}, recorded
        replica_pids = [psutil.Process(p.pid) for p in recorded.values()]
        backend.kill("autoscaler")
        assert all(p.is_running() for p in replica_pids)  # a replica outlives a SIGKILLed autoscaler
    finally:
        backend.down()
    assert not [p.pid for p in replica_pids if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert _replica_ports_listening(topo) == {}
    assert not state_path(settings.state_dir).exists()


def _broken_variant(tmp_path: Path) -> Path:
    """The shipped scenario, autoscaler off: one short `exhausted` phase, no baseline, no spike (the
    checks under test are that phase's). The autoscaler is scraped for its first 3 s, then paused
    before the GPUs fill (so that no round of it sees them full): the checks then find its series
    cut short and say whose scrapes are missing (paused from the start, they find no series at all
    and name nobody)."""
    yaml = YAML(typ="safe")
    data = yaml.load(SHIPPED.read_text())
    faults = [{**f, "after": "3s"} for f in data["phases"][1]["faults"]]
    del data["load"]["shape"]
    data["phases"] = [{"name": "exhausted", "duration": "10s",
                       "faults": [{"type": "process-pause", "target": "autoscaler", "after": "3s"}, *faults]}]
    data["slos"] = [s for s in data["slos"] if s["phase"] in ("exhausted", "*")]
    data["traces"] = []
    data["steady_state"] = [s for s in data["steady_state"] if "autoscaler" not in s["name"]]
    path = tmp_path / "gpu-scale-up-autoscaler-off.yaml"
    with path.open("w") as fh:
        yaml.dump(data, fh)
    return path


def test_autoscaler_off_fails_the_scenario_naming_the_autoscaler(stack, tmp_path) -> None:
    reports = tmp_path / "reports"
    result = chaosctl(stack.settings, "run", str(_broken_variant(tmp_path)), "--report-dir", str(reports))
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    report = json.loads((reports / "report.json").read_text())
    failed = {c["name"]: c for c in report["checks"] if c["status"] == "fail"}
    scale = [c for name, c in failed.items() if name.startswith("autoscaler GPU replica")]
    assert len(scale) == 2, failed
    # Off, not merely slow: the reasons name the autoscaler's missing scrapes (the check's own name
    # says "autoscaler" whatever the cause, so it proves nothing).
    assert all("autoscaler scraped" in c["reason"] for c in scale), [c["reason"] for c in scale]
    assert not stack.backend.is_paused("autoscaler")
    assert_clean(stack.settings, stack.backend, stack.topology)
