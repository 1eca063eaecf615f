"""Telemetry shared by every chaosctl service: Prometheus RED metrics and OpenTelemetry traces.

One `Telemetry` per service process, no global state: its own `CollectorRegistry`
(so several services can live in one test process) and its own `TracerProvider`
(never the global one). Traces go over OTLP/HTTP to Jaeger; an unreachable Jaeger
never crashes or blocks the host (exporter errors are swallowed, timeouts short).

Usage in a service::

    tel = Telemetry("registry", topology)
    app = FastAPI(lifespan=...)
    tel.install(app)                   # RED middleware + server span per request + GET /metrics
    with tel.tracer.start_as_current_span("etcd range"): ...
    headers = tel.inject({})           # W3C traceparent for an outgoing httpx call
    tel.shutdown()                     # flush spans (in the lifespan's exit)

Heavy imports (OTel SDK, exporter, prometheus_client, starlette) happen in the
constructor / functions, never at import of this module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from chaosctl.services.buckets import HTTP_BUCKETS

if TYPE_CHECKING:  # pragma: no cover
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from chaosctl.stack.topology import Topology

HTTP_LABELS = ("service", "route", "method", "code")
SPAN_SCHEDULE_DELAY_MS = 200
GRACEFUL_SHUTDOWN_S = 5
UNTRACED_PATHS = frozenset({"/healthz", "/metrics"})
_W3C_HEADERS = frozenset({b"traceparent", b"tracestate"})  # ASGI header names are lower-case
EXPORT_TIMEOUT_S = 2.0
_QUIET_LOGGERS = (
    "chaosctl.services.otlp_json",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk._shared_internal",
)


def otlp_traces_url(topology: Topology) -> str:
    return f"http://127.0.0.1:{topology.jaeger_otlp_http_port}/v1/traces"


def _safe_exporter(inner: SpanExporter) -> SpanExporter:
    """Wrap an exporter so that any exception becomes a FAILURE result (never raised)."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class SafeExporter(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            try:
                return inner.export(spans)
            except Exception:  # noqa: BLE001 - telemetry must never take the host down
                return SpanExportResult.FAILURE

        def shutdown(self) -> None:
            try:
                inner.shutdown()
            except Exception:  # noqa: BLE001
                pass

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    return SafeExporter()


def _http_metrics(registry: Any) -> tuple[Any, Any]:
    """The RED pair every service exports: request duration histogram and request counter."""
    from prometheus_client import Counter, Histogram

    duration = Histogram(
        "chaosctl_http_request_duration_seconds",
        "HTTP request duration by route template",
        HTTP_LABELS,
        buckets=HTTP_BUCKETS,
        registry=registry,
    )
    requests = Counter(
        "chaosctl_http_requests_total",
        "HTTP requests by route template and status code",
        HTTP_LABELS,
        registry=registry,
    )
    return duration, requests


def _tracer_provider(
    service_name: str, topology: Topology | None, exporter: SpanExporter | None, export: bool,
    span_delay_ms: int = SPAN_SCHEDULE_DELAY_MS,
) -> TracerProvider:
    """A private provider: `exporter` if given, else OTLP to the stack's Jaeger if exporting, else nowhere."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=_hashed_once(Resource.create({"service.name": service_name})))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif export and topology is not None:
        # Batches of up to half the queue (the SDK's default: 512): a busy gateway (~3,500 spans/s)
        # then exports every `span_delay_ms` (~2 POSTs/s) rather than every 512 spans (~7/s), each
        # POST's fixed cost shared by more spans. Spans wait no longer: the delay still bounds it.
        queue = max(2048, 8 * span_delay_ms)
        provider.add_span_processor(
            BatchSpanProcessor(_otlp_exporter(topology), schedule_delay_millis=span_delay_ms,
                               max_queue_size=queue, max_export_batch_size=queue // 2)
        )
    return provider


def _hashed_once(resource: Any) -> Any:
    """The same resource, hashed once. The OTLP encoder groups every exported span by its resource
    (a dict key per span) and Resource hashes by dumping its attributes to JSON each time: ~16 % of
    the gateway's export thread under load. A resource never changes after it is made."""
    from opentelemetry.sdk.resources import Resource

    class _HashedResource(Resource):
        def __hash__(self) -> int:
            cached = self.__dict__.get("_chaosctl_hash")
            if cached is None:
                cached = self.__dict__["_chaosctl_hash"] = super().__hash__()
            return cached

    return _HashedResource(resource.attributes, resource.schema_url)


def _otlp_exporter(topology: Topology) -> SpanExporter:
    """OTLP/HTTP JSON (services/otlp_json.py: encoded with orjson, ~2x cheaper per span than the
    SDK's protobuf encoder), wrapped so that no error ever reaches the service."""
    from chaosctl.services.otlp_json import json_exporter

    for name in _QUIET_LOGGERS:  # a down Jaeger must not flood the service's log
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return _safe_exporter(json_exporter(otlp_traces_url(topology), EXPORT_TIMEOUT_S))


class Telemetry:
    """Metrics registry, HTTP RED metrics, tracer and propagation helpers of one service."""

    def __init__(
        self,
        service_name: str,
        topology: Topology | None,
        *,
        exporter: SpanExporter | None = None,
        export: bool = True,
        span_delay_ms: int = SPAN_SCHEDULE_DELAY_MS,
    ) -> None:
        """`topology=None` or `export=False` gives a tracer that exports nowhere (unit tests).

        `exporter` overrides the OTLP exporter (e.g. an in-memory one in tests). `span_delay_ms`:
        how long spans wait to be batched (a busy service exports fewer, larger batches: each export
        is an HTTP call whose fixed cost a batch shares).
        """
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
        from prometheus_client import CollectorRegistry

        self.service_name = service_name
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_duration, self.http_requests = _http_metrics(self.registry)
        self._http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.tracer_provider = _tracer_provider(service_name, topology, exporter, export, span_delay_ms)
        self.tracer = self.tracer_provider.get_tracer(f"chaosctl.{service_name}")
        from opentelemetry.trace import SpanKind

        self._internal, self._server = SpanKind.INTERNAL, SpanKind.SERVER  # no import per request
        self._propagator = TraceContextTextMapPropagator()
        from opentelemetry.trace import INVALID_SPAN_CONTEXT, get_current_span

        self._get_current_span, self._invalid = get_current_span, INVALID_SPAN_CONTEXT

    # -- spans ---------------------------------------------------------------

    def span(self, name: str, kind: Any = None, attributes: Mapping[str, Any] | None = None,
             context: Context | None = None) -> Any:  # fmt: skip
        """`tracer.start_as_current_span(name, context, kind, attributes)`, as one plain context
        manager: the same span (sampled, parented, attributed by the SDK's `start_span`), made
        current inside, an escaping exception recorded on it with its status set to ERROR as the
        SDK's `use_span` does, ended on exit. Why: the SDK nests two generator-based context
        managers per span; a gateway request makes six spans and that wrapping was ~5 % of its CPU."""
        span = self.tracer.start_span(name, context, self._internal if kind is None else kind, attributes)
        return _current_span_type()(span)

    # -- propagation ---------------------------------------------------------

    def extract(self, headers: Mapping[str, str]) -> Context:
        """The trace context carried by incoming W3C `traceparent` headers (or an empty one)."""
        return self._propagator.extract(carrier={k.lower(): v for k, v in headers.items()})

    def inject(self, headers: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
        """Add `traceparent` for the current span to `headers` (for an outgoing httpx call)."""
        carrier: MutableMapping[str, str] = {} if headers is None else headers
        # TraceContextTextMapPropagator.inject's steps, inline (the gateway injects twice per request).
        ctx = self._get_current_span().get_span_context()
        if ctx != self._invalid:
            carrier["traceparent"] = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"
            if ctx.trace_state:
                carrier["tracestate"] = ctx.trace_state.to_header()
        return carrier

    # -- metrics -------------------------------------------------------------

    def observe_http(self, route: str, method: str, code: int, seconds: float) -> None:
        children = self._http_children.get((route, method, code))
        if children is None:  # each label set's children looked up once (labels() locks and hashes)
            labels = (self.service_name, route, method, str(code))
            children = self._http_children[(route, method, code)] = (
                self.http_duration.labels(*labels), self.http_requests.labels(*labels))
        children[0].observe(seconds)
        children[1].inc()

    def metrics_text(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def metrics_endpoint(self) -> Any:
        """A Starlette endpoint serving this registry in Prometheus text format."""
        from starlette.responses import Response

        async def metrics(_request: Any) -> Response:
            body, ctype = self.metrics_text()
            return Response(body, media_type=ctype)

        return metrics

    def wrap(self, app: Any) -> Any:
        """`app` (plain ASGI) inside the same RED middleware and server span that `install` adds."""
        return _HttpTelemetryMiddleware(app, telemetry=self)

    def install(self, app: Any, *, trace_requests: bool = True) -> None:
        """Add the RED middleware (and a server span per request) and `GET /metrics` to `app`."""
        app.add_route("/metrics", self.metrics_endpoint(), methods=["GET"], include_in_schema=False)
        app.add_middleware(_HttpTelemetryMiddleware, telemetry=self, trace_requests=trace_requests)

    def shutdown(self) -> None:
        """Flush and stop the tracer; never raises."""
        try:
            self.tracer_provider.shutdown()
        except Exception:  # noqa: BLE001
            pass


_CURRENT_SPAN: Any = None  # the class below, made on first use (the OTel imports stay out of import time)


def _current_span_type() -> Any:
    global _CURRENT_SPAN  # noqa: PLW0603 - a cached class, not state
    if _CURRENT_SPAN is None:
        from opentelemetry.context import attach, detach, set_value
        from opentelemetry.trace import Status, StatusCode
        from opentelemetry.trace.propagation import _SPAN_KEY

        class CurrentSpan:
            """`opentelemetry.trace.use_span(span, end_on_exit=True)`, step for step, as a class."""

            __slots__ = ("span", "token")

            def __init__(self, span: Any) -> None:
                self.span = span

            def __enter__(self) -> Any:
                self.token = attach(set_value(_SPAN_KEY, self.span))
                return self.span

            def __exit__(self, _type: Any, exc: BaseException | None, _tb: Any) -> None:
                span = self.span
                try:
                    detach(self.token)
                    # As use_span: Exception only (not GeneratorExit, CancelledError), recording spans only.
                    if isinstance(exc, Exception) and span.is_recording():
                        span.record_exception(exc)
                        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                finally:
                    span.end()

        _CURRENT_SPAN = CurrentSpan
    return _CURRENT_SPAN


def route_template(scope: Mapping[str, Any]) -> str:
    """The matched route's template (`/v1/services/{id}`), so labels stay low-cardinality."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return "unmatched"


class _HttpTelemetryMiddleware:
    """Pure ASGI middleware: one server span per request (context extracted) + RED metrics."""

    def __init__(self, app: Any, telemetry: Telemetry, trace_requests: bool = True) -> None:
        self.app = app
        self.tel = telemetry
        self.trace_requests = trace_requests

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") == "/metrics":
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        # Health probes arrive every second from the stack: metrics yes, traces no (noise in Jaeger).
        trace_this = self.trace_requests and scope.get("path") not in UNTRACED_PATHS
        status = {"code": 500}  # a request that dies before its response starts counts as a 500

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        start = time.perf_counter()
        span_cm = self._server_span(scope, method) if trace_this else None
        span = span_cm.__enter__() if span_cm is not None else None
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = route_template(scope)
            self.tel.observe_http(route, method, status["code"], time.perf_counter() - start)
            if span_cm is not None:
                _label_server_span(span, method, route, status["code"])
                span_cm.__exit__(None, None, None)

    def _server_span(self, scope: Mapping[str, Any], method: str) -> Any:
        """The request's server span (as a context manager), child of the caller's `traceparent`."""
        # Only the W3C headers matter to the propagator: the rest are not decoded.
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", []) if k in _W3C_HEADERS}
        return self.tel.span(f"{method} {scope.get('path', '')}", self.tel._server, context=self.tel.extract(headers))  # noqa: SLF001


def _label_server_span(span: Any, method: str, route: str, code: int) -> None:
    """Name the span by route template (low cardinality) and mark server errors."""
    span.update_name(f"{method} {route}")
    span.set_attributes({"http.route": route, "http.request.method": method, "http.response.status_code": code})
    if code >= 500:
        from opentelemetry.trace import Status, StatusCode  # here: a function-level import costs ~1 us a call

        span.set_status(Status(StatusCode.ERROR))

def serve(app: Any, port: int, *, corked: bool = False) -> None:
    """Run `app` with uvicorn on 127.0.0.1:`port` until SIGTERM/SIGINT (graceful: lifespan exit runs).
    `corked`: each response leaves in one write (services/corked.py), for a service on the hot path."""
    import uvicorn

    http: Any = "auto"
    if corked:
        from chaosctl.services.corked import CorkedHttpToolsProtocol

        http = CorkedHttpToolsProtocol
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False, http=http,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,  # a hung request must not block SIGTERM forever
    )  # fmt: skip
    uvicorn.Server(config).run()  # uvicorn installs SIGTERM/SIGINT handlers that drain and exit
