"""The run engine's ends other than a verdict, with small fakes for the outside world
(stack, load, telemetry, Prometheus, Jaeger, faults): an unexpected exception
(verdict error, exit 4), an interrupt (partial report, exit 130), a second signal
while reverting, an observability backend lost mid-run (exit 3). Every time: every
fault reverted, the journal empty, all four reports written."""

from __future__ import annotations

import json
import os
import re
import signal
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from _run_fakes import fake

from chaosctl.cli import VERDICT_EXIT_CODES, exit_code_for
from chaosctl.errors import Interrupted, RunFailed, StackUnavailable
from chaosctl.faults.base import FaultContext
from chaosctl.faults.journal import Journal
from chaosctl.observe.jaeger import FetchResult
from chaosctl.observe.prometheus import Sample
from chaosctl.runner.entry import execute_and_publish
from chaosctl.runner.engine import Run, RunDeps
from chaosctl.runner.signals import SignalGuard
from chaosctl.scenario import load_scenario
from chaosctl.settings import Settings
from chaosctl.stack.topology import Topology
from chaosctl.observe.spans import Span

SCENARIO = """\
apiVersion: chaosctl/v1
kind: Scenario
metadata: {name: outcomes}
load: {users: 1, spawn_rate: 1, requests: [{model: fraud-detector}]}
phases:
  - {name: baseline, duration: 1s}
  - name: fault
    duration: 2s
    faults:
      - {type: latency, target: "link:gateway->model-gpu-1", latency: 100ms}
      - {type: latency, target: "link:gateway->model-gpu-2", latency: 100ms}
  - {name: recovery, duration: 1s}
slos:
  - {name: availability, sli: success_ratio, phase: "*", objective: ">= 99%"}
traces:
  - {phase: fault, min_traces: 1, must_appear: {service: gateway}}
"""
REPORTS = ("report.json", "junit.xml", "report.html", "report.md")


@dataclass
class FakeLoad:
    plan: Any = field(default_factory=lambda: type("Plan", (), {"users": 1, "workers": 1, "stages": ()})())
    stopped: bool = False
    log: list[str] = field(default_factory=list)  # what the run did with it, in order

    def start(self, gated: bool = False) -> None:
        self.log.append("start gated" if gated else "start")

    def open_gate(self) -> None:
        self.log.append("open gate")

    def discard(self) -> None:
        self.log.append("discard")
        self.stopped = True

    def wait_spawned(self, users: int, timeout_s: float) -> bool:
        return True

    def stop(self) -> None:
        self.log.append("stop")
        self.stopped = True

    def result(self) -> Any:
        return type("Result", (), {"describe": lambda self: "load: fake"})()


class FakeTelemetry:
    notes: list[str] = []

    def start(self) -> None: ...

    def close(self) -> None: ...

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        yield

    def event(self, name: str, **attrs: Any) -> None: ...

    def fault_injected(self, record: Any, evidence: str) -> None: ...

    def fault_reverted(self, record: Any) -> None: ...


@dataclass
class FakeProm:
    """Every query answers 1.0 (availability 100%), until `dead()` says Prometheus is gone."""

    dead: Callable[[], bool] = lambda: False
    queries: int = 0

    def _alive(self) -> None:
        self.queries += 1
        if self.dead():
            raise StackUnavailable("Prometheus at 127.0.0.1:9 unreachable: Connection refused")

    def query(self, expr: str, at: float) -> float | None:
        self._alive()
        up = re.fullmatch(r'min\((count|sum)_over_time\(up\{job="gateway"\}\[(\d+)ms\]\)\)', expr)
        if up:
            return float(round(int(up[2]) / 500))  # the gateway scraped every 0.5 s (a 1 s phase holds 2 scrapes)
        return 0.0 if expr.startswith("(sum(rate(") and "5.." in expr else 1.0  # no 5xx, every request served

    def samples(self, expr: str, at: float) -> list[Sample]:
        self._alive()
        return [Sample((("job", "gateway"),), 1.0)]

    def scrape_intervals(self) -> dict[str, float]:
        self._alive()
        return {"gateway": 0.5}

    def metric_names(self) -> list[str]:
        self._alive()
        return ["chaosctl_http_requests_total", "chaosctl_http_request_duration_seconds_bucket", "up"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[tuple[float, float]]:
        if self.dead():
            raise StackUnavailable("Prometheus at 127.0.0.1:9 unreachable: Connection refused")
        return []


@dataclass
class FakeJaeger:
    dead: bool = False

    def fetch(self, service: str, start: float, end: float) -> FetchResult:
        if self.dead:
            raise StackUnavailable("Jaeger at 127.0.0.1:8 unreachable: ConnectError: [Errno 111] Connection refused")
        root = Span("t1", "s1", None, "gateway", "POST /v1/models/{model}/predict", int(start * 1e6), int(start * 1e6) + 1000)
        return FetchResult((root,), 1, 0, 0.0)

    def close(self) -> None: ...


@dataclass
class World:
    tmp: Path
    log: list[str] = field(default_factory=list)
    prom: FakeProm = field(default_factory=FakeProm)
    jaeger: FakeJaeger = field(default_factory=FakeJaeger)
    load: FakeLoad = field(default_factory=FakeLoad)
    on_fault: Callable[[Any], None] = lambda f: None  # customise each fault built
    scenario: str = SCENARIO
    guard: SignalGuard | None = None

    def run(self) -> Run:
        settings = Settings(state_dir=self.tmp / "state", port_base=31000)
        path = self.tmp / "s.yaml"
        path.write_text(self.scenario)
        scenario = load_scenario(path, Topology(settings.port_base))
        ctx = FaultContext(settings, Topology(settings.port_base), backend_factory=lambda: None)
        ids = iter("abcdefgh")

        def build(spec: Any, _ctx: Any) -> Any:
            f = fake(next(ids), self.log)
            self.on_fault(f)
            return f

        deps = RunDeps(preflight=lambda backend, topo: None, prometheus=lambda url: self.prom,
                       jaeger=lambda url: self.jaeger, telemetry=lambda run: FakeTelemetry(),
                       load=lambda run: self.load, build=build, settle_s=0.0,
                       reachable=lambda url: False)  # Locust after the pre-flight (test_run_early_load)
        return Run(scenario, settings, echo=lambda s: None, fault_ctx=ctx, deps=deps)

    def publish(self, left: int = 0) -> tuple[int | None, BaseException | None, dict]:
        run = self.run()
        out = self.tmp / "reports"
        with SignalGuard(echo=lambda m: None) as guard:
            self.guard = guard
            try:
                code, err = VERDICT_EXIT_CODES[execute_and_publish(run, out, guard)], None
            except (Interrupted, RunFailed, StackUnavailable) as exc:
                code, err = None, exc
        assert sorted(p.name for p in out.iterdir()) == sorted(REPORTS)
        assert len(Journal(run.settings.journal_path).pending()) == left
        assert self.load.stopped
        return code, err, json.loads((out / "report.json").read_text())

    def reverted(self) -> list[str]:
        return [e.split()[1] for e in self.log if e.startswith("revert ")]


def test_a_clean_run_passes_and_is_not_marked(tmp_path):
    w = World(tmp_path)
    code, err, report = w.publish()
    assert (code, err) == (0, None)
    assert report["verdict"] == "pass" and report["interrupted"] is False and report["error"] == ""
    assert w.reverted() == ["b", "a"]


def test_unexpected_exception_reverts_every_fault_writes_reports_verdict_error_exit_4(tmp_path):
    w = World(tmp_path)

    def second_fault_has_a_bug(f: Any) -> None:
        if f.record.id == "b":
            def verify() -> str:
                raise RuntimeError("bug in verify")
            f.verify = verify
    w.on_fault = second_fault_has_a_bug
    code, err, report = w.publish()
    assert isinstance(err, RunFailed) and exit_code_for(err) == 4
    assert "RuntimeError: bug in verify" in str(err) and "every fault was reverted" in str(err)
    assert w.reverted() == ["b", "a"]
    assert report["verdict"] == "error" and "RuntimeError: bug in verify" in report["error"]
    assert [p["name"] for p in report["phases"]] == ["baseline", "fault"]  # what was gathered is kept
    slos = {c["phase"]: c for c in report["checks"] if c["kind"] == "slo"}  # and judged
    assert slos["baseline"]["status"] == "pass" and "too short" in slos["fault"]["reason"]
    junit = (tmp_path / "reports" / "junit.xml").read_text()
    assert 'errors="1"' in junit and "bug in verify" in junit
    assert "the run failed" in (tmp_path / "reports" / "report.md").read_text()


def _signal_in(f: Any, step: str, *sigs: int) -> None:
    """Make the fault's `step` (inject or revert) receive `sigs` before doing its work."""
    orig = getattr(f, step)

    def wrapped() -> None:
        for sig in sigs:
            os.kill(os.getpid(), sig)  # the handler runs in this thread before kill returns
        orig()
    setattr(f, step, wrapped)


def test_interrupt_during_a_phase_writes_a_partial_report_and_exits_130(tmp_path):
    w = World(tmp_path)
    w.on_fault = lambda f: _signal_in(f, "inject", signal.SIGINT) if f.record.id == "b" else None
    code, err, report = w.publish()
    assert isinstance(err, Interrupted) and exit_code_for(err) == 130 and "every fault was reverted" in str(err)
    assert w.reverted() == ["b", "a"]
    assert report["interrupted"] is True and report["verdict"] == "aborted"
    assert [p["name"] for p in report["phases"]] == ["baseline", "fault"]
    assert not any(c["kind"] == "slo" for c in report["checks"])  # no analysis after an interrupt
    assert 'name="interrupted" value="true"' in (tmp_path / "reports" / "junit.xml").read_text()


def test_second_and_third_signal_while_reverting_cannot_skip_a_revert(tmp_path):
    w = World(tmp_path)

    def signals(f: Any) -> None:
        if f.record.id == "b":
            _signal_in(f, "inject", signal.SIGINT)  # the interrupt
        _signal_in(f, "revert", signal.SIGTERM, signal.SIGINT)  # and two more in each revert
    w.on_fault = signals
    code, err, report = w.publish()
    assert isinstance(err, Interrupted)
    assert w.reverted() == ["b", "a"]
    assert w.guard is not None and w.guard.count == 5 and w.guard.signal_name == "SIGINT"
    assert report["interrupted"] is True and [p["name"] for p in report["phases"]] == ["baseline", "fault"]


def test_jaeger_lost_judges_the_slos_fails_the_trace_checks_naming_it_exit_3(tmp_path):
    w = World(tmp_path, jaeger=FakeJaeger(dead=True))
    code, err, report = w.publish()
    assert isinstance(err, StackUnavailable) and exit_code_for(err) == 3
    assert str(err).startswith("Jaeger at 127.0.0.1:8 unreachable")
    slos = [c for c in report["checks"] if c["kind"] == "slo"]
    assert [c["status"] for c in slos] == ["pass"] * 3
    traces = [c for c in report["checks"] if c["kind"] == "trace"]
    assert [c["status"] for c in traces] == ["fail"] and traces[0]["reason"].startswith("Jaeger at 127.0.0.1:8")
    assert report["verdict"] == "fail" and w.reverted() == ["b", "a"]


def test_prometheus_lost_mid_run_goes_to_the_end_of_the_phases_and_fails_the_slos_exit_3(tmp_path):
    w = World(tmp_path)
    # Prometheus answers the steady state before, then dies with the first fault in place.
    w.on_fault = lambda f: setattr(w.prom, "dead", lambda: True)
    code, err, report = w.publish()
    assert isinstance(err, StackUnavailable) and "Prometheus at 127.0.0.1:9 unreachable" in str(err)
    assert "%28" not in str(err) and "query=" not in str(err)
    assert [p["name"] for p in report["phases"]] == ["baseline", "fault", "recovery"]
    slos = [c for c in report["checks"] if c["kind"] == "slo"]
    assert len(slos) == 3 and all(c["status"] == "fail" and "Prometheus at" in c["reason"] for c in slos)
    assert [c["status"] for c in report["checks"] if c["kind"] == "trace"] == ["pass"]  # Jaeger still judged
    assert report["verdict"] == "fail" and w.reverted() == ["b", "a"]


def test_a_first_signal_landing_in_a_revert_stops_the_run_after_that_revert(tmp_path):
    w = World(tmp_path)
    w.on_fault = lambda f: _signal_in(f, "revert", signal.SIGTERM) if f.record.id == "b" else None
    code, err, report = w.publish()
    assert isinstance(err, Interrupted) and "SIGTERM" in str(err)
    assert w.reverted() == ["b", "a"]  # the revert it landed in went on to the last fault
    assert [p["name"] for p in report["phases"]] == ["baseline", "fault"] and report["interrupted"] is True


def test_prometheus_lost_with_abort_conditions_trips_on_no_data_naming_prometheus_exit_3(tmp_path):
    scenario = SCENARIO.replace("duration: 2s", "duration: 6s") + "abort:\n  - {when: error_ratio > 20%, for: 1s}\n"
    w = World(tmp_path, scenario=scenario)
    w.on_fault = lambda f: setattr(w.prom, "dead", lambda: True)
    code, err, report = w.publish()
    assert isinstance(err, StackUnavailable) and "Prometheus at 127.0.0.1:9 unreachable" in str(err)
    aborts = [c for c in report["checks"] if c["kind"] == "abort"]
    assert len(aborts) == 1 and aborts[0]["observed"] == "no data"
    assert "Prometheus at 127.0.0.1:9 unreachable" in aborts[0]["reason"]
    assert [p["name"] for p in report["phases"]] == ["baseline", "fault"]  # the trip ends the run early
    assert report["verdict"] == "aborted" and w.reverted() == ["b", "a"]


def test_a_failed_revert_is_verdict_error_exit_4_naming_recover_and_the_others_still_come_out(tmp_path):
    w = World(tmp_path)
    w.on_fault = lambda f: setattr(f, "fail_revert", f.record.id == "a")
    code, err, report = w.publish(left=1)
    assert isinstance(err, RunFailed) and exit_code_for(err) == 4
    assert "could not revert latency" in str(err) and "chaosctl recover" in str(err)
    assert w.reverted() == ["b", "a"] and report["verdict"] == "error"  # a failed; b still came out
    assert [p["name"] for p in report["phases"]] == ["baseline", "fault", "recovery"]


def test_a_run_with_nothing_to_judge_fails_instead_of_passing_on_zero_checks(tmp_path):
    """Only fault-landed checks: no SLO, trace or steady-state check ran, so nothing was shown to hold."""
    w = World(tmp_path, scenario=SCENARIO.split("slos:")[0])
    code, err, report = w.publish()
    assert report["verdict"] == "fail"
    judged = [c for c in report["checks"] if c["name"] == "nothing to judge"]
    assert len(judged) == 1 and judged[0]["status"] == "fail"
    assert "add slos, traces or steady_state" in judged[0]["reason"]
