"""`chaosctl run` on a System that is not the reference stack, made of real processes
started here: a tiny instrumented API (prometheus_client metrics) calling a
`python -m http.server` backend through a link chaosctl proxies itself (its own
toxiproxy-server), scraped by this test's own Prometheus. The scenario puts 300 ms
on the link (the latency SLO FAILs in that phase only) and kills the backend (the
API answers 502: the error SLO FAILs there), and the kill is reverted by the
System's `start` command; then `--rehearse` of the same scenario (its first two phases) passes. Ports are
CHAOSCTL_TEST_PORT_BASE + 200.. (the run's own marker port is base + 80).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from conftest import PORT_BASE, skip_unless_binaries, stack_settings

from chaosctl.stack.tools import find_tool
from chaosctl.waiting import http_answers, wait_until

HERE = Path(__file__).resolve().parent
CHAOSCTL = Path(sys.executable).with_name("chaosctl")
API, BACKEND, LISTEN, PROM = (PORT_BASE + 200 + i for i in range(4))
RESTARTED = "backend.restarted.pid"  # the pid of each backend the System's `start` runs (exec keeps it)

SYSTEM = f"""\
apiVersion: chaosctl/v1
kind: System
metadata: {{name: tiny}}
observability:
  prometheus: {{url: "http://127.0.0.1:{PROM}"}}
slis: {{preset: prometheus-client, selector: 'job="api"'}}
components:
  - name: api
    kind: process
    match: '_tiny_api\\.py {API} '
    url: "http://127.0.0.1:{API}"
  - name: backend
    kind: process
    match: 'http\\.server {BACKEND} '
    cwd: "."
    start: ["sh", "-c", "echo $$ > {RESTARTED}; exec '{sys.executable}' -m http.server {BACKEND} --bind 127.0.0.1"]
    ready: {{tcp: "127.0.0.1:{BACKEND}", timeout: 20s}}
links:
  - {{name: api->backend, listen: "127.0.0.1:{LISTEN}", upstream: "127.0.0.1:{BACKEND}"}}
load:
  base_url: "http://127.0.0.1:{API}"
  requests:
    - {{name: root, method: GET, path: /}}
"""

SCENARIO = """\
apiVersion: chaosctl/v1
kind: Scenario
metadata: {name: tiny-chaos}
system: ./tiny.system.yaml
load:
  users: 4
  spawn_rate: 4
  requests: [{model: root}]
phases:
  - {name: baseline, duration: 12s}
  - name: slow-link
    duration: 12s
    faults: [{type: latency, target: "link:api->backend", latency: 300ms}]
  - name: backend-down
    duration: 12s
    faults: [{type: process-kill, target: backend}]
  - {name: recovery, duration: 12s}
steady_state:
  - {name: api answers, probe: http, target: api, path: /, expect_status: 200}
abort:
  - {when: error_ratio > 0.99, for: 30s}
slos:
  - {name: fast, sli: latency_p99, phase: "*", objective: "< 250ms"}
  - {name: no errors, sli: error_ratio, phase: "*", objective: "< 5%"}
"""


# The rehearsal: the same scenario less its last two phases. A rehearsal injects nothing, so those
# would be two more 12 s windows of the same load; every SLO ("*") and the abort are still asked.
REHEARSAL = SCENARIO.replace("""  - name: backend-down
    duration: 12s
    faults: [{type: process-kill, target: backend}]
  - {name: recovery, duration: 12s}
""", "")
assert REHEARSAL != SCENARIO


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "wb")
    return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=log.parent)


def _wait(url: str, timeout: float = 30.0) -> None:
    if wait_until(lambda: http_answers(url), timeout, interval=0.1):
        return
    raise AssertionError(f"{url} did not answer within {timeout}s")


def _restarted(tmp: Path, since: float) -> list[int]:
    """The backend the revert started, by the pid its `start` command wrote; only if that pid is
    still a process created after the fixture began (never a stranger that reused it)."""
    try:
        pid = int((tmp / RESTARTED).read_text().strip())
        return [pid] if psutil.Process(pid).create_time() >= since else []
    except (OSError, ValueError, psutil.NoSuchProcess):
        return []


def _stop(pid: int) -> None:
    try:
        proc = psutil.Process(pid)
        proc.terminate()
        proc.wait(10)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        proc.kill()


@pytest.fixture()
def tiny(tmp_path: Path) -> Iterator[Path]:
    settings = stack_settings(tmp_path / "state", PORT_BASE)
    skip_unless_binaries(settings)
    prom_bin = find_tool("prometheus", settings)
    assert prom_bin is not None
    started = time.time() - 1.0  # process create times are wall-clock (rounded to a clock tick)
    (tmp_path / "prom.yml").write_text(json.dumps({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "api", "static_configs": [{"targets": [f"127.0.0.1:{API}"]}]}],
    }))
    procs = [
        _spawn([str(prom_bin), f"--config.file={tmp_path / 'prom.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{PROM}"], tmp_path / "prom.log"),
        _spawn([sys.executable, str(HERE / "_tiny_api.py"), str(API), f"127.0.0.1:{LISTEN}"], tmp_path / "api.log"),
        _spawn([sys.executable, "-m", "http.server", str(BACKEND), "--bind", "127.0.0.1"], tmp_path / "backend.log"),
    ]
    try:
        for url in (f"http://127.0.0.1:{PROM}/-/ready", f"http://127.0.0.1:{API}/metrics", f"http://127.0.0.1:{BACKEND}/"):
            _wait(url)
        (tmp_path / "tiny.system.yaml").write_text(SYSTEM)
        (tmp_path / "tiny.yaml").write_text(SCENARIO)
        (tmp_path / "tiny-rehearsal.yaml").write_text(REHEARSAL)
        yield tmp_path
    finally:
        for pid in [p.pid for p in procs] + _restarted(tmp_path, started):  # a revert's backend is not our child
            _stop(pid)
        for p in procs:
            p.wait(10)


def _run(tmp: Path, *extra: str, scenario: str = "tiny.yaml") -> tuple[subprocess.CompletedProcess[str], dict]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([str(CHAOSCTL), "run", str(tmp / scenario), "--state-dir", str(tmp / "state"),
                           "--port-base", str(PORT_BASE), "--report-dir", str(tmp / "report"), *extra],
                          capture_output=True, text=True, timeout=400, env=env, cwd=tmp)
    report = json.loads((tmp / "report" / "report.json").read_text()) if (tmp / "report" / "report.json").exists() else {}
    return proc, report


def _check(report: dict, name: str, phase: str) -> dict:
    return next(c for c in report["checks"] if c["name"] == name and c["phase"] == phase)


def test_a_user_system_runs_to_a_verdict_with_a_latency_toxic_and_a_reverted_kill(tiny: Path) -> None:
    t0 = time.monotonic()
    proc, report = _run(tiny)
    took = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out  # the faults broke the objectives: FAIL, not an error
    assert report["verdict"] == "fail", out
    assert _check(report, "fast", "baseline")["status"] == "pass", out
    assert _check(report, "fast", "slow-link")["status"] == "fail", out  # 300 ms on the link
    assert _check(report, "no errors", "baseline")["status"] == "pass", out
    assert _check(report, "no errors", "backend-down")["status"] == "fail", out  # 502s while the backend is gone
    assert _check(report, "no errors", "recovery")["status"] == "pass", out  # the kill was reverted by `start`
    assert all(c["status"] == "pass" for c in report["checks"] if c["kind"] == "steady_state"), out
    assert httpx.get(f"http://127.0.0.1:{BACKEND}/", timeout=5).status_code == 200  # the killed backend runs again
    assert not (tiny / "state" / "toxiproxy-tiny.json").exists()  # chaosctl's Toxiproxy stopped after the run
    print(f"tiny System run: {took:.1f}s wall for 48s of phases; " + next(n for n in report["notes"] if "overhead" in n))

    t0 = time.monotonic()
    proc, report = _run(tiny, "--rehearse", scenario="tiny-rehearsal.yaml")
    took = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert report["scenario"] == "tiny-chaos-rehearsal" and report["verdict"] == "pass", out
    names = {c["name"] for c in report["checks"]}
    assert {"fast", "no errors"} <= names and any(n.startswith("rehearse abort: ") for n in names), names
    assert {p["name"] for p in report["phases"]} == {"baseline", "slow-link"}, report["phases"]
    print(f"tiny System rehearsal: {took:.1f}s wall")


def test_recover_after_a_killed_run_stops_chaosctl_toxiproxy_and_clears_the_link_fault(tmp_path: Path) -> None:
    """As after a SIGKILL of `chaosctl run`: chaosctl's Toxiproxy still runs with a toxic in
    place and the journal says so; `recover` (knowing nothing of the System) stops the proxy
    by its pid, the toxic goes with it, and the journal is clear."""
    from chaosctl.faults.base import FaultContext
    from chaosctl.faults.catalogue import build_fault
    from chaosctl.faults.journal import Journal
    from chaosctl.faults.proxyserver import running_managed
    from chaosctl.runner.recover import recover_faults
    from chaosctl.stack.topology import Topology
    from chaosctl.system.load import load_system

    settings = stack_settings(tmp_path / "state", PORT_BASE)
    skip_unless_binaries(settings)
    (tmp_path / "tiny.system.yaml").write_text(SYSTEM)
    system = load_system(tmp_path / "tiny.system.yaml")
    ctx = FaultContext(settings, Topology(PORT_BASE), lambda: None, system=system, system_path=tmp_path / "tiny.system.yaml")
    ctx.start_links()
    managed = running_managed(settings, system)
    assert managed is not None
    fault = build_fault({"type": "latency", "target": "link:api->backend", "latency": 0.2}, ctx)
    Journal(settings.journal_path).record_inject(fault.record)
    fault.inject()
    assert "latency" in fault.verify()
    ctx._managed = None  # the run "dies" here: nobody stops the proxy
    lines: list[str] = []
    plain = FaultContext(settings, Topology(PORT_BASE), lambda: None)
    assert recover_faults(settings, echo=lines.append, ctx=plain) == 1, lines  # a revert that failed raises RunFailed
    assert any(f"pid {managed.pid}" in line for line in lines), lines
    assert running_managed(settings, system) is None and not psutil.pid_exists(managed.pid) or \
        psutil.Process(managed.pid).status() == psutil.STATUS_ZOMBIE
    assert Journal(settings.journal_path).pending() == []
    ctx.close()
