"""The Jaeger v2 /api/v3/traces client over an in-memory httpx transport: query parameters,
404 as empty, bisection of full slices, de-duplication, base64 ids, errors."""

from __future__ import annotations

import base64
import json
from datetime import datetime

import httpx
import pytest
from otlp_build import SEQUENTIAL, S, resource_spans, trace_id

from chaosctl.errors import StackUnavailable
from chaosctl.observe.jaeger import Jaeger, rfc3339
from chaosctl.verdict.critical_path import analyze

NOT_FOUND = {"error": {"httpCode": 404, "message": "No traces found"}}


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class FakeJaeger:
    """Holds traces by start time; answers like Jaeger's memory store (at most num_traces per query)."""

    def __init__(self, traces: dict[str, float]) -> None:
        self.traces = traces  # trace name -> start time (unix seconds)
        self.queries: list[dict[str, str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        q = dict(request.url.params)
        self.queries.append(q)
        assert request.url.path == "/api/v3/traces"
        lo, hi, limit = _ts(q["query.start_time_min"]), _ts(q["query.start_time_max"]), int(q["query.num_traces"])
        hits = [name for name, t in sorted(self.traces.items(), key=lambda kv: -kv[1]) if lo <= t <= hi][:limit]
        if not hits:
            return httpx.Response(404, json=NOT_FOUND)
        body = {"result": {"resourceSpans": [rs for name in hits for rs in resource_spans(name, SEQUENTIAL)]}}
        return httpx.Response(200, text=json.dumps(body))


def client(fake: FakeJaeger, **kw) -> Jaeger:
    return Jaeger("http://jaeger.test:16686", transport=httpx.MockTransport(fake.handler), **kw)


def test_query_parameters_are_jaeger_v3_ones() -> None:
    fake = FakeJaeger({"a": 1000.5})
    client(fake).fetch("gateway", 1000.0, 1010.0)
    q = fake.queries[0]
    assert q["query.service_name"] == "gateway" and q["query.num_traces"] == "500"
    assert q["query.start_time_min"] == "1970-01-01T00:16:40.000000Z" == rfc3339(1000.0)
    assert q["query.start_time_max"] == rfc3339(1010.0)


def test_404_is_an_empty_window() -> None:
    result = client(FakeJaeger({})).fetch("gateway", 1000.0, 1010.0)
    assert result.spans == () and result.requests == 1


def test_full_slices_are_halved_until_every_trace_is_read() -> None:
    fake = FakeJaeger({f"t{i}": 1000.0 + i * 0.1 for i in range(100)})  # 100 traces over 10 s
    result = client(fake, page_size=30, slice_s=60.0, min_slice_s=0.5).fetch("gateway", 1000.0, 1010.0)
    assert len(result.traces()) == 100 and result.saturated_slices == 0
    assert len(result.spans) == 100 * len(SEQUENTIAL)  # traces on slice edges are kept once
    assert result.requests > 3


def test_a_slice_still_full_at_the_minimum_width_is_reported() -> None:
    fake = FakeJaeger({f"t{i}": 1000.0 for i in range(10)})  # all at one instant
    result = client(fake, page_size=5, min_slice_s=1.0).fetch("gateway", 1000.0, 1002.0)
    assert result.saturated_slices >= 1 and len(result.traces()) == 5


def test_window_is_cut_into_slices() -> None:
    fake = FakeJaeger({"a": 1000.0, "b": 1150.0})
    result = client(fake, slice_s=60.0).fetch("gateway", 1000.0, 1200.0)
    assert result.requests == 4 and len(result.traces()) == 2


def test_server_error_and_unreachable_are_stack_unavailable() -> None:
    broken = Jaeger("http://jaeger.test", transport=httpx.MockTransport(lambda r: httpx.Response(500, text="boom")))
    with pytest.raises(StackUnavailable, match="answered 500"):
        broken.fetch("gateway", 0.0, 1.0)
    with pytest.raises(StackUnavailable, match="unreachable"):
        Jaeger("http://127.0.0.1:9").fetch("gateway", 0.0, 1.0)


def test_garbage_answer_is_stack_unavailable_with_where() -> None:
    bad = Jaeger("http://jaeger.test", transport=httpx.MockTransport(lambda r: httpx.Response(200, text='{"result": {"resourceSpans": [')))
    with pytest.raises(StackUnavailable, match="unreadable answer"):
        bad.fetch("gateway", 0.0, 1.0)


def test_streamed_chunks_and_base64_ids_are_read() -> None:
    first = {"result": {"resourceSpans": resource_spans("x", [S("root", None, "gw", "root", 0, 10)])}}
    raw = resource_spans("y", [S("root", None, "gw", "root", 0, 10)])
    span = raw[0]["scopeSpans"][0]["spans"][0]
    span["traceId"] = base64.b64encode(bytes.fromhex(span["traceId"])).decode()
    span["spanId"] = base64.b64encode(bytes.fromhex(span["spanId"])).decode()
    text = json.dumps(first) + "\n" + json.dumps({"result": {"resourceSpans": raw}})
    j = Jaeger("http://jaeger.test", transport=httpx.MockTransport(lambda r: httpx.Response(200, text=text)))
    ids = {t.trace_id for t in j.traces("gw", 0.0, 1.0)}
    assert ids == {trace_id("x"), trace_id("y")}


def test_answers_keep_kind_and_follows_from_and_lose_control_characters() -> None:
    defs = [
        S("root", None, "gw", "POST /x\x1b[31m", 0, 100),
        S("pub", "root", "gw", "publish", 10, 20, kind=4),
        S("con", "pub", "worker\x07", "consume", 30, 500, kind=5),
        S("audit", "root", "gw", "audit", 90, 300, follows=True),
    ]
    text = json.dumps({"result": {"resourceSpans": resource_spans("k", defs)}})
    j = Jaeger("http://jaeger.test", transport=httpx.MockTransport(lambda r: httpx.Response(200, text=text)))
    spans = {s.operation: s for s in j.fetch("gw", 0.0, 1.0).spans}
    assert set(spans) == {"POST /x", "publish", "consume", "audit"} and spans["consume"].service == "worker"
    assert (spans["publish"].kind, spans["consume"].kind, spans["audit"].follows_from) == ("producer", "consumer", True)
    kinds = sorted(t.kind for t in analyze(spans.values()))
    assert kinds == ["async", "async", "root"]  # the consumer and the audit are off the synchronous path
