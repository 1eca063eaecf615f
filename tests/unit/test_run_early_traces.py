"""runner.early: a finished phase's traces are read while later phases run, but never before the
exporters' settle time after the phase's end. A span exported late (after the phase ended) is in
the early answer; a window still settling when the analysis wants it is read there instead."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from chaosctl.runner.early import EarlyTraces


@dataclass
class ArrivingJaeger:
    """A Jaeger whose spans become visible at their arrival time (unix seconds)."""

    arrivals: dict[str, float]
    asked: list[float] = field(default_factory=list)
    fail: bool = False

    def fetch(self, service: str, start: float, end: float) -> tuple[str, ...]:
        self.asked.append(time.time())
        if self.fail:
            raise RuntimeError("Jaeger answered 503")
        return tuple(sorted(name for name, at in self.arrivals.items() if at <= time.time()))


def _wait_done(early: EarlyTraces) -> None:
    for future in list(early._futures.values()):
        try:
            future.result(timeout=5)
        except Exception:  # noqa: BLE001
            pass


def test_a_span_exported_after_the_phase_ended_is_in_the_early_answer() -> None:
    end = time.time()
    jaeger = ArrivingJaeger({"root": end - 1.0, "late child": end + 0.15})  # exported 150 ms after the end
    early = EarlyTraces(jaeger, "gateway", settle_s=0.3)
    try:
        early.phase_ended(end - 5.0, end)
        _wait_done(early)
        assert jaeger.asked and jaeger.asked[0] >= end + 0.3  # asked only after the settle time
        assert early.take("gateway", end - 5.0, end) == ("late child", "root")
    finally:
        early.close()


def test_a_window_still_settling_is_left_to_the_analysis_without_waiting() -> None:
    end = time.time()
    jaeger = ArrivingJaeger({"root": end - 1.0})
    early = EarlyTraces(jaeger, "gateway", settle_s=30.0)
    try:
        early.phase_ended(end - 5.0, end)
        t0 = time.monotonic()
        wrapped = early.wrap(jaeger)
        assert wrapped.fetch("gateway", end - 5.0, end) == ("root",)  # asked by the analysis itself
        assert time.monotonic() - t0 < 1.0
        assert len(jaeger.asked) == 1
    finally:
        early.close()


def test_an_early_answer_asked_before_the_settle_time_is_not_used() -> None:
    clock = [100.0]
    jaeger = ArrivingJaeger({})
    early = EarlyTraces(jaeger, "gateway", settle_s=2.0, clock=lambda: clock[0])
    try:
        from concurrent.futures import Future

        done: Future = Future()
        done.set_result((("partial",), 100.5))  # asked 0.5 s after the end: too early
        early._futures[("gateway", 90.0, 100.0)] = done
        clock[0] = 103.0
        assert early.take("gateway", 90.0, 100.0) is None
    finally:
        early.close()


def test_a_failed_early_read_is_asked_again_by_the_analysis() -> None:
    end = time.time()
    jaeger = ArrivingJaeger({"root": end - 1.0}, fail=True)
    early = EarlyTraces(jaeger, "gateway", settle_s=0.05)
    try:
        early.phase_ended(end - 5.0, end)
        _wait_done(early)
        jaeger.fail = False
        assert early.wrap(jaeger).fetch("gateway", end - 5.0, end) == ("root",)
        assert len(jaeger.asked) == 2
    finally:
        early.close()


def test_close_stops_a_settling_read_at_once() -> None:
    end = time.time()
    early = EarlyTraces(ArrivingJaeger({}), "gateway", settle_s=60.0)
    early.phase_ended(end - 5.0, end)
    t0 = time.monotonic()
    early.close()
    for t in threading.enumerate():
        if t.name.startswith("early-traces"):
            t.join(timeout=2)
            assert not t.is_alive()
    assert time.monotonic() - t0 < 2.0


def test_a_run_reads_each_finished_phase_once_after_its_settle_time_and_the_last_after_the_run(tmp_path) -> None:
    from dataclasses import replace

    from test_run_outcomes import FakeJaeger, World

    asked: list[tuple[float, float, float]] = []  # (start, end, when)

    class Counting(FakeJaeger):
        def fetch(self, service, start, end):  # type: ignore[no-untyped-def]
            asked.append((start, end, time.time()))
            return super().fetch(service, start, end)

    w = World(tmp_path, jaeger=Counting())
    run = w.run()
    run.deps = replace(run.deps, trace_settle_s=0.3)
    from chaosctl.runner.entry import execute_and_publish
    from chaosctl.runner.signals import SignalGuard

    with SignalGuard(echo=lambda m: None) as guard:
        execute_and_publish(run, tmp_path / "reports", guard)
    windows = [(p.start, p.end) for p in run.state.windows]
    assert len(windows) == 3
    whole = [(a, e, at) for a, e, at in asked if (a, e) in windows]
    assert sorted((a, e) for a, e, _ in whole) == sorted(windows)  # each phase's window asked for once
    last_end = windows[-1][1]
    for a, e, at in whole:
        if (a, e) != windows[-1]:  # the last phase's is asked by the analysis after the run, as before
            assert e + 0.3 <= at < last_end  # never before its settle time, and while the later phases ran
