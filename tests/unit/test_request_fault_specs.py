"""request-abort / request-delay end to end without processes: the scenario spec and its
FILE:LINE:COL errors, the journal record, inject/verify/revert against the real gateway app
(in-process), `chaosctl recover` after a crash, and the effect verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from _fault_admin import ADMIN, admin_ctx, load_one_fault
from chaosctl.errors import FaultError, ScenarioInvalid
from chaosctl.faults.base import record_from_spec
from chaosctl.faults.catalogue import build_fault, fault_from_record
from chaosctl.faults.journal import Journal
from chaosctl.runner.recover import recover_faults
from chaosctl.scenario.faults import RequestAbort, RequestDelay
from chaosctl.verdict.effect import CONFIRMED, INCONCLUSIVE, NOT_OBSERVED, FaultFacts, Observed, judge

CANARY_ABORT = """\
      - type: request-abort
        target: gateway
        status: 503
        percent: 50%
        match: {model: fraud-detector, version: "2.4.0", header: {X-Canary: "1"}, path: /v1/models/*/predict}"""


def _load(tmp_path: Path, fault: str):  # noqa: ANN202
    return load_one_fault(tmp_path, fault)


def test_a_canary_abort_loads_and_becomes_a_scalar_journal_record(tmp_path: Path) -> None:
    spec = _load(tmp_path, CANARY_ABORT).phases[1].faults[0]
    assert isinstance(spec, RequestAbort) and spec.percent == 0.5 and spec.match.version == "2.4.0"
    assert spec.describe() == "request-abort gateway (503, 50% of model fraud-detector, version 2.4.0, path /v1/models/*/predict, X-Canary: 1)"
    rec = record_from_spec(spec)
    assert all(isinstance(v, (str, int, float, bool)) for v in rec.params.values())
    from chaosctl.faults.request import rule_body

    assert rule_body(rec) == {"action": "abort", "status": 503, "percent": 0.5, "match": {
        "model": "fraud-detector", "version": "2.4.0", "path": "/v1/models/*/predict", "headers": {"X-Canary": "1"}}}


@pytest.mark.parametrize(("fault", "where", "says"), [
    ("      - {type: request-abort, target: gateway, match: {version: banana}}", ":16:", "neither a version"),
    ("      - {type: request-abort, target: gateway, status: 200}", ":16:", "greater than or equal to 400"),
    ("      - {type: request-abort, target: registry}", ":16:", "unknown request-fault target 'registry'"),
    ("      - {type: request-delay, target: gateway}", ":16:", "delay"),
    ("      - {type: request-delay, target: gateway, delay: 0s}", ":16:", "above 0"),
    ("      - {type: request-abort, target: gateway, percent: 150%}", ":16:", "percent"),
    ("      - {type: request-abort, target: gateway, match: {path: v1/models}}", ":16:", "must start with /"),
    ("      - {type: request-abort, target: gateway, match: {colour: red}}", ":16:", "colour"),
    ("      - {type: request-abort, target: gateway, match: {header: {'': '1'}}}", ":16:", "not a header name"),
    ("      - {type: request-abort, target: gateway, match: {header: {'X Canary': '1'}}}", ":16:", "not a header name"),
])  # fmt: skip
def test_bad_request_faults_are_refused_at_their_line(tmp_path: Path, fault: str, where: str, says: str) -> None:
    with pytest.raises(ScenarioInvalid) as got:
        _load(tmp_path, fault)
    text = str(got.value)
    assert f"s.yaml{where}" in text and says in text, text


def test_links_and_model_servers_are_targets_too(tmp_path: Path) -> None:
    link = _load(tmp_path, "      - {type: request-delay, target: link:gateway->model-gpu-2, delay: 200ms}")
    assert isinstance(link.phases[1].faults[0], RequestDelay)
    server = _load(tmp_path, "      - {type: request-abort, target: model-cpu-1, match: {version: 2.x}}")
    assert server.phases[1].faults[0].target == "model-cpu-1"


# ---------------------------------------------------------------- the fault against the real gateway app


_ctx = admin_ctx


def test_inject_verify_revert_through_the_admin_api(tmp_path: Path) -> None:
    ctx, client, _ = _ctx(tmp_path)
    spec = RequestAbort(type="request-abort", target="gateway", percent=0.5, match={"version": "2.4.0"})
    fault = build_fault(spec, ctx)
    with pytest.raises(FaultError, match="not active"):
        fault.verify()
    fault.inject()
    assert "active (abort 503 for 50% of version 2.4.0)" in fault.verify()
    fault.revert()
    fault.revert()  # idempotent
    assert client.get("/admin/request-faults", headers={"X-Admin-Token": ADMIN}).json() == {"rules": []}
    with pytest.raises(FaultError, match="not active"):
        fault.verify()


def test_a_wrong_admin_token_is_named(tmp_path: Path) -> None:
    ctx, _, _ = _ctx(tmp_path)
    ctx._http.headers["X-Admin-Token"] = "x" * 40  # type: ignore[union-attr]
    fault = build_fault(RequestAbort(type="request-abort", target="gateway"), ctx)
    with pytest.raises(FaultError, match="refused this install's admin token"):
        fault.inject()


def test_recover_removes_a_rule_left_by_a_crashed_run(tmp_path: Path) -> None:
    ctx, client, settings = _ctx(tmp_path)
    spec = RequestAbort(type="request-abort", target="gateway", match={"version": "2.4.0"})
    rec = record_from_spec(spec)
    Journal(settings.journal_path).record_inject(rec)
    fault_from_record(rec, ctx).inject()  # ... and the run was SIGKILLed here
    assert len(client.get("/admin/request-faults", headers={"X-Admin-Token": ADMIN}).json()["rules"]) == 1
    lines: list[str] = []
    assert recover_faults(settings, echo=lines.append, ctx=ctx) == 1
    assert client.get("/admin/request-faults", headers={"X-Admin-Token": ADMIN}).json() == {"rules": []}
    assert any(f"reverted request-abort gateway (id {rec.id})" in x for x in lines)
    assert Journal(settings.journal_path).pending() == []


def test_a_target_that_takes_no_request_faults_is_refused(tmp_path: Path) -> None:
    ctx, _, _ = _ctx(tmp_path)
    from chaosctl.faults.base import FaultRecord

    with pytest.raises(FaultError, match="cannot reach 'registry'"):
        fault_from_record(FaultRecord("x", "request-abort", "registry", {}), ctx)


# ---------------------------------------------------------------- effect


def _window(counter: list[tuple[float, float]], up: list[tuple[float, float]]) -> Observed:
    return Observed(100.0, 110.0, (), {"request_faults": counter, "up": up})


UP = [(100.0 + i, 1.0) for i in range(10)]


def test_effect_confirmed_when_the_counter_rose_not_observed_when_it_did_not() -> None:
    facts = FaultFacts("request-abort", "gateway", {"status": 503, "percent": 0.5})
    rose = judge(facts, None, _window([(100.0 + i, 4.0 + 3 * i) for i in range(10)], UP))
    assert rose.verdict == CONFIRMED and "faulted 27 matching requests" in rose.evidence
    born = judge(facts, None, _window([(105.0, 2.0), (106.0, 5.0)], UP))  # the series appeared in the window
    assert born.verdict == CONFIRMED and "faulted 5" in born.evidence
    flat = judge(facts, None, _window([(100.0 + i, 9.0) for i in range(10)], UP))
    assert flat.verdict == NOT_OBSERVED
    never = judge(facts, None, _window([], UP))  # scraped all along, no series: nothing was faulted
    assert never.verdict == NOT_OBSERVED
    blind = judge(facts, None, _window([], [(100.0, 0.0)]))  # not scraped: cannot say
    assert blind.verdict == INCONCLUSIVE


def test_a_series_first_seen_after_a_scrape_gap_is_not_taken_as_born_in_the_window() -> None:
    """The gateway was not scraped for the window's first seconds (up 0): its counter, there since
    an earlier fault with 40 requests, shows up late with all 40. Those may predate the fault, so
    the rise cannot be told: inconclusive, never confirmed. Seen missing while scraped: born inside."""
    facts = FaultFacts("request-abort", "gateway", {"status": 503, "percent": 0.5})
    gap = [(100.0 + i, 0.0) for i in range(5)] + [(105.0 + i, 1.0) for i in range(5)]
    late = judge(facts, None, _window([(105.0, 40.0), (106.0, 40.0), (109.0, 40.0)], gap))
    assert late.verdict == INCONCLUSIVE, late
    born = judge(facts, None, _window([(105.0, 2.0), (106.0, 5.0)], UP))  # scraped at 100..104 without it
    assert born.verdict == CONFIRMED and "faulted 5" in born.evidence


def test_a_series_born_one_step_into_the_window_that_never_moves_again_is_confirmed() -> None:
    """Every faulted request at once, then none (the canary rolled back within ms of its first
    aborts): the counter is born at the window's second evaluation with all 5 and stays there.
    Scraped before without it, so all 5 are the fault's (was: taken as there from the start, +0)."""
    facts = FaultFacts("request-abort", "gateway", {"status": 503, "percent": 1.0})
    born = judge(facts, None, _window([(101.0 + i, 5.0) for i in range(9)], UP))
    assert born.verdict == CONFIRMED and "faulted 5" in born.evidence
    there = judge(facts, None, _window([(100.0 + i, 5.0) for i in range(10)], UP))  # there at the start
    assert there.verdict == NOT_OBSERVED
