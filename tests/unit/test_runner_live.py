"""The live view: its model with a fake clock and fake sources, the plain lines, Locust's
stats history as the clients' view, the mode rules, and a view that never raises."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from chaosctl.runner.abort import AbortRule
from chaosctl.runner.live import (
    MAX_FAILURES,
    AbortValue,
    ClientStats,
    LiveModel,
    LiveSources,
    LiveView,
    abort_values,
    client_stats_from_csv,
    live_mode,
    plain_line,
    read_client_stats,
    rich_table,
)

# Locust 2.x's stats history header (locust.stats.StatsCSVFileWriter.stats_history_csv_columns)
HEADER = ("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,"
          "Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,"
          "Total Min Response Time,Total Max Response Time,Total Average Content Size")


def row(ts: int, rps: str, fps: str, p50: str, p99: str, name: str = "Aggregated") -> str:
    return f"{ts},10,,{name},{rps},{fps},{p50},60,70,80,90,95,98,{p99},300,300,300,100,2,40,45.1,3,300,120"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_model_counts_down_the_phase_and_the_run() -> None:
    clock = FakeClock()
    sources = LiveSources(client=lambda: ClientStats(40.0, 12.0, 88.0, 0.025), faults=lambda: ["latency link:a->b"],
                          aborts=lambda: (AbortValue("error_ratio > 0.5 for 5s", 0.02, False),))
    model = LiveModel(total_s=70.0, sources=sources, clock=clock)
    before = model.snapshot()
    assert (before.phase, before.total_left_s) == (None, 70.0)
    model.phase_started("baseline", 10.0, 70.0)
    clock.now += 4.0
    snap = model.snapshot()
    assert (snap.phase, snap.phase_left_s, snap.total_left_s) == ("baseline", 6.0, 66.0)
    model.phase_started("chaos", 60.0, 60.0)
    clock.now += 75.0  # a late phase end shows 0 left, never negative
    late = model.snapshot()
    assert (late.phase, late.phase_left_s, late.total_left_s) == ("chaos", 0.0, 0.0)
    assert late.faults == ("latency link:a->b",) and late.client == ClientStats(40.0, 12.0, 88.0, 0.025)


def test_plain_line_has_time_phase_client_view_faults_and_abort_values() -> None:
    model = LiveModel(60.0, LiveSources(
        client=lambda: ClientStats(41.5, 12.0, 88.0, 0.025), faults=lambda: ["latency link:gateway->model-gpu-1"],
        aborts=lambda: (AbortValue("error_ratio > 0.5", None, False), AbortValue("p99 > 1s", 1.7, True))),
        clock=FakeClock())
    model.phase_started("chaos", 30.0, 60.0)
    line = plain_line(model.snapshot(), wall=1764603000.0)  # 2025-12-01T15:30:00Z
    assert line.startswith("[15:30:00Z] phase chaos, 30s left (run 60s left) | ")
    assert "41.5 req/s, p50 12 ms, p99 88 ms, errors 2.5%" in line
    assert "faults: latency link:gateway->model-gpu-1" in line
    assert "abort: error_ratio > 0.5: no data; p99 > 1s: 1.7 (TRUE)" in line


def test_plain_line_without_data_says_so() -> None:
    line = plain_line(LiveModel(20.0, clock=FakeClock()).snapshot(), wall=0.0)
    assert "before the phases" in line and "no client data yet" in line and "faults: none" in line


def test_client_view_is_the_last_complete_aggregated_row() -> None:
    text = "\n".join([HEADER, row(1, "10", "0", "11", "50"), row(2, "40", "10", "12", "88", name="/predict"),
                      row(2, "40", "1", "12", "88"), "3,10,,Aggregated,4"])  # last row cut short mid-write
    assert client_stats_from_csv(text) == ClientStats(40.0, 12.0, 88.0, 0.025)


def test_client_view_before_any_request_has_no_ratio_and_no_percentiles() -> None:
    stats = client_stats_from_csv("\n".join([HEADER, row(1, "0", "0", "N/A", "N/A")]))
    assert stats == ClientStats(0.0, None, None, None)
    assert client_stats_from_csv(HEADER) is None


def test_read_client_stats_reads_the_tail_of_a_long_file(tmp_path: Path) -> None:
    path = tmp_path / "locust_stats_history.csv"
    rows = [row(t, "20", "0", "10", "40") for t in range(1, 600)] + [row(600, "33", "3.3", "15", "99")]
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    assert path.stat().st_size > 50_000
    assert read_client_stats(path) == ClientStats(33.0, 15.0, 99.0, pytest.approx(0.1))
    assert read_client_stats(tmp_path / "missing.csv") is None


def test_mode_rules() -> None:
    assert live_mode(quiet=True, is_terminal=True, env={}) == "off"
    assert live_mode(quiet=False, is_terminal=True, env={}) == "rich"
    assert live_mode(quiet=False, is_terminal=True, env={"CI": "true"}) == "plain"
    assert live_mode(quiet=False, is_terminal=False, env={}) == "plain"


def test_a_failing_source_is_swallowed_and_the_view_gives_up_after_a_few() -> None:
    def broken() -> None:
        raise ConnectionError("Prometheus is down")

    lines: list[str] = []
    view = LiveView(LiveModel(10.0, LiveSources(aborts=broken), clock=FakeClock()), "plain", write=lines.append,
                    plain_every_s=0.01)
    for _ in range(3):
        view.draw_once()  # never raises
    assert (lines, view.errors, view.failures) == ([], 3, 3)
    view.start()  # the thread stops drawing after MAX_FAILURES in a row
    view._thread.join(timeout=MAX_FAILURES * 2 + 5)  # the loop's own exit, not the stop event
    assert not view._thread.is_alive() and view.failures == MAX_FAILURES
    view.stop()


def test_plain_view_thread_writes_lines_until_stopped() -> None:
    lines: list[str] = []
    view = LiveView(LiveModel(10.0, clock=FakeClock()), "plain", write=lines.append, plain_every_s=0.01)
    view.start()
    try:
        while len(lines) < 3:
            view._stop.wait(0.01)
    finally:
        view.stop()
    assert not view._thread.is_alive() and all(line.startswith("[") for line in lines)


def test_off_mode_starts_no_thread() -> None:
    view = LiveView(LiveModel(10.0, clock=FakeClock()), "off").start()
    assert view._thread is None
    view.stop()


def test_rich_table_shows_names_as_written_and_no_colour_under_no_color() -> None:
    model = LiveModel(60.0, LiveSources(faults=lambda: ["latency link:[bold]x[/]"],
                                        aborts=lambda: (AbortValue("e > 0.5", 0.9, True),)), clock=FakeClock())
    model.phase_started("chaos[/]", 30.0, 60.0)
    out = io.StringIO()
    Console(file=out, width=120, force_terminal=True, no_color=True).print(rich_table(model.snapshot()))
    text = out.getvalue()
    assert "chaos[/]: 30s left" in text and "latency link:[bold]x[/]" in text and "e > 0.5: 0.9 (TRUE)" in text
    assert "\x1b[31m" not in text  # red only with colour


def test_abort_values_query_each_condition_and_failures_are_no_data() -> None:
    conds = [AbortRule("errors", "q_errors", ">", 0.5, 5.0), AbortRule("p99", "q_p99", ">", 1.0, 0.0),
             AbortRule("nan", "q_nan", "<", 1.0, 0.0)]
    answers = {"q_errors": 0.7, "q_nan": float("nan")}

    def query(expr: str) -> float | None:
        if expr == "q_p99":
            raise TimeoutError("slow Prometheus")
        return answers[expr]

    assert abort_values(conds, query) == (AbortValue("errors", 0.7, True), AbortValue("p99", None, False),
                                          AbortValue("nan", None, False))


def test_rich_view_draws_on_a_terminal_and_leaves_it_clean() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True, no_color=True)
    model = LiveModel(60.0, LiveSources(client=lambda: ClientStats(12.0, 9.0, 30.0, 0.0)), clock=FakeClock())
    model.phase_started("baseline", 20.0, 60.0)
    view = LiveView(model, "rich", console=console, refresh_s=0.01).start()
    try:
        while "baseline: 20s left" not in out.getvalue() and view.errors == 0:
            view._stop.wait(0.01)
    finally:
        view.stop()
    assert view.errors == 0 and "12.0 req/s  p50 9 ms  p99 30 ms  errors 0.0%" in out.getvalue()
