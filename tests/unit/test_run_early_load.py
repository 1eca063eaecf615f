"""Locust starts gated after the pre-flight checks (its start overlaps the telemetry's and the
steady-state probes) and its gate opens
only once the steady state held: no request goes out before that, and a load whose gate never
opened is discarded on every early end (stack not ready, steady state broken, interrupt)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest
from test_run_outcomes import SCENARIO, FakeLoad, World

from chaosctl.errors import Interrupted, StackUnavailable
from chaosctl.runner.engine import Run
from chaosctl.runner.entry import execute_and_publish
from chaosctl.runner.signals import RunInterrupted, SignalGuard

PROBED = SCENARIO.replace("slos:", "steady_state:\n  - {name: up, probe: promql, query: 'min(up)', condition: '>= 1'}\nslos:")


@dataclass
class Watched(World):
    """Records the pre-flight and every steady-state probe in the load's log, beside its own calls."""

    preflight_error: BaseException | None = None
    reachable: bool = False  # whether the load's target takes connections

    def run(self) -> Run:
        run = super().run()
        log, prom, error = self.load.log, self.prom, self.preflight_error
        real_query = prom.query

        def preflight(ctx: Any, topology: Any) -> None:
            log.append("preflight")
            if error is not None:
                raise error

        def query(expr: str, at: float) -> float | None:
            if expr == "min(up)":
                log.append("probe")
            return real_query(expr, at)

        prom.query = query  # type: ignore[method-assign]
        run.deps = replace(run.deps, preflight=preflight, reachable=lambda url: self.reachable)
        return run


def test_locust_starts_gated_before_the_preflight_and_opens_after_the_steady_state(tmp_path) -> None:
    w = Watched(tmp_path, scenario=PROBED)
    code, err, report = w.publish()
    assert (code, err, report["verdict"]) == (0, None, "pass")
    assert w.load.log == ["preflight", "start gated", "probe", "open gate", "stop", "probe"]


def test_a_broken_steady_state_discards_the_load_without_opening_its_gate(tmp_path) -> None:
    dead = [False]
    w = Watched(tmp_path, scenario=PROBED)
    w.prom.dead = lambda: dead[0]
    real_start = w.load.start

    def start(gated: bool = False) -> None:
        real_start(gated)
        dead[0] = True  # Prometheus gone before the steady state is probed: it does not hold

    w.load.start = start  # type: ignore[method-assign]
    w.publish()
    assert w.load.log == ["preflight", "start gated", "probe", "discard"]


def test_a_stack_that_is_not_ready_discards_the_load_and_raises(tmp_path) -> None:
    w = Watched(tmp_path, preflight_error=StackUnavailable("the stack is not ready"))
    with SignalGuard(echo=lambda m: None) as guard, pytest.raises(StackUnavailable):
        execute_and_publish(w.run(), tmp_path / "reports", guard)
    assert w.load.log == ["preflight"]  # Locust never started on a stack that is not ready


def test_an_interrupt_before_any_fault_discards_the_load(tmp_path) -> None:
    import signal

    w = Watched(tmp_path)
    run = w.run()

    def interrupted(url: str) -> Any:  # a signal during Locust's start is raised at the next wait: here
        raise RunInterrupted(signal.SIGINT)

    run.deps = replace(run.deps, prometheus=interrupted)
    with SignalGuard(echo=lambda m: None) as guard, pytest.raises(Interrupted):
        execute_and_publish(run, tmp_path / "reports", guard)
    assert w.load.log == ["preflight", "start gated", "discard"]


def test_a_load_shape_starts_after_the_steady_state_as_before(tmp_path) -> None:
    shaped = FakeLoad(plan=type("Plan", (), {"users": 1, "workers": 1, "stages": (type("Stage", (), {"users": 1})(),)})())
    w = Watched(tmp_path, scenario=PROBED, load=shaped)
    w.publish()
    log = w.load.log
    assert log.index("start") > log.index("probe") and "start gated" not in log and "open gate" not in log


def test_a_reachable_target_starts_locust_gated_before_the_preflight(tmp_path) -> None:
    w = Watched(tmp_path, scenario=PROBED, reachable=True)
    code, err, report = w.publish()
    assert (code, err, report["verdict"]) == (0, None, "pass")
    assert w.load.log == ["start gated", "preflight", "probe", "open gate", "stop", "probe"]


def test_a_failing_preflight_discards_the_locust_started_before_it(tmp_path) -> None:
    w = Watched(tmp_path, preflight_error=StackUnavailable("the stack is not ready"), reachable=True)
    with SignalGuard(echo=lambda m: None) as guard, pytest.raises(StackUnavailable):
        execute_and_publish(w.run(), tmp_path / "reports", guard)
    assert w.load.log == ["start gated", "preflight", "discard"]  # killed: nothing was ever sent


def test_a_locust_left_by_a_killed_run_is_stopped_before_this_run_starts_its_own(tmp_path) -> None:
    import json
    import subprocess
    import sys

    from chaosctl.runner.engine import load_pidfile

    w = Watched(tmp_path, scenario=PROBED, reachable=True)
    run = w.run()
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        import psutil

        pidfile = load_pidfile(run.settings)
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        pidfile.write_text(json.dumps([{"pid": orphan.pid, "create_time": psutil.Process(orphan.pid).create_time()}]))
        real_start = w.load.start

        def start(gated: bool = False) -> None:
            assert orphan.poll() is not None or orphan.wait(timeout=5) is not None  # already stopped
            real_start(gated)

        w.load.start = start  # type: ignore[method-assign]
        with SignalGuard(echo=lambda m: None) as guard:
            execute_and_publish(run, tmp_path / "reports", guard)
        assert w.load.log[:2] == ["start gated", "preflight"]
    finally:
        orphan.kill()
        orphan.wait()


def test_the_telemetry_made_beside_a_failing_preflight_is_closed(tmp_path) -> None:
    from test_run_outcomes import FakeTelemetry

    closed: list[str] = []

    class Recorded(FakeTelemetry):
        def close(self) -> None:
            closed.append("closed")

    w = Watched(tmp_path, preflight_error=StackUnavailable("the stack is not ready"))
    run = w.run()
    run.deps = replace(run.deps, telemetry=lambda r: Recorded())
    with SignalGuard(echo=lambda m: None) as guard, pytest.raises(StackUnavailable, match="not ready"):
        execute_and_publish(run, tmp_path / "reports", guard)
    assert closed == ["closed"]  # its marker port and exporter do not outlive the refused run
