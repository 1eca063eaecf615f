"""verdict.table_vector (the numpy kernel of `bottlenecks --file`) hands what it does not take to
the per-trace kernel, and the aggregate stays the reference's: a trace deeper than MAX_DEPTH, a
parent wider than MAX_CHILDREN, duplicate ids and cycles (per trace); two traces whose mixed keys
collide and times past 2**60 µs (the whole table). Agreement on random traces: test_span_table."""

from __future__ import annotations

import numpy as np
import pytest

from chaosctl.observe.span_table import table_from_spans
from chaosctl.observe.spans import Span
from chaosctl.report.bottlenecks import _analyses
from chaosctl.verdict import table_vector
from chaosctl.verdict.bottleneck import aggregate
from chaosctl.verdict.table_analysis import aggregate_table


def sid(n: int) -> str:
    return f"{n:016x}"


def plain(spans: list[Span]) -> list[Span]:
    """A small ordinary trace beside the odd one: it stays with the vector kernel."""
    return spans + [Span("ok", sid(900), None, "gw", "P", 0, 100), Span("ok", sid(901), sid(900), "m", "x", 10, 60, host="h2")]


def vector_result(spans: list[Span]) -> table_vector.Result:
    table = table_from_spans(spans)
    return table_vector.analyse(table, np.zeros(len(table.trace_ids), bool), None)


def agrees(spans: list[Span]) -> None:
    for glob in (None, "P*"):
        assert aggregate_table(table_from_spans(spans), glob) == aggregate(_analyses(spans, glob))


def test_a_trace_deeper_than_the_limit_goes_to_the_per_trace_kernel() -> None:
    depth = table_vector.MAX_DEPTH + 5
    spans = plain([Span("deep", sid(i + 1), sid(i) if i else None, "s", f"op{i % 3}", i, 2 * depth - i) for i in range(depth)])
    assert vector_result(spans).python == [0]
    agrees(spans)


def test_a_parent_wider_than_the_limit_goes_to_the_per_trace_kernel() -> None:
    width = table_vector.MAX_CHILDREN + 1
    kids = [Span("wide", sid(i + 2), sid(1), "s", "c", 3 * i, 3 * i + 2) for i in range(width)]
    spans = plain([Span("wide", sid(1), None, "gw", "P", 0, 3 * width), *kids])
    assert vector_result(spans).python == [0]
    agrees(spans)


def test_duplicate_ids_and_a_cycle_go_to_the_reference() -> None:
    dup = [Span("d", sid(1), None, "gw", "P", 0, 50), Span("d", sid(1), None, "gw", "P", 5, 20)]
    cycle = [Span("c", sid(1), sid(2), "gw", "P", 0, 50), Span("c", sid(2), sid(1), "m", "x", 5, 20)]
    spans = plain(dup + cycle)
    assert vector_result(spans).python == [0, 1]
    agrees(spans)


def test_colliding_keys_of_two_traces_send_the_table_to_the_per_trace_kernel() -> None:
    mix = int(table_vector._MIX)  # trace 0's key is its span id, trace 1's the id xor the mix
    spans = [Span("t0", sid(mix ^ 1), None, "gw", "P", 0, 40), Span("t1", sid(1), None, "gw", "P", 0, 70),
             Span("t1", sid(2), sid(1), "m", "x", 10, 30)]
    with pytest.raises(table_vector.Unfit):
        vector_result(spans)
    agrees(spans)


def test_times_past_the_limit_send_the_table_to_the_per_trace_kernel() -> None:
    t = 2**61
    spans = [Span("a", sid(1), None, "gw", "P", t, t + 100), Span("a", sid(2), sid(1), "m", "x", t + 10, t + 30)]
    with pytest.raises(table_vector.Unfit):
        vector_result(spans)
    agrees(spans)


@pytest.mark.parametrize("seed", range(20))
def test_the_one_key_orders_as_lexsort_does(seed: int) -> None:
    """group_key's order is lexsort's by (group, value), ties aside; None when the ranges need 64 bits."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    groups = rng.integers(0, int(rng.choice([2, 50, 2**20])), n).astype(rng.choice([np.uint32, np.int64]))
    values = rng.integers(-(2**40), 2**40, n) if seed % 2 else rng.integers(-3, 3, n)
    key = table_vector.group_key(groups, values)
    assert key is not None
    by_key, by_lexsort = np.argsort(key, kind="stable"), np.lexsort((values, groups))
    assert (by_key == by_lexsort).all()
    assert table_vector.group_key(groups, np.array([-(2**62), 2**62] * (n // 2 + 1))[:n]) is None or n == 1
    assert table_vector.group_key(np.zeros(0, np.int64), np.zeros(0, np.int64)) is None
