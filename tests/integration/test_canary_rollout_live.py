"""Progressive canary with automatic rollback on the real reference stack (issue 13 part 4).

The shipped scenario canary-rollback.yaml (phases shortened) starts a rollout of
fraud-detector 2.3.1 -> 2.4.0 on the gateway (`canary-rollout`), drives it up its steps with
load, aborts every canary request at the gateway, and must PASS: the gateway rolled the canary
back within 5 s of the abort's start and stable's 5xx ratio held; the gateway's admin API shows
the steps and the rollback, with their times. Its broken variant (automatic rollback off,
same phases) must FAIL, its failed checks naming the cause (no rollback; a breach left standing).
Both leave no rollout behind (the revert cancels it). The admin API refuses a missing token.

Measured 2026-12-02 01:35 UTC (port base 31000, load 7.5 -> 8.7): 3 passed in 94.5 s, the two runs'
calls 36.5 s + 39.5 s (with 3/30/5 s phases they were ~95 s of calls), stack up 14.9 s.

Command: CHAOSCTL_TEST_PORT_BASE=20000 .venv/bin/python -m pytest -s -p no:cacheprovider \
    --basetemp=/tmp/canary-pt tests/integration/test_canary_rollout_live.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from _run_live import chaosctl, wait_serving

from chaosctl.faults.journal import Journal

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
ROLLOUTS = "/admin/rollouts"
# Shortened phases (the shipped ones: 15/35/10 s, abort 20 s in): the first step comes at the 10 s
# step interval once the canary has 20 answers judged on latency, so the abort at 14 s lands at 25%.
PHASES = (("2s", "22s", "3s"), "14s")


def _run(stack, tmp_path: Path, name: str, durations: tuple[str, str, str], abort_after: str) -> tuple[int, dict[str, Any], str]:
    """Run a shipped scenario with its phases shortened (and the abort moved in its phase)."""
    raw = yaml.safe_load((SCENARIOS / name).read_text())
    for phase, seconds in zip(raw["phases"], durations):
        phase["duration"] = seconds
    raw["phases"][1]["faults"][1]["after"] = abort_after
    scenario = tmp_path / name
    scenario.write_text(yaml.safe_dump(raw, sort_keys=False))
    wait_serving(stack.settings, stack.topology)
    out = tmp_path / "report"
    res = chaosctl(stack.settings, "run", str(scenario), "--report-dir", str(out), timeout=300)
    assert (out / "report.json").exists(), f"no report (exit {res.returncode}): {res.stdout[-3000:]}{res.stderr[-3000:]}"
    report = json.loads((out / "report.json").read_text())
    for c in report["checks"]:
        print(f"{c['status']:>5} {c['phase']:>9} {c['name']}: observed {c['observed']} ({c['objective']}) {c.get('reason') or ''}")
    return res.returncode, report, res.stdout + res.stderr


def _admin(stack, path: str = "") -> httpx.Response:
    return httpx.get(stack.topology.url("gateway") + ROLLOUTS + path,
                     headers={"X-Admin-Token": stack.settings.admin_token}, timeout=10)  # fmt: skip


def _faults(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rollout = next(p for p in report["phases"] if p["name"] == "rollout")
    return {f["label"].split()[0]: f for f in rollout["faults"]}


def test_admin_api_refuses_without_the_token(stack):
    url = stack.topology.url("gateway") + ROLLOUTS + "/fraud-detector"
    assert httpx.put(url, json={"stable": "2.3.1", "canary": "2.4.0"}, timeout=10).status_code == 401
    assert httpx.get(url, headers={"X-Admin-Token": "x" * 40}, timeout=10).status_code == 401


def test_shipped_scenario_passes_the_canary_rolled_back_soon_after_the_abort(stack, tmp_path):
    code, report, output = _run(stack, tmp_path, "canary-rollback.yaml", *PHASES)
    checks = {c["name"]: c for c in report["checks"]}
    faults = _faults(report)
    print("fault rows:", {k: (f["injected_at"], f["reverted_at"], f["effect"]) for k, f in faults.items()})
    assert code == 0 and report["verdict"] == "pass", output
    assert float(checks["rollback within 5s of the abort's start"]["observed"]) < 5
    assert float(checks["rollout stepped past its first weight"]["observed"]) >= 0.25
    assert checks["no rollback or breach on latency (the abort's errors must be the cause)"]["status"] == "pass"
    assert _admin(stack).json() == {"rollouts": []}  # the revert cancelled it
    assert Journal(stack.settings.journal_path).pending() == []


def test_broken_variant_without_automatic_rollback_fails_naming_the_cause(stack, tmp_path):
    code, report, output = _run(stack, tmp_path, "canary-no-rollback.yaml", *PHASES)
    failed = {c["name"]: c for c in report["checks"] if c["status"] == "fail"}
    print("broken variant: failed checks", sorted(failed))
    assert code == 1 and report["verdict"] == "fail", output
    assert "canary rolled back" in failed and "rollback within 5s of the abort's start" in failed
    assert float(failed["no canary breach left standing (automatic rollback off?)"]["observed"]) >= 1
    assert _admin(stack).json() == {"rollouts": []}
