"""Progressive canary with automatic rollback on the real reference stack (issue 13 part 4).

A rollout of fraud-detector 2.3.1 -> 2.4.0 is started on the gateway's admin API with the body
the shipped scenario's header gives; the shipped scenario canary-rollback.yaml then drives it up
its steps with load, aborts every canary request at the gateway, and must PASS: the gateway
rolled the canary back within the fault phase, kept it at 0, and stable's 5xx ratio held. The
same run against a rollout started with automatic rollback off (the broken variant, shorter
phases) must FAIL, and its failed checks name the cause (no rollback; a breach left standing).

Command: CHAOSCTL_TEST_PORT_BASE=20000 .venv/bin/python -m pytest -s -p no:cacheprovider \
    --basetemp=/tmp/canary-pt tests/integration/test_canary_rollout_live.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from _run_live import chaosctl, wait_serving

from chaosctl.faults.journal import Journal

pytestmark = pytest.mark.integration

SHIPPED = Path(__file__).resolve().parents[2] / "scenarios" / "canary-rollback.yaml"
ROLLOUT = "/admin/rollouts/fraud-detector"


def header_body() -> dict[str, Any]:
    """The rollout the scenario's header tells people to start (so the header is what is tested)."""
    found = re.search(r"-d '(\{.*\})'", SHIPPED.read_text())
    assert found, "the scenario header lost its rollout command"
    return json.loads(found.group(1))


def _admin(stack, method: str, **kw: Any) -> httpx.Response:
    headers = {"X-Admin-Token": stack.settings.admin_token}
    resp = httpx.request(method, stack.topology.url("gateway") + ROLLOUT, headers=headers, timeout=10, **kw)
    resp.raise_for_status()
    return resp


def _run(stack, tmp_path: Path, durations: tuple[str, ...] | None) -> tuple[int, dict[str, Any], str]:
    raw = yaml.safe_load(SHIPPED.read_text())
    for phase, seconds in zip(raw["phases"], durations or ()):
        phase["duration"] = seconds
    scenario = tmp_path / "canary-rollback.yaml"
    scenario.write_text(yaml.safe_dump(raw, sort_keys=False))
    out = tmp_path / "report"
    res = chaosctl(stack.settings, "run", str(scenario), "--report-dir", str(out), timeout=300)
    assert (out / "report.json").exists(), f"no report (exit {res.returncode}): {res.stdout[-3000:]}{res.stderr[-3000:]}"
    report = json.loads((out / "report.json").read_text())
    for c in report["checks"]:
        print(f"{c['status']:>5} {c['phase']:>13} {c['name']}: observed {c['observed']} ({c['objective']}) {c.get('reason') or ''}")
    return res.returncode, report, res.stdout + res.stderr


def _fault_start(report: dict[str, Any]) -> float:
    return float(next(p for p in report["phases"] if p["name"] == "canary-fault")["faults"][0]["injected_at"])


@pytest.fixture
def serving(stack):
    wait_serving(stack.settings, stack.topology)
    yield stack
    httpx.delete(stack.topology.url("gateway") + ROLLOUT, headers={"X-Admin-Token": stack.settings.admin_token}, timeout=10)


def test_admin_api_refuses_without_the_token(serving):
    url = serving.topology.url("gateway") + ROLLOUT
    assert httpx.put(url, json=header_body(), timeout=10).status_code == 401
    assert httpx.get(url, headers={"X-Admin-Token": "x" * 40}, timeout=10).status_code == 401


def test_shipped_scenario_passes_the_canary_rolled_back_soon_after_the_fault(serving, tmp_path):
    started = _admin(serving, "PUT", json=header_body()).json()
    assert (started["state"], started["weight"]) == ("progressing", 0.05)
    code, report, output = _run(serving, tmp_path, None)
    status = _admin(serving, "GET").json()
    kinds = [(h["kind"], h["from_weight"], h["to_weight"], round(h["wall"] - _fault_start(report), 2)) for h in status["history"]]
    print("rollout history (kind, from, to, seconds after the fault's start):", kinds)
    assert code == 0 and report["verdict"] == "pass", output
    assert (status["state"], status["weight"], status["reason"]) == ("rolled_back", 0.0, "error_ratio")
    rollback = status["history"][-1]
    after_fault = rollback["wall"] - _fault_start(report)
    print(f"rollback {after_fault:.2f}s after the fault went in; reaction {rollback['reaction_s']:.2f}s; {status['detail']}")
    assert rollback["kind"] == "rollback" and 0 < after_fault < 10
    assert any(k == "step" and to >= 0.25 for k, _, to, at in kinds if at < 0)  # it had stepped up before the fault
    assert Journal(serving.settings.journal_path).pending() == []


def test_broken_variant_without_automatic_rollback_fails_naming_the_cause(serving, tmp_path):
    _admin(serving, "PUT", json={**header_body(), "auto_rollback": False})
    code, report, output = _run(serving, tmp_path, ("20s", "6s", "4s"))
    failed = {c["name"]: c for c in report["checks"] if c["status"] == "fail"}
    status = _admin(serving, "GET").json()
    print("broken variant: failed checks", sorted(failed), "; rollout", status["state"], status["weight"], status["breach"])
    assert code == 1 and report["verdict"] == "fail", output
    assert "canary rolled back within the fault phase" in failed
    assert failed["no canary breach left standing (automatic rollback off?)"]["observed"] >= 1
    assert (status["state"], status["breach"]) == ("progressing", "error_ratio") and status["weight"] > 0
