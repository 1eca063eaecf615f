"""The phase loop with fake faults, a fake Prometheus and a fake clock:
reverse-order revert on normal end, abort, unexpected exception; timed faults."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from _run_fakes import FakeClock, FakePrometheus, fake

from chaosctl.faults.journal import Journal
from chaosctl.runner.abort import AbortRule, AbortWatcher
from chaosctl.runner.phase import PhaseEnv, run_phase
from chaosctl.runner.signals import SignalGuard


@dataclass(frozen=True)
class Spec:
    id: str
    after: float = 0.0
    duration: float | None = None
    fail_inject: bool = False
    fail_verify: bool = False
    crash: bool = False

    @property
    def label(self) -> str:
        return f"latency link:{self.id}"

    def describe(self) -> str:
        return self.label


@dataclass(frozen=True)
class Phase:
    name: str
    duration: float
    faults: tuple[Spec, ...]


def make_env(tmp_path, log, error_ratio=lambda t: 0.0):
    clock = FakeClock()
    prom = FakePrometheus(clock, {"ERR": error_ratio})
    watcher = AbortWatcher([AbortRule("error_ratio > 0.5 for 5s", "ERR", ">", 0.5, 5.0)], prom, clock=clock)

    def build(spec, ctx):
        f = fake(spec.id, log, fail_inject=spec.fail_inject, fail_verify=spec.fail_verify)
        if spec.crash:
            def boom():
                log.append(f"inject {spec.id}")
                raise RuntimeError("bug in inject")
            f.inject = boom
        log.append(f"at {clock.now:g} build {spec.id}")
        return f

    env = PhaseEnv(fault_ctx=None, journal=Journal(tmp_path / "j.jsonl"), guard=SignalGuard(), watcher=watcher,
                   echo=lambda s: None, build=build, sleep=clock.sleep, clock=clock,
                   verify_deadline_s=0.0)
    return env, clock


def reverts(log):
    return [e.split()[1] for e in log if e.startswith("revert ")]


def test_normal_end_reverts_in_reverse_order(tmp_path):
    log: list[str] = []
    env, clock = make_env(tmp_path, log)
    out = run_phase(Phase("fault", 10.0, (Spec("a"), Spec("b"), Spec("c"))), env)
    assert reverts(log) == ["c", "b", "a"]
    assert clock.now == pytest.approx(10.0)
    assert out.trip is None and out.failure is None and not out.stop_run
    assert [c.status for c in out.checks] == ["pass"] * 3
    assert out.window.faults == ("latency link:a", "latency link:b", "latency link:c")
    assert env.journal.pending() == []


def test_abort_trips_reverts_and_stops_early(tmp_path):
    log: list[str] = []
    env, clock = make_env(tmp_path, log, error_ratio=lambda t: 0.9 if t >= 2.0 else 0.1)
    out = run_phase(Phase("fault", 60.0, (Spec("a"), Spec("b"))), env)
    assert out.trip is not None and out.stop_run
    assert 7.0 <= clock.now <= 7.5  # true from t=2, held 5 s
    assert reverts(log) == ["b", "a"]
    assert [c.kind for c in out.checks if c.status == "fail"] == ["abort"]
    assert env.journal.pending() == []


def test_unexpected_exception_still_reverts_everything_in_reverse(tmp_path):
    log: list[str] = []
    env, _ = make_env(tmp_path, log)
    out = run_phase(Phase("fault", 10.0, (Spec("a"), Spec("b"), Spec("c", crash=True), Spec("d"))), env)
    assert isinstance(out.error, RuntimeError) and "bug in inject" in str(out.error) and out.stop_run
    assert [c.status for c in out.checks] == ["pass", "pass"]  # what was gathered is kept for the report
    assert out.window.faults == ("latency link:a", "latency link:b", "latency link:c")
    assert reverts(log) == ["c", "b", "a"]  # c was journaled before its inject blew up
    assert "build d" not in " ".join(log)
    assert env.journal.pending() == []


def test_fault_that_did_not_land_fails_the_phase_with_the_reason(tmp_path):
    log: list[str] = []
    env, clock = make_env(tmp_path, log)
    out = run_phase(Phase("fault", 10.0, (Spec("a"), Spec("b", fail_verify=True), Spec("c"))), env)
    assert out.failure is not None and "b did not land" in out.failure and out.stop_run
    assert clock.now < 10.0
    assert reverts(log) == ["b", "a"]
    assert [(c.kind, c.status) for c in out.checks] == [("fault", "pass"), ("fault", "fail")]


def test_timed_fault_goes_in_and_out_within_the_phase(tmp_path):
    log: list[str] = []
    env, _ = make_env(tmp_path, log)
    run_phase(Phase("fault", 10.0, (Spec("long"), Spec("short", after=2.0, duration=3.0))), env)
    builds = [e for e in log if e.startswith("at ")]
    assert builds == ["at 0 build long", "at 2 build short"]
    assert reverts(log) == ["short", "long"]
    idx = log.index("revert short")
    assert log.index("revert long") > idx


def test_abort_is_only_watched_while_faults_are_in_place(tmp_path):
    log: list[str] = []
    env, clock = make_env(tmp_path, log, error_ratio=lambda t: 1.0)
    out = run_phase(Phase("baseline", 10.0, ()), env)
    assert out.trip is None and clock.now == pytest.approx(10.0)


def test_a_faults_row_starts_when_inject_is_called_not_when_verify_returns(tmp_path):
    """The effect window opens at inject(): a fault whose whole effect happens while verify()
    still polls (a canary rolled back within ms of its first aborts) is judged on that time."""
    import time

    log: list[str] = []
    env, _ = make_env(tmp_path, log)
    seen: dict[str, float] = {}
    build = env.build

    def slow_verify_build(spec, ctx):
        f = build(spec, ctx)
        inject, verify = f.inject, f.verify

        def timed_inject():
            seen["inject"] = time.time()
            inject()

        def slow_verify():
            time.sleep(0.3)
            seen["verified"] = time.time()
            return verify()

        f.inject, f.verify = timed_inject, slow_verify
        return f

    env.build = slow_verify_build
    out = run_phase(Phase("fault", 1.0, (Spec("a"),)), env)
    (row,) = out.window.rows
    assert row.injected_at is not None and row.injected_at <= seen["inject"] < seen["verified"] - 0.25
