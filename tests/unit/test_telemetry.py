"""Telemetry: per-service registries, RED metrics by route template, context propagation."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chaosctl.services.telemetry import Telemetry
from chaosctl.stack.topology import Topology

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _app(tel: Telemetry) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        if item_id == 13:
            raise ValueError("unlucky")
        return {"id": item_id}

    tel.install(app)
    return app


def test_red_metrics_use_route_template_and_own_registry() -> None:
    a, b = Telemetry("svc-a", None), Telemetry("svc-b", None)
    client = TestClient(_app(a), raise_server_exceptions=False)
    for i in (1, 2, 13):
        client.get(f"/items/{i}")
    client.get("/nope")
    text = client.get("/metrics").text
    assert 'chaosctl_http_requests_total{code="200",method="GET",route="/items/{item_id}",service="svc-a"} 2.0' in text
    assert 'code="500",method="GET",route="/items/{item_id}"' in text
    assert 'route="unmatched"' in text
    assert 'le="0.075"' in text
    body, _ = b.metrics_text()
    assert b"svc-a" not in body


def test_server_span_continues_incoming_trace() -> None:
    exporter = InMemorySpanExporter()
    tel = Telemetry("svc", None, exporter=exporter)
    TestClient(_app(tel)).get("/items/3", headers={"traceparent": TRACEPARENT})
    TestClient(_app(tel)).get("/healthz")  # probes: counted, not traced
    (span,) = exporter.get_finished_spans()
    assert span.name == "GET /items/{item_id}"
    assert format(span.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(span.parent.span_id, "016x") == "b7ad6b7169203331"
    assert span.resource.attributes["service.name"] == "svc"


def test_inject_writes_traceparent_of_current_span() -> None:
    tel = Telemetry("svc", None, exporter=InMemorySpanExporter())
    with tel.tracer.start_as_current_span("x") as span:
        headers = tel.inject({})
    assert headers["traceparent"].split("-")[1] == format(span.get_span_context().trace_id, "032x")
    assert tel.inject({}) == {}


def test_unreachable_collector_never_raises() -> None:
    # Nothing listens on this port: export fails, quietly.
    tel = Telemetry("svc", Topology(port_base=1))
    with tel.tracer.start_as_current_span("x"):
        pass
    tel.shutdown()


def test_the_span_resource_is_hashed_once_and_still_groups_as_a_plain_resource() -> None:
    """The OTLP encoder keys a dict by each span's resource: the hash is cached, equal to the
    SDK's own, and every span of a service still lands in one resource group."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource

    exporter = InMemorySpanExporter()
    tel = Telemetry("svc", None, exporter=exporter)
    for name in ("a", "b", "c"):
        with tel.tracer.start_as_current_span(name):
            pass
    spans = exporter.get_finished_spans()
    resource = spans[0].resource
    plain = Resource(resource.attributes, resource.schema_url)
    assert hash(resource) == hash(plain) and resource == plain
    assert resource.__dict__["_chaosctl_hash"] == hash(plain)  # cached after the first hash
    (group,) = encode_spans(spans).resource_spans
    assert len(group.scope_spans[0].spans) == 3
