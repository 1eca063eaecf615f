"""The live view and a seeded schedule on the real reference stack, through the real CLI:
stdout is a pipe, so the run prints plain timestamped lines with the clients' view (Locust),
the faults in place (the journal) and the abort condition's current value (Prometheus); the
drawn schedule is the one `--dry-run` printed, injected and reverted like any fault, and
report.json records the seed and the drawn faults."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from _run_live import assert_clean, chaosctl, toxics_left, wait_serving

from chaosctl.scenario import load_scenario

pytestmark = pytest.mark.integration

SCENARIO = """\
apiVersion: chaosctl/v1
kind: Scenario
metadata: {name: live-seeded}
load:
  users: 4
  spawn_rate: 4
  requests: [{model: fraud-detector, version: "2.x"}]
phases:
  - name: baseline
    duration: 8s
  - name: chaos
    duration: 16s
    schedule:
      seed: 7
      count: 2
      min_gap: 2s
      faults:
        - type: latency
          targets: [link:gateway->model-gpu-1, link:gateway->model-gpu-2]
          latency: 100ms
          duration: 5s
  - name: recovery
    duration: 6s
steady_state:  # something to judge: a run with no check at all is FAIL "nothing to judge"
  - {name: gateway healthy, probe: http, target: gateway, path: /healthz, expect_status: 200}
abort:
  - {when: error_ratio > 0.5, for: 5s}
"""
LINE = re.compile(r"^\[\d\d:\d\d:\d\dZ\] (phase (?P<phase>\S+), \d+s left|before the phases) \(run \d+s left\) \| (?P<load>[^|]*) \| faults: (?P<faults>[^|]*) \| abort: (?P<abort>.*)$")


def test_plain_live_lines_and_a_seeded_schedule_on_the_reference_stack(stack, tmp_path: Path) -> None:
    path = tmp_path / "live-seeded.yaml"
    path.write_text(SCENARIO)
    drawn = load_scenario(path, stack.topology).phase("chaos").scheduled_faults
    dry = chaosctl(stack.settings, "run", str(path), "--dry-run")
    assert dry.returncode == 0 and "seed 7, 2 faults drawn" in dry.stdout, dry.stdout + dry.stderr
    wait_serving(stack.settings, stack.topology)
    t0 = time.monotonic()
    res = chaosctl(stack.settings, "run", str(path), "--report-dir", str(tmp_path / "out"), timeout=300)
    took = time.monotonic() - t0
    assert res.returncode == 0, res.stdout + res.stderr
    lines = [m for m in map(LINE.match, res.stdout.splitlines()) if m]
    assert len(lines) >= 4, res.stdout  # ~30 s of phases, a line every 5 s
    assert {m["phase"] for m in lines} >= {"baseline", "chaos"}
    assert any(re.match(r"[1-9][\d.]* req/s, p50 \d+ ms, p99 \d+ ms, errors 0\.0%", m["load"]) for m in lines), res.stdout
    in_chaos = [m["faults"] for m in lines if m["phase"] == "chaos" and m["faults"].startswith("latency link:")]
    assert in_chaos and all(f.split()[1] in {d.target for d in drawn} for f in in_chaos), res.stdout
    assert any(re.match(r"error_ratio > 0\.5 for 5s: \d", m["abort"]) for m in lines), res.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    chaos = report["schedules"]["chaos"]
    assert chaos["seed"] == 7 and [(d["label"], d["after"]) for d in chaos["drawn"]] == [(d.label, d.after) for d in drawn]
    injected = [c["name"] for c in report["checks"] if c["kind"] == "fault" and c["status"] == "pass"]
    assert len(injected) == 2, report["checks"]
    assert toxics_left(stack.topology) == {}
    assert_clean(stack.settings, stack.backend, stack.topology)
    print(f"live view run: {len(lines)} plain lines in {took:.1f}s wall; drawn {[(d.target, d.after) for d in drawn]}")
    print("\n".join(m.string for m in lines))
