"""The run engine against the real stack (etcd, Toxiproxy, Prometheus, Jaeger, Locust):
every fault type injects, verifies, reverts and leaves the system at steady state;
`chaosctl run` exits 0/1/3 as it should; abort trips; SIGTERM and SIGKILL+recover
leave nothing behind; the run's own telemetry reaches Jaeger and Prometheus."""

from __future__ import annotations

import json
import signal
import time

import httpx
import pytest
from _run_live import DATA, assert_clean, chaosctl, start_chaosctl, toxics_left, wait_serving
from pydantic import TypeAdapter

from chaosctl.faults.base import FaultContext
from chaosctl.faults.catalogue import build_fault
from chaosctl.faults.journal import Journal
from chaosctl.observe.prometheus import Prometheus
from chaosctl.runner.active import ActiveFaults
from chaosctl.runner.signals import SignalGuard
from chaosctl.scenario.model import SLO, FaultSpec
from chaosctl.verdict.slo import build_expr

pytestmark = pytest.mark.integration

FAULTS = [
    {"type": "latency", "target": "link:gateway->model-gpu-1", "latency": "200ms", "jitter": "50ms"},
    {"type": "jitter", "target": "link:gateway->model-gpu-2", "jitter": "50ms", "toxicity": "50%"},
    {"type": "bandwidth", "target": "link:gateway->registry", "rate": "50KB/s", "direction": "upstream"},
    {"type": "timeout", "target": "link:registry->registry-store[0]", "timeout": "1s"},
    {"type": "reset-peer", "target": "link:gateway->model-cpu-1", "direction": "upstream"},
    {"type": "slow-close", "target": "link:gateway->model-gpu-1", "delay": "500ms"},
    {"type": "limit-data", "target": "link:gateway->model-gpu-2", "bytes": "10KB"},
    {"type": "process-kill", "target": "registry-store[1]"},
    {"type": "process-pause", "target": "registry-store[2]"},
    {"type": "process-restart", "target": "registry"},
    {"type": "gpu-exhaustion", "target": "model-gpu-1", "memory": "90%", "compute": "100%"},
    {"type": "gpu-exhaustion", "target": "model-gpu-2", "bytes": "1GiB"},
]


@pytest.mark.parametrize("raw", FAULTS, ids=[f"{f['type']}-{f['target']}" for f in FAULTS])
def test_fault_injects_verifies_and_reverts(stack, raw):
    spec = TypeAdapter(FaultSpec).validate_python(raw, context={"topology": stack.topology})
    ctx = FaultContext(stack.settings, stack.topology, lambda: stack.backend)
    active = ActiveFaults(Journal(stack.settings.journal_path), SignalGuard())
    try:
        fault = build_fault(spec, ctx)
        done = active.inject(fault)
        assert done.evidence
        assert [r.id for r in active.journal.pending()] == [fault.record.id]
        if raw["type"] in ("process-kill",):
            assert not stack.backend.is_running(raw["target"])
        if raw["type"] == "process-pause":
            assert stack.backend.is_paused(raw["target"])
    finally:
        assert active.revert_all() == []
        ctx.close()
    fault.revert()  # idempotent
    active.journal.clear_if_done()
    assert_clean(stack.settings, stack.backend, stack.topology)
    wait_serving(stack.settings, stack.topology)


def _report(path):
    return json.loads((path / "report.json").read_text())


def _p99(prom: Prometheus, phase: dict) -> float:
    spec = SLO.model_validate({"name": "p99", "sli": "latency_p99", "objective": "< 1s"})
    return prom.query(build_expr(spec, phase["end"] - phase["start"]), phase["end"])


def test_latency_fault_raises_p99_fails_the_slo_and_is_gone(stack, tmp_path):
    wait_serving(stack.settings, stack.topology)
    res = chaosctl(stack.settings, "run", str(DATA / "run-latency-fail.yaml"), "--report-dir", str(tmp_path))
    assert res.returncode == 1, res.stdout + res.stderr
    report = _report(tmp_path)
    assert report["verdict"] == "fail"
    [slo] = [c for c in report["checks"] if c["name"] == "fault p99"]
    assert slo["status"] == "fail"
    phases = {p["name"]: p for p in report["phases"]}
    prom = Prometheus(stack.topology.url("prometheus"))
    base, fault = _p99(prom, phases["baseline"]), _p99(prom, phases["fault"])
    assert fault > base + 0.3, (base, fault)
    assert toxics_left(stack.topology) == {}
    assert_clean(stack.settings, stack.backend, stack.topology)


def test_run_passes_when_slos_hold_and_publishes_its_own_telemetry(stack, tmp_path):
    wait_serving(stack.settings, stack.topology)
    res = chaosctl(stack.settings, "run", str(DATA / "run-pass.yaml"), "--report-dir", str(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    report = _report(tmp_path)
    assert report["verdict"] == "pass" and all(c["status"] == "pass" for c in report["checks"])
    assert {c["kind"] for c in report["checks"]} >= {"steady_state", "slo", "fault"}
    prom = Prometheus(stack.topology.url("prometheus"))
    marker = 'max_over_time(chaosctl_run_phase{job="chaosctl-run",scenario="run-pass",phase="fault"}[2m])'
    assert prom.query(marker, time.time()) == 1.0
    fault_marker = 'max_over_time(chaosctl_run_fault_active{scenario="run-pass",fault="latency"}[2m])'
    assert prom.query(fault_marker, time.time()) == 1.0
    _assert_run_trace(stack)
    assert_clean(stack.settings, stack.backend, stack.topology)


def _assert_run_trace(stack) -> None:
    url = stack.topology.url("jaeger") + "/api/v3/traces"
    now = time.time()
    params = {"query.service_name": "chaosctl-run", "query.start_time_min": _rfc(now - 300),
              "query.start_time_max": _rfc(now), "query.num_traces": "5"}
    deadline = time.monotonic() + 15
    while True:
        resp = httpx.get(url, params=params, timeout=10)
        names = {s["name"] for rs in (resp.json().get("result", {}).get("resourceSpans", []) if resp.status_code == 200 else [])
                 for ss in rs.get("scopeSpans", []) for s in ss.get("spans", [])}
        if {"phase baseline", "phase fault", "run run-pass"} <= names and any(n.startswith("fault latency") for n in names):
            return
        assert time.monotonic() < deadline, f"run spans not in Jaeger: {sorted(names)}"
        time.sleep(1)


def _rfc(t: float) -> str:
    from chaosctl.observe.jaeger import rfc3339

    return rfc3339(t)


def test_abort_trips_exits_1_aborted_and_faults_are_gone(stack, tmp_path):
    wait_serving(stack.settings, stack.topology)
    res = chaosctl(stack.settings, "run", str(DATA / "run-abort.yaml"), "--report-dir", str(tmp_path))
    assert res.returncode == 1, res.stdout + res.stderr
    report = _report(tmp_path)
    assert report["verdict"] == "aborted"
    [abort] = [c for c in report["checks"] if c["kind"] == "abort"]
    assert abort["status"] == "fail" and "error_ratio" in abort["reason"]
    fault = [p for p in report["phases"] if p["name"] == "fault"][0]
    assert fault["end"] - fault["start"] < 15, "the 40 s fault phase must end early"
    assert "recovery" not in {p["name"] for p in report["phases"]}
    assert_clean(stack.settings, stack.backend, stack.topology)
    wait_serving(stack.settings, stack.topology)


def test_run_with_the_stack_down_exits_3_naming_what_is_unreachable(own_stack_settings):
    settings = own_stack_settings(300)  # nothing runs on this port base
    res = chaosctl(settings, "run", str(DATA / "run-pass.yaml"), timeout=60)
    assert res.returncode == 3, res.stdout + res.stderr
    for name in ("gateway", "prometheus", "jaeger", "toxiproxy", "registry-store[0]"):
        assert name in res.stderr
    assert "Traceback" not in res.stderr


def _wait_pending(settings, proc, timeout=60.0) -> None:
    journal = Journal(settings.journal_path)
    deadline = time.monotonic() + timeout
    while not journal.pending():
        assert proc.poll() is None, f"run exited {proc.returncode} before injecting"
        assert time.monotonic() < deadline, "no fault journaled in time"
        time.sleep(0.1)


def test_sigterm_reverts_and_exits_130(stack, tmp_path):
    wait_serving(stack.settings, stack.topology)
    proc = start_chaosctl(stack.settings, "run", str(DATA / "run-latency-fail.yaml"), log=tmp_path / "log")
    _wait_pending(stack.settings, proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130, (tmp_path / "log").read_text()
    assert "every fault was reverted" in (tmp_path / "log").read_text()
    assert_clean(stack.settings, stack.backend, stack.topology)


def test_sigkill_then_recover_reverts_everything_and_is_idempotent(stack, tmp_path):
    wait_serving(stack.settings, stack.topology)
    proc = start_chaosctl(stack.settings, "run", str(DATA / "run-latency-fail.yaml"), log=tmp_path / "log")
    _wait_pending(stack.settings, proc)
    time.sleep(1.0)
    proc.kill()
    proc.wait(timeout=10)
    assert toxics_left(stack.topology), "the killed run left its toxics (that is what recover is for)"
    first = chaosctl(stack.settings, "recover", timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "reverted latency link:gateway->model-gpu-1" in first.stdout
    assert "stopped Locust" in first.stdout
    second = chaosctl(stack.settings, "recover", timeout=60)
    assert second.returncode == 0 and "nothing to recover" in second.stdout
    assert_clean(stack.settings, stack.backend, stack.topology)
