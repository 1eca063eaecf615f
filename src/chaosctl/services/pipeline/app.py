"""The pipeline's stage services as ASGI apps (FastAPI) and their `serve` entry point.

`python -m chaosctl.services preprocess|postprocess --port-base N`. Both take the service
credential on their work route (the gateway sends it), keep `/healthz` and `/metrics` open, and
carry the shared request-scoped faults under `/admin/request-faults` (admin token): a stage-level
delay or abort is then a fault on that stage alone. The telemetry middleware makes each request's
server span a child of the gateway's stage span (W3C context), so one request is one trace.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.

import time
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict

from chaosctl.services.credential import require_service_token
from chaosctl.services.pipeline.stages import (
    DECISIONS, SCHEMAS, DecisionPolicy, FeatureSchema, StageRejected, decide, preprocess,
)
from chaosctl.services.request_faults import RequestAborted, RequestFacts, RequestFaults, admin_router
from chaosctl.services.telemetry import Telemetry
from chaosctl.services.validation import invalid_request
from chaosctl.settings import Settings
from chaosctl.stack.topology import Topology

MODEL = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Number = Annotated[float, Strict(), AllowInfNan(False)]
MAX_ROWS = 1024


class PreprocessBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: list[Annotated[list[Number], Field(min_length=1, max_length=4096)]] = Field(min_length=1, max_length=MAX_ROWS)


class PostprocessBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=64)
    outputs: list[Annotated[int, Strict()]] = Field(min_length=1, max_length=MAX_ROWS)
    confidence: list[Annotated[float, Strict(), AllowInfNan(False)]] = Field(min_length=1, max_length=MAX_ROWS)


class StageMetrics:
    def __init__(self, registry: Any, stage: str) -> None:
        from prometheus_client import Counter, Histogram

        self.stage = stage
        self.seconds = Histogram("chaosctl_pipeline_stage_seconds", "Work time of one pipeline stage call",
                                 ["stage", "model"], registry=registry)
        self.rows = Counter("chaosctl_pipeline_rows_total", "Rows through a pipeline stage", ["stage", "model"], registry=registry)
        self.clipped = Counter("chaosctl_pipeline_clipped_values_total", "Feature values winsorised by preprocess",
                               ["model"], registry=registry)
        self.decisions = Counter("chaosctl_pipeline_decisions_total", "Postprocess decisions", ["model", "decision"],
                                 registry=registry)
        self.rejected = Counter("chaosctl_pipeline_rejected_total", "Stage calls refused as invalid (422)",
                                ["stage", "model"], registry=registry)
        for decision in DECISIONS:  # every series exists from the start (dashboards, increase())
            self.decisions.labels("fraud-detector", decision)


def _faults_dependency(faults: RequestFaults) -> Any:
    async def request_faults(request: Request, model: str) -> None:
        if not faults.book.rules():
            return
        try:
            await faults.apply(RequestFacts.of(request.url.path, request.headers, model, None))
        except RequestAborted as exc:
            raise HTTPException(exc.status, exc.detail, headers=exc.headers) from None

    return request_faults


def create_app(stage: str, telemetry: Telemetry, service_token: str, admin_token: str,
               schemas: dict[str, FeatureSchema] | None = None, policy: DecisionPolicy = DecisionPolicy()) -> FastAPI:
    if stage not in ("preprocess", "postprocess"):
        raise ValueError(f"unknown pipeline stage {stage!r}")
    app = FastAPI(title=f"chaosctl {stage}", version="1")
    telemetry.install(app)
    metrics = StageMetrics(telemetry.registry, stage)
    faults = RequestFaults(telemetry.registry)
    app.state.request_faults = faults
    deps = [Depends(require_service_token(service_token, f"{stage} routes")), Depends(_faults_dependency(faults))]
    if stage == "preprocess":
        _preprocess_route(app, metrics, schemas or SCHEMAS, deps)
    else:
        _postprocess_route(app, metrics, policy, deps)
    app.include_router(admin_router(faults, admin_token))
    app.add_exception_handler(RequestValidationError, invalid_request)  # type: ignore[arg-type]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "stage": stage}

    return app


def _rejected(metrics: StageMetrics, model: str, exc: StageRejected) -> HTTPException:
    metrics.rejected.labels(metrics.stage, model).inc()
    return HTTPException(422, [{"loc": ["body"], "msg": str(exc), "type": "stage_rejected"}])


def _preprocess_route(app: FastAPI, metrics: StageMetrics, schemas: dict[str, FeatureSchema], deps: list[Any]) -> None:
    @app.post("/v1/preprocess/{model}", dependencies=deps)
    async def run(model: MODEL, body: PreprocessBody) -> dict[str, Any]:
        schema = schemas.get(model)
        if schema is None:
            raise HTTPException(404, f"no feature schema for model {model!r}")
        start = time.perf_counter()
        try:
            prepared = preprocess(body.inputs, schema)
        except StageRejected as exc:
            raise _rejected(metrics, model, exc) from None
        metrics.seconds.labels("preprocess", model).observe(time.perf_counter() - start)
        metrics.rows.labels("preprocess", model).inc(len(prepared.features))
        metrics.clipped.labels(model).inc(prepared.clipped)
        return {"model": model, "features": prepared.features, "clipped": prepared.clipped}


def _postprocess_route(app: FastAPI, metrics: StageMetrics, policy: DecisionPolicy, deps: list[Any]) -> None:
    @app.post("/v1/postprocess/{model}", dependencies=deps)
    async def run(model: MODEL, body: PostprocessBody) -> dict[str, Any]:
        if model not in SCHEMAS:
            raise HTTPException(404, f"no decision policy for model {model!r}")
        start = time.perf_counter()
        try:
            decisions = decide(body.outputs, body.confidence, policy)
        except StageRejected as exc:
            raise _rejected(metrics, model, exc) from None
        metrics.seconds.labels("postprocess", model).observe(time.perf_counter() - start)
        metrics.rows.labels("postprocess", model).inc(len(decisions))
        for d in decisions:
            metrics.decisions.labels(model, d.decision).inc()
        return {"model": model, "version": body.version, "decisions": [d.decision for d in decisions],
                "scores": [round(d.score, 6) for d in decisions], "reasons": [d.reason for d in decisions]}


def serve(name: str, topology: Topology, settings: Settings) -> None:
    """Run stage `name` (preprocess | postprocess) on its port until SIGTERM/SIGINT."""
    from chaosctl.services.telemetry import serve as run

    telemetry = Telemetry(name, topology)
    app = create_app(name, telemetry, settings.service_token, settings.admin_token)
    try:
        run(app, topology.pipeline_port(name))
    finally:
        telemetry.shutdown()
