"""Helpers for the run-engine integration tests: the `chaosctl` CLI as a subprocess
against the session stack, and the checks that the system is back to steady state."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx

from chaosctl.faults.journal import Journal
from chaosctl.faults.link import ToxiproxyClient
from chaosctl.services.gateway.auth import mint_token
from chaosctl.settings import Settings
from chaosctl.stack.regions import STANDING_TOXIC
from chaosctl.stack.topology import MODEL_SERVERS, Topology

DATA = Path(__file__).resolve().parents[1] / "data"
GPU_SERVERS = tuple(m.name for m in MODEL_SERVERS if m.device == "gpu")


def cli_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "CHAOSCTL_PORT_BASE": str(settings.port_base), "CHAOSCTL_STATE_DIR": str(settings.state_dir),
            "CHAOSCTL_JWT_SECRET": settings.jwt_secret, "CHAOSCTL_ADMIN_TOKEN": settings.admin_token,
            "PYTHONUNBUFFERED": "1"}


def chaosctl(settings: Settings, *args: str, timeout: float = 240.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaosctl.cli", *args], env=cli_env(settings), text=True,
                          capture_output=True, timeout=timeout)


def start_chaosctl(settings: Settings, *args: str, log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "wb")
    try:
        return subprocess.Popen([sys.executable, "-m", "chaosctl.cli", *args], env=cli_env(settings),
                                stdout=out, stderr=subprocess.STDOUT)
    finally:
        out.close()


def toxics_left(topology: Topology) -> dict[str, list[str]]:
    client = ToxiproxyClient(topology.url("toxiproxy"))
    try:
        # The stack's own cross-region latency (stack.regions) is no fault's leftover.
        toxics = {p: [t.name for t in ts if t.name != STANDING_TOXIC] for p, ts in client.all_toxics().items()}
        return {p: names for p, names in toxics.items() if names}
    finally:
        client.close()


def gpu_fault_bytes(settings: Settings, topology: Topology) -> dict[str, int]:
    out = {}
    with httpx.Client(headers={"X-Admin-Token": settings.admin_token}, timeout=5) as client:
        for name in GPU_SERVERS:
            body = client.get(topology.url(name) + "/admin/gpu").json()
            out[name] = int(body["fault_bytes"]) + (1 if body.get("compute_saturation") else 0)
    return out


def wait_serving(settings: Settings, topology: Topology, timeout: float = 90.0, in_a_row: int = 5) -> None:
    """Until the gateway answers `in_a_row` predictions in a row with 200 (breakers closed again)."""
    token = mint_token(settings.jwt_secret, "run-it", 600, rate_per_s=1000.0, burst=1000.0)
    url = topology.url("gateway") + "/v1/models/fraud-detector/predict"
    deadline, ok = time.monotonic() + timeout, 0
    with httpx.Client(timeout=5) as client:
        while ok < in_a_row:
            try:
                # Fresh inputs: a cached answer would be a 200 with every breaker still open.
                inputs = [[random.uniform(-1.0, 1.0) for _ in range(20)]]
                code = client.post(url, json={"inputs": inputs}, headers={"Authorization": f"Bearer {token}"}).status_code
            except httpx.HTTPError:
                code = 0
            ok = ok + 1 if code == 200 else 0
            if time.monotonic() > deadline:
                raise AssertionError(f"gateway not serving after {timeout:.0f}s (last status {code})")
            time.sleep(0.2 if ok else 1.0)


def assert_clean(settings: Settings, backend, topology: Topology, ready_timeout: float = 90.0) -> None:
    """No toxic, no GPU fault memory or compute, every component ready, the journal empty."""
    assert toxics_left(topology) == {}
    assert gpu_fault_bytes(settings, topology) == {name: 0 for name in GPU_SERVERS}
    deadline = time.monotonic() + ready_timeout
    while not (status := backend.status()).all_ready:
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready: {[(c.name, c.state) for c in status.components if c.state != 'ready']}")
        time.sleep(0.5)
    journal = Journal(settings.journal_path)
    assert journal.pending() == []
    assert not journal.path.exists() or journal.path.read_text() == ""
