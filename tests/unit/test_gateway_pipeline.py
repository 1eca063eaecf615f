"""The gateway's pipelined model: preprocess -> inference -> postprocess, over fakes whose
stages run the real stage logic. One request is one trace with the three hops as siblings."""

from __future__ import annotations

import json
import random

import httpx
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from _gateway_fakes import SECRET, SERVICE_TOKEN, WALL_START, FakeClock, FakeStack, ok, raises, record, status
from chaosctl.services.gateway.app import create_app
from chaosctl.services.gateway.auth import mint_token
from chaosctl.services.gateway.core import Deps, GatewayConfig
from chaosctl.services.gateway.pipeline import PipelineConfig
from chaosctl.services.pipeline.stages import SCHEMAS, DecisionPolicy, decide, preprocess
from chaosctl.services.telemetry import Telemetry

ROW = [0.25] * 20


def real_preprocess(request: httpx.Request) -> httpx.Response:
    prepared = preprocess(json.loads(request.content)["inputs"], SCHEMAS["fraud-detector"])
    return httpx.Response(200, json={"features": prepared.features, "clipped": prepared.clipped})


def real_postprocess(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    got = decide(body["outputs"], body["confidence"], DecisionPolicy())
    return httpx.Response(200, json={"decisions": [d.decision for d in got], "scores": [d.score for d in got]})


def harness(**servers: object) -> tuple[TestClient, FakeStack, InMemorySpanExporter, Telemetry]:
    stack = FakeStack(records=[record("model-gpu-1")],
                      servers={"model-gpu-1": ok, "preprocess": real_preprocess, "postprocess": real_postprocess, **servers})  # type: ignore[dict-item]  # fmt: skip
    spans = InMemorySpanExporter()
    tel = Telemetry("gateway", None, exporter=spans)
    cfg = GatewayConfig(jwt_secret=SECRET, registry_url="http://registry.test",
                        upstream_urls={"model-gpu-1": "http://model-gpu-1.test"},
                        upstream_endpoints={"model-gpu-1": "http://model-gpu-1.direct"}, service_token=SERVICE_TOKEN)  # fmt: skip
    deps = Deps(transport=httpx.MockTransport(stack.handle), clock=FakeClock(), wall_clock=FakeClock(WALL_START),
                rng=random.Random(3))  # fmt: skip
    pipe = PipelineConfig("http://preprocess.test", "http://postprocess.test", stage_timeout_s=0.5)
    app = create_app(cfg, tel, deps, pipeline=pipe)
    return TestClient(app, raise_server_exceptions=False), stack, spans, tel


def call(client: TestClient, model: str = "fraud-pipeline", rows: list[list[float]] | None = None) -> httpx.Response:
    token = mint_token(SECRET, "tester", 3600, now=WALL_START)
    return client.post(f"/v1/models/{model}/predict", json={"inputs": rows or [ROW]},
                       headers={"Authorization": f"Bearer {token}"})  # fmt: skip


def test_the_three_stages_in_order_each_a_child_of_the_request() -> None:
    client, stack, spans, _tel = harness()
    resp = call(client)
    assert resp.status_code == 200, resp.text
    assert resp.json()["model"] == "fraud-pipeline" and resp.json()["outputs"] == ["allow"]  # class 0 at 0.9
    assert stack.calls == ["preprocess", "registry", "model-gpu-1", "postprocess"]
    assert all(h.get("authorization") == f"Bearer {SERVICE_TOKEN}" for h in stack.seen_headers[:1] + stack.seen_headers[2:])
    assert all("traceparent" in h for h in stack.seen_headers)
    finished = spans.get_finished_spans()
    root = next(s for s in finished if s.parent is None)
    hops = [s.name for s in sorted(finished, key=lambda s: s.start_time)
            if s.parent is not None and s.parent.span_id == root.context.span_id]  # fmt: skip
    hops = [h for h in hops if not h.startswith("cache ")]  # the prediction cache's spans (no cache here)
    assert hops == ["stage preprocess", "registry lookup", "upstream model-gpu-1", "stage postprocess"]


def test_other_models_do_not_go_through_the_pipeline() -> None:
    client, stack, _spans, _tel = harness()
    assert call(client, "fraud-detector", [[0.1, 0.2]]).status_code == 200
    assert "preprocess" not in stack.calls and "postprocess" not in stack.calls


def test_inputs_that_do_not_fit_the_schema_are_the_clients_422_and_reach_no_model() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"detail": [{"loc": ["body"], "msg": "inputs[0]: 3 features, the model takes 20"}]})

    client, stack, _spans, _tel = harness(preprocess=refuse)
    resp = call(client, rows=[[0.1, 0.2, 0.3]])
    assert resp.status_code == 422 and "the model takes 20" in resp.text
    assert stack.calls == ["preprocess"]


def test_a_stage_that_does_not_answer_in_time_is_a_503_naming_it() -> None:
    client, _stack, spans, tel = harness(postprocess=raises(httpx.ReadTimeout))
    resp = call(client)
    assert resp.status_code == 503 and "pipeline stage postprocess: no answer within 0.5s" in resp.text
    assert tel.registry.get_sample_value("chaosctl_gateway_pipeline_stage_requests_total",
                                         {"stage": "postprocess", "outcome": "timeout"}) == 1  # fmt: skip
    stage = next(s for s in spans.get_finished_spans() if s.name == "stage postprocess")
    assert not stage.status.is_ok


def test_a_failing_or_unreachable_stage_is_a_503_naming_it() -> None:
    client, stack, _spans, _tel = harness(preprocess=raises(httpx.ConnectError))
    assert "pipeline stage preprocess" in call(client).text
    assert stack.calls == ["preprocess"]
    client, _stack, _spans, _tel = harness(postprocess=status(500))
    resp = call(client)
    assert resp.status_code == 503 and "pipeline stage postprocess failed: HTTP 500" in resp.text


def test_a_stage_answer_without_its_field_is_a_503_not_a_crash() -> None:
    client, _stack, _spans, _tel = harness(postprocess=lambda r: httpx.Response(200, json={"scores": [0.1]}))
    resp = call(client)
    assert resp.status_code == 503 and "no 'decisions' list" in resp.text
