"""Signal handling, in a subprocess: SIGINT/SIGTERM revert every fault in reverse
order and exit 130; a second signal during the revert does not cut it short."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

DRIVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from _run_fakes import fake
    from chaosctl.faults.journal import Journal
    from chaosctl.runner.active import ActiveFaults
    from chaosctl.runner.signals import RunInterrupted, SignalGuard

    out = Path({out!r})
    log = []
    def slow_revert(f):
        orig = f.revert
        def revert():
            out.write_text("reverting")
            time.sleep({revert_s})
            orig()
        f.revert = revert
        return f

    with SignalGuard() as guard:
        active = ActiveFaults(Journal(Path({journal!r})), guard, verify_deadline_s=0.0)
        try:
            try:
                for fid in ("a", "b", "c"):
                    active.inject(slow_revert(fake(fid, log)))
                out.write_text("ready")
                time.sleep(60)
            finally:
                active.revert_all()
        except RunInterrupted as exc:
            out.write_text(" ".join(e for e in log if e.startswith("revert")) + "|" + str(exc))
            sys.exit(130)
    out.write_text("not interrupted")
    """
)


def _start(tmp_path: Path, revert_s: float) -> tuple[subprocess.Popen, Path]:
    out = tmp_path / "out.txt"
    code = DRIVER.format(tests=str(Path(__file__).parent), out=str(out), journal=str(tmp_path / "j.jsonl"), revert_s=revert_s)
    proc = subprocess.Popen([sys.executable, "-c", code])
    _wait_for(out, "ready", proc)
    return proc, out


def _wait_for(out: Path, text: str, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if out.exists() and out.read_text() == text:
            return
        if proc.poll() is not None:
            pytest.fail(f"driver exited {proc.returncode} before {text!r}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"driver never reached {text!r}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_reverts_in_reverse_order_and_exits_130(tmp_path, sig):
    proc, out = _start(tmp_path, revert_s=0.0)
    proc.send_signal(sig)
    assert proc.wait(timeout=20) == 130
    reverts, name = out.read_text().split("|")
    assert reverts == "revert c revert b revert a"
    assert name == sig.name
    from chaosctl.faults.journal import Journal

    assert Journal(tmp_path / "j.jsonl").pending() == []


def test_second_ctrl_c_during_revert_does_not_interrupt_it(tmp_path):
    proc, out = _start(tmp_path, revert_s=0.3)
    proc.send_signal(signal.SIGINT)
    _wait_for(out, "reverting", proc)
    for _ in range(3):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 130
    reverts, _ = out.read_text().split("|")
    assert reverts == "revert c revert b revert a"
