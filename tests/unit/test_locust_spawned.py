"""LocustRun.wait_spawned ends on Locust's spawn-complete signal (the locustfile's spawned.json)
or on the stats history CSV, whichever comes first; never before every user runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from chaosctl.errors import ChaosctlError
from chaosctl.load.locust_run import SPAWNED_FILE, LocustRun
from chaosctl.load.plan import LoadPlan, PlannedRequest

CSV_HEADER = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,Total Request Count\n"


class Alive:
    returncode = None

    def poll(self) -> int | None:
        return None


class Exited:
    returncode = 1

    def poll(self) -> int:
        return 1


def load(tmp_path: Path, proc: object = None) -> LocustRun:
    plan = LoadPlan(users=8, spawn_rate=8, requests=(PlannedRequest("fraud-detector"),))
    run = LocustRun(plan, "http://127.0.0.1:1", 60.0, tmp_path, "secret")
    run.procs.append(proc or Alive())  # type: ignore[arg-type]
    return run


def test_the_spawn_signal_ends_the_wait_at_once(tmp_path: Path) -> None:
    run = load(tmp_path)
    (tmp_path / SPAWNED_FILE).write_text('{"users": 8}')
    t0 = time.monotonic()
    assert run.wait_spawned(8, timeout_s=5.0)
    assert time.monotonic() - t0 < 1.0


def test_a_signal_for_fewer_users_or_a_torn_file_does_not(tmp_path: Path) -> None:
    run = load(tmp_path)
    (tmp_path / SPAWNED_FILE).write_text('{"users": 4}')
    assert not run.wait_spawned(8, timeout_s=0.2)
    (tmp_path / SPAWNED_FILE).write_text('{"users": ')
    assert run.spawned_signal() == -1 and not run.wait_spawned(8, timeout_s=0.2)


def test_the_stats_csv_still_ends_the_wait_without_a_signal(tmp_path: Path) -> None:
    run = load(tmp_path)  # a distributed master writes no signal
    csv = tmp_path / "locust_stats_history.csv"
    csv.write_text(CSV_HEADER + "1,8,,Aggregated,0,0,0\n")
    assert not run.wait_spawned(8, timeout_s=0.2)  # every user, but no request back yet
    csv.write_text(CSV_HEADER + "1,8,,Aggregated,0,0,0\n2,8,,Aggregated,3.0,0,3\n")
    assert run.wait_spawned(8, timeout_s=1.0)


def test_locust_exiting_while_waited_on_raises(tmp_path: Path) -> None:
    (tmp_path / "locust.log").write_text("ImportError: boom")
    with pytest.raises(ChaosctlError, match="boom"):
        load(tmp_path, Exited()).wait_spawned(8, timeout_s=1.0)
