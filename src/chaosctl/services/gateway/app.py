"""The gateway as an ASGI app (FastAPI) and its `serve` entry point.

`python -m chaosctl.services gateway --port-base N` calls `serve`. The request
logic lives in `core.Gateway`; this module maps it onto HTTP and OpenAPI.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.

import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

import orjson
from fastapi import Depends, FastAPI, Header, Path, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from opentelemetry import trace
from pydantic import AllowInfNan, BaseModel, Field, Strict, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from chaosctl.services.gateway.auth import Principal
from chaosctl.services.validation import invalid_request
from chaosctl.services.gateway.core import Deps, Gateway, GatewayConfig, GatewayError, PredictResponse
from chaosctl.services.gateway.events import EventPublisher, EventsConfig
from chaosctl.services.gateway.fastpath import FastRequest, PredictFastPath, header_map, send_json
from chaosctl.services.gateway.pipeline import Pipeline, PipelineConfig
from chaosctl.services.gateway.prediction_cache import PredictionCacheConfig, stores_held
from chaosctl.services.gateway.rollout import admin_router as rollout_admin_router
from chaosctl.services.gateway.routing import CanaryRule
from chaosctl.services.gateway.spans import LeanTracer
from chaosctl.services.request_faults import RequestFacts, admin_router
from chaosctl.services.telemetry import Telemetry
from chaosctl.settings import Settings
from chaosctl.stack.topology import LOCAL_REGION, REGIONS
from chaosctl.stack.topology import EVENTS, EVENTS_TOPIC, FRAUD_CANARY, FRAUD_STABLE, MODEL_SERVERS, PREDICTION_CACHE, REPLICAS, Topology

PREDICT_ROUTE = "/v1/models/{model}/predict"
MAX_ROWS = 1024
MAX_FEATURES = 4096
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
SPAN_DELAY_MS = 500
GC_GEN0_THRESHOLD = 7000  # objects allocated between young collections (CPython's default: 700)


# Strict: JSON true/false or "1" are not features (lax mode took true as 1.0, schemathesis found it).
Feature = Annotated[float, Strict(), AllowInfNan(False)]


class PredictRequest(BaseModel):
    inputs: list[Annotated[list[Feature], Field(min_length=1, max_length=MAX_FEATURES)]] = Field(
        min_length=1, max_length=MAX_ROWS, description="Rows of numeric features, all of one width."
    )

    @field_validator("inputs")
    @classmethod
    def _rectangular(cls, rows: list[list[float]]) -> list[list[float]]:
        if any(len(row) != len(rows[0]) for row in rows):
            raise ValueError("every row of inputs must have the same number of features")
        return rows


class ErrorBody(BaseModel):
    detail: str


class Health(BaseModel):
    status: str
    breakers: dict[str, str]


_ERRORS = {
    401: {"model": ErrorBody, "description": "No, invalid, expired or forged token"},
    404: {"model": ErrorBody, "description": "Unknown model, or no live version in the requested range"},
    429: {"model": ErrorBody, "description": "Rate limited; see Retry-After"},
    502: {"model": ErrorBody, "description": "The model server failed the request"},
    503: {"model": ErrorBody, "description": "No healthy backend (after fallback), or registry unavailable"},
}


def default_config(topology: Topology, settings: Settings) -> GatewayConfig:
    """The stack's gateway: dial the registry and every model server through its link."""
    return GatewayConfig(
        jwt_secret=settings.jwt_secret,
        registry_url=topology.via_proxy("gateway", "registry"),
        # The autoscaler's replicas are dialled at their own address (no Toxiproxy link: they come and go).
        upstream_urls={**{m.name: topology.via_proxy("gateway", m.name) for m in MODEL_SERVERS},
                       **{r.name: topology.url(r.name) for r in REPLICAS}},
        upstream_endpoints={m.name: topology.url(m.name) for m in (*MODEL_SERVERS, *REPLICAS)},
        service_token=settings.service_token,
        canary=(CanaryRule(FRAUD_STABLE.name, FRAUD_STABLE.version, FRAUD_CANARY.version, 0.05),),
        prediction_cache=PredictionCacheConfig(
            url=topology.via_proxy("gateway", PREDICTION_CACHE), password=settings.cache_password,
            ttl_s=settings.prediction_cache_ttl_s,
        ),
        admin_token=settings.admin_token,
        region=LOCAL_REGION, region_failover=settings.gateway_region_failover, regions=REGIONS,
        grafana_url=settings.grafana_url, grafana_token=settings.grafana_token,  # canary step/rollback annotations
    )


def default_pipeline(topology: Topology) -> PipelineConfig:
    """The pipelined model's stages, each dialled through its link."""
    return PipelineConfig(topology.via_proxy("gateway", "preprocess"), topology.via_proxy("gateway", "postprocess"))


def create_app(config: GatewayConfig, telemetry: Telemetry, deps: Deps | None = None,
               pipeline: PipelineConfig | None = None, events: EventPublisher | None = None) -> FastAPI:
    if not isinstance(telemetry.tracer, LeanTracer):  # the same spans, made for less (gateway/spans.py)
        telemetry.tracer = LeanTracer(telemetry.tracer)
    gateway = Gateway(config, telemetry, deps or Deps())
    app = GatewayApp(title="chaosctl gateway", version="1", lifespan=_lifespan(gateway, telemetry))
    app.state.gateway = gateway
    app.state.events = events  # the event path's publisher (gateway/events.py); None: no events
    app.state.pipeline = Pipeline(pipeline, gateway) if pipeline is not None else None
    telemetry.install(app)
    _add_predict_route(app, gateway, _principal_dependency(gateway), app.state.pipeline)
    _add_fast_path(app, gateway, telemetry, app.state.pipeline)
    _add_health_route(app, gateway)
    app.include_router(admin_router(gateway.request_faults, config.admin_token))
    app.include_router(rollout_admin_router(gateway.rollouts, gateway.rollout_recorder, config.admin_token))
    _add_error_handlers(app)
    return app


Lifespan = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]
PrincipalDependency = Callable[..., Awaitable[Principal]]


def _lifespan(gateway: Gateway, telemetry: Telemetry) -> Lifespan:
    """Close the gateway's clients and flush telemetry when the app stops."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await gateway.aclose()
            telemetry.shutdown()

    return lifespan


def _principal_dependency(gateway: Gateway) -> PrincipalDependency:
    bearer = HTTPBearer(auto_error=False, description="A JWT from `chaosctl token`")

    async def principal(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        # Auth and rate limit run as a dependency, so they answer before body validation.
        header = f"{creds.scheme} {creds.credentials}" if creds is not None else None
        who = gateway.authenticate(header)
        gateway.admit(who)
        return who

    return principal


def _add_predict_route(app: FastAPI, gateway: Gateway, principal: PrincipalDependency, pipe: Pipeline | None = None) -> None:
    @app.post(PREDICT_ROUTE, response_model=PredictResponse, responses=_ERRORS)  # type: ignore[arg-type]
    async def predict(
        body: PredictRequest,
        model: Annotated[str, Path(pattern=MODEL_NAME_PATTERN, description="Model name, e.g. fraud-detector")],
        who: Annotated[Principal, Depends(principal)],
        request: Request,
        response: Response,
        x_model_version: Annotated[
            str | None, Header(max_length=64, description="Exact version (2.3.1) or range (2.x, ~2.3, >=2.1,<3)")
        ] = None,
    ) -> PredictResponse:
        requested = x_model_version.strip() if x_model_version else ""
        facts = RequestFacts.of(request.url.path, request.headers)
        answer, cached = await _answer(request.app.state.events, gateway, pipe, model, body.inputs, requested, facts, who)
        response.headers["X-Prediction-Cache"] = cached
        return answer


async def _answer(
    events: EventPublisher | None, gateway: Gateway, pipe: Pipeline | None, model: str, inputs: list[list[float]],
    requested: str, facts: RequestFacts, who: Principal,
) -> tuple[PredictResponse, str]:
    """One predict request after admission (the FastAPI route's and the fast path's): the answer and
    what the prediction cache said; the event published, the request's server span labelled."""
    if pipe is not None and model == pipe.config.name:  # preprocess -> inference -> postprocess
        answer, cached = await pipe.predict(inputs, requested or None, facts)
    else:
        answer, cached = await gateway.predict_cached(model, inputs, requested or None, facts)  # blank = no header
    if events is not None:  # the scored transaction to Kafka: queued, never waited for
        await events.publish(answer, inputs, who.subject)
    route_span = trace.get_current_span()  # the request's server span (telemetry middleware)
    route_span.set_attributes({"prediction_cache": cached, "model": answer.model, "version": answer.version,
                               "device": answer.device, "server": answer.server, "client": who.subject})  # fmt: skip
    return answer, cached


class GatewayApp(FastAPI):
    """FastAPI, with the predict route's fast path (gateway/fastpath.py) in front of its stack."""

    fast_path: PredictFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fast_path is not None and scope["type"] == "http":
            await self.fast_path(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def _stack(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def _add_fast_path(app: GatewayApp, gateway: Gateway, telemetry: Telemetry, pipe: Pipeline | None) -> None:
    route = next(r for r in app.routes if getattr(r, "path", None) == PREDICT_ROUTE)

    async def handle(scope: Scope, _receive: Receive, send: Send) -> None:
        req: FastRequest = scope["chaosctl.predict"]
        with stores_held():  # the answer goes out before the prediction cache's store starts
            try:
                who = gateway.authenticate(req.authorization)
                gateway.admit(who)
                facts = RequestFacts(scope["path"], header_map(scope))  # as RequestFacts.of(path, Headers(scope))
                answer, cached = await _answer(app.state.events, gateway, pipe, req.model, req.inputs, req.requested, facts, who)
            except GatewayError as exc:
                await send_json(send, exc.status, orjson.dumps({"detail": _error_detail(exc)}), exc.headers)
                return
            await send_json(send, 200, answer.model_dump_json().encode(), {"X-Prediction-Cache": cached})

    app.fast_path = PredictFastPath(app._stack, telemetry.wrap(handle), route, MAX_ROWS, MAX_FEATURES)


def _add_health_route(app: FastAPI, gateway: Gateway) -> None:
    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        states = {name: state.name.lower() for name, state in gateway.breaker_states().items()}
        return Health(status="ok", breakers=states)


def _add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]


async def _gateway_error(_request: Request, exc: GatewayError) -> JSONResponse:
    return JSONResponse({"detail": _error_detail(exc)}, status_code=exc.status, headers=exc.headers)


def _error_detail(exc: GatewayError) -> object:
    if exc.status == 422:  # the model server refused the inputs: same shape as our own 422s
        return [{"loc": ["body", "inputs"], "msg": exc.detail, "type": "upstream_rejected"}]
    return exc.detail


async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    # A body that is not even JSON is a malformed body too: 422, as for a wrong shape.
    if exc.status_code == 400:
        error = {"loc": ["body"], "msg": str(exc.detail), "type": "json_invalid"}
        return JSONResponse({"detail": [error]}, status_code=422)
    return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)


def serve(name: str, topology: Topology, settings: Settings) -> None:
    """Run the stack's gateway on its port until SIGTERM/SIGINT."""
    from chaosctl.services.telemetry import serve as run

    telemetry = gateway_telemetry(name, topology)
    events = EventPublisher(default_events(topology, settings), telemetry)
    app = create_app(default_config(topology, settings), telemetry, pipeline=default_pipeline(topology), events=events)
    tune_gc()
    run(app, topology.gateway_port, corked=True)


def tune_gc() -> None:
    """Fewer, cheaper garbage collections while serving (the gateway process only, never a test's).

    Why: measured at 32 connections, the collector took ~0.18 ms CPU per request (~8% of the
    gateway's), most of it full collections walking every object of the imports and the app
    (~70 ms each). Frozen, those objects are left out of every collection; a young generation of
    7000 objects instead of 700 collects ~30x less often (one request allocates a few hundred):
    ~0.03 ms per request. Cycles are still collected, a little later."""
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])


def gateway_telemetry(name: str, topology: Topology) -> Telemetry:
    """The gateway's telemetry: its spans batched for SPAN_DELAY_MS (every predict makes ~6 spans;
    the exporter's HTTP call per batch cost ~15% of the gateway's CPU at the services' 200 ms)."""
    return Telemetry(name, topology, span_delay_ms=SPAN_DELAY_MS)


def default_events(topology: Topology, settings: Settings) -> EventsConfig:
    """The stack's event path: the broker through link:gateway->events."""
    return EventsConfig(topology.via_proxy("gateway", EVENTS).removeprefix("kafka://"), EVENTS_TOPIC,
                        mode=settings.events_publish)
