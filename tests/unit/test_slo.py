"""SLO evaluation against a fake Prometheus: every no-data case is a FAIL with its reason."""

from __future__ import annotations

import math

import pytest

from chaosctl.cli import exit_code_for
from chaosctl.errors import StackUnavailable
from chaosctl.observe.prometheus import Sample
from chaosctl.scenario.model import SLO
from chaosctl.verdict.model import PhaseWindow
from chaosctl.verdict.slo import build_expr, evaluate, window_literal

BASELINE = PhaseWindow("baseline", 1000.0, 1030.0)
FAULT = PhaseWindow("fault", 1030.0, 1090.0, ("latency link:gateway->model-gpu-1",))


class FakePrometheus:
    """Answers by (phase end time, SLI kind); records every SLI query. Every scrape job was
    up for the whole window (coverage is tested in test_slo_coverage.py)."""

    def __init__(self, answers: dict[tuple[float, str], float | None]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, float]] = []

    def query(self, expr: str, at: float) -> float | None:
        if "_over_time(up{" in expr:  # coverage: one scrape per second of the window
            return float(int(expr.rsplit("[", 1)[1].split("ms]")[0]) // 1000)
        self.calls.append((expr, at))
        kind = "latency" if "histogram_quantile" in expr else "ratio" if "code=~" in expr else "other"
        return self.answers.get((at, kind))

    def samples(self, expr: str, at: float):
        return [Sample((("job", "model-gpu-1"),), 1.0)]

    def scrape_intervals(self) -> dict[str, float]:
        return {"gateway": 1.0, "model-gpu-1": 1.0}

    def metric_names(self) -> list[str]:
        return ["chaosctl_model_queue_depth", "x"]


class DownPrometheus:
    def query(self, expr: str, at: float) -> float | None:
        raise StackUnavailable("Prometheus at http://127.0.0.1:9 is unreachable")


def slo(**kw) -> SLO:
    return SLO.model_validate({"name": "s", **kw})


def one(prom, spec: SLO, windows=(BASELINE, FAULT)):
    checks = evaluate(prom, [spec], list(windows))
    assert len(checks) == 1
    return checks[0]


def test_latency_expr_uses_the_exact_window_and_the_phase_end() -> None:
    prom = FakePrometheus({(1090.0, "latency"): 0.2})
    check = one(prom, slo(sli="latency_p99", phase="fault", objective="< 300ms"))
    assert check.status == "pass" and check.observed == "200 ms" and check.objective == "< 300ms"
    expr, at = prom.calls[0]
    assert at == 1090.0
    assert expr == (
        'histogram_quantile(0.99, sum by (le) (rate(chaosctl_http_request_duration_seconds_bucket'
        '{service="gateway",route=~"/v1/models/.*"}[60000ms])))'
    )


def test_latency_over_objective_fails_with_observed_and_objective() -> None:
    check = one(FakePrometheus({(1090.0, "latency"): 0.41}), slo(sli="latency_p99", phase="fault", objective="< 300ms"))
    assert check.status == "fail" and check.observed == "410 ms" and "410 ms is not < 300 ms" in check.reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "no samples"),
        (math.nan, "NaN"),
        (10.0, "+Inf bucket"),  # histogram_quantile returns the largest finite bound for the +Inf bucket
        (math.inf, "+Inf bucket"),
    ],
)
def test_no_data_is_a_fail_with_the_reason(value, reason) -> None:
    check = one(FakePrometheus({(1090.0, "latency"): value}), slo(sli="latency_p99", phase="fault", objective="< 300ms"))
    assert check.status == "fail"
    assert reason in check.reason and check.observed == "no data"


def test_nan_success_ratio_fails() -> None:
    check = one(FakePrometheus({(1090.0, "ratio"): math.nan}), slo(sli="success_ratio", phase="fault", objective=">= 99.5%"))
    assert check.status == "fail" and "no requests in the window" in check.reason


def test_success_ratio_counts_5xx_only_and_survives_no_error_series() -> None:
    expr = build_expr(slo(sli="success_ratio", phase="fault", objective=">= 99.5%"), 30)
    assert 'code=~"5.."' in expr and "or vector(0)" in expr and "429" not in expr
    check = one(FakePrometheus({(1090.0, "ratio"): 0.9973}), slo(sli="success_ratio", phase="fault", objective=">= 99.5%"))
    assert check.status == "pass" and check.observed == "99.73%"
    check = one(FakePrometheus({(1090.0, "ratio"): 0.99}), slo(sli="success_ratio", phase="fault", objective=">= 99.5%"))
    assert check.status == "fail"


@pytest.mark.parametrize(
    ("fault_p99", "objective", "status"),
    [(0.2, "<= 2x baseline", "pass"), (0.25, "<= 2x baseline", "fail"), (0.15, "<= baseline + 50ms", "pass"), (0.2, "<= baseline + 50ms", "fail")],
)
def test_relative_objectives(fault_p99, objective, status) -> None:
    prom = FakePrometheus({(1090.0, "latency"): fault_p99, (1030.0, "latency"): 0.1})
    check = one(prom, slo(sli="latency_p99", phase="fault", objective=objective))
    assert check.status == status
    assert "baseline 100 ms" in check.objective
    assert {at for _, at in prom.calls} == {1090.0, 1030.0}
    assert any("[30000ms]" in e for e, at in prom.calls if at == 1030.0)


def test_missing_baseline_phase_fails() -> None:
    check = one(FakePrometheus({(1090.0, "latency"): 0.1}), slo(sli="latency_p99", phase="fault", objective="<= 2x baseline"), windows=(FAULT,))
    assert check.status == "fail" and "missing baseline: no phase named 'baseline'" in check.reason


@pytest.mark.parametrize("base_value", [None, math.nan, 10.0])
def test_baseline_without_data_fails(base_value) -> None:
    prom = FakePrometheus({(1090.0, "latency"): 0.1, (1030.0, "latency"): base_value})
    check = one(prom, slo(sli="latency_p99", phase="fault", objective="<= 2x baseline"))
    assert check.status == "fail" and "missing baseline: phase 'baseline' has no value" in check.reason


def test_every_phase_with_star() -> None:
    prom = FakePrometheus({(1030.0, "ratio"): 1.0, (1090.0, "ratio"): 0.9})
    checks = evaluate(prom, [slo(sli="success_ratio", phase="*", objective=">= 99.5%")], [BASELINE, FAULT])
    assert [(c.phase, c.status) for c in checks] == [("baseline", "pass"), ("fault", "fail")]


def test_unknown_phase_fails() -> None:
    checks = evaluate(FakePrometheus({}), [slo(sli="latency_p99", phase="nope", objective="< 1s")], [BASELINE])
    assert checks[0].status == "fail" and "not in this run" in checks[0].reason


def test_burn_rate() -> None:
    spec = slo(sli="burn_rate", target="99.9%", phase="fault", objective="< 14.4")
    assert build_expr(spec, 60).endswith("/ 0.001")
    prom = FakePrometheus({(1090.0, "ratio"): 20.0})
    check = one(prom, spec)
    assert check.status == "fail" and check.observed == "20"


def test_raw_promql_with_window() -> None:
    spec = slo(promql="max(max_over_time(chaosctl_model_queue_depth[$window]))", phase="fault", objective="< 50")
    assert build_expr(spec, 60) == "max(max_over_time(chaosctl_model_queue_depth[60000ms]))"
    assert window_literal(37.2504) == "37250ms"
    prom = FakePrometheus({(1090.0, "other"): 12.0})
    assert one(prom, spec).status == "pass"


def test_unreachable_prometheus_raises_stack_unavailable_exit_3() -> None:
    with pytest.raises(StackUnavailable) as exc:
        evaluate(DownPrometheus(), [slo(sli="latency_p99", phase="fault", objective="< 300ms")], [FAULT])
    assert exit_code_for(exc.value) == 3


def test_too_short_phase_fails() -> None:
    check = one(FakePrometheus({}), slo(sli="latency_p99", phase="blip", objective="< 300ms"), windows=(PhaseWindow("blip", 5.0, 5.2),))
    assert check.status == "fail" and "too short" in check.reason


def test_raw_promql_nan_says_so() -> None:
    spec = slo(promql="max(x[$window])", phase="fault", objective="< 50")
    check = one(FakePrometheus({(1090.0, "other"): math.nan}), spec)
    assert check.status == "fail" and "the query gave NaN" in check.reason
