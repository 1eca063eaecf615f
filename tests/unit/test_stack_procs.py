"""Process supervision with tiny real child processes (python sleeping)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from chaosctl.cli import exit_code_for
from chaosctl.stack import procs

SLEEPER = [sys.executable, "-c", "import time; print('sleeper ' + 'ready', flush=True); time.sleep(60)"]
# A parent that ignores SIGTERM and has a child in its group and one that left for its own session.
STUBBORN = [sys.executable, "-c", """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
sleep = [sys.executable, '-c', 'import time; time.sleep(60)']
a = subprocess.Popen(sleep)
b = subprocess.Popen(sleep, start_new_session=True)
print(a.pid, b.pid, flush=True)
time.sleep(60)
"""]


@pytest.fixture
def spawned(tmp_path):
    recs: list[procs.ProcRecord] = []

    def _spawn(argv, name="sleeper"):
        rec = procs.spawn(name, argv, tmp_path / "logs" / f"{name}.log")
        recs.append(rec)
        return rec

    yield _spawn
    assert procs.stop(recs, timeout=2.0) == []


def _wait_log(rec: procs.ProcRecord, text: str) -> str:
    deadline = time.monotonic() + 10
    while text not in procs.tail(rec.log) and time.monotonic() < deadline:
        time.sleep(0.05)
    return procs.tail(rec.log)


def test_spawn_runs_in_its_own_session_with_its_log(spawned):
    rec = spawned(SLEEPER)
    assert os.getsid(rec.pid) == rec.pid and os.getpgid(rec.pid) == rec.pid
    assert procs.process(rec) is not None
    log = _wait_log(rec, "sleeper ready")
    assert "--- chaosctl: starting sleeper" in log and log.endswith("sleeper ready")


def test_pause_and_resume(spawned):
    rec = spawned(SLEEPER)
    procs.signal_group(rec, signal.SIGSTOP)
    assert procs.wait_paused(rec, True) and procs.is_paused(rec)
    procs.signal_group(rec, signal.SIGCONT)
    assert procs.wait_paused(rec, False) and not procs.is_paused(rec)


def test_stop_terms_then_kills_the_whole_tree(spawned):
    rec = spawned(STUBBORN, "stubborn")
    deadline = time.monotonic() + 10
    while len(procs.tail(rec.log).splitlines()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    first = procs.tail(rec.log).splitlines()[-1]
    in_group, own_session = (int(p) for p in first.split())
    began = time.monotonic()
    assert procs.stop([rec], timeout=1.0) == []
    assert 1.0 <= time.monotonic() - began < 8.0  # TERM ignored -> KILL after the timeout
    for pid in (rec.pid, in_group, own_session):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert procs.process(rec) is None
    assert procs.exit_status(rec) == "signal 9"


def test_stop_of_a_paused_process_does_not_wait_for_the_timeout(spawned):
    rec = spawned(SLEEPER)
    procs.signal_group(rec, signal.SIGSTOP)
    procs.wait_paused(rec, True)
    began = time.monotonic()
    assert procs.stop([rec], timeout=5.0) == []
    assert time.monotonic() - began < 4.0


def test_kill_is_immediate(spawned):
    rec = spawned(SLEEPER)
    procs.kill(rec)
    assert procs.process(rec) is None
    assert procs.signal_group(rec, signal.SIGTERM) is False  # gone: nothing to signal


def test_a_recycled_pid_is_not_ours(spawned):
    rec = spawned(SLEEPER)
    impostor = procs.ProcRecord(rec.name, rec.pid, rec.create_time - 100.0, rec.log)
    assert procs.process(impostor) is None
    assert procs.signal_group(impostor, signal.SIGKILL) is False
    assert procs.process(rec) is not None  # the real one was not touched


def test_exit_code_of_a_failed_start(tmp_path):
    rec = procs.spawn("bad", [sys.executable, "-c", "raise SystemExit(7)"], tmp_path / "bad.log")
    deadline = time.monotonic() + 10
    while procs.process(rec) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert procs.exit_status(rec) == "exit code 7"


def test_tail_of_a_missing_log_is_empty(tmp_path):
    assert procs.tail(tmp_path / "nope.log") == ""
    log = tmp_path / "x.log"
    log.write_text("\n".join(str(i) for i in range(100)))
    assert procs.tail(log, 3) == "97\n98\n99"


def test_listeners_names_the_owner(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert procs.listeners([port]) == {port: os.getpid()}
    assert procs.listeners([port]) == {}
    assert "pid" in procs.describe(os.getpid())


def test_state_round_trip_and_empty_state_removes_the_file(tmp_path: Path):
    from chaosctl.stack import state

    rec = procs.ProcRecord("jaeger", 123, 1.5, "/x/jaeger.log")
    st = state.StackState(21500).with_proc(rec)
    state.save(tmp_path, st)
    assert state.load(tmp_path, 1) == st
    state.save(tmp_path, st.without("jaeger"))
    assert not state.state_path(tmp_path).exists()
    assert state.load(tmp_path, 7) == state.StackState(7)


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"port_base": 1, "components": []}', b"\xff\xfe",
                                  b'{"port_base": "x", "components": {}}', b'{"port_base": 1, "components": {"a": {"name": "a"}}}',
                                  b'{"port_base": 1, "components": {"a": {"name": "a", "pid": -1, "create_time": 0, "log": ""}}}'])
def test_corrupt_state_is_an_input_error_naming_the_file(tmp_path: Path, body: bytes):
    from chaosctl.errors import StateInvalid
    from chaosctl.stack import state

    state.state_path(tmp_path).write_bytes(body)
    with pytest.raises(StateInvalid, match="stack.json") as info:
        state.load(tmp_path, 1)
    assert exit_code_for(info.value) == 2


def test_stop_finds_group_members_whose_leader_already_died(tmp_path):
    orphaning = [sys.executable, "-c", (
        "import subprocess, sys, time\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(c.pid, flush=True)\n"
        "time.sleep(0.5)\n"  # the leader exits, its child stays in the group
    )]
    rec = procs.spawn("orphaning", orphaning, tmp_path / "o.log")
    deadline = time.monotonic() + 10
    while procs.process(rec) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(procs.tail(rec.log).splitlines()[-1])
    assert psutil.pid_exists(child) and os.getpgid(child) == rec.pid
    assert procs.stop([rec], timeout=2.0) == []
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
