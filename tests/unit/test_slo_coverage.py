"""Coverage before verdict: an SLO value counts only when the scrape jobs it reads were up for
enough of the phase window. A hand-written fake Prometheus holds `up` per job per second."""

from __future__ import annotations

import pytest
from _coverage_fakes import BASELINE, FAULT, METRICS, ScrapedPrometheus, seconds

from chaosctl.cli import exit_code_for
from chaosctl.errors import UsageError
from chaosctl.scenario.model import SLO
from chaosctl.settings import parse_coverage
from chaosctl.verdict.model import PhaseWindow
from chaosctl.verdict.coverage import Coverage, CoverageMeter, JobCoverage, named_jobs, selectors
from chaosctl.verdict.slo import Evidence, evaluate

def slo(**kw) -> SLO:
    return SLO.model_validate({"name": "s", "phase": "fault", **kw})


def judge(prom, spec, windows=(BASELINE, FAULT), evidence=None):
    [check] = evaluate(prom, [spec], list(windows), evidence)
    return check


# ------------------------------------------------------------------ the arithmetic


@pytest.mark.parametrize(
    ("window_s", "interval", "up", "expected", "ratio"),
    [
        (40.0, 1.0, 40, 39, 1.0),
        (40.7, 1.0, 40, 39, 1.0),  # a 40.7 s window holds 40 or 41 grid points
        (10.0, 1.0, 9, 9, 1.0),  # the last scrape ran late, past the window's end: nothing was lost
        (6.0, 1.0, 5, 6, 5 / 6),  # under 10 scrapes no allowance: one scrape is a sixth of the window
        (40.0, 1.0, 41, 39, 1.0),  # never above 100%
        (40.0, 1.0, 19, 39, 19 / 39),
        (40.0, 5.0, 6, 8, 6 / 8),
        (0.5, 1.0, 0, 1, 0.0),  # fewer than 2 scrapes: too short, never covered
    ],
)
def test_job_coverage_expected_scrapes_is_the_floor_less_one_only_in_long_windows(window_s, interval, up, expected, ratio) -> None:
    cov = JobCoverage("gateway", window_s, interval, present=up, up=up)
    assert cov.expected == expected and cov.ratio == pytest.approx(ratio)


def test_a_long_interval_does_not_hide_a_job_down_half_the_phase() -> None:
    """Interval >= half the phase: 2 scrapes fit, the job was up for 1 of them. The old one-scrape
    allowance read 1 of 1 = 100%; without it 1 of 2 = 50% FAILs."""
    half = JobCoverage("gateway", 40.0, 20.0, present=2, up=1)
    assert half.expected == 2 and half.ratio == 0.5
    assert not Coverage("fault", (half,)).holds(0.9)
    assert JobCoverage("gateway", 40.0, 20.0, present=2, up=2).ratio == 1.0  # fully scraped still passes


def test_a_window_with_fewer_than_two_scrapes_fails_as_too_short() -> None:
    one = JobCoverage("gateway", 40.0, 30.0, present=1, up=1)  # a 40 s phase, a 30 s interval: 1 scrape
    assert one.too_short and one.ratio == 0.0
    cov = Coverage("fault", (one,))
    assert not cov.holds(0.0001)
    assert cov.reason(0.9) == ("window too short for the scrape interval: 40 s holds fewer than 2 scrapes of "
                               "gateway (every 30 s) (phase 'fault')")


def test_unknown_scrape_target_has_no_coverage() -> None:
    cov = JobCoverage("ghost", 40.0, None, present=0, up=0)
    assert cov.ratio == 0.0 and "not a scrape target" in cov.describe()


def test_reason_names_the_job_and_the_seconds() -> None:
    cov = Coverage("fault", (JobCoverage("gateway", 40.0, 1.0, present=40, up=19),))
    assert cov.reason(0.9) == "partial data: gateway scraped 19 of 40 s (49% < 90% of phase 'fault')"
    missing = Coverage("fault", (JobCoverage("gateway", 40.0, 1.0, present=25, up=25),))
    assert "Prometheus holds 25 of 39 scrapes" in missing.reason(0.9)


def test_worst_job_decides() -> None:
    cov = Coverage("f", (JobCoverage("a", 40, 1.0, 40, 40), JobCoverage("b", 40, 1.0, 40, 30)))
    assert cov.ratio == pytest.approx(30 / 39) and not cov.holds(0.9) and cov.holds(0.75)
    assert "b scraped 30 of 40 s" in cov.reason(0.9) and "a scraped" not in cov.reason(0.9)


# ------------------------------------------------------------------ SLOs


def test_gateway_dead_for_half_the_phase_fails_latency_and_availability() -> None:
    prom = ScrapedPrometheus(0.05, {"gateway": {**seconds(BASELINE), **seconds(FAULT, up_until=1060)}})
    for spec in (slo(sli="latency_p99", objective="< 300ms"), slo(sli="success_ratio", objective=">= 99%")):
        check = judge(prom, spec)
        assert check.status == "fail", check
        assert check.reason == "partial data: gateway scraped 20 of 40 s (51% < 90% of phase 'fault')"
        assert check.observed.endswith("(partial)")
    assert any('up{job="gateway"}[40000ms]' in q for q in prom.queries)


def test_full_coverage_passes_and_the_threshold_is_inclusive() -> None:
    assert judge(ScrapedPrometheus(0.05, {"gateway": seconds(FAULT)}), slo(sli="latency_p99", objective="< 300ms")).status == "pass"
    short = PhaseWindow("fault", 1040.0, 1051.0)  # 11 s: 10 scrapes expected
    up = {"gateway": seconds(short, up_until=1049)}  # 9 of 10 = 90%
    assert judge(ScrapedPrometheus(0.05, up), slo(sli="latency_p99", objective="< 300ms"), windows=(short,)).status == "pass"
    up = {"gateway": seconds(short, up_until=1048)}
    assert judge(ScrapedPrometheus(0.05, up), slo(sli="latency_p99", objective="< 300ms"), windows=(short,)).status == "fail"


def test_prometheus_missing_scrapes_is_partial_too() -> None:
    prom = ScrapedPrometheus(0.999, {"gateway": seconds(FAULT, missing_from=1060)})  # Prometheus down half the phase
    check = judge(prom, slo(sli="success_ratio", objective=">= 99%"))
    assert check.status == "fail" and "gateway scraped 20 of 40 s (Prometheus holds 20 of 39 scrapes)" in check.reason


def test_threshold_per_slo_and_global() -> None:
    prom = ScrapedPrometheus(0.05, {"gateway": seconds(FAULT, up_until=1070)})  # 75%
    assert judge(prom, slo(sli="latency_p99", objective="< 300ms")).status == "fail"
    assert judge(prom, slo(sli="latency_p99", objective="< 300ms", min_coverage="70%")).status == "pass"
    assert judge(prom, slo(sli="latency_p99", objective="< 300ms"), evidence=Evidence(min_coverage=0.7)).status == "pass"
    strict = slo(sli="latency_p99", objective="< 300ms", min_coverage="80%")  # the SLO's own wins over the global
    assert judge(prom, strict, evidence=Evidence(min_coverage=0.5)).status == "fail"


def test_no_value_and_partial_says_both() -> None:
    check = judge(ScrapedPrometheus(None, {"gateway": seconds(FAULT, up_until=1050)}), slo(sli="latency_p99", objective="< 1s"))
    assert check.status == "fail" and check.observed == "no data"
    assert check.reason.startswith("no samples") and "partial data: gateway scraped 10 of 40 s" in check.reason


def test_partial_baseline_is_a_missing_baseline() -> None:
    up = {"gateway": {**seconds(BASELINE, up_until=1010), **seconds(FAULT)}}
    check = judge(ScrapedPrometheus(0.1, up), slo(sli="latency_p99", objective="<= 2x baseline"))
    assert check.status == "fail"
    assert "missing baseline: phase 'baseline' has no value (partial data: gateway scraped 10 of 40 s" in check.reason


# ------------------------------------------------------------------ raw PromQL: which jobs


def test_selectors_skip_functions_labels_strings_and_keywords() -> None:
    expr = ('sum by (job) (rate(chaosctl_http_requests_total{service="gateway",route=~"/v1/{x}"}[40s] offset 1m)) '
            '/ on(job) group_left max(up{job="gateway"}) + label_replace(vector(1), "up", "$1", "job", "(.*)") '
            '+ count({__name__="chaosctl_model_queue_depth"})')
    assert selectors(expr, set(METRICS)) == (
        'chaosctl_http_requests_total{service="gateway",route=~"/v1/{x}"}',
        'up{job="gateway"}',
        '{__name__="chaosctl_model_queue_depth"}',
    )
    assert named_jobs(expr) == ("gateway",)
    assert named_jobs('x{job=~"gate.*"} + y{job!="a"}') == ()


def test_raw_promql_reads_the_jobs_of_its_series() -> None:
    servers = ("model-gpu-1", "model-gpu-2", "model-cpu-1")
    up = {s: seconds(FAULT) for s in servers}
    up["model-gpu-2"] = seconds(FAULT, up_until=1050)
    prom = ScrapedPrometheus(12.0, up, owners={"chaosctl_model_queue_depth": servers})
    check = judge(prom, slo(promql="max(max_over_time(chaosctl_model_queue_depth[$window]))", objective="< 50"))
    assert check.status == "fail" and "model-gpu-2 scraped 10 of 40 s" in check.reason
    assert any(q.startswith("group by (job) (last_over_time(chaosctl_model_queue_depth[40000ms]))") for q in prom.queries)


def test_raw_promql_named_job_counts_even_without_series() -> None:
    prom = ScrapedPrometheus(3.0, {"gateway": seconds(FAULT, up_until=1041)})  # died at once: no series to find
    check = judge(prom, slo(promql='sum(increase(chaosctl_gateway_registry_cache_total{job="gateway"}[$window]))', objective="> 0"))
    assert check.status == "fail" and "gateway scraped 1 of 40 s" in check.reason


def test_raw_promql_that_reads_no_series_cannot_pass() -> None:
    check = judge(ScrapedPrometheus(1.0, {"gateway": seconds(FAULT)}), slo(promql="vector(1)", objective="> 0"))
    assert check.status == "fail" and "the query reads no scraped series" in check.reason


def test_meter_notes_list_what_was_measured() -> None:
    prom = ScrapedPrometheus(0.05, {"gateway": {**seconds(BASELINE), **seconds(FAULT, up_until=1060)}})
    meter = CoverageMeter(prom)
    evaluate(prom, [slo(sli="latency_p99", phase="*", objective="< 300ms")], [BASELINE, FAULT], None, meter)
    assert meter.notes() == ["coverage baseline: gateway 100% (40/40 s)", "coverage fault: gateway 51% (20/40 s)"]


@pytest.mark.parametrize(("raw", "value"), [("0.9", 0.9), ("85%", 0.85), (" 1 ", 1.0), ("0", 0.0)])
def test_coverage_threshold_setting(raw, value) -> None:
    assert parse_coverage(raw) == pytest.approx(value)


@pytest.mark.parametrize("raw", ["1.5", "-0.1", "nan", "ninety", "95"])
def test_bad_coverage_threshold_is_a_usage_error(raw) -> None:
    with pytest.raises(UsageError) as exc:
        parse_coverage(raw)
    assert "CHAOSCTL_COVERAGE_THRESHOLD" in str(exc.value) and exit_code_for(exc.value) == 2


def test_run_flag_names_itself(tmp_path) -> None:
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "chaosctl.cli", "run", "scenario.yaml", "--min-coverage", "150%",
                          "--state-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "--min-coverage='150%'" in res.stderr and "Traceback" not in res.stderr


def test_scenario_fields_are_validated_with_positions(tmp_path) -> None:
    from chaosctl.errors import ScenarioInvalid
    from chaosctl.scenario import load_scenario

    path = tmp_path / "bad.yaml"
    path.write_text(
        "apiVersion: chaosctl/v1\nkind: Scenario\nmetadata: {name: bad}\n"
        "load: {users: 1, spawn_rate: 1, requests: [{model: fraud-detector}]}\nphases: [{name: p, duration: 10s}]\n"
        "abort:\n  - {when: error_ratio > 0.5, for: 5s, on_no_data: maybe}\n"
        "slos:\n  - {name: a, sli: success_ratio, objective: '>= 99%', min_coverage: 150%}\n")
    with pytest.raises(ScenarioInvalid) as exc:
        load_scenario(path)
    text = str(exc.value)
    assert f"{path}:7:" in text and "on_no_data" in text and "'trip' or 'ignore'" in text
    assert f"{path}:9:" in text and "min_coverage" in text
    path.write_text(path.read_text().replace("maybe", "ignore").replace("150%", "75%"))
    s = load_scenario(path)
    assert s.abort[0].on_no_data == "ignore" and s.slos[0].min_coverage == 0.75
