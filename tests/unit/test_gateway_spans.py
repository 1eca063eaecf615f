"""The gateway's lean spans (gateway/spans.py) against the SDK's: each scenario is played once
through the SDK's tracer and once through `LeanTracer` over the same provider, and the exported
spans are compared as the OTLP JSON the gateway sends (ids and times aside), plus parentage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from chaosctl.services.gateway.spans import LeanSpan, LeanTracer
from chaosctl.services.otlp_json import _span

Scenario = Callable[[Any], None]


def _exported(scenario: Scenario, lean: bool, limits: SpanLimits | None = None) -> list[dict[str, Any]]:
    spans = InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits or SpanLimits())
    provider.add_span_processor(SimpleSpanProcessor(spans))
    sdk = provider.get_tracer("chaosctl.t")
    scenario(LeanTracer(sdk) if lean else sdk)
    out = []
    for span in spans.get_finished_spans():
        encoded = _span(span)
        for key in ("traceId", "spanId", "parentSpanId", "startTimeUnixNano", "endTimeUnixNano"):
            encoded.pop(key, None)
        for event in encoded.get("events", []):
            event.pop("timeUnixNano")
            for attr in event["attributes"]:  # the stack differs by the frames of the tracer called
                if attr["key"] == "exception.stacktrace":
                    attr["value"] = attr["value"]["stringValue"].splitlines()[-1]
        encoded["has_parent"] = span.parent is not None
        encoded["dropped"] = (span.dropped_attributes, span.dropped_events, span.dropped_links)
        encoded["resource"] = dict(span.resource.attributes)
        encoded["scope"] = span.instrumentation_scope.name if span.instrumentation_scope else None
        out.append(encoded)
    return out


def _request(tracer: Any) -> None:
    """The gateway's shape: a server span with children, attributes set at start and later."""
    with tracer.start_as_current_span("POST /v1/models/x/predict", kind=SpanKind.SERVER) as server:
        with tracer.start_as_current_span("registry lookup", attributes={"model": "m"}) as span:
            span.set_attributes({"cache.result": "hit", "cache.age_s": 0.5})
        attrs = {"attempt": 1, "server": "gpu-1", "model": "m", "version": "2.3.1", "device": "gpu", "region": "eu"}
        with tracer.start_as_current_span("upstream gpu-1", kind=SpanKind.CLIENT, attributes=attrs) as span:
            span.set_attributes({"outcome": "ok", "http.response.status_code": 200})
            span.set_attribute("attempt", 2)  # an updated key moves to the end
        with tracer.start_as_current_span("cache store") as span:
            span.set_status(Status(StatusCode.ERROR, "redis down"))
        server.update_name("POST /v1/models/{model}/predict")
        server.set_attributes({"http.route": "/v1/models/{model}/predict", "ok": True, "ratio": 0.25})


def _odd_values(tracer: Any) -> None:
    """Values the SDK cleans: lists, None, an object, an empty key; events and links."""
    with tracer.start_as_current_span("odd", attributes={"list": [1, 2], "none": None}) as span:
        span.set_attribute("obj", object())
        span.set_attribute("", "empty key")
        span.set_attribute("later", "plain again")
        span.set_attributes({"tuple": ("a", "b"), 3: "int key"})
        span.add_event("evt", {"k": "v"})
        span.add_link(SpanContext(1, 2, is_remote=True, trace_flags=TraceFlags(1)), {"l": 1})
    span.set_attribute("after end", 1)  # ignored, as by the SDK


def _failure(tracer: Any) -> None:
    with pytest.raises(ValueError):
        with tracer.start_as_current_span("fails") as span:
            span.set_attribute("a", 1)
            raise ValueError("boom")


def _many(tracer: Any) -> None:
    with tracer.start_as_current_span("many", attributes={"a": 1, "b": "x" * 10}) as span:
        for i in range(5):
            span.set_attribute(f"k{i}", "y" * 20)
        for i in range(4):
            span.add_event(f"e{i}")


def _remote_parent(tracer: Any) -> None:
    """A caller's sampled traceparent with a tracestate: the children carry its trace state."""
    from opentelemetry.trace import TraceState

    caller = SpanContext(7, 8, is_remote=True, trace_flags=TraceFlags(1), trace_state=TraceState([("k", "v")]))
    with tracer.start_as_current_span("server", context=trace.set_span_in_context(NonRecordingSpan(caller)),
                                      kind=SpanKind.SERVER):  # fmt: skip
        with tracer.start_as_current_span("child", attributes={"a": "b"}):
            pass


@pytest.mark.parametrize("scenario", [_request, _odd_values, _failure, _many, _remote_parent])
def test_lean_spans_export_as_the_sdks(scenario: Scenario) -> None:
    assert _exported(scenario, lean=True) == _exported(scenario, lean=False)


def test_limits_drop_and_truncate_as_the_sdk() -> None:
    limits = SpanLimits(max_span_attributes=3, max_events=2, max_span_attribute_length=8)
    lean, sdk = _exported(_many, True, limits), _exported(_many, False, limits)
    assert lean == sdk and lean[0]["dropped"] == (4, 2, 0)
    only_count = SpanLimits(max_span_attributes=3)
    assert _exported(_many, True, only_count) == _exported(_many, False, only_count)


def test_a_sampler_of_its_own_is_asked_as_by_the_sdk() -> None:
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    class Counting(IdGenerator):  # the same ids in both runs: the ratio sampler decides by them
        def __init__(self) -> None:
            self.n = 0

        def generate_span_id(self) -> int:
            self.n += 1
            return self.n

        def generate_trace_id(self) -> int:
            self.n += 1
            return self.n * 0x0F0F0F0F0F0F0F0F0F

    def run(lean: bool) -> list[str]:
        spans = InMemorySpanExporter()
        sampler = ParentBased(TraceIdRatioBased(0.5), local_parent_sampled=TraceIdRatioBased(0.0))
        provider = TracerProvider(sampler=sampler, id_generator=Counting())
        provider.add_span_processor(SimpleSpanProcessor(spans))
        tracer: Any = LeanTracer(provider.get_tracer("t")) if lean else provider.get_tracer("t")
        for i in range(20):
            ctx = trace.set_span_in_context(NonRecordingSpan(SpanContext(i << 60 | 1, 1, is_remote=False, trace_flags=TraceFlags(1))))
            tracer.start_span(f"s{i}", context=ctx).end()
            tracer.start_span(f"root{i}").end()
        return sorted(s.name for s in spans.get_finished_spans())

    lean = run(True)
    assert lean == run(False) and not any(n.startswith("s") for n in lean) and 0 < len(lean) < 20


def test_parents_sampling_and_the_current_span() -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer = LeanTracer(provider.get_tracer("t"))
    with tracer.start_as_current_span("root") as root:
        assert isinstance(root, LeanSpan) and trace.get_current_span() is root
        child = tracer.start_span("child")
        child.end()
    assert child.parent.span_id == root.get_span_context().span_id
    assert child.get_span_context().trace_id == root.get_span_context().trace_id
    assert child.get_span_context().trace_flags == root.get_span_context().trace_flags
    unsampled = trace.set_span_in_context(NonRecordingSpan(SpanContext(5, 6, is_remote=True, trace_flags=TraceFlags(0))))
    dropped = tracer.start_span("not sampled", context=unsampled)
    assert not dropped.is_recording() and dropped.get_span_context().trace_id == 5
    assert [s.name for s in spans.get_finished_spans()] == ["child", "root"]


def test_lean_spans_set_the_same_fields_as_the_sdks_and_the_private_ones_read_exist() -> None:
    """LeanSpan sets Span.__init__'s fields itself and LeanTracer reads the SDK's private fields: an SDK
    upgrade that adds, renames or drops one must fail here, not export subtly different spans."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    sdk = provider.get_tracer("t")
    sdk_span, lean_span = sdk.start_span("s", attributes={"a": 1}), LeanTracer(sdk).start_span("s", attributes={"a": 1})
    assert isinstance(lean_span, LeanSpan) and type(sdk_span) is not LeanSpan
    assert set(vars(lean_span)) == set(vars(sdk_span))
    for obj, names in ((sdk, ("_tracer_metrics", "_span_limits", "_instrumentation_scope", "_is_enabled")),
                       (sdk.span_processor, ("_on_ending",)),
                       (sdk.sampler, ("_local_parent_sampled", "_remote_parent_sampled"))):  # fmt: skip
        assert [n for n in names if not hasattr(obj, n)] == []
    sdk_span.end()
    lean_span.end()


def test_dropped_events_and_links_counted_while_the_attributes_stay_plain() -> None:
    """otlp_json skips the dropped counts only for a span whose attributes, events and links are all
    still plain (nothing dropped): events or links over their limit (even a limit of 0, which leaves
    the list empty) are counted beside plain attributes, as from the SDK's spans."""

    def plain_attrs(tracer: Any) -> None:
        with tracer.start_as_current_span("s", attributes={"a": "b"}) as span:
            for i in range(3):
                span.add_event(f"e{i}")
            span.add_link(SpanContext(1, 2, is_remote=True, trace_flags=TraceFlags(1)))

    for limits, counts in ((SpanLimits(max_events=1), {"droppedEventsCount": 2}),
                           (SpanLimits(max_events=0, max_links=0), {"droppedEventsCount": 3, "droppedLinksCount": 1})):  # fmt: skip
        lean, sdk = _exported(plain_attrs, True, limits), _exported(plain_attrs, False, limits)
        assert lean == sdk
        assert {k: v for k, v in lean[0].items() if k.startswith("dropped") and k != "dropped"} == counts
