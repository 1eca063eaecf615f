"""Fault effects and time to recovery on the real stack (issue 12 parts 1 and 2), from the
shipped latency-injection scenario with short phases:

* its latency toxic on link:gateway->model-gpu-1 is *confirmed* with the measured added
  latency; a second toxic on link:gateway->model-cpu-1 (the CPU pool only takes a request
  after every GPU try failed, and a 250 ms toxic fails none) is *not observed*, and its
  `expect_effect: true` FAILs the run;
* the shipped `ttr(latency_p99) < 15s` objective passes, and FAILs ("not recovered within")
  once the recovery phase is shorter than the TTR just measured plus its hold.

Measured here (2 cores shared, load average 8-15): the toxic confirmed at +277.4 ms (hop
`gateway: upstream model-gpu-1` median 69.1 ms -> 346.5 ms, n=68 vs 148); the idle link not
observed (339 traces in the fault window, none crossed it); TTR 3.4 s (band <= 0.715 s), and
with a 2 s recovery "not recovered within 2 s". Earlier runs measured TTR 0.9 s and 10.5 s.
Command: CHAOSCTL_TEST_PORT_BASE=20000 .venv/bin/python -m pytest -s tests/integration/test_effect_live.py
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import pytest
import yaml
from _run_live import chaosctl, toxics_left, wait_serving

pytestmark = pytest.mark.integration

SHIPPED = Path(__file__).resolve().parents[2] / "src" / "chaosctl" / "data" / "scenarios" / "latency-injection.yaml"
IDLE_LINK = "link:gateway->model-cpu-1"


def _scenario(tmp_path: Path, recovery: str, idle_fault: bool) -> Path:
    raw = yaml.safe_load(SHIPPED.read_text())
    durations = {"baseline": "12s", "fault": "12s", "recovery": recovery}
    for phase in raw["phases"]:
        phase["duration"] = durations[phase["name"]]
    if idle_fault:
        fault = next(p for p in raw["phases"] if p["name"] == "fault")
        fault["faults"].append({"type": "latency", "target": IDLE_LINK, "latency": "200ms", "expect_effect": True})
    raw["traces"] = []  # min_traces 100 needs longer phases; the traces are judged by the effect here
    # The band, not the mechanism, is what varies on a 2-core CI machine: at ~10 req/s a p99 over a
    # 3 s lookback is the slowest of ~30 requests, and one CI trial stayed above 1.5x the baseline's
    # median for the whole 15 s recovery. A wider band keeps the pass case about recovery; the
    # short-phase case fails on the 3 s hold whatever the band.
    ttr = next(s for s in raw["slos"] if s["name"] == "recovery time")
    ttr["tolerance"] = "100%"  # the widest a scenario may set: band = 2x the baseline median
    path = tmp_path / f"latency-{recovery}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _run(stack, tmp_path: Path, name: str, scenario: Path) -> tuple[int, dict, str]:
    wait_serving(stack.settings, stack.topology)
    out = tmp_path / name
    res = chaosctl(stack.settings, "run", str(scenario), "--report-dir", str(out), timeout=300)
    assert toxics_left(stack.topology) == {}
    return res.returncode, json.loads((out / "report.json").read_text()), res.stdout + res.stderr


def _check(report: dict, kind: str, phase: str) -> list[dict]:
    return [c for c in report["checks"] if c["kind"] == kind and c["phase"] == phase]


def _recovery_time(report: dict) -> dict:
    (ttr,) = [c for c in _check(report, "slo", "recovery") if c["name"] == "recovery time"]
    return ttr


def _recovery_evidence(report: dict) -> str:
    """The recovery phase's p99 per second and its top critical-path rows: evidence for a slow recovery."""
    phase = next(p for p in report["phases"] if p["name"] == "recovery")
    lines = [f"recovery time: {_recovery_time(report)}"]
    for series in report["series"]:
        if series["name"].startswith("latency p99"):
            lines.append(f"recovery p99 by second: {[round(v, 3) for t, v in series['points'] if t >= phase['start']]}")
    for row in report["bottlenecks"].get("recovery", [])[:6]:
        lines.append(f"recovery row: {row['service']} {row['operation']} {row['critical_path_share']:.0%} "
                     f"p99 {row['p99_ms']:.0f} ms, errors {row['errors']}/{row['count']}")
    return "\n".join(lines)


def _gpu_toxic_confirmed(report: dict, out: str) -> None:
    fault = next(p for p in report["phases"] if p["name"] == "fault")
    gpu = next(r for r in fault["faults"] if r["label"] == "latency link:gateway->model-gpu-1")
    print("toxic:", gpu["effect"], gpu["evidence"])
    assert gpu["effect"] == "confirmed", out
    added_ms = float(re.search(r"\(\+([0-9.]+) ms, injected \+250\.0 ms", gpu["evidence"])[1])
    assert 125 <= added_ms <= 550  # the tolerance rule: [0.5 x, 2 x + 50 ms] of the injected 250 ms


def test_toxic_confirmed_idle_link_not_observed_ttr_passes_then_fails_when_recovery_is_short(stack, tmp_path):
    rc, report, out = _run(stack, tmp_path, "effects", _scenario(tmp_path, "15s", idle_fault=True))
    fault = next(p for p in report["phases"] if p["name"] == "fault")
    idle = next(r for r in fault["faults"] if r["label"] == f"latency {IDLE_LINK}")
    print("idle link:", idle["effect"], idle["evidence"])
    _gpu_toxic_confirmed(report, out)
    assert idle["effect"] == "not observed" and "carried no traffic" in idle["evidence"]
    effects = {c["name"]: c for c in _check(report, "effect", "fault")}
    assert effects["latency link:gateway->model-gpu-1 took effect"]["status"] == "pass"
    assert effects[f"latency {IDLE_LINK} took effect"]["status"] == "fail"
    assert rc == 1 and report["verdict"] == "fail"
    print("failed checks:", [(c["name"], c["observed"]) for c in report["checks"] if c["status"] == "fail"])

    ttr = _recovery_time(report)
    print("ttr:", ttr)
    if ttr["status"] == "fail" and ttr["observed"] == "not recovered":
        # On CI's 2-core machine the other xdist worker starts stacks and runs load beside this
        # module; that can hold a p99 over 3 s (the worst of ~60 answers) above 2x the baseline's
        # median for the whole 15 s (CI at f8b0a47: recovery p99 552 ms, never 3 s in band).
        # One rerun of the same scenario (its toxic confirmed again, or the TTR means nothing); a
        # second miss fails. The first attempt's evidence goes to the warnings summary, which
        # pytest prints for a passing test too.
        warnings.warn(f"test_effect_live: TTR not recovered, rerun once\n{_recovery_evidence(report)}", stacklevel=1)
        rc, report, out = _run(stack, tmp_path, "effects-again", _scenario(tmp_path, "15s", idle_fault=True))
        _gpu_toxic_confirmed(report, out)
        ttr = _recovery_time(report)
        print("ttr (rerun):", ttr)
    assert ttr["status"] == "pass" and ttr["objective"] == "ttr(latency_p99) < 15s", ttr
    measured = float(ttr["observed"].removesuffix("s"))

    # The same scenario with a recovery phase shorter than the measured TTR plus the 3 s hold
    # it must complete (TTR varies from run to run on a loaded machine: 0.9 s to 10.5 s
    # measured here, so the phase is cut below the least of them plus the hold).
    short = max(1, min(2, math.floor(measured) - 1))
    assert short < measured + 3
    rc, report, out = _run(stack, tmp_path, "short", _scenario(tmp_path, f"{short}s", idle_fault=False))
    ttr = _recovery_time(report)
    print(f"recovery {short}s:", ttr)
    assert ttr["status"] == "fail" and re.search(r"not recovered within \d+ s", ttr["reason"]), ttr
    assert rc == 1 and report["verdict"] == "fail"


KILL_AND_GPU = """\
apiVersion: chaosctl/v1
kind: Scenario
metadata: {name: effect-kill-gpu}
load:
  users: 10
  spawn_rate: 10
  requests: [{model: fraud-detector, version: "2.x"}]
phases:
  - {name: baseline, duration: 10s}
  - name: fault
    duration: 10s
    faults:
      - {type: process-kill, target: model-gpu-1, expect_effect: true}
      - {type: gpu-exhaustion, target: model-gpu-2, memory: 95%, expect_effect: true}
  - {name: recovery, duration: 5s}
"""


def test_killed_server_and_gpu_memory_confirmed(stack, tmp_path):
    """Measured here: model-gpu-1 `up` 0 in 16 of 29 samples, its spans 47.9/s -> 0/s, gateway
    calls to model-gpu-2 7.8/s -> 14.2/s and model-cpu-1 0 -> 8.1/s; model-gpu-2 device memory
    6.50 GiB -> 15.18 GiB of 16 GiB (expected +8.70 GiB)."""
    path = tmp_path / "kill-gpu.yaml"
    path.write_text(KILL_AND_GPU)
    rc, report, out = _run(stack, tmp_path, "kill-gpu", path)
    rows = {r["label"]: r for r in next(p for p in report["phases"] if p["name"] == "fault")["faults"]}
    for label, row in rows.items():
        print(label, "->", row["effect"], row["evidence"])
    kill, gpu = rows["process-kill model-gpu-1"], rows["gpu-exhaustion model-gpu-2"]
    assert kill["effect"] == "confirmed" and "stopped answering" in kill["evidence"], out
    assert gpu["effect"] == "confirmed" and "device memory" in gpu["evidence"], out
    assert all(c["status"] == "pass" for c in report["checks"] if c["kind"] == "effect")
