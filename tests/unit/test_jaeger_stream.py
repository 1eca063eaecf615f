"""Jaeger.stream and SharedFetches.stream: the same slices and answers as fetch, handed to a sink
one SpanTable at a time; streamed into an Aggregator they give fetch + analyze + aggregate's
answer; a short window is still fetched whole and shared, a long one is not kept."""

from __future__ import annotations

from test_jaeger import FakeJaeger, client

from chaosctl.observe.jaeger import SHARE_MAX_S, SharedFetches
from chaosctl.observe.span_table import SpanTable
from chaosctl.verdict.bottleneck import aggregate
from chaosctl.verdict.critical_path import analyze
from chaosctl.verdict.table_analysis import Aggregator


def test_streamed_pages_aggregate_as_the_fetch_does() -> None:
    fake = FakeJaeger({f"t{i}": 1000.0 + i * 0.1 for i in range(100)})  # 100 traces over 10 s, halved slices
    jaeger = client(fake, page_size=30, slice_s=60.0, min_slice_s=0.5)
    pages: list[SpanTable] = []
    agg = Aggregator()
    stats = jaeger.stream("gateway", 1000.0, 1010.0, lambda t: (pages.append(t), agg.add(t)))
    fetched = jaeger.fetch("gateway", 1000.0, 1010.0)
    assert 3 < stats.requests <= fetched.requests and stats.saturated_slices == 0  # the width found is kept
    assert all(len(p.trace_ids) < 30 for p in pages) and sum(len(p) for p in pages) == stats.spans
    assert agg.result() == aggregate(analyze(fetched.spans)) and agg.result().traces == 100


def test_a_long_busy_window_is_not_read_twice_over() -> None:
    fake = FakeJaeger({f"t{i}": 1000.0 + i * 0.5 for i in range(1200)})  # 2 traces/s over 600 s
    agg = Aggregator()
    stats = client(fake, page_size=100, slice_s=60.0).stream("gateway", 1000.0, 1600.0, agg.add)
    assert agg.result().traces == 1200 and stats.saturated_slices == 0
    assert stats.requests <= 1200 / 60 + 4  # slices of ~30 s (60 traces) after the first halvings


def test_a_full_slice_at_the_minimum_width_is_counted_and_its_traces_kept() -> None:
    fake = FakeJaeger({f"t{i}": 1000.0 for i in range(10)})
    agg = Aggregator()
    stats = client(fake, page_size=5, min_slice_s=1.0).stream("gateway", 1000.0, 1002.0, agg.add)
    assert stats.saturated_slices >= 1 and agg.result().traces == 5


def test_an_empty_window_streams_nothing_wrong() -> None:
    agg = Aggregator()
    stats = client(FakeJaeger({})).stream("gateway", 1000.0, 1010.0, agg.add)
    assert stats.requests == 1 and agg.result().traces == 0 and agg.result().rows == ()


def test_shared_stream_keeps_short_windows_and_streams_long_ones() -> None:
    fake = FakeJaeger({"a": 1000.0, "b": 1000.0 + SHARE_MAX_S + 50})
    shared = SharedFetches(client(fake))
    short, long = Aggregator(), Aggregator()
    shared.stream("gateway", 1000.0, 1010.0, short.add)
    asked = len(fake.queries)
    shared.fetch("gateway", 1002.0, 1008.0)  # cut from the kept answer: no new query
    assert len(fake.queries) == asked and short.result().traces == 1
    shared.stream("gateway", 1000.0, 1000.0 + 2 * SHARE_MAX_S, long.add)
    assert long.result().traces == 2 and len(shared._read) == 1  # the long window was not kept


def test_a_source_without_stream_is_fetched_and_tabled() -> None:
    class OnlyFetch:
        def __init__(self) -> None:
            self.jaeger = client(FakeJaeger({"a": 1000.0}))

        def fetch(self, service: str, start: float, end: float):  # noqa: ANN201
            return self.jaeger.fetch(service, start, end)

    agg = Aggregator()
    SharedFetches(OnlyFetch()).stream("gateway", 1000.0, 1000.0 + 3 * SHARE_MAX_S, agg.add)
    assert agg.result().traces == 1
