"""OTLP JSON encoding of spans: the same request the SDK's protobuf encoder makes, field for field."""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from chaosctl.services.otlp_json import encode, json_exporter
from chaosctl.services.telemetry import Telemetry

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _spans() -> tuple[Any, ...]:
    """Spans with every field the services use: kinds, a remote parent, attributes of each type,
    an event, a link, an error status, two scopes."""
    exporter = InMemorySpanExporter()
    tel = Telemetry("svc", None, exporter=exporter)
    remote = TraceContextTextMapPropagator().extract({"traceparent": TRACEPARENT, "tracestate": "k=v"})
    with tel.tracer.start_as_current_span("POST /x", context=remote, kind=SpanKind.SERVER) as root:
        root.set_attributes({"s": "x", "i": 7, "big": 2**62, "f": 0.25, "b": True, "no": False,
                             "strs": ["a", "b"], "ints": [1, 2], "floats": [0.5], "bools": [True]})  # fmt: skip
        with tel.tracer.start_as_current_span("upstream m", kind=SpanKind.CLIENT, links=[Link(root.get_span_context(), {"w": 1})]) as c:
            c.add_event("retry", {"attempt": 2})
            c.set_status(Status(StatusCode.ERROR, "HTTP 503"))
        with tel.tracer.start_as_current_span("publish t", kind=SpanKind.PRODUCER):
            pass
    other = tel.tracer_provider.get_tracer("other.scope", "1.2")
    with other.start_as_current_span("ok") as ok:
        ok.set_status(Status(StatusCode.OK))
    return exporter.get_finished_spans()


def _ids_to_base64(node: Any) -> Any:
    """OTLP JSON carries ids in hex; protobuf's JSON mapping reads bytes as base64."""
    if isinstance(node, list):
        return [_ids_to_base64(x) for x in node]
    if not isinstance(node, dict):
        return node
    return {k: base64.b64encode(bytes.fromhex(v)).decode() if k in ("traceId", "spanId", "parentSpanId")
            else _ids_to_base64(v) for k, v in node.items()}  # fmt: skip


def test_json_is_the_protobuf_request_field_for_field() -> None:
    spans = _spans()
    parsed = json_format.ParseDict(_ids_to_base64(orjson.loads(encode(spans))), ExportTraceServiceRequest())
    assert parsed == encode_spans(spans)
    names = [s.name for rs in parsed.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert sorted(names) == ["POST /x", "ok", "publish t", "upstream m"]


def test_dropped_counts_of_spans_events_and_links_are_kept() -> None:
    """Over the span limits the SDK drops attributes, events and links and counts them: the counts
    go out as the SDK's encoder sends them (events' and links' own included)."""
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_span_attributes=1, max_events=1, max_links=1,
                                                     max_event_attributes=1, max_link_attributes=1))  # fmt: skip
    # (each bounded list keeps its newest entries)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("limits")
    with tracer.start_as_current_span("a") as a:
        ctx = a.get_span_context()
    with tracer.start_as_current_span("b", links=[Link(ctx), Link(ctx, {"x": 1, "y": 2})], attributes={"p": 1, "q": 2}) as b:
        b.add_event("e1")
        b.add_event("e2", {"x": 1, "y": 2, "z": 3})  # the newest is kept
    spans = exporter.get_finished_spans()
    parsed = json_format.ParseDict(_ids_to_base64(orjson.loads(encode(spans))), ExportTraceServiceRequest())
    assert parsed == encode_spans(spans)
    span = parsed.resource_spans[0].scope_spans[0].spans[1]
    assert (span.dropped_attributes_count, span.dropped_events_count, span.dropped_links_count) == (1, 1, 1)
    assert span.events[0].dropped_attributes_count == 2 and span.links[0].dropped_attributes_count == 1


def test_json_uses_otlp_hex_ids_and_string_int64s() -> None:
    doc = orjson.loads(encode(_spans()))
    root = next(s for rs in doc["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"] if s["name"] == "POST /x")
    assert root["traceId"] == "0af7651916cd43dd8448eb211c80319c" and root["parentSpanId"] == "b7ad6b7169203331"
    assert root["flags"] == 0x300 and root["traceState"] == "k=v"  # the parent is remote, and says so
    assert {"key": "big", "value": {"intValue": str(2**62)}} in root["attributes"]
    assert isinstance(root["startTimeUnixNano"], str) and root["kind"] == 2  # SPAN_KIND_SERVER


class _Collector(http.server.BaseHTTPRequestHandler):
    bodies: list[tuple[str, bytes]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append((self.headers["Content-Type"], body))
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    _Collector.bodies, _Collector.status = [], 200
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    finally:
        server.shutdown()
        server.server_close()


def test_exporter_posts_json_and_reports_refusals(collector: str) -> None:
    exporter = json_exporter(collector, 2.0)
    spans = _spans()
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    ((ctype, body),) = _Collector.bodies
    assert ctype == "application/json" and body == encode(spans)
    _Collector.status = 400
    assert exporter.export(spans) is SpanExportResult.FAILURE
    exporter.shutdown()


def test_exporter_to_nowhere_fails_quietly() -> None:
    exporter = json_exporter("http://127.0.0.1:1/v1/traces", 0.5)
    assert exporter.export(_spans()) is SpanExportResult.FAILURE


def test_repeated_string_attributes_share_their_encoding_and_the_cache_is_bounded() -> None:
    from chaosctl.services import otlp_json

    first, again = otlp_json.attributes({"model": "m", "n": 1}), otlp_json.attributes({"model": "m", "n": 1})
    assert first == again and first[0] is again[0] and first[1] is not again[1]  # numbers: never cached
    assert otlp_json.attributes({"flag": True}) != otlp_json.attributes({"flag": "True"})
    for i in range(otlp_json.MAX_PAIRS + 10):
        otlp_json.attributes({"k": f"v{i}"})
    assert len(otlp_json._PAIRS) <= otlp_json.MAX_PAIRS
