"""`Telemetry.span` against the SDK's `tracer.start_as_current_span`, which it replaces on the
gateway's request path: the same spans, field for field, in success, error and cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from chaosctl.services.telemetry import Telemetry


def _shape(span: Any) -> dict[str, Any]:
    """What an exported span says, without its ids and times."""
    return {
        "name": span.name, "kind": span.kind, "attributes": dict(span.attributes or {}),
        "status": (span.status.status_code, span.status.description),
        "events": [(e.name, dict(e.attributes or {}).get("exception.type"), dict(e.attributes or {}).get("exception.message"))
                   for e in span.events],
        "parent": span.parent is not None,
    }  # fmt: skip


def _run(open_span: Callable[[Telemetry, str, Any, dict[str, Any]], Any], body: Callable[[Any], None]) -> list[dict[str, Any]]:
    """A parent span and a child opened by `open_span` running `body`; both exported spans' shapes,
    and the child's parent checked to be the parent span."""
    spans = InMemorySpanExporter()
    tel = Telemetry("t", None, exporter=spans)
    with tel.tracer.start_as_current_span("parent") as parent:
        try:
            with open_span(tel, "child", SpanKind.CLIENT, {"server": "s", "attempt": 1}) as child:
                assert child.get_span_context().trace_id == parent.get_span_context().trace_id
                body(child)
        except (ValueError, asyncio.CancelledError):
            pass
    finished = spans.get_finished_spans()
    child_span = next(s for s in finished if s.name == "child")
    assert child_span.parent is not None and child_span.parent.span_id == parent.get_span_context().span_id
    return [_shape(s) for s in finished]


def _sdk(tel: Telemetry, name: str, kind: Any, attrs: dict[str, Any]) -> Any:
    return tel.tracer.start_as_current_span(name, kind=kind, attributes=attrs)


def _ours(tel: Telemetry, name: str, kind: Any, attrs: dict[str, Any]) -> Any:
    return tel.span(name, kind, attrs)


def _fine(span: Any) -> None:
    span.set_attribute("outcome", "ok")


def _fails(_span: Any) -> None:
    raise ValueError("boom")


def _cancelled(_span: Any) -> None:
    raise asyncio.CancelledError


@pytest.mark.parametrize("body", [_fine, _fails, _cancelled], ids=["ok", "exception", "cancelled"])
def test_a_span_is_the_sdks_span_field_for_field(body: Callable[[Any], None]) -> None:
    ours, sdk = _run(_ours, body), _run(_sdk, body)
    assert ours == sdk
    if body is _fails:
        assert ours[0]["events"] == [("exception", "ValueError", "boom")] and ours[0]["status"][1] == "ValueError: boom"


def test_the_span_is_current_inside_and_the_parent_again_after() -> None:
    from opentelemetry import trace

    tel = Telemetry("t", None, exporter=InMemorySpanExporter())
    with tel.tracer.start_as_current_span("parent") as parent:
        with tel.span("child") as child:
            assert trace.get_current_span() is child
        assert trace.get_current_span() is parent
        assert child.kind is SpanKind.INTERNAL and not child.is_recording()  # ended on exit


def test_inject_writes_what_the_w3c_propagator_writes() -> None:
    """`Telemetry.inject` (the propagator's steps inline) against TraceContextTextMapPropagator.inject:
    a sampled span, an unsampled one with a trace state, a headers dict given, and no span at all."""
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState, use_span
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    tel, w3c = Telemetry("t", None, exporter=InMemorySpanExporter()), TraceContextTextMapPropagator()

    def both(given: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        expected = dict(given)
        w3c.inject(expected)
        return dict(tel.inject(dict(given))), expected

    with tel.tracer.start_as_current_span("sampled"):
        ours, theirs = both({"authorization": "Bearer x"})
        assert ours == theirs and ours["traceparent"].startswith("00-") and len(ours) == 2
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(0),
                         trace_state=TraceState([("vendor", "v1"), ("other", "o")]))  # fmt: skip
    with use_span(NonRecordingSpan(remote)):
        ours, theirs = both({})
        assert ours == theirs == {"traceparent": f"00-{0xABC:032x}-{0xDEF:016x}-00", "tracestate": "vendor=v1,other=o"}
    assert both({}) == ({}, {})
