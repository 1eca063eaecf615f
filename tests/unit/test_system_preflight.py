"""`chaosctl run` on a user's System refuses before any fault (exit 3, nothing journaled,
no proxy started) when a targeted process match finds 0 or 2+ processes, a targeted GPU
is missing, or its Prometheus does not answer; each message names the culprit."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CHAOSCTL = Path(sys.executable).with_name("chaosctl")


class Ready(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture()
def prometheus() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _files(tmp: Path, prom: str, marker: str, fault: str) -> Path:
    (tmp / "s.system.yaml").write_text(f"""\
apiVersion: chaosctl/v1
kind: System
metadata: {{name: s}}
observability: {{prometheus: {{url: "{prom}"}}}}
slis: {{preset: otel-http}}
components:
  - {{name: worker, kind: process, match: '{marker}', start: "sleep 1"}}
  - {{name: box, kind: gpu-host, device: 0}}
links:
  - {{name: worker->db, listen: "127.0.0.1:1", upstream: "127.0.0.1:2"}}
load: {{base_url: "{prom}", requests: [{{name: r, path: /}}]}}
""")
    (tmp / "sc.yaml").write_text(f"""\
apiVersion: chaosctl/v1
kind: Scenario
metadata: {{name: sc}}
system: ./s.system.yaml
load: {{users: 1, spawn_rate: 1, requests: [{{model: r}}]}}
phases:
  - {{name: f, duration: 10s, faults: [{fault}]}}
slos: [{{name: p, sli: error_ratio, objective: "< 1%"}}]
""")
    return tmp / "sc.yaml"


def _run(tmp: Path, scenario: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHAOSCTL), "run", str(scenario), "--state-dir", str(tmp / "state"), "--port-base", "24500",
                           "--report-dir", str(tmp / "r")], capture_output=True, text=True, timeout=120)


def _untouched(tmp: Path) -> None:
    assert not (tmp / "state" / "journal.jsonl").exists() and not (tmp / "r" / "report.json").exists()
    assert not list((tmp / "state").glob("toxiproxy-*.json"))


def test_a_match_finding_no_process_is_exit_3_before_any_fault(tmp_path: Path, prometheus: str) -> None:
    marker = f"no-such-process-{tmp_path.name}"
    res = _run(tmp_path, _files(tmp_path, prometheus, marker, "{type: process-kill, target: worker}"))
    assert res.returncode == 3, res.stderr
    assert f"component 'worker': no live process found by match '{marker}'" in res.stderr and "Traceback" not in res.stderr
    _untouched(tmp_path)


def test_a_match_finding_two_processes_is_exit_3_before_any_fault(tmp_path: Path, prometheus: str) -> None:
    marker = f"twice-{tmp_path.name}"
    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", marker]) for _ in range(2)]
    try:
        res = _run(tmp_path, _files(tmp_path, prometheus, marker, "{type: process-pause, target: worker}"))
    finally:
        for p in procs:
            p.kill()
            p.wait(5)
    assert res.returncode == 3, res.stderr
    assert f"match '{marker}' finds 2 live processes" in res.stderr and "exactly one" in res.stderr
    _untouched(tmp_path)


def test_a_missing_gpu_is_exit_3_before_any_fault(tmp_path: Path, prometheus: str) -> None:
    from chaosctl.faults.gpuhog import device_problem

    if device_problem(0) is None:
        pytest.skip("this machine has a CUDA device: the refusal does not apply")
    res = _run(tmp_path, _files(tmp_path, prometheus, "x", "{type: gpu-exhaustion, target: box, memory: 50%}"))
    assert res.returncode == 3, res.stderr
    assert "component 'box' (gpu-host): no CUDA device on this machine" in res.stderr
    _untouched(tmp_path)


def test_an_unreachable_prometheus_is_exit_3_naming_it(tmp_path: Path) -> None:
    res = _run(tmp_path, _files(tmp_path, "http://127.0.0.1:9", "x", "{type: process-kill, target: worker}"))
    assert res.returncode == 3, res.stderr
    assert "System 's' is not ready: prometheus (http://127.0.0.1:9/-/ready: unreachable" in res.stderr
    _untouched(tmp_path)
