"""Run history and regression gates on the real stack (etcd, Toxiproxy, Prometheus, Jaeger, Locust).

The same scenario runs three times: clean (the gate has no earlier passing run: PASS, baseline
recorded), with an injected regression (600 ms on every gateway->model link: the absolute SLO
still holds, the `<= last_pass + 50%` gate FAILs and `compare` shows the p99 and critical-path
deltas), and clean again (judged against the first run, never against the failed one).
Measured (14:47 UTC, shared 2-core machine): fault p99 86.75 ms -> 747.4 ms -> 68.5 ms."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from _run_live import assert_clean, chaosctl, wait_serving

pytestmark = pytest.mark.integration

LINKS = ("link:gateway->model-gpu-1", "link:gateway->model-gpu-2", "link:gateway->model-cpu-1")


def _scenario(folder: Path, name: str, regression: bool) -> Path:
    faults = [{"type": "latency", "target": link, "latency": "600ms"} for link in LINKS] if regression else []
    doc = {
        "apiVersion": "chaosctl/v1", "kind": "Scenario", "metadata": {"name": "history-gate"},
        "load": {"users": 4, "spawn_rate": 4, "requests": [{"model": "fraud-detector", "version": "2.x", "weight": 1}]},
        "phases": [{"name": "baseline", "duration": "5s"}, {"name": "fault", "duration": "6s", "faults": faults}],
        "steady_state": [{"name": "gateway healthy", "probe": "http", "target": "gateway", "path": "/healthz", "expect_status": 200}],
        "slos": [
            {"name": "p99 gate", "sli": "latency_p99", "phase": "fault", "objective": "<= last_pass + 50%"},
            {"name": "p99 absolute", "sli": "latency_p99", "phase": "fault", "objective": "< 3s"},
        ],
    }  # fmt: skip
    path = folder / name
    path.write_text(json.dumps(doc, indent=1))  # JSON is YAML
    return path


def _git_folder(folder: Path) -> str:
    """The scenarios live in a git work tree: the history records its HEAD."""
    folder.mkdir()
    git = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "scenarios"], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


def _run(stack, scenario: Path, history: Path, out: Path) -> tuple[int, dict]:
    wait_serving(stack.settings, stack.topology)
    res = chaosctl(stack.settings, "run", str(scenario), "--report-dir", str(out), "--history", str(history))
    assert "history: run " in res.stdout, res.stdout + res.stderr
    assert_clean(stack.settings, stack.backend, stack.topology)
    return res.returncode, json.loads((out / "report.json").read_text())


def _check(report: dict, name: str) -> dict:
    return next(c for c in report["checks"] if c["name"] == name)


def test_a_regression_fails_the_last_pass_gate_and_compare_shows_it(stack, tmp_path):
    history = tmp_path / "ci-cache" / "history.sqlite3"
    rev = _git_folder(tmp_path / "scenarios")
    clean = _scenario(tmp_path / "scenarios", "clean.yaml", regression=False)
    slow = _scenario(tmp_path / "scenarios", "regressed.yaml", regression=True)

    code, first = _run(stack, clean, history, tmp_path / "r1")
    assert code == 0 and first["verdict"] == "pass", first["checks"]
    assert _check(first, "p99 gate")["reason"] == "no earlier passing run: baseline recorded"

    code, second = _run(stack, slow, history, tmp_path / "r2")
    gate = _check(second, "p99 gate")
    assert code == 1 and second["verdict"] == "fail"
    assert gate["status"] == "fail" and "is not <= " in gate["reason"], gate
    assert _check(second, "p99 absolute")["status"] == "pass"  # the absolute SLO holds: only the gate catches it

    listed = json.loads(chaosctl(stack.settings, "history", "--json", "--history", str(history)).stdout)["runs"]
    assert [r["verdict"] for r in listed] == ["fail", "pass"]
    assert {r["git_rev"] for r in listed} == {rev}
    assert listed[0]["scenario_hash"] != listed[1]["scenario_hash"]  # two variants of one scenario
    new_id, old_id = listed[0]["id"], listed[1]["id"]
    assert old_id in gate["reason"]

    res = chaosctl(stack.settings, "compare", old_id, new_id, "--json", "--history", str(history))
    assert res.returncode == 0, res.stderr
    diff = json.loads(res.stdout)
    checks = {(c["name"], c["phase"]): c for c in diff["checks"]}
    assert checks[("p99 gate", "fault")]["status_change"] == "pass -> fail"
    assert checks[("p99 absolute", "fault")]["delta"] > 0.3  # seconds: the 600 ms toxic
    upstream = [s for s in diff["critical_path"] if s["phase"] == "fault" and s["operation"].startswith("upstream ")
                and s["delta"] is not None]
    assert upstream and sum(s["delta"] for s in upstream) > 0.2, diff["critical_path"]
    by_dir = json.loads(chaosctl(stack.settings, "compare", str(tmp_path / "r1"), str(tmp_path / "r2"), "--json").stdout)
    assert by_dir["checks"] == diff["checks"]  # a report folder compares like its recorded run

    code, third = _run(stack, clean, history, tmp_path / "r3")
    gate3 = _check(third, "p99 gate")
    assert old_id in gate3["objective"]  # judged against the first run, never against the failed one
    # A clean p99 on a shared machine may itself be 1.5x the first one; the gate then says so, exit 1.
    assert (code, third["verdict"]) == ((0, "pass") if gate3["status"] == "pass" else (1, "fail")), gate3
    assert "Trend over the last 3 runs" in (tmp_path / "r3" / "report.html").read_text()
