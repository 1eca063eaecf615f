"""Trace expectations -> checks, and the bottleneck diff in words."""

from __future__ import annotations

import pytest

from chaosctl.scenario.model import TraceExpectation
from chaosctl.verdict.bottleneck import Aggregate, diff, fault_context, findings
from chaosctl.verdict.model import BottleneckRow, PhaseWindow
from chaosctl.verdict.traces import check_expectation, trace_checks


def row(service: str, op: str, share: float, p99: float = 10.0, count: int = 100) -> BottleneckRow:
    return BottleneckRow(service, op, share, share * 100, 1.0, 2.0, p99, count)


FAULT_ROWS = (
    row("gateway", "upstream model-gpu-1", 0.71, p99=460.0),
    row("model-gpu-1", "POST /v1/models/{model}/predict", 0.15),
    row("gateway", "registry lookup", 0.08),
    row("registry", "GET /v1/services", 0.06),
)
BASE_ROWS = (
    row("model-gpu-1", "POST /v1/models/{model}/predict", 0.55),
    row("gateway", "upstream model-gpu-1", 0.12, p99=50.0),
    row("gateway", "registry lookup", 0.2),
)


def agg(rows, traces: int = 150) -> Aggregate:
    return Aggregate(rows=tuple(rows), traces=traces, spans=traces * 5, orphans=0, skew_adjusted=0)


def expect(**kw) -> TraceExpectation:
    return TraceExpectation.model_validate({"phase": "fault", **kw})


def test_expected_bottleneck_passes_and_fails_with_the_actual_top() -> None:
    ok = check_expectation(expect(expect_bottleneck={"service": "gateway", "operation": "upstream model-gpu-1"}), agg(FAULT_ROWS))
    assert ok.status == "pass" and ok.kind == "trace" and ok.observed == "gateway: upstream model-gpu-1 (71% of the critical path)"
    bad = check_expectation(expect(expect_bottleneck={"service": "gateway", "operation": "upstream model-gpu-1"}), agg(BASE_ROWS))
    assert bad.status == "fail"
    assert bad.reason == "the top bottleneck is model-gpu-1: POST /v1/models/{model}/predict, not gateway: upstream model-gpu-1"


def test_expected_bottleneck_by_service_sums_its_operations() -> None:
    # gateway: 0.71 + 0.08 = 0.79 > model-gpu-1 0.15
    assert check_expectation(expect(expect_bottleneck={"service": "gateway"}), agg(FAULT_ROWS)).status == "pass"
    # baseline: model-gpu-1 0.55 > gateway 0.32
    assert check_expectation(expect(expect_bottleneck={"service": "gateway"}), agg(BASE_ROWS)).status == "fail"


def test_operation_globs() -> None:
    e = expect(expect_bottleneck={"service": "gateway", "operation": "upstream model-gpu-*"})
    assert check_expectation(e, agg(FAULT_ROWS)).status == "pass"


@pytest.mark.parametrize(("limit", "status"), [("10%", "pass"), ("5%", "fail")])
def test_max_critical_path_share(limit: str, status: str) -> None:
    c = check_expectation(expect(max_critical_path_share={"service": "registry", "share": limit}), agg(FAULT_ROWS))
    assert c.status == status and c.observed == "6.0%"
    if status == "fail":
        assert c.reason == "registry took 6.0% of the critical path, above 5.0%"


def test_span_must_and_must_not_appear() -> None:
    assert check_expectation(expect(must_appear={"service": "registry"}), agg(FAULT_ROWS)).status == "pass"
    assert check_expectation(expect(must_appear={"service": "model-cpu-1"}), agg(FAULT_ROWS)).status == "fail"
    assert check_expectation(expect(must_not_appear={"service": "model-cpu-1"}), agg(FAULT_ROWS)).status == "pass"
    no = check_expectation(expect(must_not_appear={"service": "gateway", "operation": "registry lookup"}), agg(FAULT_ROWS))
    assert no.status == "fail" and no.reason == "100 spans gateway: registry lookup in 150 traces"


@pytest.mark.parametrize("kw", [
    {"expect_bottleneck": {"service": "gateway"}},
    {"max_critical_path_share": {"service": "registry", "share": "50%"}},
    {"must_not_appear": {"service": "model-cpu-1"}},
])
def test_too_few_traces_is_a_fail_never_a_pass(kw) -> None:
    c = check_expectation(expect(**kw), agg(FAULT_ROWS, traces=99))
    assert c.status == "fail" and c.reason == "only 99 traces in phase 'fault'; at least 100 are needed"
    assert check_expectation(expect(min_traces=50, **kw), agg(FAULT_ROWS, traces=99)).status == "pass"


def test_phase_without_traces_fails() -> None:
    [c] = trace_checks([expect(expect_bottleneck={"service": "gateway"})], {})
    assert c.status == "fail" and "only 0 traces" in c.reason


def test_diff_and_the_finding_in_words() -> None:
    rows = diff(FAULT_ROWS, BASE_ROWS)
    up = rows[0]
    assert up.delta_share_vs_baseline == pytest.approx(0.59) and up.delta_p99_ms_vs_baseline == pytest.approx(410.0)
    assert rows[3].delta_share_vs_baseline == pytest.approx(0.06) and rows[3].delta_p99_ms_vs_baseline is None
    phase = PhaseWindow("fault", 0.0, 60.0, ("latency link:gateway->model-gpu-1",))
    words = findings(fault_context(phase), FAULT_ROWS, BASE_ROWS)
    assert words[0] == ("under latency on link:gateway->model-gpu-1 the gateway's `upstream model-gpu-1` went from 12% "
                        "to 71% of the critical path; p99 +410 ms")
    assert words[1].startswith("under latency on link:gateway->model-gpu-1 the model-gpu-1's `POST /v1/models/{model}/predict` went from 55% to 15%")
    assert len(words) == 3  # registry lookup -12 pts is third; GET /v1/services (+6 pts, new) is cut by top=3


def test_findings_ignore_small_moves_and_name_phases_without_faults() -> None:
    same = (row("gateway", "x", 0.50), row("gateway", "y", 0.50))
    moved = (row("gateway", "x", 0.53), row("gateway", "y", 0.47))
    assert findings("in phase recovery", moved, same) == ()
    assert fault_context(PhaseWindow("recovery", 0, 1)) == "in phase recovery"


def test_absence_on_a_truncated_fetch_fails_because_the_missing_traces_may_hold_the_span() -> None:
    e = expect(must_not_appear={"service": "registry", "operation": "DELETE *"})
    assert check_expectation(e, agg(FAULT_ROWS)).status == "pass"  # every trace fetched: absence shown
    c = check_expectation(e, agg(FAULT_ROWS), saturated=2)
    assert c.status == "fail"
    assert c.reason == ("traces incomplete: fetched 150 of at least 150 (Jaeger returned full pages for 2 slice(s)); "
                        "absence cannot be shown")
    # through trace_checks too: the saturation is per phase
    assert trace_checks([e], {"fault": agg(FAULT_ROWS)}, {"fault": 1})[0].status == "fail"
    assert trace_checks([e], {"fault": agg(FAULT_ROWS)}, {"baseline": 1})[0].status == "pass"


def test_shares_on_a_truncated_fetch_are_judged_on_the_sample_and_say_so() -> None:
    share = check_expectation(expect(max_critical_path_share={"service": "registry", "share": "10%"}), agg(FAULT_ROWS), saturated=1)
    assert share.status == "pass" and share.reason.startswith("sampled (traces incomplete: fetched 150")
    top = check_expectation(expect(expect_bottleneck={"service": "gateway"}), agg(BASE_ROWS), saturated=1)
    assert top.status == "fail" and top.reason.startswith("sampled (") and top.reason.endswith("not gateway")
    present = check_expectation(expect(must_appear={"service": "registry"}), agg(FAULT_ROWS), saturated=1)
    assert present.status == "pass" and present.reason == ""  # a span seen in the sample was seen
