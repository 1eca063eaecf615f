"""The pipelined model at the gateway: preprocess -> inference -> postprocess.

Why the gateway orchestrates (not a chain preprocess -> model -> postprocess): each stage is
then a sibling client span under the request's server span (`stage preprocess`, `upstream
<server>`, `stage postprocess`), so the critical path splits the request's time into the three
hops and a slow stage is a row of its own in the bottleneck report. In a chain each hop would
hold the next one open and carry its whole latency in its span; the analysis could still find
the self time, but a slow postprocess would also show as a slow preprocess span. The inference
hop is the gateway's ordinary path (registry lookup, routing, cache, retries, breakers).

Each stage call has its own deadline (`stage_timeout_s`, the whole call, as the model tries); a
stage that fails or does not answer in time is a 503 naming the stage, its 422 (the inputs do
not fit the model's schema) the client's 422.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from chaosctl.services.credential import bearer_header
from chaosctl.services.gateway.core import GatewayError, PredictResponse
from chaosctl.services.gateway.prediction_cache import LookupResult
from chaosctl.services.pipeline.stages import INFERENCE_MODEL, PIPELINE_MODEL
from chaosctl.services.request_faults import RequestFacts

if TYPE_CHECKING:  # pragma: no cover
    from chaosctl.services.gateway.core import Gateway

OUTCOMES = ("ok", "timeout", "connect_error", "server_error", "rejected")


@dataclass(frozen=True)
class PipelineConfig:
    preprocess_url: str  # through link:gateway->preprocess
    postprocess_url: str  # through link:gateway->postprocess
    name: str = PIPELINE_MODEL
    model: str = INFERENCE_MODEL
    stage_timeout_s: float = 1.0


class PipelineMetrics:
    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Histogram

        from chaosctl.services.gateway.metrics import UPSTREAM_BUCKETS

        self.calls = Counter("chaosctl_gateway_pipeline_stage_requests_total", "Pipeline stage calls by outcome",
                             ("stage", "outcome"), registry=registry)
        self.duration = Histogram("chaosctl_gateway_pipeline_stage_duration_seconds",
                                  "Duration of one pipeline stage call, as the gateway sees it", ("stage",),
                                  buckets=UPSTREAM_BUCKETS, registry=registry)
        for stage in ("preprocess", "postprocess"):
            for outcome in OUTCOMES:
                self.calls.labels(stage, outcome)


class StageFailed(Exception):
    def __init__(self, outcome: str, status: int, detail: str) -> None:
        super().__init__(detail)
        self.outcome, self.status, self.detail = outcome, status, detail


class Pipeline:
    def __init__(self, config: PipelineConfig, gateway: Gateway) -> None:
        self.config = config
        self.gateway = gateway
        self.metrics = PipelineMetrics(gateway.tel.registry)

    async def predict(
        self, inputs: list[list[float]], requested: str | None, request: RequestFacts | None = None
    ) -> tuple[PredictResponse, LookupResult]:
        cfg = self.config
        pre = await self._stage("preprocess", f"{cfg.preprocess_url}/v1/preprocess/{cfg.model}", {"inputs": inputs})
        answer, cached = await self.gateway.predict_cached(cfg.model, _field(pre, "features", "preprocess"), requested, request)
        body = {"version": answer.version, "outputs": answer.outputs, "confidence": answer.confidence}
        post = await self._stage("postprocess", f"{cfg.postprocess_url}/v1/postprocess/{cfg.model}", body)
        return PredictResponse(model=cfg.name, version=answer.version, device=answer.device, server=answer.server,
                               outputs=_field(post, "decisions", "postprocess"),
                               confidence=_field(post, "scores", "postprocess")), cached  # fmt: skip

    async def _stage(self, stage: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        tel = self.gateway.tel
        with tel.span(f"stage {stage}", SpanKind.CLIENT) as span:
            span.set_attribute("stage", stage)
            span.set_attribute("model", self.config.model)
            start = time.perf_counter()
            try:
                answer = await self._call(stage, url, body)
            except StageFailed as exc:
                self.metrics.calls.labels(stage, exc.outcome).inc()
                span.set_attribute("outcome", exc.outcome)
                if exc.status >= 500:
                    span.set_status(Status(StatusCode.ERROR, exc.detail[:200]))
                raise GatewayError(exc.status, exc.detail) from None
            finally:
                self.metrics.duration.labels(stage).observe(time.perf_counter() - start)
            self.metrics.calls.labels(stage, "ok").inc()
            span.set_attribute("outcome", "ok")
            return answer

    async def _call(self, stage: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
        timeout = self.config.stage_timeout_s
        headers = dict(self.gateway.tel.inject(bearer_header(self.gateway.config.service_token)))
        try:
            async with asyncio.timeout(timeout):  # the whole call, not each socket read
                resp = await self.gateway.client.post(url, json=body, headers=headers, timeout=timeout)
        except (TimeoutError, httpx.TimeoutException):
            raise StageFailed("timeout", 503, f"pipeline stage {stage}: no answer within {timeout:g}s") from None
        except httpx.TransportError as exc:
            raise StageFailed("connect_error", 503, f"pipeline stage {stage}: {type(exc).__name__}: {exc}") from None
        if resp.status_code == 422:
            raise StageFailed("rejected", 422, f"pipeline stage {stage} refused the inputs: {_detail(resp)}")
        if resp.status_code != 200:
            raise StageFailed("server_error", 503, f"pipeline stage {stage} failed: HTTP {resp.status_code}")
        try:
            answer = resp.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise StageFailed("server_error", 503, f"pipeline stage {stage}: malformed answer")
        return answer


def _field(answer: dict[str, Any], key: str, stage: str) -> Any:
    value = answer.get(key)
    if not isinstance(value, list):
        raise GatewayError(503, f"pipeline stage {stage}: malformed answer (no {key!r} list)")
    return value


def _detail(resp: httpx.Response) -> str:
    try:
        detail = resp.json().get("detail")
    except (ValueError, AttributeError):
        return f"HTTP {resp.status_code}"
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        return str(detail[0].get("msg", ""))
    return str(detail)
