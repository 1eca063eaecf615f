"""Critical paths and self times on hand-built traces, checked to the microsecond.

Each expected path was worked out by hand: walk back from the parent's end, take the
last-finishing child that ended at or before the cursor, recurse, move the cursor to its start.
The rules of issue 10 (orphans per root, dropped late children, Jaeger's skew rule, asynchronous
work) have one case each in test_critical_path_rules.py.
"""

from __future__ import annotations

import pytest
from otlp_build import MISSING_PARENT, OUTLIVES, PARALLEL, SEQUENTIAL, SKEWED, T0_US, S, resource_spans

from chaosctl.verdict.critical_path import TraceAnalysis, analyze, analyze_trace
from chaosctl.observe.spans import Span, parse_otlp_document


def spans_of(defs: list[S], trace: str = "t1", hosts: dict[str, str] | None = None) -> list[Span]:
    return parse_otlp_document({"resourceSpans": resource_spans(trace, defs, hosts)})


def one_root(defs: list[S], hosts: dict[str, str] | None = None) -> TraceAnalysis:
    """The analysis of a trace that has a single root and nothing detached."""
    (t,) = analyze_trace(spans_of(defs, hosts=hosts))
    return t


def path(t: TraceAnalysis) -> list[tuple[str, int, int]]:
    return [(s.operation, s.start_us - T0_US, s.end_us - T0_US) for s in t.path]


def self_times(t: TraceAnalysis) -> dict[str, int]:
    return {r.span.operation: r.self_us for r in t.spans}


def critical(t: TraceAnalysis) -> dict[str, int]:
    return {r.span.operation: r.critical_us for r in t.spans}


def test_sequential_children() -> None:
    t = one_root(SEQUENTIAL)
    assert path(t) == [
        ("POST /predict", 0, 100), ("registry lookup", 100, 300), ("POST /predict", 300, 350),
        ("upstream model-gpu-1", 350, 400), ("predict", 400, 850), ("upstream model-gpu-1", 850, 900),
        ("POST /predict", 900, 1000),
    ]
    assert critical(t) == {"POST /predict": 250, "registry lookup": 200, "upstream model-gpu-1": 100, "predict": 450}
    assert self_times(t) == {"POST /predict": 250, "registry lookup": 200, "upstream model-gpu-1": 100, "predict": 450}
    assert t.duration_us == 1000 and t.orphans == 0 and t.skew_adjusted == 0


def test_parallel_children_only_the_last_finishing_chain_counts() -> None:
    t = one_root(PARALLEL)
    # c2 ends last (900) -> cursor 300; c1 ends at 400 > 300, skipped; c3 ends at 250 <= 300, taken.
    assert path(t) == [("POST /predict", 0, 50), ("c3", 50, 250), ("POST /predict", 250, 300), ("c2", 300, 900), ("POST /predict", 900, 1000)]
    assert critical(t) == {"POST /predict": 200, "c1": 0, "c2": 600, "c3": 200}
    # root self time: 1000 minus the union [50, 900] of its children
    assert self_times(t) == {"POST /predict": 150, "c1": 300, "c2": 600, "c3": 200}


def test_child_outliving_its_parent_is_clamped() -> None:
    t = one_root(OUTLIVES)
    # the server span [300, 1500] is clamped to its parent's end 800
    assert path(t) == [("POST /predict", 0, 200), ("upstream model-gpu-1", 200, 300), ("predict", 300, 800), ("POST /predict", 800, 1000)]
    assert self_times(t) == {"POST /predict": 400, "upstream model-gpu-1": 100, "predict": 500}
    srv = next(r for r in t.spans if r.span.operation == "predict")
    assert (srv.start_us - T0_US, srv.end_us - T0_US, srv.span.duration_us) == (300, 800, 1200)
    assert t.skew_adjusted == 0  # started inside its parent: real, not skew


def test_clock_skew_shifts_the_child_and_its_subtree() -> None:
    t = one_root(SKEWED)
    # srv [500, 1100] starts before its parent [1100, 1900]: centred -> [1200, 1800]; infer moves by +700
    assert path(t) == [
        ("POST /predict", 1000, 1100), ("upstream model-gpu-1", 1100, 1200), ("predict", 1200, 1300),
        ("infer", 1300, 1700), ("predict", 1700, 1800), ("upstream model-gpu-1", 1800, 1900), ("POST /predict", 1900, 2000),
    ]
    assert critical(t) == {"POST /predict": 200, "upstream model-gpu-1": 200, "predict": 200, "infer": 400}
    assert self_times(t) == {"POST /predict": 200, "upstream model-gpu-1": 200, "predict": 200, "infer": 400}
    assert t.skew_adjusted == 1


def test_skewed_child_longer_than_parent_starts_at_parent_start() -> None:
    t = one_root([
        S("root", None, "gateway", "root", 0, 100),
        S("c", "root", "model", "c", -500, -350),  # 150 µs long, 500 µs early
    ])
    assert path(t) == [("c", 0, 100)]
    assert t.skew_adjusted == 1


def test_missing_parent_makes_an_orphan_root_of_its_own() -> None:
    # Rule change (issue 10): x's parent "ghost" is not in the trace, so x is analysed as its own
    # root instead of being hung under the root. Root: children y [500, 700] only -> path
    # root [0, 500], y, root [700, 1000]; root self time 1000 - 200 = 800 (was 500 with x attached).
    main, orphan = analyze_trace(spans_of(MISSING_PARENT))
    assert (main.kind, main.orphans, orphan.kind, orphan.orphans) == ("root", 0, "orphan", 1)
    assert path(main) == [("POST /predict", 0, 500), ("y", 500, 700), ("POST /predict", 700, 1000)]
    assert self_times(main) == {"POST /predict": 800, "y": 200}
    assert path(orphan) == [("GET /v1/services", 100, 400)] and orphan.duration_us == 300


def test_missing_root_gives_one_root_per_orphan() -> None:
    # Rule change: a [0, 500] and b [100, 300] both name a missing parent: two roots, b is not
    # put inside a (before: a's path was a, b, a).
    a, b = analyze_trace(spans_of([S("a", "gone", "gw", "a", 0, 500), S("b", "gone", "gw", "b", 100, 300)]))
    assert (a.root.operation, b.root.operation) == ("a", "b") and a.orphans == b.orphans == 1
    assert path(a) == [("a", 0, 500)] and path(b) == [("b", 100, 300)]


def test_parent_cycle_is_cut_at_its_earliest_span() -> None:
    # a -> b -> a: the cycle is cut at a (starts first), an orphan root with its child b [20, 40]:
    # path a [10, 20], b [20, 40], a [40, 50]. The real root r keeps its own path.
    r, a = analyze_trace(spans_of([S("r", None, "gw", "r", 0, 100), S("a", "b", "gw", "a", 10, 50), S("b", "a", "gw", "b", 20, 40)]))
    assert path(r) == [("r", 0, 100)] and r.orphans == 0
    assert (a.kind, a.orphans) == ("orphan", 1)
    assert path(a) == [("a", 10, 20), ("b", 20, 40), ("a", 40, 50)]


@pytest.mark.parametrize("defs", [SEQUENTIAL, PARALLEL, OUTLIVES, SKEWED, MISSING_PARENT])
def test_segments_tile_each_root_exactly(defs: list[S]) -> None:
    for t in analyze_trace(spans_of(defs)):
        segs = t.path
        assert segs[0].start_us == t.root.start_us and segs[-1].end_us == t.root.end_us
        assert all(a.end_us == b.start_us for a, b in zip(segs, segs[1:]))
        assert sum(r.critical_us for r in t.spans) == t.duration_us


def test_analyze_groups_by_trace_and_drops_duplicate_spans() -> None:
    spans = spans_of(SEQUENTIAL, "a") + spans_of(PARALLEL, "b") + spans_of(SEQUENTIAL, "a")
    traces = {t.trace_id: t for t in analyze(spans)}
    assert len(traces) == 2
    assert all(len(t.spans) == 4 for t in traces.values())


def test_deep_trace_needs_no_recursion() -> None:
    depth = 5000
    defs = [S(f"s{i}", f"s{i - 1}" if i else None, "svc", f"op{i}", i, 2 * depth - i) for i in range(depth)]
    t = one_root(defs)
    assert sum(s.duration_us for s in t.path) == t.duration_us == 2 * depth
