"""chaosctl on a system this project did not write: examples/third-party-mlserver, for real.

Two MLServer replicas (sklearn runtime, a model trained at start) behind Caddy, with their own
Prometheus and Jaeger, all started by the example's own `start.py up` (stopped by its pidfiles in
`finally`); chaosctl runs the Toxiproxy of the System's links itself. Through the real CLI:
validate, --dry-run, --rehearse (PASS), then the scenario: 300 ms on link lb->replica-1 while
replica-2 is killed; both of a copy with 12 s phases (the example's are 20-25 s). Expected, check by check: no request fails (Caddy retries and routes
around the dead replica), the fault phase's median is more than twice the baseline's (the one
FAIL, so exit 1), the trace bottleneck of the fault phase is the delayed hop `lb: lb->replica-1`,
and afterwards everything is reverted: replica-2 runs again (a new pid, ready), no Toxiproxy is
left, the link ports are free.

The example's ports are fixed at 22000-22888 (its README); the run's own marker port is
CHAOSCTL_TEST_PORT_BASE + 80. MLServer and Caddy come from `chaosctl setup --dev` (make setup);
with CHAOSCTL_REQUIRE (make test) their absence fails this test.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import yaml
from absent import component_missing
from conftest import PORT_BASE, skip_unless_binaries, stack_settings

from chaosctl.setup.example_env import mlserver_venv

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "third-party-mlserver"
CHAOSCTL = Path(sys.executable).with_name("chaosctl")
LINK_PORTS = (22101, 22102)
CADDY_PORTS = {22000, 22009, 22201, 22202}  # lb, its metrics-only server, the two hops: no admin API


def _env(state: Path, tools_dir: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "CHAOSCTL_TOOLS_DIR": str(tools_dir)}


def _start_py(folder: Path, *args: str, env: dict[str, str], timeout: float = 420) -> None:
    proc = subprocess.run([sys.executable, "start.py", *args], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"start.py {' '.join(args)}: {proc.stdout}{proc.stderr}"


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture()
def example(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    settings = stack_settings(tmp_path / "state", PORT_BASE)
    skip_unless_binaries(settings)
    missing = [name for name, ok in (("mlserver", (mlserver_venv(settings) / "bin" / "mlserver").is_file()),
                                     ("caddy", (settings.tools_dir / "bin" / "caddy").is_file())) if not ok]
    if missing:
        component_missing(missing, f"not in {settings.tools_dir} (install with `chaosctl setup --dev`)", settings)
    folder = tmp_path / "example"  # a copy: the run/ folder and its pidfiles stay out of the checkout
    folder.mkdir()
    for name in ("start.py", "mlserver.system.yaml", "replica-chaos.yaml"):
        shutil.copy(EXAMPLE / name, folder / name)
    _short_copy(folder / "replica-chaos.yaml", folder / SHORT)
    env = _env(tmp_path / "state", settings.tools_dir)
    try:
        _start_py(folder, "up", env=env)
        yield folder, env
    finally:
        _start_py(folder, "down", env=env, timeout=60)  # by pidfile: also the replica a revert started


SHORT = "replica-chaos-12s.yaml"


def _short_copy(scenario: Path, out: Path) -> None:
    """The scenario with 12 s phases, its faults, objectives and trace expectation unchanged: the
    rehearsal asks the same SLI, abort and trace queries over the same three phases; the run's
    kill and 300 ms show within seconds (hundreds of requests at 6 users, tens of traces for the
    bottleneck), and 12 scrapes of the example's 1 s interval still let coverage be judged.
    Saves 29 s of `make test` over the example's 65 s of phases."""
    raw = yaml.safe_load(scenario.read_text())
    for phase in raw["phases"]:
        phase["duration"] = "12s"
    out.write_text(yaml.safe_dump(raw, sort_keys=False))


def _chaosctl(folder: Path, env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHAOSCTL), *args], cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


def _run(folder: Path, env: dict[str, str], name: str, *extra: str,
         scenario: str = "replica-chaos.yaml") -> tuple[subprocess.CompletedProcess[str], dict, float]:
    t0 = time.monotonic()
    proc = _chaosctl(folder, env, "run", scenario, "--state-dir", str(folder.parent / "state"),
                     "--port-base", str(PORT_BASE), "--report-dir", str(folder / name), *extra)
    took = time.monotonic() - t0
    path = folder / name / "report.json"
    return proc, (json.loads(path.read_text()) if path.exists() else {}), took


def _status(report: dict, name: str, phase: str) -> str:
    return next(c["status"] for c in report["checks"] if c["name"] == name and c["phase"] == phase)


def _listening(pid: int) -> set[int]:
    return {c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}


def test_mlserver_pair_behind_caddy_latency_and_kill_reach_the_right_verdicts(example: tuple[Path, dict[str, str]]) -> None:
    folder, env = example
    # Caddy's admin API is off: the running Caddy listens on its servers' ports only (not 22019, not 2019).
    assert _listening(int((folder / "run" / "caddy.pid").read_text())) == CADDY_PORTS
    for args in (("validate", "mlserver.system.yaml"), ("validate", "replica-chaos.yaml"),
                 ("run", "replica-chaos.yaml", "--dry-run")):
        proc = _chaosctl(folder, env, *args, timeout=120)
        assert proc.returncode == 0, f"chaosctl {' '.join(args)}: {proc.stdout}{proc.stderr}"

    proc, report, rehearse_s = _run(folder, env, "rehearsal", "--rehearse", scenario=SHORT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and report.get("verdict") == "pass", out  # every SLI, abort and trace query answers
    assert [p["name"] for p in report["phases"]] == ["baseline", "fault", "recovery"], out

    pid_before = int((folder / "run" / "replica-2.pid").read_text())
    proc, report, run_s = _run(folder, env, "report", scenario=SHORT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and report["verdict"] == "fail", out
    for phase in ("baseline", "fault", "recovery"):
        assert _status(report, "availability", phase) == "pass", out  # Caddy rode out the kill
    assert _status(report, "baseline p99", "baseline") == "pass", out
    assert _status(report, "fault p99", "fault") == "pass", out
    assert _status(report, "fault p50 vs baseline", "fault") == "fail", out  # the delayed hop, the only FAIL
    assert _status(report, "recovery p99", "recovery") == "pass", out
    trace = [c for c in report["checks"] if c["kind"] == "trace"]
    assert trace and all(c["status"] == "pass" for c in trace), out
    top = report["bottlenecks"]["fault"][0]
    assert (top["service"], top["operation"]) == ("lb", "lb->replica-1"), report["bottlenecks"]["fault"][:3]
    assert all(c["status"] == "pass" for c in report["checks"] if c["kind"] == "steady_state"), out

    # Everything reverted: replica-2 runs again under a new pid and is ready; no Toxiproxy is left.
    pid_after = int((folder / "run" / "replica-2.pid").read_text())
    assert pid_after != pid_before
    assert httpx.get("http://127.0.0.1:22002/v2/health/ready", timeout=5).status_code == 200
    assert not (folder.parent / "state" / "toxiproxy-mlserver-pair.json").exists()
    assert all(_free(port) for port in LINK_PORTS), "the run's Toxiproxy still listens on a link port"
    # MLServer's anonymous model-repository API: the load balancer refuses it (outside a run it could not
    # reach a replica anyway); a replica itself still answers it (no MLServer setting turns it off: README).
    assert httpx.post("http://127.0.0.1:22000/v2/repository/index", json={}, timeout=5).status_code == 403
    assert httpx.post("http://127.0.0.1:22001/v2/repository/index", json={}, timeout=5).status_code == 200
    overhead = next((n for n in report.get("notes", []) if "overhead" in n), "no overhead note")
    clients = [n for n in report.get("notes", []) if n.startswith("clients in fault")]
    print(f"third-party rehearse: {rehearse_s:.1f}s wall; run: {run_s:.1f}s wall for 36s of phases; {overhead}; "
          f"fault bottleneck lb->replica-1 {top['critical_path_share']:.0%} of the critical path; {clients}")
