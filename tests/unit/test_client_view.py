"""The clients' view: per-phase counts from Locust's stats history, and availability SLOs judged
on the worse of server metrics and what the clients saw."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from _coverage_fakes import FAULT, ScrapedPrometheus, seconds

from chaosctl.load.client import ClientHistory, read_history
from chaosctl.scenario.model import SLO
from chaosctl.verdict.client_view import ClientCounts, client_verdict
from chaosctl.verdict.slo import Evidence, evaluate

COLUMNS = ["Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s", "50%", "Total Request Count",
           "Total Failure Count", "Total Median Response Time"]


def write_history(path: Path, rows: list[tuple[int, int, int]]) -> Path:
    """A stats history CSV as Locust 2.47 writes it: per-endpoint rows and an Aggregated row per second."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for ts, req, fail in rows:
            w.writerow([ts, 20, "POST", "predict fraud-detector", "9.0", "0.0", 12, req // 2, fail, 11])
            w.writerow([ts, 20, "", "Aggregated", "10.0", "0.0", 12, req, fail, 11])
    return path


def slo(**kw) -> SLO:
    return SLO.model_validate({"name": "s", "phase": "fault", **kw})


def test_counts_use_only_rows_inside_the_phase(tmp_path) -> None:
    # 10 requests a second; 3 failures a second from t=1012 on (a fault outside the window below)
    rows = [(t, 10 * (t - 1000), 3 * max(0, t - 1011)) for t in range(1000, 1020)]
    hist = read_history(write_history(tmp_path / "h.csv", rows))
    c = hist.counts(1002.4, 1011.6)  # rows 1003..1010 are inside (1011 + 1 > 1011.6)
    assert c == ClientCounts(requests=70, failures=0, seconds=7.0)
    assert hist.counts(1011.0, 1019.0).failures == 3 * 7  # rows 1011..1018


def test_lag_drops_the_first_seconds_in_distributed_mode() -> None:
    hist = ClientHistory(tuple((t, 10 * t, 0) for t in range(0, 30)), lag_s=3.0)
    assert hist.counts(10.0, 20.0) == ClientCounts(requests=60, failures=0, seconds=6.0)  # rows 13..19


def test_no_counts_when_no_two_rows_lie_inside() -> None:
    hist = ClientHistory(((100, 5, 0), (101, 10, 0), (109, 50, 0)))
    assert hist.counts(101.5, 108.0) is None
    assert ClientHistory(()).counts(0.0, 100.0) is None


def test_unreadable_history_is_empty_and_torn_rows_are_skipped(tmp_path) -> None:
    assert read_history(tmp_path / "missing.csv").points == ()
    path = write_history(tmp_path / "h.csv", [(1, 10, 0), (2, 20, 1)])
    with open(path, "a") as fh:
        fh.write("3,20,,Aggregated,1.0")  # cut short by a kill mid-write
    assert read_history(path).points == ((1, 10, 0), (2, 20, 1))


@pytest.mark.parametrize(
    ("sli", "server", "counts", "value", "noted"),
    [
        ("success_ratio", 1.0, ClientCounts(100, 10), 0.9, True),
        ("success_ratio", 0.8, ClientCounts(100, 10), 0.8, False),  # server worse: server's value, no note
        ("error_ratio", 0.0, ClientCounts(100, 10), 0.1, True),
        ("success_ratio", 1.0, ClientCounts(100, 0), 1.0, False),
        ("success_ratio", 1.0, ClientCounts(0, 0), 1.0, False),
        ("latency_p99", 0.2, ClientCounts(100, 50), 0.2, False),  # not an availability SLI
        ("burn_rate", 0.0, ClientCounts(1000, 1), 1.0, True),
    ],
)
def test_worse_of_server_and_client(sli, server, counts, value, noted) -> None:
    got, note = client_verdict(sli, server, counts, target=0.999)
    assert got == pytest.approx(value)
    assert bool(note) == noted


def test_availability_fails_on_client_failures_the_server_did_not_see() -> None:
    prom = ScrapedPrometheus(1.0, {"gateway": seconds(FAULT)})  # the server saw no 5xx
    evidence = Evidence(client={"fault": ClientCounts(requests=400, failures=40, seconds=38.0)})
    [check] = evaluate(prom, [slo(sli="success_ratio", objective=">= 99%")], [FAULT], evidence)
    assert check.status == "fail" and check.observed == "90.00%"
    assert "clients saw failures the server's metrics did not: 40 failed of 400 requests" in check.reason
    assert "server 100.00%" in check.reason
    [latency] = evaluate(ScrapedPrometheus(0.05, {"gateway": seconds(FAULT)}),
                         [slo(sli="latency_p99", objective="< 300ms")], [FAULT], evidence)
    assert latency.status == "pass" and latency.reason == ""


def test_client_failures_within_the_objective_still_pass_and_say_so() -> None:
    prom = ScrapedPrometheus(1.0, {"gateway": seconds(FAULT)})
    evidence = Evidence(client={"fault": ClientCounts(requests=1000, failures=2)})
    [check] = evaluate(prom, [slo(sli="success_ratio", objective=">= 99%")], [FAULT], evidence)
    assert check.status == "pass" and check.observed == "99.80%" and "2 failed of 1000" in check.reason


def test_partial_data_also_shows_what_the_clients_saw() -> None:
    prom = ScrapedPrometheus(1.0, {"gateway": seconds(FAULT, up_until=1060)})  # dead for the second half
    evidence = Evidence(client={"fault": ClientCounts(requests=138, failures=44)})
    [check] = evaluate(prom, [slo(sli="success_ratio", objective=">= 99%")], [FAULT], evidence)
    assert check.status == "fail" and check.observed == "68.12% (partial)"
    assert check.reason.startswith("partial data: gateway scraped 20 of 40 s") and "44 failed of 138 requests" in check.reason


def test_availability_fails_when_load_ran_but_the_clients_counts_for_the_phase_are_missing() -> None:
    """The server saw no 5xx, but the load's history does not span the phase: a dead gateway records
    nothing of what it failed, so the server's view alone must not PASS availability."""
    from types import SimpleNamespace

    from chaosctl.runner.analysis import slo_checks

    prom = ScrapedPrometheus(1.0, {"gateway": seconds(FAULT)})
    scenario = SimpleNamespace(slos=(slo(sli="success_ratio", objective=">= 99%"), slo(sli="latency_p99", objective="< 5s")))
    ended_early = ClientHistory(tuple((t, 10 * (t - 900), 0) for t in range(900, 1010)))  # stops before the phase
    checks, notes = slo_checks(prom, scenario, [FAULT], ended_early)
    avail, latency = checks
    assert avail.status == "fail" and avail.observed == "100.00%"
    assert "client view missing" in avail.reason and "phase 'fault'" in avail.reason
    assert latency.status == "pass" and "client view" not in latency.reason  # not an availability SLI
    assert any("clients in fault: no counts" in n for n in notes)
    spanning = ClientHistory(tuple((t, 10 * (t - 900), 0) for t in range(900, 1100)))
    assert slo_checks(prom, scenario, [FAULT], spanning)[0][0].status == "pass"
    assert slo_checks(prom, scenario, [FAULT], None)[0][0].status == "pass"  # no load generator ran: no client view
