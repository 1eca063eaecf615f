"""A real model server process: trains at start-up, warms up, then predicts for real.

Runs `python -m chaosctl.services model-gpu-1` on CHAOSCTL_TEST_PORT_BASE + 1200 (no
registry there: its agent retries quietly) and stops it by pid. The server is pinned to the
simulated GPU device (CHAOSCTL_GPU=simulated: the figures below are the 16 GiB pool's); a forced
CUDA device where there is none must stop the process at once with a clear error.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import _secrets as secret_env
import httpx
import pytest
from _secrets import ADMIN, SERVICE
from lanes import live_port_base

from chaosctl.services.modelserver.engine import ModelServerConfig
from chaosctl.stack.topology import Topology

pytestmark = pytest.mark.integration

WARMUP_S = ModelServerConfig().warmup_s
PORT_BASE = live_port_base() + 1200


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[dict]]]:
    """The server's URL and every /healthz answer seen from start until ready."""
    topo = Topology(PORT_BASE)
    url = topo.url("model-gpu-1")
    log = open(tmp_path_factory.mktemp("modelserver") / "model-gpu-1.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaosctl.services", "model-gpu-1", "--port-base", str(PORT_BASE)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **secret_env.ENV, "CHAOSCTL_GPU": "simulated"},
    )  # fmt: skip
    seen: list[dict] = []
    began = time.monotonic()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                resp = httpx.get(f"{url}/healthz", timeout=1.0)
                body = {**resp.json(), "code": resp.status_code, "at": time.monotonic() - began}
                body["memory_used_bytes"] = httpx.get(f"{url}/v1/load", headers=SERVICE).json()["memory_used_bytes"]
                seen.append(body)
                if resp.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        assert seen and seen[-1]["code"] == 200, f"not ready: {seen[-3:]}, exit {proc.poll()}"
        yield url, seen
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def test_reports_warming_with_weights_loaded_then_ready(server: tuple[str, list[dict]]) -> None:
    _url, seen = server
    warming = [s for s in seen if s["status"] == "warming" and s["memory_used_bytes"] > 0]
    # The weights are placed (the warm-up starts) before the web stack is imported: the port opens
    # during the warm-up, or after it on a machine busy enough that the imports outlast it.
    assert seen[-1]["at"] >= WARMUP_S, "ready before the warm-up could have run its course"
    if seen[0]["at"] < WARMUP_S - 0.5:  # answered while it could still be warming: it says so
        assert warming, "never saw the warm-up phase after model load"
    assert all(s["code"] == 503 for s in warming)
    assert seen[-1]["status"] == "ready" and seen[-1]["device_kind"] == "simulated"


def test_predicts_handwritten_digits_for_real(server: tuple[str, list[dict]]) -> None:
    from sklearn.datasets import load_digits

    url, _ = server
    digits = load_digits()
    rows, labels = digits.data[-200:].tolist(), digits.target[-200:].tolist()
    resp = httpx.post(f"{url}/v1/models/image-classifier/predict", json={"inputs": rows}, headers=SERVICE, timeout=10)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["server"] == "model-gpu-1" and body["version"] == "1.2.0" and body["device"] == "gpu"
    correct = sum(p == y for p, y in zip(body["outputs"], labels, strict=True))
    assert correct >= 180, f"only {correct}/200 digits right: not a real model"
    fraud = httpx.post(f"{url}/v1/models/fraud-detector/predict", json={"inputs": [[0.1] * 20]}, headers=SERVICE).json()
    assert fraud["version"] == "2.3.1" and fraud["outputs"][0] in (0, 1)


def test_gpu_exhaustion_via_admin_then_release(server: tuple[str, list[dict]]) -> None:
    url, _ = server
    auth = ADMIN
    assert httpx.post(f"{url}/admin/gpu/allocate", json={"fraction": 0.95}).status_code == 401
    alloc = httpx.post(f"{url}/admin/gpu/allocate", json={"fraction": 0.99}, headers=auth).json()
    try:
        assert httpx.get(f"{url}/healthz").json()["status"] == "saturated"
        # 1% of 16 GiB left: a 32-row batch needs 512 MiB of activations
        big = httpx.post(f"{url}/v1/models/fraud-detector/predict", json={"inputs": [[0.0] * 20] * 32}, headers=SERVICE)
        assert big.status_code == 503 and "out of device memory" in big.text
        metrics = httpx.get(f"{url}/metrics").text
        used = next(line for line in metrics.splitlines() if line.startswith("chaosctl_gpu_memory_used_bytes "))
        assert float(used.split()[1]) >= int(0.99 * 16 * 1024**3)
    finally:
        httpx.delete(f"{url}/admin/gpu/allocations/{alloc['allocation_id']}", headers=auth)
    assert httpx.get(f"{url}/healthz").json()["status"] == "ready"


def test_forced_cuda_without_a_device_exits_with_a_clear_error() -> None:
    from chaosctl.services.modelserver.cuda import load_cudart, probe

    if probe(load_cudart())[0] >= 1:
        pytest.skip("a CUDA device is present here: CHAOSCTL_GPU=cuda would start")
    env = {**os.environ, **secret_env.ENV, "CHAOSCTL_GPU": "cuda"}
    done = subprocess.run(
        [sys.executable, "-m", "chaosctl.services", "model-gpu-1", "--port-base", str(PORT_BASE)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "error: model-gpu-1: CHAOSCTL_GPU=cuda but no CUDA runtime" in done.stderr
    assert "Traceback" not in done.stderr
