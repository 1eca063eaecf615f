"""The orjson path of parse_otlp_text gives exactly what the json module's path (parse_documents)
gives: the same Span records, or the same error message, on the fuzz corpus's documents and on
the inputs where the two decoders differ (integers beyond 64 bits, NaN, lone surrogates)."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_trace_fuzz import fuzz, random_document

from chaosctl.observe import spans as spans_module
from chaosctl.observe.spans import TraceFormatError, parse_documents, parse_otlp_text


def outcome(parse, text: str) -> object:
    try:
        return parse(text, "f.json")
    except TraceFormatError as exc:
        return f"error: {exc}"


def same(text: str) -> None:
    assert outcome(parse_otlp_text, text) == outcome(parse_documents, text)


@fuzz(1_000)
@given(st.integers(0, 2**64), st.sampled_from([None, 2, 0]))
def test_random_documents_read_alike(seed: int, indent: int | None) -> None:
    same(json.dumps(random_document(random.Random(seed)), indent=indent))


def one_span(**fields: object) -> str:
    span = {"traceId": "ab" * 16, "spanId": "cd" * 8, "startTimeUnixNano": "1790000000000000000",
            "endTimeUnixNano": "1790000000001000000", "name": "op", **fields}
    return json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [span]}]}]})


@pytest.mark.parametrize("text", [
    one_span(attributes=[{"key": "k", "value": {"intValue": 2**70}}]),  # orjson: a float
    one_span(attributes=[{"key": "k", "value": {"intValue": -(2**63) - 1}}]),
    one_span(attributes=[{"key": "k", "value": {"arrayValue": [2**64, 1]}}]),
    one_span(attributes=[{"key": "k", "value": {"intValue": 2**64 - 1}}]),
    one_span(startTimeUnixNano=2**64 + 1),
    one_span(startTimeUnixNano=1790000000000000000),
    one_span(attributes=[{"key": "k", "value": {"doubleValue": float("nan")}}]),
    one_span(attributes=[{"key": "k", "value": {"doubleValue": 1e300}}]),
    one_span(name="\ud800"),
    json.dumps(2**70),
    "  \n" + one_span() + "\n\n",
    one_span() + one_span(),  # two documents: the json module reads them one by one
    one_span().replace('"op"', '"1234567890123456789012"'),  # a digit run inside a string
    "",
])
def test_where_the_decoders_differ_the_json_module_decides(text: str) -> None:
    same(text)


def test_the_common_answer_takes_the_orjson_path(monkeypatch) -> None:
    text = one_span()
    called: list[str] = []
    monkeypatch.setattr(spans_module, "parse_documents", lambda *a: called.append("json") or [])
    assert len(parse_otlp_text(text)) == 1 and called == []
    assert parse_otlp_text(one_span(attributes=[{"key": "k", "value": {"intValue": 2**70}}])) == []
    assert called == ["json"]
