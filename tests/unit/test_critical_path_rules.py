"""One hand-built trace per rule of issue 10's "critical path as the trace shows it".

Times are microseconds after T0_US. Every expected path below was worked out by hand, the way
the walk does it: from a span's end, take the last-finishing synchronous child that ended at or
before the cursor, recurse into it, move the cursor to that child's start; gaps are the span's own.
"""

from __future__ import annotations

import pytest
from otlp_build import T0_US, S, resource_spans

from chaosctl.verdict.bottleneck import aggregate
from chaosctl.verdict.critical_path import TraceAnalysis, analyze_trace
from chaosctl.observe.spans import parse_otlp_document

PRODUCER, CONSUMER = 4, 5


def roots(defs: list[S], hosts: dict[str, str] | None = None) -> list[TraceAnalysis]:
    return analyze_trace(parse_otlp_document({"resourceSpans": resource_spans("t", defs, hosts)}))


def path(t: TraceAnalysis) -> list[tuple[str, int, int]]:
    return [(s.operation, s.start_us - T0_US, s.end_us - T0_US) for s in t.path]


def interval(t: TraceAnalysis, op: str) -> tuple[int, int]:
    r = next(r for r in t.spans if r.span.operation == op)
    return r.start_us - T0_US, r.end_us - T0_US


# --- orphans: analysed per root, never shifted into another span -------------------------------

def test_orphan_from_another_clock_is_not_shifted_into_the_root() -> None:
    # root gw [1000, 2000]; "late-log" (service model) names a parent that is not in the trace and
    # runs [500, 800], before the root. Before issue 10 it was hung under the root and, coming from
    # another service, shifted into it. Now it is its own root, untouched: path late-log [500, 800];
    # the root's path is the root alone.
    main, orphan = roots([S("root", None, "gw", "root", 1000, 2000), S("late", "gone", "model", "late-log", 500, 800)])
    assert path(main) == [("root", 1000, 2000)]
    assert path(orphan) == [("late-log", 500, 800)]
    assert (orphan.kind, orphan.orphans, orphan.skew_adjusted, main.skew_adjusted) == ("orphan", 1, 0, 0)


def test_orphan_subtree_keeps_its_children() -> None:
    # The orphan o [100, 400] has a child k [150, 250]: o's path o [100, 150], k, o [250, 400].
    main, orphan = roots([
        S("root", None, "gw", "root", 0, 1000),
        S("o", "gone", "registry", "GET /v1/services", 100, 400),
        S("k", "o", "registry", "etcd range", 150, 250),
    ])
    assert path(orphan) == [("GET /v1/services", 100, 150), ("etcd range", 150, 250), ("GET /v1/services", 250, 400)]
    assert path(main) == [("root", 0, 1000)]


# --- children that start after their parent ended are dropped (jaeger-ui) ----------------------

def test_child_starting_after_its_parent_ended_is_dropped() -> None:
    # up [100, 400] has a same-service child "late" [500, 700] that starts after up ended: dropped,
    # its time is not clamped onto up. Root path: root [0, 100], up [100, 400], root [400, 1000];
    # up's self time is its whole 300. The dropped subtree is analysed on its own: late [500, 700].
    main, late = roots([
        S("root", None, "gw", "root", 0, 1000),
        S("up", "root", "gw", "up", 100, 400),
        S("late", "up", "gw", "late", 500, 700),
    ])
    assert path(main) == [("root", 0, 100), ("up", 100, 400), ("root", 400, 1000)]
    assert {r.span.operation: r.self_us for r in main.spans} == {"root": 700, "up": 300}
    assert (late.kind, late.synchronous, path(late)) == ("dropped", False, [("late", 500, 700)])
    agg = aggregate([main, late])
    assert agg.dropped == 1 and agg.traces == 1
    shares = {r.operation: r.critical_path_share for r in agg.rows}
    assert shares == {"root": 0.7, "up": 0.3, "late": 0.0}  # 700 and 300 of the root's 1000 µs


def test_later_child_from_another_clock_is_never_pulled_inside() -> None:
    # srv (service model) [600, 700] under up [100, 400] starts after up ended. Before issue 10 it
    # was "skew-corrected" (centred) into up -> up, srv [200, 300], up. Jaeger moves a child only
    # when it starts before its parent, so srv stays where it is and is dropped like any late child.
    main, srv = roots([
        S("root", None, "gw", "root", 0, 1000),
        S("up", "root", "gw", "up", 100, 400),
        S("srv", "up", "model", "predict", 600, 700),
    ])
    assert path(main) == [("root", 0, 100), ("up", 100, 400), ("root", 400, 1000)]
    assert main.skew_adjusted == 0 and srv.kind == "dropped" and interval(srv, "predict") == (600, 700)


def test_child_ending_before_its_parent_started_on_the_same_clock_is_dropped() -> None:
    # Same clock (one service): no skew shift; c [100, 500] ends before root [1000, 2000] starts.
    main, c = roots([S("root", None, "gw", "root", 1000, 2000), S("c", "root", "gw", "c", 100, 500)])
    assert path(main) == [("root", 1000, 2000)] and c.kind == "dropped"


# --- clock skew: Jaeger's adjuster, a child moves only when it starts before its parent ---------

def test_skew_child_on_the_same_host_is_only_clamped() -> None:
    # All three services report host.name h1: one clock, so srv [1000, 1500] starting before up
    # [1100, 1900] is not shifted (without hosts it would be centred to [1250, 1750]); it is clamped
    # to [1100, 1500]. Walk: root cursor 2000 -> up ends 1900: root [1900, 2000]; up cursor 1900 ->
    # srv ends 1500: up [1500, 1900]; srv [1100, 1500]; back in root: root [1000, 1100].
    hosts = {"gw": "h1", "model": "h1"}
    (t,) = roots([
        S("root", None, "gw", "root", 1000, 2000),
        S("up", "root", "gw", "up", 1100, 1900),
        S("srv", "up", "model", "predict", 1000, 1500),
    ], hosts)
    assert path(t) == [("root", 1000, 1100), ("predict", 1100, 1500), ("up", 1500, 1900), ("root", 1900, 2000)]
    assert t.skew_adjusted == 0


def test_skew_without_hosts_centres_the_early_child() -> None:
    # The same trace without host names: services are the clocks, srv (500 µs long) starts
    # 100 µs before up (800 µs long): shorter, so centred: 1100 + (800 - 500) // 2 = 1250 -> [1250, 1750].
    (t,) = roots([
        S("root", None, "gw", "root", 1000, 2000),
        S("up", "root", "gw", "up", 1100, 1900),
        S("srv", "up", "model", "predict", 1000, 1500),
    ])
    assert interval(t, "predict") == (1250, 1750) and t.skew_adjusted == 1
    assert path(t) == [("root", 1000, 1100), ("up", 1100, 1250), ("predict", 1250, 1750), ("up", 1750, 1900), ("root", 1900, 2000)]


def test_skew_grandchild_on_a_third_clock_gets_its_own_delta() -> None:
    # srv (model) [500, 1100] starts before up [1100, 1900]: centred -> [1200, 1800] (delta +700).
    # Its child db (service db, a third clock) [1300, 1400] already fits the adjusted srv: Jaeger
    # computes its own delta (0) instead of inheriting +700 (which would push it to [2000, 2100]).
    (t,) = roots([
        S("root", None, "gw", "root", 1000, 2000),
        S("up", "root", "gw", "up", 1100, 1900),
        S("srv", "up", "model", "predict", 500, 1100),
        S("db", "srv", "db", "query", 1300, 1400),
    ])
    assert interval(t, "predict") == (1200, 1800) and interval(t, "query") == (1300, 1400)
    assert path(t) == [
        ("root", 1000, 1100), ("up", 1100, 1200), ("predict", 1200, 1300), ("query", 1300, 1400),
        ("predict", 1400, 1800), ("up", 1800, 1900), ("root", 1900, 2000),
    ]
    assert t.skew_adjusted == 1


def test_skew_child_that_only_ends_late_is_clamped_not_moved() -> None:
    # c (model) [900, 1100] starts inside root [0, 1000] and ends after it: real (a timed-out call
    # whose server kept working), not skew. Clamped to [900, 1000]: root [0, 900], c [900, 1000].
    (t,) = roots([S("root", None, "gw", "root", 0, 1000), S("c", "root", "model", "c", 900, 1100)])
    assert path(t) == [("root", 0, 900), ("c", 900, 1000)] and t.skew_adjusted == 0


# --- asynchronous work is not on the synchronous critical path ---------------------------------

def test_consumer_under_producer_is_asynchronous() -> None:
    # pub (PRODUCER) [100, 200]; its CONSUMER "consume" (service worker) runs [300, 2000] with a
    # child write [400, 500]. The consumer is not waited for: root path root [0, 100], pub,
    # root [200, 1000]. The consumer subtree is analysed on its own: consume [300, 400], write,
    # consume [500, 2000]; it adds nothing to the shares (denominator: the root's 1000 µs).
    main, consumer = roots([
        S("root", None, "gw", "root", 0, 1000),
        S("pub", "root", "gw", "publish", 100, 200, kind=PRODUCER),
        S("con", "pub", "worker", "consume", 300, 2000, kind=CONSUMER),
        S("w", "con", "worker", "write", 400, 500),
    ])
    assert path(main) == [("root", 0, 100), ("publish", 100, 200), ("root", 200, 1000)]
    assert (consumer.kind, consumer.origin) == ("async", main.root.span_id)
    assert path(consumer) == [("consume", 300, 400), ("write", 400, 500), ("consume", 500, 2000)]
    agg = aggregate([main, consumer])
    rows = {r.operation: r for r in agg.rows}
    assert (rows["root"].critical_path_share, rows["publish"].critical_path_share) == (0.9, 0.1)
    assert rows["consume"].critical_path_share == 0.0 and rows["consume"].count == 1
    assert rows["consume"].self_ms_p50 == pytest.approx(1.6)  # 1700 - 100 of write
    assert agg.asynchronous == 2


def test_consumer_under_a_client_is_synchronous() -> None:
    # Only PRODUCER -> CONSUMER is asynchronous: a CONSUMER under a CLIENT is waited for.
    (t,) = roots([S("root", None, "gw", "root", 0, 1000), S("c", "root", "worker", "c", 200, 600, kind=CONSUMER)])
    assert path(t) == [("root", 0, 200), ("c", 200, 600), ("root", 600, 1000)]


def test_follows_from_child_is_asynchronous() -> None:
    # audit [800, 1500] only follows from the root (a FOLLOWS_FROM link): not clamped onto the
    # root's last 200 µs. Root path: the root alone [0, 1000]; audit analysed on its own.
    main, audit = roots([S("root", None, "gw", "root", 0, 1000), S("a", "root", "gw", "audit", 800, 1500, follows=True)])
    assert path(main) == [("root", 0, 1000)]
    assert audit.kind == "async" and path(audit) == [("audit", 800, 1500)]
    assert audit.root.parent_id == main.root.span_id and audit.root.follows_from
