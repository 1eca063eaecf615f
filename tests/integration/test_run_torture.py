"""Interrupt torture: N runs of a short scenario, each sent SIGINT, SIGTERM or SIGKILL
(+ `chaosctl recover`) at a random moment; about half of the SIGINT/SIGTERM runs get a
second signal while they revert (after the run acknowledged the first). After each: no
toxic in Toxiproxy, every component up and ready, no GPU fault memory or compute held,
the journal empty, and a run interrupted once its phases began wrote a report.json.

N comes from CHAOSCTL_TORTURE_N (default 3 for `make test`; the closing note's figure
used 50). The seed is printed so that a failing sequence can be replayed
(CHAOSCTL_TORTURE_SEED)."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest
from _run_live import DATA, assert_clean, chaosctl, start_chaosctl

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = int(os.environ.get("CHAOSCTL_TORTURE_N", "3"))
SEED = int(os.environ.get("CHAOSCTL_TORTURE_SEED", str(int(time.time()))))
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
# From process start: imports + preflight (~2-3 s), load start ~3 s, phases 9 s, load stop,
# steady state, analysis, reports (~20 s in all): signals also land after the last phase.
# Starts at 2 s: a signal during the first imports (before the handlers exist) kills the process by its
# default action (exit -15) before anything was injected; one random draw of 0.63 s did that in a suite run.
WINDOW_S = (2.0, 24.0)


ACK = "received; "  # the run's acknowledgement of the first signal (stderr, in the log)


def _second_signal(proc, log: Path, rng: random.Random) -> str:
    """Once the run acknowledged the first signal, a second one a moment later (it is
    reverting by then); "" when the run exited or never acknowledged (e.g. it was done)."""
    deadline = time.monotonic() + 15.0
    while ACK not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            return ""
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 1.0))
    sig = rng.choice(SIGNALS[:2])
    if proc.poll() is not None:
        return ""
    proc.send_signal(sig)
    return sig.name


def _check_exit(i: int, sig: signal.Signals, delay: float, code: int, log: Path, out: Path, second: str) -> None:
    text = log.read_text()
    # -sig only when the signal beat the CLI's own start-up (nothing was started yet), or a second
    # signal landed after the reports were written, while Python was exiting.
    started = text.strip() != ""
    late = second and "reports: " in text and code in (-signal.SIGINT, -signal.SIGTERM)
    assert code in (0, 1, 130) or (code == -sig and not started) or late, \
        f"run {i}: {sig.name} at {delay:.1f}s (second: {second or '-'}) exited {code}\n{text}"
    if code == 130 and ACK in text and "phase baseline" in text:  # the run took the signal once its phases began
        report = json.loads((out / "report.json").read_text())
        assert report["interrupted"] or "after the run" in text, f"run {i}: report not marked interrupted\n{text}"


@pytest.mark.timeout(300 + 120 * N)  # each run: ~25 s, recover, back to steady state
def test_interrupt_torture(stack, tmp_path):
    rng = random.Random(SEED)
    print(f"torture: N={N} seed={SEED}")
    outcomes = []
    for i in range(N):
        sig, delay = rng.choice(SIGNALS), rng.uniform(*WINDOW_S)
        double = sig != signal.SIGKILL and rng.random() < 0.5
        log, out = tmp_path / f"run-{i}.log", tmp_path / f"report-{i}"
        proc = start_chaosctl(stack.settings, "run", str(DATA / "run-torture.yaml"), "--report-dir", str(out), log=log)
        time.sleep(delay)
        second = ""
        if proc.poll() is None:
            proc.send_signal(sig)
            if double:
                second = _second_signal(proc, log, rng)
        code = proc.wait(timeout=180)
        if sig == signal.SIGKILL:
            rec = chaosctl(stack.settings, "recover", timeout=180)
            assert rec.returncode == 0, f"run {i}: recover failed\n{rec.stdout}{rec.stderr}"
        else:
            _check_exit(i, sig, delay, code, log, out, second)
        outcomes.append((sig.name + (f"+{second}" if second else ""), round(delay, 1), code))
        print(f"torture run {i}: {outcomes[-1]}", flush=True)
        try:
            assert_clean(stack.settings, stack.backend, stack.topology, ready_timeout=120)
        except AssertionError as exc:
            raise AssertionError(f"run {i} ({sig.name} at {delay:.1f}s, exit {code}) left: {exc}\n{log.read_text()}") from None
    print("torture outcomes:", outcomes)
