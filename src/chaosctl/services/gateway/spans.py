"""The gateway's spans, made for less: the SDK's spans, minus the bookkeeping a one-thread owner does not need.

Why: a predict request makes six spans (server, registry lookup, cache lookup, upstream, cache
store, publish) and the SDK's span creation was the largest item of the gateway's CPU (cProfile,
1 connection: ~20 %): per span a lock, a `BoundedAttributes` (its own lock, each value cleaned
through a chain of checks), two `BoundedList`s (a lock and a deque each), and on every attribute
set a lock again. The gateway's spans are made, changed and ended on the event loop's thread
only, and their attributes are plain strings, numbers and bools.

`LeanTracer.start_span` is the SDK's `Tracer.start_span` step for step (same sampler call, ids,
trace flags, parent, resource, scope, limits, processors), and makes a `LeanSpan`: an SDK `Span`
subclass whose attributes are a plain dict (a plain value is stored as it is, anything else is
a key set again moves to the end, as in `BoundedAttributes`; anything else, a string limit, or
the attribute limit reached, and the span's attributes become the SDK's `BoundedAttributes` from
then on, which clean, truncate and count what they drop), whose event and link lists are made on first use, and which takes no locks.
Everything else (events, exceptions, status, names, the ReadableSpan handed to the processors on
end) is the SDK's code. Exported spans are the same, field for field (tests/unit/test_gateway_spans.py),
and a LeanSpan's fields are an SDK Span's, the private SDK fields read here existing (same file: an SDK
upgrade that changes them fails there, loudly).
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from time import time_ns
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Span, Tracer
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, ParentBased
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace.status import Status, StatusCode

log = logging.getLogger(__name__)
_PLAIN = (str, bool, int, float)  # stored as they are (the SDK's cleaning returns them unchanged)
_NO_LOCK = nullcontext()
_UNSET = Status(StatusCode.UNSET)
_SAMPLED = trace_api.TraceFlags(trace_api.TraceFlags.SAMPLED)
_DEFAULT = trace_api.TraceFlags(trace_api.TraceFlags.DEFAULT)
_FLAGS = {(sampled, random): trace_api.TraceFlags((_SAMPLED if sampled else _DEFAULT)
                                                  | (trace_api.TraceFlags.RANDOM_TRACE_ID if random else 0))
          for sampled in (False, True) for random in (False, True)}  # fmt: skip


class LeanSpan(Span):
    """An SDK span with a plain-dict attribute store, lists made on first use, and no locks."""

    def __init__(self, name: str, context: trace_api.SpanContext, parent: trace_api.SpanContext | None,
                 tracer: Tracer, kind: trace_api.SpanKind, record_end_metrics: Any) -> None:  # fmt: skip
        # Not Span.__init__: the same fields, set directly (ReadableSpan's and Span's).
        self._name, self._context, self._kind, self._parent = name, context, kind, parent
        self._instrumentation_info = tracer.instrumentation_info
        self._instrumentation_scope = tracer._instrumentation_scope  # noqa: SLF001
        self._start_time = self._end_time = None
        self._resource, self._status = tracer.resource, _UNSET
        self._sampler, self._trace_config = tracer.sampler, None
        self._record_exception = self._set_status_on_exception = True
        self._span_processor, self._limits = tracer.span_processor, tracer._span_limits  # noqa: SLF001
        self._lock = _NO_LOCK  # for any SDK method that takes it
        self._attributes: Any = {}
        self._events: Any = ()
        self._links: Any = ()
        self._record_end_metrics = record_end_metrics

    def _plain(self, key: Any, value: Any) -> bool:
        """A value BoundedAttributes would store unchanged under a valid key."""
        return type(key) is str and key != "" and type(value) in _PLAIN and self._limits.max_span_attribute_length is None

    def _bounded(self) -> BoundedAttributes:
        """The attributes as the SDK keeps them (from here on): for anything but plain values within the limit."""
        attrs = self._attributes
        if type(attrs) is dict:
            limits = self._limits
            bounded = BoundedAttributes(limits.max_span_attributes, None, immutable=False,
                                        max_value_len=limits.max_span_attribute_length)  # fmt: skip
            bounded._dict.update(attrs)  # noqa: SLF001 - already clean and within the limit
            self._attributes = attrs = bounded
        return attrs  # type: ignore[no-any-return]

    def _put(self, key: str, value: Any) -> None:
        attrs = self._attributes
        if type(attrs) is not dict or not self._plain(key, value):
            self._bounded()[key] = value
        elif key in attrs:
            del attrs[key]  # as BoundedAttributes: an updated key moves to the end
            attrs[key] = value
        elif self._limits.max_span_attributes is not None and len(attrs) >= self._limits.max_span_attributes:
            self._bounded()[key] = value  # the oldest is dropped, and counted
        else:
            attrs[key] = value

    def _put_all(self, attributes: Any) -> None:
        attrs, limit = self._attributes, self._limits.max_span_attributes
        if (type(attrs) is dict and self._limits.max_span_attribute_length is None
                and (limit is None or len(attrs) + len(attributes) <= limit)
                and all(type(k) is str and k != "" and type(v) in _PLAIN for k, v in attributes.items())):  # fmt: skip
            for key, value in attributes.items():  # plain, within the limit: as _put, unchecked
                if key in attrs:
                    del attrs[key]
                attrs[key] = value
        else:
            self._bounded()._set_items(attributes)  # noqa: SLF001 - the SDK's own path

    def set_attributes(self, attributes: Any) -> None:
        if self._end_time is not None:
            log.warning("Setting attribute on ended span.")
            return
        self._put_all(attributes)

    def set_attribute(self, key: str, value: Any) -> None:
        if self._end_time is not None:
            log.warning("Setting attribute on ended span.")
            return
        self._put(key, value)

    def _add_event(self, event: Any) -> None:
        if self._end_time is not None:
            log.warning("Tried calling _add_event on an ended span.")
            return
        if type(self._events) is tuple:
            self._events = BoundedList(self._limits.max_events)
        self._events.append(event)

    def _add_link(self, link: Any) -> None:
        if self._end_time is not None:
            log.warning("Tried calling _add_link on an ended span.")
            return
        if type(self._links) is tuple:
            self._links = BoundedList(self._limits.max_links)
        self._links.append(link)

    def start(self, start_time: int | None = None, parent_context: Any = None) -> None:
        if self._start_time is not None:
            log.warning("Calling start() on a started span.")
            return
        self._start_time = start_time if start_time is not None else time_ns()
        self._span_processor.on_start(self, parent_context=parent_context)

    def end(self, end_time: int | None = None) -> None:
        if self._start_time is None:
            raise RuntimeError("Calling end() on a not started span.")
        if self._end_time is not None:
            log.warning("Calling end() on an ended span.")
            return
        self._end_time = end_time if end_time is not None else time_ns()
        if isinstance(self._attributes, BoundedAttributes):
            self._attributes._immutable = True  # noqa: SLF001 - as Span.end
        if self._record_end_metrics:
            self._record_end_metrics()
        self._span_processor._on_ending(self)  # noqa: SLF001
        # The span itself, not a ReadableSpan copy of its fields (Span._readable_span): a LeanSpan is a
        # ReadableSpan whose fields no longer change once ended (every setter checks _end_time first).
        self._span_processor.on_end(self)


class LeanTracer:
    """`start_span` (and `start_as_current_span`) of an SDK `Tracer`, making `LeanSpan`s."""

    def __init__(self, tracer: Tracer) -> None:
        self.sdk = tracer
        sampler = tracer.sampler  # the SDK's default (ParentBased(ALWAYS_ON)) samples every child of a sampled span
        self._parent_on = (type(sampler) is ParentBased and sampler._local_parent_sampled is ALWAYS_ON  # noqa: SLF001
                           and sampler._remote_parent_sampled is ALWAYS_ON)  # noqa: SLF001  # fmt: skip

    def start_span(self, name: str, context: Any = None, kind: trace_api.SpanKind = trace_api.SpanKind.INTERNAL,
                   attributes: Any = None, links: Any = (), start_time: int | None = None,
                   record_exception: bool = True, set_status_on_exception: bool = True) -> trace_api.Span:  # fmt: skip
        """As `Tracer.start_span` (opentelemetry-sdk 1.45), links, record_exception=False or
        set_status_on_exception=False excepted: those are handed to the SDK's own."""
        t = self.sdk
        if links or not record_exception or not set_status_on_exception:
            return t.start_span(name, context, kind, attributes, links, start_time, record_exception,
                                set_status_on_exception)  # fmt: skip
        parent = trace_api.get_current_span(context).get_span_context()
        if not t._is_enabled():  # noqa: SLF001
            return trace_api.NonRecordingSpan(context=parent)
        if parent is None or not parent.is_valid:
            parent, trace_id, random_id = None, t.id_generator.generate_trace_id(), t.id_generator.is_trace_id_random()
        else:
            trace_id, random_id = parent.trace_id, parent.trace_flags.random_trace_id
        if self._parent_on and parent is not None and parent.trace_flags.sampled:
            # ParentBased's delegate for a sampled parent is ALWAYS_ON: its result, without the two calls
            decision, sampled_attributes, trace_state = Decision.RECORD_AND_SAMPLE, attributes, parent.trace_state
        else:
            sampling = t.sampler.should_sample(context, trace_id, name, kind, attributes, ())
            decision, sampled_attributes, trace_state = sampling.decision, sampling.attributes, sampling.trace_state
        flags = _FLAGS[decision.is_sampled(), bool(random_id)]  # the SDK's TraceFlags(...) for each case, made once
        span_context = trace_api.SpanContext(trace_id, t.id_generator.generate_span_id(), is_remote=False,
                                             trace_flags=flags, trace_state=trace_state)  # fmt: skip
        end_metrics = t._tracer_metrics.start_span(parent, decision)  # noqa: SLF001
        if not decision.is_recording():
            return trace_api.NonRecordingSpan(context=span_context)
        span = LeanSpan(name, span_context, parent, t, kind, end_metrics)
        if sampled_attributes:
            span._put_all(sampled_attributes)  # noqa: SLF001
        span.start(start_time=start_time, parent_context=context)
        return span

    def start_as_current_span(self, name: str, context: Any = None, kind: trace_api.SpanKind = trace_api.SpanKind.INTERNAL,
                              attributes: Any = None, **kw: Any) -> Any:  # fmt: skip
        end_on_exit = kw.pop("end_on_exit", True)
        span = self.start_span(name, context, kind, attributes, **kw)
        return trace_api.use_span(span, end_on_exit=end_on_exit, record_exception=kw.get("record_exception", True),
                                  set_status_on_exception=kw.get("set_status_on_exception", True))  # fmt: skip

    def __getattr__(self, name: str) -> Any:  # anything else: the SDK tracer's
        return getattr(self.sdk, name)
