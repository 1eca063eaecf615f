"""Locust command lines and result parsing (no process started)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaosctl.load.locust_run import LOCUSTFILE, LoadResult, _read_json_stats, build_commands
from chaosctl.load.plan import LoadPlan, PlannedRequest, ShapeStage

PLAN = LoadPlan(users=20, spawn_rate=10, requests=(PlannedRequest("fraud-detector", 9, "2.x"), PlannedRequest("image-classifier", 1)))


def test_single_process_command(tmp_path):
    [cmd] = build_commands(PLAN, "http://127.0.0.1:24530", 42.2, tmp_path, python="py")
    assert cmd[:5] == ["py", "-m", "locust", "-f", str(LOCUSTFILE)]
    for flag, value in (("--host", "http://127.0.0.1:24530"), ("-u", "20"), ("-r", "10"), ("-t", "43s"),
                        ("--csv", str(tmp_path / "locust")), ("--json-file", str(tmp_path / "locust"))):
        assert cmd[cmd.index(flag) + 1] == value
    assert "--headless" in cmd and "--master" not in cmd


def test_distributed_command_has_master_and_workers(tmp_path):
    plan = LoadPlan(users=50, spawn_rate=25, requests=PLAN.requests, workers=3)
    cmds = build_commands(plan, "http://127.0.0.1:1", 10, tmp_path, master_port=31000, python="py")
    master, *workers = cmds
    assert "--master" in master and master[master.index("--expect-workers") + 1] == "3"
    assert master[master.index("--master-bind-host") + 1] == "127.0.0.1"
    assert len(workers) == 3
    for w in workers:
        assert "--worker" in w and w[w.index("--master-port") + 1] == "31000" and "--headless" not in w
    with pytest.raises(ValueError):
        build_commands(plan, "http://127.0.0.1:1", 10, tmp_path)


def test_plan_round_trips_through_json(tmp_path):
    plan = LoadPlan(users=5, spawn_rate=1, requests=PLAN.requests, stages=(ShapeStage(10, 5, 5), ShapeStage(20, 50, 50)))
    assert LoadPlan.read(plan.write(tmp_path / "p.json")) == plan
    assert PlannedRequest("image-classifier").features == 64 and PlannedRequest("fraud-detector").features == 20


def test_json_stats_are_totalled(tmp_path):
    entries = [
        {"num_requests": 90, "num_failures": 1, "start_time": 100.0, "last_request_timestamp": 110.0,
         "response_times": {"10": 89, "300": 1}},
        {"num_requests": 10, "num_failures": 0, "start_time": 101.0, "last_request_timestamp": 109.0,
         "response_times": {"20": 10}},
    ]
    (tmp_path / "locust.json").write_text(json.dumps(entries))
    stats = _read_json_stats(tmp_path / "locust.json")
    assert stats["requests"] == 100 and stats["failures"] == 1 and stats["rps"] == pytest.approx(10.0)
    assert stats["p50_ms"] == 10.0 and stats["p99_ms"] == 20.0
    assert _read_json_stats(Path(tmp_path / "missing.json")) == {}


def test_saturation_is_reported():
    r = LoadResult(100, 0, 10.0, 5.0, 50.0, cpu_mean=120.0, cpu_max_process=97.0, processes=2)
    assert r.saturated and "SATURATED" in r.describe()
