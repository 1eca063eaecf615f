"""The run lock: a second run and `recover` refuse while a run holds it, naming its pid
(exit 5, one line, no traceback); a holder that dies (even by SIGKILL) frees it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from chaosctl.errors import RunLocked
from chaosctl.runner.lock import RunLock

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from chaosctl.runner.lock import RunLock
    with RunLock(Path(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(120)
    """
)
SCENARIO = Path(__file__).resolve().parents[1] / "data" / "run-torture.yaml"


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock of tmp_path/state."""
    state = tmp_path / "state"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(state)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc, state
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_a_second_lock_in_the_same_process_is_refused_naming_the_pid(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(RunLocked, match=rf"cannot run: a chaosctl run is in progress \(pid {os.getpid()};"):
            RunLock(tmp_path).acquire()
    with RunLock(tmp_path):  # released: free again
        pass


def test_a_dead_holder_frees_the_lock_even_by_sigkill(holder):
    proc, state = holder
    with pytest.raises(RunLocked, match=f"pid {proc.pid}"):
        RunLock(state, what="recover").acquire()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    with RunLock(state):
        assert (state / "run.lock").read_text().strip() == str(os.getpid())


def test_a_garbage_lock_file_is_not_trusted_for_the_pid(tmp_path):
    (tmp_path / "run.lock").write_text("not a pid\n")
    with RunLock(tmp_path):  # nobody holds it: taken, and the pid rewritten
        assert (tmp_path / "run.lock").read_text() == f"{os.getpid()}\n"


def _cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHAOSCTL_STATE_DIR": str(state), "CHAOSCTL_PORT_BASE": "32900"}
    return subprocess.run([sys.executable, "-m", "chaosctl.cli", *args], env=env, text=True, capture_output=True,
                          timeout=60)


@pytest.mark.parametrize("args", [("recover",), ("run", str(SCENARIO))], ids=["recover", "run"])
def test_cli_refuses_while_a_run_is_live_exit_5_no_traceback(holder, args):
    proc, state = holder
    t0 = time.monotonic()
    res = _cli(state, *args)
    assert res.returncode == 5, res.stderr
    assert f"a chaosctl run is in progress (pid {proc.pid};" in res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    assert time.monotonic() - t0 < 30  # refuses at once, never waits for the lock
