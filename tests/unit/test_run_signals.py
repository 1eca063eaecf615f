"""Signal handling, in a subprocess: SIGINT/SIGTERM revert every fault in reverse
order and exit 130; a second signal during the revert does not cut it short.
In-process: a signal is raised only inside `interruptible()`, at most once; one that
lands elsewhere waits for the next interruptible point."""

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
                with guard.interruptible():
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


def _raise(sig: int) -> None:
    os.kill(os.getpid(), sig)  # the handler runs in this (main) thread before kill returns


def test_a_signal_outside_an_interruptible_block_waits_for_the_next_one():
    from chaosctl.runner.signals import RunInterrupted, SignalGuard

    seen: list[str] = []
    with SignalGuard(echo=seen.append) as guard:
        _raise(signal.SIGTERM)  # e.g. during a revert: remembered
        assert guard.received == signal.SIGTERM
        with guard.shield():
            pass  # leaving a shield outside an interruptible block does not raise
        with pytest.raises(RunInterrupted, match="SIGTERM"):
            with guard.interruptible():
                raise AssertionError("not reached: the remembered signal is raised on entry")
    assert "finishing the current step" in seen[0]


def test_a_signal_is_raised_at_most_once_later_ones_are_acknowledged():
    from chaosctl.runner.signals import RunInterrupted, SignalGuard

    seen: list[str] = []
    with SignalGuard(echo=seen.append) as guard:
        with pytest.raises(RunInterrupted):
            with guard.interruptible():
                _raise(signal.SIGINT)
        with guard.interruptible():  # the way back: nothing raises any more
            _raise(signal.SIGINT)
            _raise(signal.SIGTERM)
            guard.check()
        assert guard.count == 3 and guard.received == signal.SIGINT
    assert sum("received again" in m for m in seen) == 2


def test_a_signal_inside_a_shield_is_raised_when_the_shield_ends_in_an_interruptible_block():
    from chaosctl.runner.signals import RunInterrupted, SignalGuard

    steps: list[str] = []
    with SignalGuard(echo=lambda m: None) as guard:
        with pytest.raises(RunInterrupted):
            with guard.interruptible():
                with guard.shield():
                    _raise(signal.SIGINT)
                    steps.append("rest of the shielded step")
                steps.append("not reached")
    assert steps == ["rest of the shielded step"]


def test_handlers_are_restored():
    from chaosctl.runner.signals import SignalGuard

    before = signal.getsignal(signal.SIGINT)
    with SignalGuard():
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before
