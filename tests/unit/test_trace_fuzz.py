"""Property-based tests (hypothesis) over the trace parser and the critical-path analysis.

12,200 generated inputs in all: 10,000 OTLP-shaped documents from 1,000 x 10 seeds and 400 from
a structured strategy, with junk in any field (parsed, then analysed and aggregated); 1,000 raw
and truncated texts; 300 deep nestings; 500 span lists built directly (cycles, negative and
reversed times, every kind and reference). The only exception allowed is the project's error
class (TraceFormatError is a ChaosctlError, exit 2); whatever parses must analyse without error
and satisfy the path invariants. (Structured strategies cost milliseconds per example, so the
bulk comes from seeds.) Those are the counts of `make fuzz`; `make test` runs a random share of
each (tests/fuzzing.py).
"""

from __future__ import annotations

import base64
import json
import random
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from fuzzing import examples

from chaosctl.cli import exit_code_for
from chaosctl.errors import ChaosctlError
from chaosctl.report.bottlenecks import to_json
from chaosctl.verdict.bottleneck import aggregate
from chaosctl.verdict.critical_path import TraceAnalysis, analyze
from chaosctl.observe.spans import MAX_JSON_DEPTH, Span, parse_otlp_text

T0_NS = 1_790_000_000_000_000_000
TRACE_IDS = [f"{i:032x}" for i in (1, 2)]
SPAN_IDS = [f"{i:016x}" for i in range(1, 8)]
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def fuzz(full: int) -> settings:
    return settings(max_examples=examples(full), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

junk = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(), st.text(max_size=8),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
# Well-formed OTLP pieces; junk is put in afterwards, at one random place (see `mutate`), so that
# about half of the documents reach the analysis and the other half probe one field at a time.
nanos = st.integers(0, 3000).flatmap(lambda us: st.sampled_from([str(T0_NS + us * 1000), T0_NS + us * 1000]))
name = st.text(max_size=12)  # any code point: control characters, escapes, surrogates
value = st.one_of(
    st.fixed_dictionaries({"stringValue": name}), st.fixed_dictionaries({"intValue": st.integers()}),
    st.fixed_dictionaries({"arrayValue": st.recursive(st.integers(), lambda c: st.lists(c, max_size=3), max_leaves=6)}),
)
attribute = st.fixed_dictionaries({"key": st.sampled_from(["service.name", "host.name", "k"]), "value": value})
ref_type = st.fixed_dictionaries({"key": st.just("opentracing.ref_type"), "value": st.fixed_dictionaries(
    {"stringValue": st.sampled_from(["follows_from", "child_of", "x"])})})
link = st.fixed_dictionaries(
    {"traceId": st.sampled_from(TRACE_IDS), "spanId": st.sampled_from(SPAN_IDS)}, optional={"attributes": st.lists(ref_type, max_size=1)},
)
span = st.fixed_dictionaries(
    {"traceId": st.sampled_from(TRACE_IDS), "spanId": st.sampled_from(SPAN_IDS), "startTimeUnixNano": nanos, "endTimeUnixNano": nanos},
    optional={
        "parentSpanId": st.sampled_from([*SPAN_IDS, "0" * 16, "AAAAAAAAAAE=", "ffffffffffffffff"]),
        "name": name, "kind": st.one_of(st.integers(0, 6), st.sampled_from(["SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"])),
        "links": st.lists(link, max_size=2), "attributes": st.lists(attribute, max_size=2),
        "status": st.fixed_dictionaries({"code": st.integers(0, 2)}),
    },
)
resource_spans = st.fixed_dictionaries({
    "resource": st.fixed_dictionaries({"attributes": st.lists(attribute, max_size=2)}),
    "scopeSpans": st.lists(st.fixed_dictionaries({"spans": st.lists(span, max_size=6)}), max_size=2),
})
body = st.fixed_dictionaries({"resourceSpans": st.lists(resource_spans, min_size=1, max_size=2)})
document = st.one_of(body, st.fixed_dictionaries({"result": body}))


def mutate(doc: object, where: int, replacement: object) -> object:
    """`doc` with its `where`-th node (in a depth-first walk, modulo the node count) replaced."""
    nodes: list[tuple[object, object]] = []  # (container, key)
    todo = [doc]
    while todo:
        item = todo.pop()
        children = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        for key, child in children:
            nodes.append((item, key))
            todo.append(child)
    if nodes:
        container, key = nodes[where % len(nodes)]
        container[key] = replacement  # type: ignore[index]
    return doc


# A fast generator for the bulk of the examples: hypothesis draws a seed (a failure names it, so it
# replays) and the document is built from it in microseconds, where a structured strategy costs
# milliseconds per example (st.randoms() too: each of its calls is a hypothesis draw).
NAME_BITS = ["gw", "POST /x", "\x1b[31m", "\x1b]0;title\x07", "\x9b2J", "\u202e", "\ud800", "\n", "\x00", "é", "\t", "[b]"]
JUNK = [None, True, -1, 2**70, 1.5, float("nan"), float("inf"), "", "zz", [], {}, [[[1]]], {"a": {}}, "\x1b[2J", "0" * 40]


def random_span(rng: random.Random) -> dict:
    tid, sid = rng.choice(TRACE_IDS), rng.choice(SPAN_IDS)
    if rng.random() < 0.1:
        sid = base64.b64encode(bytes.fromhex(sid)).decode()  # older gateways write base64 ids
    start = T0_NS + rng.randint(0, 3000) * 1000
    raw: dict = {"traceId": tid, "spanId": sid, "startTimeUnixNano": str(start),
                 "endTimeUnixNano": str(start + rng.randint(-500, 3000) * 1000), "kind": rng.choice([0, 1, 2, 3, 4, 5, 6, "SPAN_KIND_CONSUMER"])}
    if rng.random() < 0.8:
        raw["parentSpanId"] = rng.choice([*SPAN_IDS, "ffffffffffffffff", "0" * 16])
    if rng.random() < 0.2:
        ref = [{"key": "opentracing.ref_type", "value": {"stringValue": rng.choice(["follows_from", "child_of"])}}]
        raw["links"] = [{"traceId": tid, "spanId": rng.choice(SPAN_IDS), "attributes": ref[: rng.randint(0, 1)]}]
    raw["name"] = "".join(rng.choice(NAME_BITS) for _ in range(rng.randint(0, 4)))
    return raw


def random_document(rng: random.Random) -> object:
    resources = []
    for _ in range(rng.randint(1, 3)):
        attrs = [{"key": "service.name", "value": {"stringValue": rng.choice(NAME_BITS)}}]
        if rng.random() < 0.3:
            attrs.append({"key": "host.name", "value": {"stringValue": rng.choice(["h1", "h2"])}})
        spans = [random_span(rng) for _ in range(rng.randint(0, 8))]
        resources.append({"resource": {"attributes": attrs}, "scopeSpans": [{"spans": spans}]})
    doc: object = {"resourceSpans": resources}
    if rng.random() < 0.3:
        doc = {"result": doc}
    return mutate(doc, rng.randint(0, 10**6), rng.choice(JUNK)) if rng.random() < 0.5 else doc


def check_analyses(analyses: list[TraceAnalysis], spans: list[Span]) -> None:
    """Each span in exactly one analysis; every path tiles its root; shares add up."""
    seen = [(r.span.trace_id, r.span.span_id) for t in analyses for r in t.spans]
    assert sorted(seen) == sorted({(s.trace_id, s.span_id) for s in spans})
    for t in analyses:
        assert sum(r.critical_us for r in t.spans) == t.duration_us == sum(s.duration_us for s in t.path)
        assert all(a.end_us == b.start_us for a, b in zip(t.path, t.path[1:]))
        assert all(0 <= r.self_us <= r.end_us - r.start_us for r in t.spans)
    agg = aggregate(analyses)
    if any(t.synchronous and t.duration_us for t in analyses):
        assert abs(sum(r.critical_path_share for r in agg.rows) - 1.0) < 1e-9
    json.dumps(to_json(agg, agg.rows, (), analyses))


def parse_and_analyse(text: str) -> None:
    try:
        spans = parse_otlp_text(text, "gen.json")
    except ChaosctlError as exc:
        assert str(exc).startswith("gen.json") and exit_code_for(exc) == 2
        return
    for s in spans:
        assert not CONTROL.search(s.service) and not CONTROL.search(s.operation)
    check_analyses(analyze(spans), spans)


@fuzz(1_000)
@given(st.lists(st.integers(0, 2**64), min_size=10, max_size=10))
def test_random_documents_parse_or_fail_cleanly_and_analyse(seeds: list[int]) -> None:
    # 10 inputs per example, 10,000 in all: hypothesis' own cost per example (~1 ms) would
    # otherwise be most of the wall time
    for seed in seeds:
        rng = random.Random(seed)
        parse_and_analyse("\n".join(json.dumps(random_document(rng)) for _ in range(rng.randint(1, 2))))


@fuzz(400)
@given(document, st.one_of(st.none(), junk), st.integers(0, 10**6))
def test_generated_documents_parse_or_fail_cleanly_and_analyse(doc: object, bad: object, where: int) -> None:
    parse_and_analyse(json.dumps(mutate(doc, where, bad) if bad is not None else doc))


@fuzz(1_000)
@given(st.data())
def test_raw_and_truncated_text_fails_cleanly(data: st.DataObject) -> None:
    valid = json.dumps(random_document(random.Random(data.draw(st.integers(0, 2**64)))))
    text = data.draw(st.one_of(
        st.text(max_size=200),
        st.integers(0, len(valid)).map(lambda n: valid[:n]),  # truncated
        st.tuples(st.integers(0, len(valid)), st.text(max_size=3)).map(lambda p: valid[:p[0]] + p[1] + valid[p[0]:]),
    ))
    try:
        check_analyses(analyze(spans := parse_otlp_text(text, "t.json")), spans)
    except ChaosctlError as exc:
        assert str(exc).startswith("t.json")


@fuzz(300)
@given(st.integers(MAX_JSON_DEPTH + 1, 200_000), st.sampled_from(["[", '{"a":']), st.booleans())
def test_deep_nesting_is_refused_with_its_position(depth: int, opener: str, in_attribute: bool) -> None:
    closer = "]" if opener == "[" else "}"
    deep = opener * depth + "1" + closer * depth
    if in_attribute:  # nested inside an attribute value, where the parser turns it into text
        text = ('{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": {"arrayValue": %s}}]}, '
                '"scopeSpans": []}]}' % deep)
    else:
        text = '{"resourceSpans": %s}' % deep
    try:
        parse_otlp_text(text, "deep.json")
    except ChaosctlError as exc:
        # Shallow enough for the JSON decoder: refused where the parser looks (an attribute value
        # deeper than the cap, or a list where an object belongs); deeper: refused by the cap.
        assert "deep.json" in str(exc)
        if in_attribute or depth > 10_000:
            assert f"nested deeper than {MAX_JSON_DEPTH} levels" in str(exc)
    else:
        raise AssertionError("deep nesting was accepted")


kinds = st.sampled_from(["", "internal", "server", "client", "producer", "consumer"])
span_record = st.builds(
    Span,
    trace_id=st.sampled_from(["a", "b"]),
    span_id=st.sampled_from(SPAN_IDS),
    parent_id=st.one_of(st.none(), st.sampled_from([*SPAN_IDS, "gone"])),
    service=st.sampled_from(["gw", "model", "db"]),
    operation=st.sampled_from(["x", "y"]),
    start_us=st.integers(-1000, 3000),
    end_us=st.integers(-1000, 3000),
    kind=kinds,
    follows_from=st.booleans(),
    host=st.sampled_from(["", "h1", "h2"]),
)


@fuzz(500)
@given(st.lists(span_record, max_size=14))
def test_any_span_records_analyse(spans: list[Span]) -> None:
    analyses = analyze(spans)
    first = {}
    for s in spans:
        first.setdefault((s.trace_id, s.span_id), s)
    check_analyses(analyses, list(first.values()))
