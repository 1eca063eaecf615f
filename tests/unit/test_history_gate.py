"""`last_pass` objectives: the grammar, and the gate judged against a temporary history."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chaosctl.history import judge_last_pass, record_run
from chaosctl.history.gate import NO_BASELINE
from chaosctl.report.model import RunReport
from chaosctl.scenario.objective import LastPassObjective, parse_objective
from chaosctl.scenario.units import UnitError
from chaosctl.settings import Settings
from chaosctl.verdict.model import Check, PhaseWindow

T0 = 1_790_000_000.0


@pytest.mark.parametrize("text, op, factor, offset, shown", [
    ("<= last_pass + 10%", "<=", 1.10, 0.0, "<= last_pass + 10%"),
    ("<= 1.1x last_pass", "<=", 1.1, 0.0, "<= 1.1x last_pass"),
    (">= last_pass - 5%", ">=", 0.95, 0.0, ">= last_pass - 5%"),
    ("<= last_pass + 50ms", "<=", 1.0, 0.05, "<= last_pass + 50ms"),
    ("< last_pass", "<", 1.0, 0.0, "< last_pass"),
])  # fmt: skip
def test_grammar(text: str, op: str, factor: float, offset: float, shown: str) -> None:
    obj = parse_objective(text)
    assert isinstance(obj, LastPassObjective)
    assert (obj.op, obj.factor, obj.offset) == (op, pytest.approx(factor), pytest.approx(offset))
    assert obj.describe() == shown
    assert parse_objective(obj.describe()) == obj  # what the report shows parses back to the same objective


def test_grammar_refuses_a_margin_that_leaves_nothing() -> None:
    with pytest.raises(UnitError, match="leaves nothing"):
        parse_objective("<= last_pass - 100%")


def test_without_history_the_objective_never_holds() -> None:
    obj = parse_objective("<= last_pass + 10%")
    assert obj.value != obj.value  # NaN: a judge that knows no history cannot pass it
    assert not obj.holds(0.1)
    assert obj.holds(0.109, 0.1) and not obj.holds(0.111, 0.1)


def _scenario(objective: str = "<= last_pass + 10%"):
    import json
    import tempfile

    from chaosctl.scenario import load_scenario

    data = {
        "apiVersion": "chaosctl/v1", "kind": "Scenario", "metadata": {"name": "gate"},
        "load": {"users": 2, "spawn_rate": 2, "requests": [{"model": "fraud-detector", "weight": 1}]},
        "phases": [{"name": "baseline", "duration": "5s"}, {"name": "fault", "duration": "5s"}],
        "slos": [{"name": "p99 gate", "sli": "latency_p99", "phase": "fault", "objective": objective},
                 {"name": "p99 abs", "sli": "latency_p99", "phase": "fault", "objective": "< 2s"}],
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:  # JSON is YAML: the real loader, positions and all
        path = Path(folder) / "gate.yaml"
        path.write_text(json.dumps(data, indent=1))
        return load_scenario(path)


def _report(p99: str, verdict: str = "fail", reason: str = "", started: float = T0) -> RunReport:
    """As the SLO judge leaves it: the gated check FAILs against NaN (its threshold is unknown there)."""
    checks = (
        Check("slo", "p99 gate", "fault", "fail", p99, "<= last_pass + 10%", reason or f"{p99} is not <= nan s"),
        Check("slo", "p99 abs", "fault", "pass", p99, "< 2s"),
    )
    return RunReport("gate", verdict, started, started + 10, (PhaseWindow("fault", started, started + 5),), checks)


def _settings(tmp_path: Path, require_baseline: bool = False) -> Settings:
    return Settings(state_dir=tmp_path / "state", history_file=tmp_path / "h.sqlite3", require_baseline=require_baseline)


def _gated(report: RunReport) -> Check:
    return next(c for c in report.checks if c.name == "p99 gate")


def test_first_run_passes_as_the_baseline_and_says_so(tmp_path: Path) -> None:
    out = judge_last_pass(_report("120 ms"), _scenario(), _settings(tmp_path), echo=lambda s: None)
    assert out.verdict == "pass"
    assert (_gated(out).status, _gated(out).reason) == ("pass", NO_BASELINE)


def test_require_baseline_fails_the_first_run(tmp_path: Path) -> None:
    out = judge_last_pass(_report("120 ms"), _scenario(), _settings(tmp_path, require_baseline=True), echo=lambda s: None)
    assert out.verdict == "fail"
    assert _gated(out).status == "fail" and "baseline is required" in _gated(out).reason


def test_regression_against_the_last_pass_fails_and_names_the_run(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    first = judge_last_pass(_report("120 ms"), _scenario(), settings, echo=lambda s: None)
    base = record_run(settings.history_path, first)
    within = judge_last_pass(_report("131 ms", started=T0 + 100), _scenario(), settings, echo=lambda s: None)
    assert within.verdict == "pass", _gated(within)
    assert "= 132 ms; last pass 120 ms in run " + base.id in _gated(within).objective
    worse = judge_last_pass(_report("133 ms", started=T0 + 200), _scenario(), settings, echo=lambda s: None)
    assert worse.verdict == "fail"
    assert _gated(worse).status == "fail"
    assert _gated(worse).reason == f"133 ms is not <= 132 ms (last passing run {base.id}: 120 ms)"


def test_a_failed_run_never_becomes_the_baseline(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    base = record_run(settings.history_path, judge_last_pass(_report("100 ms"), _scenario(), settings, echo=lambda s: None))
    bad = judge_last_pass(_report("300 ms", started=T0 + 100), _scenario(), settings, echo=lambda s: None)
    record_run(settings.history_path, bad)
    assert bad.verdict == "fail"
    again = judge_last_pass(_report("250 ms", started=T0 + 200), _scenario(), settings, echo=lambda s: None)
    assert _gated(again).status == "fail" and base.id in _gated(again).reason  # still judged against the 100 ms run


def test_missing_current_value_stays_a_fail(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    record_run(settings.history_path, judge_last_pass(_report("100 ms"), _scenario(), settings, echo=lambda s: None))
    for observed, reason in (("no data", "no samples"), ("90 ms (partial)", "partial data: gateway scraped 2 of 5 s")):
        out = judge_last_pass(_report(observed, reason=reason, started=T0 + 100), _scenario(), settings, echo=lambda s: None)
        assert (_gated(out).status, _gated(out).reason, out.verdict) == ("fail", reason, "fail")


def test_other_reasons_of_the_judge_are_kept(tmp_path: Path) -> None:
    note = "clients saw failures the server's metrics did not: 3 failed of 90 requests"
    out = judge_last_pass(_report("100 ms", reason=f"100 ms is not <= nan s; {note}"), _scenario(), _settings(tmp_path),
                          echo=lambda s: None)
    assert _gated(out).reason == f"{NO_BASELINE}; {note}"


def test_unreadable_history_fails_the_gate_naming_the_file(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.history_path.write_bytes(b"garbage " * 500)
    out = judge_last_pass(_report("100 ms"), _scenario(), settings, echo=lambda s: None)
    assert out.verdict == "fail"
    assert _gated(out).status == "fail" and str(settings.history_path) in _gated(out).reason


def test_aborted_and_error_verdicts_are_kept(tmp_path: Path) -> None:
    for verdict in ("aborted", "error"):
        out = judge_last_pass(_report("100 ms", verdict=verdict), _scenario(), _settings(tmp_path), echo=lambda s: None)
        assert out.verdict == verdict


def test_units_must_match_the_baseline(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    record_run(settings.history_path, judge_last_pass(_report("100 ms"), _scenario(), settings, echo=lambda s: None))
    out = judge_last_pass(_report("99.5%", started=T0 + 100), _scenario(), settings, echo=lambda s: None)
    assert _gated(out).status == "fail" and "measured this in seconds" in _gated(out).reason


def test_scenarios_without_gates_are_untouched(tmp_path: Path) -> None:
    report = dataclasses.replace(_report("100 ms"), verdict="fail")
    assert judge_last_pass(report, _scenario("< 1s"), _settings(tmp_path), echo=lambda s: None) is report
    assert not (tmp_path / "h.sqlite3").exists()


def test_a_gate_validates_in_a_scenario_and_its_units_are_checked() -> None:
    from chaosctl.errors import ScenarioInvalid

    assert isinstance(_scenario().slos[0].objective, LastPassObjective)
    with pytest.raises(ScenarioInvalid, match="latency"):
        _scenario("<= last_pass + 50")  # a latency offset needs a time unit


def test_the_slo_judge_then_the_gate(tmp_path: Path) -> None:
    """The real SLO judge leaves a last_pass check failed (NaN bound); the gate then judges it."""
    from _coverage_fakes import FAULT, ScrapedPrometheus, seconds

    from chaosctl.scenario.model import SLO
    from chaosctl.verdict.slo import evaluate

    spec = SLO(name="p99 gate", sli="latency_p99", phase="fault", objective="<= last_pass + 10%")
    settings = _settings(tmp_path)

    def judged(p99: float, started: float) -> RunReport:
        [check] = evaluate(ScrapedPrometheus(p99, {"gateway": seconds(FAULT)}), [spec], [FAULT])
        assert check.status == "fail"  # no history known to the judge: never a pass
        report = RunReport("gate", "fail", started, started + 40, (FAULT,), (check,))
        return judge_last_pass(report, _scenario(), settings, echo=lambda s: None)

    first = judged(0.2, T0)
    assert (first.verdict, first.checks[0].reason) == ("pass", NO_BASELINE)
    base = record_run(settings.history_path, first)
    assert judged(0.215, T0 + 100).verdict == "pass"
    worse = judged(0.25, T0 + 200)
    assert worse.verdict == "fail" and worse.checks[0].reason == f"250 ms is not <= 220 ms (last passing run {base.id}: 200 ms)"
