"""The fast path of `bottlenecks --file` (observe.span_table + verdict.table_analysis) gives exactly
what the reference gives: `read_table` the table of `parse_otlp_text`'s records (or its error
message), and `aggregate_table` the Aggregate of `aggregate(analyze(spans))`, filtered by a root
glob as `--root-operation` filters, on the fuzz corpus's documents and on random span records
(duplicates, cycles, orphans, skew on other hosts, producer/consumer, follows-from)."""

from __future__ import annotations

import json
import random

from hypothesis import given
from hypothesis import strategies as st
from test_trace_fuzz import SPAN_IDS, fuzz, kinds, random_document
from test_trace_fuzz import span_record as any_record  # ids such as 'gone', times before 0

from chaosctl.observe import span_table
from chaosctl.observe.span_table import read_table, table_from_spans
from chaosctl.observe.spans import Span, TraceFormatError, parse_otlp_text
from chaosctl.report.bottlenecks import _analyses
from chaosctl.verdict.bottleneck import aggregate
from chaosctl.verdict.table_analysis import Aggregator, aggregate_table

GLOBS = [None, "*", "P*", "nothing"]


def reference(spans: list[Span], glob: str | None):
    return aggregate(_analyses(spans, glob))


def same_as_reference(text: str) -> None:
    try:
        spans = parse_otlp_text(text, "f.json")
    except TraceFormatError as exc:
        try:
            read_table(text.encode("utf-8", "surrogatepass"), "f.json")
        except TraceFormatError as fast:
            assert str(fast) == str(exc)
            return
        raise AssertionError(f"accepted what the reference refuses: {exc}") from None
    table = read_table(text.encode("utf-8", "surrogatepass"), "f.json")
    assert table == table_from_spans(spans)
    for glob in GLOBS:
        assert aggregate_table(table, glob) == reference(spans, glob)


@fuzz(1_000)
@given(st.integers(0, 2**64))
def test_random_documents_read_and_aggregate_alike(seed: int) -> None:
    same_as_reference(json.dumps(random_document(random.Random(seed))))


def test_a_stack_like_document_takes_the_fast_path_and_agrees() -> None:
    rng = random.Random(3)
    raw = []
    for t in range(200):
        tid, root = f"{t:032x}", f"{t:08x}{0:08x}"
        raw.append({"traceId": tid, "spanId": root, "name": "POST /p", "kind": 2, "startTimeUnixNano": "1790000000000000000",
                    "endTimeUnixNano": str(1790000000000000000 + rng.randint(1, 9) * 10**6), "status": {}})
        for k in range(1, rng.randint(2, 6)):
            start = 1790000000000000000 + rng.randint(-2, 8) * 10**6
            raw.append({"traceId": tid, "spanId": f"{t:08x}{k:08x}", "parentSpanId": root if k < 3 else f"{t:08x}{k - 1:08x}",
                        "name": f"op{k % 3}", "kind": rng.choice([1, 3, 4, 5]), "startTimeUnixNano": str(start),
                        "endTimeUnixNano": str(start + rng.randint(0, 4) * 10**6), "status": {"code": rng.choice([0, 2])},
                        "attributes": [{"key": "k", "value": {"stringValue": "v"}}]})
    rng.shuffle(raw)
    doc = {"result": {"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": f"s{i}"}},
                                     {"key": "host.name", "value": {"stringValue": f"h{i % 2}"}}]},
         "scopeSpans": [{"spans": raw[i::3]}]} for i in range(3)]}}
    text = json.dumps(doc)
    table = span_table._fast_table(text.encode())  # no fallback to the reference parser on this shape
    assert len(table) == len(raw) and table.trace_ids == sorted(table.trace_ids, key=table.trace_ids.index)
    same_as_reference(text)


span_record = st.builds(
    Span,
    trace_id=st.sampled_from(["a", "b"]),
    span_id=st.sampled_from(SPAN_IDS),
    parent_id=st.one_of(st.none(), st.sampled_from([*SPAN_IDS, "ffffffffffffffff"])),
    service=st.sampled_from(["gw", "model"]),
    operation=st.sampled_from(["P", "y"]),
    start_us=st.integers(0, 3000),
    end_us=st.integers(0, 3000),
    error=st.booleans(),
    kind=kinds,
    follows_from=st.booleans(),
    host=st.sampled_from(["", "h1", "h2"]),
)


@fuzz(1_000)
@given(st.lists(st.one_of(span_record, any_record), max_size=14))
def test_any_span_records_aggregate_alike(spans: list[Span]) -> None:
    spans = [s if s.end_us >= s.start_us else Span(*[getattr(s, f) for f in Span.__slots__][:5], s.start_us, s.start_us)
             for s in spans]  # the parser never gives an end before the start
    table = table_from_spans(spans)
    for glob in GLOBS:
        assert aggregate_table(table, glob) == reference(spans, glob)
        per_trace = Aggregator(glob, vector=False)  # the kernel the vector one falls back to
        per_trace.add(table)
        assert per_trace.result() == reference(spans, glob)


def test_pages_add_up_and_a_trace_read_twice_counts_once() -> None:
    one = [Span("a", "0000000000000001", None, "gw", "P", 0, 100), Span("a", "0000000000000002", "0000000000000001", "m", "x", 10, 60)]
    two = [Span("b", "0000000000000003", None, "gw", "P", 0, 40)]
    agg = Aggregator()
    for page in (one, two, one):
        agg.add(table_from_spans(page))
    assert agg.result() == aggregate_table(table_from_spans(one + two)) == reference(one + two, None)
    assert agg.result().traces == 2


def test_odd_ids_and_times_read_as_the_reference_reads_them() -> None:
    """Ids go through bytes.fromhex (which skips whitespace) and times through int(): a spaced or
    short id, upper-case hex, times as integers or of several lengths read as the reference reads them."""
    def doc(span_id: str, parent: str, start: object, end: object) -> str:
        spans = [{"traceId": "ab" * 16, "spanId": "00000000000000a1", "name": "P", "startTimeUnixNano": "1000000",
                  "endTimeUnixNano": "9000000"},
                 {"traceId": "AB" * 16, "spanId": span_id, "parentSpanId": parent, "name": "x", "startTimeUnixNano": start,
                  "endTimeUnixNano": end}]
        return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})
    for span_id in ("00000000000000B2", "0000000 000000b2", "00000000 0000b2", "b2"):
        same_as_reference(doc(span_id, "00000000000000A1", "2000000", "3000000"))
    for start, end in ((2000000, "3000000"), ("2000000", "30000000"), ("+2000000", "3000000"), ("900", "3000000"),
                       ("2000999", "2000001"), ("2001999", "1999000"), ("1999999", 2000000), (str(2**64 - 1), str(2**64 - 1)),
                       (str(2**64 - 1), "0"), (str(2**64), "1"), ("-1", "1")):  # floors, ends before starts, the 64-bit bounds
        same_as_reference(doc("00000000000000b2", "00000000000000a1", start, end))


def test_no_parent_and_the_old_scope_key_read_as_the_reference_reads_them() -> None:
    """A parent id null or "" is no parent; `instrumentationLibrarySpans` is read when `scopeSpans`
    is absent, and ignored when it is there (even empty): on the fast path, as the reference does."""
    def span(k: int, **extra: object) -> dict:
        return {"traceId": "cd" * 16, "spanId": f"{k:016x}", "name": f"op{k}", "startTimeUnixNano": str(10**9 + k * 1000),
                "endTimeUnixNano": str(10**9 + 10**6), **extra}
    spans = [span(1), span(2, parentSpanId=None), span(3, parentSpanId=""), span(4, parentSpanId=f"{1:016x}")]
    for resource in ({"instrumentationLibrarySpans": [{"spans": spans}]}, {"scopeSpans": [], "instrumentationLibrarySpans": [{"spans": spans}]},
                     {"scopeSpans": [{"spans": spans[:2]}], "instrumentationLibrarySpans": [{"spans": spans}]}):
        text = json.dumps({"resourceSpans": [resource]})
        span_table._fast_table(text.encode())  # no fallback to the reference parser
        same_as_reference(text)
    assert len(span_table._fast_table(json.dumps({"resourceSpans": [{"instrumentationLibrarySpans": [{"spans": spans}]}]}).encode())) == 4
