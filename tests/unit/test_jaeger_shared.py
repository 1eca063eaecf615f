"""SharedFetches: a run's trace windows read from Jaeger once each; a window inside one read whole
is cut from it the way Jaeger matches traces (a span of the service starting in the window)."""

from __future__ import annotations

from dataclasses import replace

from chaosctl.observe.jaeger import FetchResult, SharedFetches, micros
from chaosctl.observe.spans import Span

T0 = 1_790_000_000.0


def span(trace: str, sid: str, service: str, start_s: float, parent: str | None = None) -> Span:
    us = micros(T0 + start_s)
    return Span(trace, sid, parent, service, "op", us, us + 1000)


# trace a: gateway root at 1 s; trace b: gateway root at 4.5 s with a model child at 6 s;
# trace c: gateway root at 8 s; trace d: a model-only span at 5 s
SPANS = (span("a", "1", "gateway", 1.0), span("b", "2", "gateway", 4.5), span("b", "3", "model", 6.0, "2"),
         span("c", "4", "gateway", 8.0), span("d", "5", "model", 5.0))


class Source:
    """Answers every window from SPANS as Jaeger would, counting the queries."""

    def __init__(self, saturated: int = 0) -> None:
        self.calls: list[tuple[str, float, float]] = []
        self.saturated = saturated

    def fetch(self, service: str, start: float, end: float) -> FetchResult:
        self.calls.append((service, start, end))
        got = FetchResult(SPANS, 1, self.saturated, 0.0).within(service, start, end)
        return replace(got, requests=1, saturated_slices=self.saturated)


def ids(result: FetchResult) -> list[str]:
    return sorted(s.span_id for s in result.spans)


def test_the_same_window_is_fetched_once() -> None:
    source = Source()
    shared = SharedFetches(source)
    first = shared.fetch("gateway", T0, T0 + 10)
    assert shared.fetch("gateway", T0, T0 + 10) is first
    assert source.calls == [("gateway", T0, T0 + 10)]


def test_a_window_inside_a_complete_one_is_cut_from_it_with_whole_traces() -> None:
    source = Source()
    shared = SharedFetches(source)
    shared.fetch("gateway", T0, T0 + 10)
    cut = shared.fetch("gateway", T0 + 4, T0 + 7)
    assert len(source.calls) == 1
    assert ids(cut) == ["2", "3"]  # trace b whole (its model child too); a and c started outside
    assert ids(cut) == ids(Source().fetch("gateway", T0 + 4, T0 + 7))


def test_a_trace_matches_on_any_span_of_the_service_not_only_its_root() -> None:
    shared = SharedFetches(Source())
    shared.fetch("model", T0, T0 + 10)
    # b's model span started at 6 s although its root started at 4.5 s; d is model-only
    assert ids(shared.fetch("model", T0 + 5.5, T0 + 9)) == ["2", "3"]
    assert ids(shared.fetch("model", T0 + 4, T0 + 5.5)) == ["5"]


def test_the_bounds_are_inclusive_to_the_microsecond() -> None:
    shared = SharedFetches(Source())
    shared.fetch("gateway", T0, T0 + 10)
    assert ids(shared.fetch("gateway", T0 + 4.5, T0 + 8.0)) == ["2", "3", "4"]
    assert ids(shared.fetch("gateway", T0 + 4.500001, T0 + 7.999999)) == []


def test_saturated_other_service_or_earlier_windows_go_to_jaeger() -> None:
    source = Source(saturated=1)
    shared = SharedFetches(source)
    shared.fetch("gateway", T0, T0 + 10)
    shared.fetch("gateway", T0 + 4, T0 + 7)  # the wide answer may miss traces: ask
    assert len(source.calls) == 2
    source = Source()
    shared = SharedFetches(source)
    shared.fetch("gateway", T0 + 2, T0 + 10)
    shared.fetch("model", T0 + 4, T0 + 7)
    shared.fetch("gateway", T0 + 1, T0 + 5)
    assert source.calls == [("gateway", T0 + 2, T0 + 10), ("model", T0 + 4, T0 + 7), ("gateway", T0 + 1, T0 + 5)]


def test_a_window_outlasting_a_read_one_asks_only_for_the_rest() -> None:
    """A fault reverted a few ms after its phase ended: its window is the phase's answer plus the tail."""
    source = Source()
    shared = SharedFetches(source)
    shared.fetch("gateway", T0, T0 + 6)
    got = shared.fetch("gateway", T0 + 4, T0 + 9)
    assert source.calls == [("gateway", T0, T0 + 6), ("gateway", T0 + 6, T0 + 9)]
    assert ids(got) == ids(Source().fetch("gateway", T0 + 4, T0 + 9)) == ["2", "3", "4"]
    assert len(got.spans) == 3  # trace b is in both parts' answers: once
