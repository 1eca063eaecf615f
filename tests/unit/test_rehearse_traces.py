"""A rehearsal passes a trace expectation whose query answered (its objective is not judged),
never one whose phase held no trace at all."""

from __future__ import annotations

from chaosctl.runner.rehearse import _traced
from chaosctl.scenario.model import TraceExpectation
from chaosctl.verdict.bottleneck import Aggregate
from chaosctl.verdict.traces import check_expectation


def _expectation() -> TraceExpectation:
    return TraceExpectation.model_validate({"phase": "fault", "must_appear": {"service": "gateway"}})


def test_a_trace_expectation_with_no_trace_stays_fail_in_a_rehearsal() -> None:
    real = check_expectation(_expectation(), None)  # what the analysis gives a phase without traces
    assert real.status == "fail" and real.observed == "0 traces"
    rehearsed = _traced(real)
    assert rehearsed.status == "fail", rehearsed


def test_a_trace_expectation_with_too_few_traces_to_judge_still_answers_in_a_rehearsal() -> None:
    real = check_expectation(_expectation(), Aggregate(rows=(), traces=5, spans=5, orphans=0, skew_adjusted=0))  # 5 < min_traces 100
    assert real.status == "fail" and real.observed == "5 traces"
    assert _traced(real).status == "pass"
