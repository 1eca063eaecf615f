"""Hand-built OTLP JSON traces for the critical-path tests (times in microseconds)."""

from __future__ import annotations

from dataclasses import dataclass

T0_US = 1_790_000_000_000_000  # an arbitrary epoch in microseconds; tests add offsets to it


@dataclass(frozen=True)
class S:
    span: str  # short name, made into a 16-hex span id
    parent: str | None
    service: str
    op: str
    start: int  # microseconds after T0_US
    end: int
    error: bool = False
    kind: int = 2  # OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer
    follows: bool = False  # only follows from its parent: an OTLP link to it, as Jaeger writes FOLLOWS_FROM


def span_id(name: str) -> str:
    return name.encode().hex().ljust(16, "0")[:16]


def trace_id(name: str) -> str:
    return name.encode().hex().ljust(32, "0")[:32]


def resource_spans(trace: str, spans: list[S], hosts: dict[str, str] | None = None) -> list[dict]:
    """One resourceSpans entry per service, as an OTLP exporter sends them (`hosts`: service -> host.name)."""
    by_service: dict[str, list[dict]] = {}
    for s in spans:
        raw = {
            "traceId": trace_id(trace),
            "spanId": span_id(s.span),
            "name": s.op,
            "kind": s.kind,
            "startTimeUnixNano": str((T0_US + s.start) * 1000),
            "endTimeUnixNano": str((T0_US + s.end) * 1000),
            "status": {"code": 2} if s.error else {},
        }
        if s.parent and s.follows:  # Jaeger's OTLP form of a lone FOLLOWS_FROM reference: a link, no parent
            ref = {"key": "opentracing.ref_type", "value": {"stringValue": "follows_from"}}
            raw["links"] = [{"traceId": trace_id(trace), "spanId": span_id(s.parent), "attributes": [ref]}]
        elif s.parent:
            raw["parentSpanId"] = span_id(s.parent)
        by_service.setdefault(s.service, []).append(raw)
    return [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]
                         + ([{"key": "host.name", "value": {"stringValue": hosts[svc]}}] if hosts and svc in hosts else [])},
            "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
        }
        for svc, spans in by_service.items()
    ]


# The five hand-built traces. Expected results are worked out by hand in the tests.
SEQUENTIAL = [
    S("root", None, "gateway", "POST /predict", 0, 1000),
    S("lookup", "root", "gateway", "registry lookup", 100, 300),
    S("up", "root", "gateway", "upstream model-gpu-1", 350, 900),
    S("pred", "up", "model-gpu-1", "predict", 400, 850),
]
PARALLEL = [
    S("root", None, "gateway", "POST /predict", 0, 1000),
    S("c1", "root", "gateway", "c1", 100, 400),
    S("c2", "root", "gateway", "c2", 300, 900),
    S("c3", "root", "gateway", "c3", 50, 250),
]
OUTLIVES = [
    S("root", None, "gateway", "POST /predict", 0, 1000),
    S("up", "root", "gateway", "upstream model-gpu-1", 200, 800, error=True),
    S("srv", "up", "model-gpu-1", "predict", 300, 1500),
]
SKEWED = [
    S("root", None, "gateway", "POST /predict", 1000, 2000),
    S("up", "root", "gateway", "upstream model-gpu-1", 1100, 1900),
    S("srv", "up", "model-gpu-1", "predict", 500, 1100),  # its clock is 700 µs behind
    S("infer", "srv", "model-gpu-1", "infer", 600, 1000),
]
MISSING_PARENT = [
    S("root", None, "gateway", "POST /predict", 0, 1000),
    S("x", "ghost", "registry", "GET /v1/services", 100, 400),
    S("y", "root", "gateway", "y", 500, 700),
]
