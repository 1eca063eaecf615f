"""The replicas' pid file (services/autoscaler/replicas.py): what `down` and `recover` stop."""

from __future__ import annotations

import subprocess
import sys

import psutil

from chaosctl.services.autoscaler.replicas import ReplicaProc, StateFile, state_path, stop_orphans, stop_recorded
from chaosctl.stack import procs, state


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def record(tmp_path, name: str, proc: subprocess.Popen[bytes], create_time: float | None = None) -> None:
    started = psutil.Process(proc.pid).create_time() if create_time is None else create_time
    StateFile(state_path(tmp_path)).put(ReplicaProc(name, proc.pid, started))


def test_stop_recorded_stops_what_the_file_names_and_removes_it(tmp_path) -> None:
    child = sleeper()
    try:
        record(tmp_path, "model-gpu-scale-1", child)
        assert stop_recorded(tmp_path) == ["model-gpu-scale-1"]
        assert child.wait(timeout=5) is not None
        assert not state_path(tmp_path).exists()
    finally:
        child.kill()
        child.wait()


def test_a_reused_pid_is_never_signalled(tmp_path) -> None:
    child = sleeper()
    try:
        record(tmp_path, "model-gpu-scale-1", child, create_time=12345.0)  # another process's start time
        assert stop_recorded(tmp_path) == []
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()


def test_recover_leaves_a_live_autoscalers_replicas_alone(tmp_path) -> None:
    autoscaler, replica = sleeper(), sleeper()
    try:
        record(tmp_path, "model-cpu-scale-1", replica)
        rec = procs.ProcRecord("autoscaler", autoscaler.pid, psutil.Process(autoscaler.pid).create_time(), "log")
        state.save(tmp_path, state.StackState(25000).with_proc(rec))
        assert stop_orphans(tmp_path, 25000) == []
        assert replica.poll() is None
        autoscaler.kill()
        autoscaler.wait()
        assert stop_orphans(tmp_path, 25000) == ["model-cpu-scale-1"]  # its autoscaler died
        assert replica.wait(timeout=5) is not None
    finally:
        for p in (autoscaler, replica):
            p.kill()
            p.wait()


def test_a_damaged_entry_is_skipped(tmp_path) -> None:
    state_path(tmp_path).write_text('{"replicas": {"x": {"pid": "nope"}, "y": {"pid": 1, "create_time": 1.0}}}')
    assert set(StateFile(state_path(tmp_path)).read()) == {"y"}
