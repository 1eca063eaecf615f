"""Coverage before verdict on the real stack: the gateway is SIGKILLed (or SIGSTOPped) halfway through
a phase (process-kill / process-pause through the local backend; Prometheus, Locust, Jaeger all real). That phase's
availability and latency SLOs must not PASS on the samples from before the kill, the abort
condition must trip on the data that disappeared, and the gateway must be back afterwards."""

from __future__ import annotations

import json
import textwrap

import pytest
from _run_live import assert_clean, chaosctl, wait_serving

pytestmark = pytest.mark.integration

SCENARIO = """\
apiVersion: chaosctl/v1
kind: Scenario
metadata:
  name: gateway-kill-coverage
load:
  users: 4
  spawn_rate: 4
  requests:
    - {{model: fraud-detector, version: "2.x", weight: 1}}
phases:
  - name: baseline
    duration: 8s
  - name: fault
    duration: {fault_s}s
    faults:
      - {{type: {fault}, target: gateway, after: {kill_s}s}}
  - name: recovery
    duration: 4s
abort:
  - {{when: error_ratio > 0.5, for: 4s, on_no_data: {on_no_data}}}
slos:
  - {{name: availability, sli: success_ratio, phase: "*", objective: ">= 95%"}}
  - {{name: fault p99, sli: latency_p99, phase: fault, objective: "< 2s"}}
"""


def _run(stack, tmp_path, fault="process-kill", **params):
    path = tmp_path / "gateway-kill.yaml"
    path.write_text(textwrap.dedent(SCENARIO.format(fault=fault, **params)))
    res = chaosctl(stack.settings, "run", str(path), "--report-dir", str(tmp_path / "report"), timeout=300)
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    return res, report


def _fault_slos(report) -> dict[str, dict]:
    return {c["name"]: c for c in report["checks"] if c["kind"] == "slo" and c["phase"] == "fault"}


def _restored(stack) -> None:
    """The fault's revert restarted (resumed) the gateway; if a failure got in the way, do it here."""
    if not stack.backend.is_running("gateway") or stack.backend.is_paused("gateway"):
        stack.backend.start("gateway")  # resumes a paused component, restarts a dead one
    assert_clean(stack.settings, stack.backend, stack.topology)
    wait_serving(stack.settings, stack.topology)


@pytest.mark.parametrize("fault", ["process-kill", "process-pause"])
def test_gateway_lost_halfway_cannot_pass_and_the_abort_trips(stack, tmp_path, fault):
    wait_serving(stack.settings, stack.topology)
    try:
        res, report = _run(stack, tmp_path, fault, fault_s=24, kill_s=10, on_no_data="trip")
    finally:
        _restored(stack)
    assert res.returncode == 1, res.stdout + res.stderr
    assert report["verdict"] == "aborted"
    [abort] = [c for c in report["checks"] if c["kind"] == "abort"]
    assert abort["status"] == "fail" and abort["observed"] == "no data", abort
    assert "no data for" in abort["reason"] and "while a fault was in place" in abort["reason"]
    fault = next(p for p in report["phases"] if p["name"] == "fault")
    assert fault["end"] - fault["start"] < 22, "the abort must end the fault phase early"
    slos = _fault_slos(report)
    for name in ("availability", "fault p99"):
        assert slos[name]["status"] == "fail", slos[name]
        assert "partial data: gateway scraped" in slos[name]["reason"], slos[name]
    if fault == "process-kill":  # connection errors, which the dead gateway's metrics cannot show, are named too
        assert "clients saw failures the server's metrics did not" in slos["availability"]["reason"]
    notes = "\n".join(report.get("notes", []))
    assert "coverage fault: gateway" in notes and "clients in fault:" in notes


def test_without_the_abort_the_partial_phase_still_fails_and_clients_saw_it(stack, tmp_path):
    """`on_no_data: ignore`: nothing stops the fault, the phase runs to its end with the gateway dead for its
    second half; the SLOs fail on coverage, and the clients' failures are in the notes."""
    wait_serving(stack.settings, stack.topology)
    try:
        res, report = _run(stack, tmp_path, fault_s=20, kill_s=10, on_no_data="ignore")
    finally:
        _restored(stack)
    assert res.returncode == 1, res.stdout + res.stderr
    assert report["verdict"] == "fail"
    assert not [c for c in report["checks"] if c["kind"] == "abort"]
    slos = _fault_slos(report)
    for name in ("availability", "fault p99"):
        assert slos[name]["status"] == "fail" and "partial data: gateway scraped" in slos[name]["reason"], slos[name]
    [clients] = [n for n in report.get("notes", []) if n.startswith("clients in fault:")]
    failed = int(clients.split(":")[1].split("failed")[0])
    assert failed > 0, clients
