"""Abort evaluation with a fake Prometheus and a fake clock."""

from __future__ import annotations

from _run_fakes import FakeClock, FakePrometheus

from chaosctl.runner.abort import POLL_S, AbortCondition, AbortWatcher, sli_expr

ERR = "error_ratio_expr"


def watcher(series, for_s=5.0):
    clock = FakeClock()
    prom = FakePrometheus(clock, {ERR: series})
    cond = AbortCondition("error_ratio > 0.5 for 5s", ERR, ">", 0.5, for_s)
    return AbortWatcher([cond], prom, clock=clock), clock, prom


def test_trips_after_holding_for_the_duration():
    w, clock, _ = watcher(lambda t: 0.9 if t >= 10.0 else 0.0)
    trip = w.watch(until=60.0, sleep=clock.sleep)
    assert trip is not None
    assert trip.first_true_at == 10.0
    assert 15.0 <= trip.tripped_at <= 15.0 + POLL_S
    assert "error_ratio > 0.5" in trip.reason and "0.9" in trip.reason


def test_a_dip_resets_the_timer():
    w, clock, _ = watcher(lambda t: 0.0 if 13.0 <= t < 13.5 else (0.9 if t >= 10.0 else 0.0))
    trip = w.watch(until=60.0, sleep=clock.sleep)
    assert trip is not None and trip.first_true_at == 13.5


def test_no_data_is_not_evidence():
    w, clock, prom = watcher(lambda t: None)
    assert w.watch(until=30.0, sleep=clock.sleep) is None
    assert clock.now == 30.0
    assert len(prom.queries) == int(30.0 / POLL_S)


def test_never_trips_below_threshold_and_stops_at_phase_end():
    w, clock, _ = watcher(lambda t: 0.5)  # not > 0.5
    assert w.watch(until=12.0, sleep=clock.sleep) is None
    assert clock.now == 12.0


def test_between_hook_runs_each_poll():
    w, clock, _ = watcher(lambda t: 0.0)
    calls = []
    w.watch(until=2.0, sleep=clock.sleep, between=lambda: calls.append(clock.now))
    assert calls == [0.0, 0.5, 1.0, 1.5]


def test_builtin_expr_uses_a_short_window():
    expr = sli_expr("error_ratio")
    assert 'code=~"5.."' in expr and "[3000ms]" in expr and 'service="gateway"' in expr
