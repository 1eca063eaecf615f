"""Abort evaluation with a fake Prometheus and a fake clock."""

from __future__ import annotations

from _run_fakes import FakeClock, FakePrometheus

from chaosctl.runner.abort import NO_DATA_MIN_S, POLL_S, AbortRule, AbortWatcher, sli_expr, sources_probe, up_expr

ERR = "error_ratio_expr"


def watcher(series, for_s=5.0):
    clock = FakeClock()
    prom = FakePrometheus(clock, {ERR: series})
    cond = AbortRule("error_ratio > 0.5 for 5s", ERR, ">", 0.5, for_s)
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


def test_no_data_is_not_evidence_with_on_no_data_ignore():
    clock = FakeClock()
    prom = FakePrometheus(clock, {ERR: lambda t: None})
    w = AbortWatcher([AbortRule("c", ERR, ">", 0.5, 5.0, on_no_data="ignore")], prom, clock=clock)
    assert w.watch(until=30.0, sleep=clock.sleep) is None
    assert clock.now == 30.0
    assert len(prom.queries) == int(30.0 / POLL_S)


def test_data_that_disappears_trips_after_for():
    w, clock, _ = watcher(lambda t: 0.0 if t < 10.0 else None)  # the gateway dies at t=10: its series go
    trip = w.watch(until=60.0, sleep=clock.sleep)
    assert trip is not None and trip.value is None and trip.observed == "no data"
    assert trip.first_true_at == 10.0 and trip.tripped_at == 15.0
    assert "no data for 5.0s while a fault was in place (the query returned no series)" in trip.reason


def test_nan_is_no_data():
    w, clock, _ = watcher(lambda t: float("nan"))
    trip = w.watch(until=60.0, sleep=clock.sleep)
    assert trip is not None and trip.tripped_at == 5.0 and "NaN" in trip.reason


def test_no_data_waits_at_least_two_scrapes_even_with_for_0():
    w, clock, _ = watcher(lambda t: None if 3.0 <= t < 4.5 else 0.0, for_s=0.0)  # one missed scrape
    assert w.watch(until=20.0, sleep=clock.sleep) is None
    w, clock, _ = watcher(lambda t: None if t >= 3.0 else 0.0, for_s=0.0)
    trip = w.watch(until=20.0, sleep=clock.sleep)
    assert trip is not None and trip.tripped_at == 3.0 + NO_DATA_MIN_S


def test_data_coming_back_resets_the_no_data_timer():
    w, clock, _ = watcher(lambda t: None if (10.0 <= t < 14.0 or t >= 20.0) else 0.0)
    trip = w.watch(until=60.0, sleep=clock.sleep)
    assert trip is not None and trip.first_true_at == 20.0


def test_a_scrape_job_down_is_no_data_even_while_the_query_answers():
    clock = FakeClock()
    up = up_expr("gateway")
    prom = FakePrometheus(clock, {ERR: lambda t: 0.0, up: lambda t: 1.0 if t < 10.0 else 0.0})
    w = AbortWatcher([AbortRule("c", ERR, ">", 0.5, 5.0, jobs=("gateway",))], prom, clock=clock)
    trip = w.watch(until=60.0, sleep=clock.sleep)
    assert trip is not None and trip.first_true_at == 10.0 and "scrape job 'gateway' is down" in trip.reason
    assert up == 'min(up{job="gateway"})'


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


BREAKERS = 'count(chaosctl_gateway_breaker_state{upstream=~"model-gpu-.*"} == 2)'


def test_sources_probe_reads_the_jobs_behind_the_query():
    assert sources_probe(BREAKERS) == (
        'min(up and on(job) (group by (job) (last_over_time(chaosctl_gateway_breaker_state{upstream=~"model-gpu-.*"}[1m]))))')
    two = sources_probe('sum by (le) (rate(a_bucket[1m])) / on() group_left sum(b{job="x"}) > bool 1')
    assert "last_over_time(a_bucket[1m])" in two and 'last_over_time(b{job="x"}[1m])' in two
    assert "(group_left" not in two and "(bool" not in two
    assert sources_probe("vector(1)") is None


def _raw_condition(clock, answers):
    prom = FakePrometheus(clock, answers)
    probe = sources_probe(BREAKERS)
    cond = AbortRule("every GPU breaker open", BREAKERS, ">=", 2, 10.0, empty_is_no_data=False, sources_probe=probe)
    return AbortWatcher([cond], prom, clock=clock), probe


def test_an_empty_raw_query_is_the_condition_false_not_no_data():
    clock = FakeClock()
    w, probe = _raw_condition(clock, {BREAKERS: lambda t: None})  # no breaker open: `== 2` filters every series
    w._query.series[probe] = lambda t: 1.0
    assert w.watch(until=60.0, sleep=clock.sleep) is None


def test_a_raw_query_whose_source_job_goes_down_trips():
    clock = FakeClock()
    w, probe = _raw_condition(clock, {BREAKERS: lambda t: None})
    w._query.series[probe] = lambda t: 1.0 if t < 20.0 else 0.0  # the gateway killed at t=20
    trip = w.watch(until=60.0, sleep=clock.sleep)
    assert trip is not None and trip.first_true_at == 20.0 and trip.tripped_at == 30.0
    assert "a scrape job whose series the query reads is down" in trip.reason


def test_scenario_abort_conditions_carry_their_no_data_rule(tmp_path):
    from chaosctl.runner.scenario_glue import abort_conditions
    from chaosctl.scenario import load_scenario

    path = tmp_path / "s.yaml"
    path.write_text(
        "apiVersion: chaosctl/v1\nkind: Scenario\nmetadata: {name: nd}\nphases: [{name: p, duration: 10s}]\n"
        "load: {users: 4, spawn_rate: 2, requests: [{model: fraud-detector}]}\n"
        "abort:\n"
        "  - {when: error_ratio > 0.5, for: 5s}\n"
        "  - {when: latency_p99 > 2s, on_no_data: ignore}\n"
        f"  - {{name: gpu, promql: '{BREAKERS}', condition: '>= 2', for: 10s}}\n"
        "  - {name: named, promql: 'max(up{job=\"registry\"})', condition: '< 1'}\n")
    err, p99, gpu, named = abort_conditions(load_scenario(path))
    assert (err.on_no_data, err.jobs, err.empty_is_no_data) == ("trip", ("gateway",), True)
    assert p99.on_no_data == "ignore"
    assert (gpu.on_no_data, gpu.empty_is_no_data, gpu.sources_probe) == ("trip", False, sources_probe(BREAKERS))
    assert named.jobs == ("registry",)
