"""The gateway over HTTP: 422 on malformed bodies, health, metrics, spans and trace propagation."""

from __future__ import annotations

import pytest

from _gateway_fakes import FakeStack, make_harness, record


def _h():  # noqa: ANN202
    return make_harness(FakeStack(records=[record("model-gpu-1"), record("model-cpu-1", device="cpu")]))


@pytest.mark.parametrize(
    "body",
    [{}, {"inputs": []}, {"inputs": "x"}, {"inputs": [[]]}, {"inputs": [["a"]]}, {"inputs": [1, 2]},
     [1, 2], {"input": [[1.0]]}],  # fmt: skip
)
def test_malformed_body_is_422(body: object) -> None:
    h = _h()
    resp = h.predict(body=body)
    assert resp.status_code == 422, resp.text
    assert h.stack.calls == []


@pytest.mark.parametrize("raw", [b"\xff\x00garbage", b'{"inputs": [[1e400]]}', b'{"inputs": [[NaN]]}', b"{", b""])
def test_non_json_or_non_finite_body_is_422(raw: bytes) -> None:
    h = _h()
    resp = h.client.post("/v1/models/fraud-detector/predict", content=raw,
                         headers={"Authorization": f"Bearer {h.token()}", "Content-Type": "application/json"})  # fmt: skip
    assert resp.status_code == 422


def test_bad_model_name_is_422_and_unknown_model_404() -> None:
    h = _h()
    assert h.predict("bad name!").status_code == 422
    assert h.predict("unknown-model").status_code == 404


def test_healthz_and_metrics() -> None:
    h = _h()
    assert h.predict().status_code == 200
    assert h.client.get("/healthz").json()["status"] == "ok"
    text = h.client.get("/metrics").text
    for name in (
        'chaosctl_http_requests_total{code="200",method="POST",route="/v1/models/{model}/predict",service="gateway"} 1.0',
        'chaosctl_gateway_upstream_requests_total{outcome="ok",region="eu-west-1",upstream="model-gpu-1"} 1.0',
        'chaosctl_gateway_registry_cache_total{result="miss"} 1.0',
        'chaosctl_gateway_breaker_state{upstream="model-gpu-1"} 0.0',
        "chaosctl_gateway_upstream_duration_seconds_bucket",
        "chaosctl_gateway_fallbacks_total 0.0",
        "chaosctl_gateway_rate_limited_total 0.0",
    ):
        assert name in text, name


def test_spans_nest_and_context_reaches_registry_and_model_server() -> None:
    h = _h()
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    resp = h.client.post("/v1/models/fraud-detector/predict", json={"inputs": [[1.0]]},
                         headers={"Authorization": f"Bearer {h.token()}", "traceparent": incoming})  # fmt: skip
    assert resp.status_code == 200
    spans = {s.name: s for s in h.spans.get_finished_spans()}
    route = spans["POST /v1/models/{model}/predict"]
    lookup, upstream = spans["registry lookup"], spans["upstream model-gpu-1"]
    assert format(route.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert lookup.parent.span_id == route.context.span_id and upstream.parent.span_id == route.context.span_id
    sent = [hdr["traceparent"] for hdr in h.stack.seen_headers]
    assert sent[0].split("-")[1:3] == ["0af7651916cd43dd8448eb211c80319c", format(lookup.context.span_id, "016x")]
    assert sent[1].split("-")[1:3] == ["0af7651916cd43dd8448eb211c80319c", format(upstream.context.span_id, "016x")]
    assert upstream.attributes["attempt"] == 1 and upstream.attributes["version"] == "2.3.1"
    assert {k: route.attributes[k] for k in ("model", "version", "device", "server")} == {
        "model": "fraud-detector", "version": "2.3.1", "device": "gpu", "server": "model-gpu-1"}


def test_openapi_documents_the_predict_route() -> None:
    spec = _h().client.get("/openapi.json").json()
    op = spec["paths"]["/v1/models/{model}/predict"]["post"]
    assert {"200", "401", "404", "422", "429", "503"} <= set(op["responses"])


def test_stack_config_dials_registry_and_servers_through_their_links() -> None:
    from chaosctl.services.gateway.app import default_config
    from chaosctl.settings import Settings
    from chaosctl.stack.topology import MODEL_SERVERS, REPLICAS, Topology

    topo = Topology(31000)
    cfg = default_config(topo, Settings(jwt_secret="s" * 40, service_token="v" * 40))
    assert cfg.jwt_secret == "s" * 40 and cfg.service_token == "v" * 40
    assert cfg.registry_url == topo.via_proxy("gateway", "registry") != topo.url("registry")
    # The autoscaler's replicas come and go: dialled at their own address, no link.
    assert cfg.upstream_urls == {**{m.name: topo.via_proxy("gateway", m.name) for m in MODEL_SERVERS},
                                 **{r.name: topo.url(r.name) for r in REPLICAS}}
    assert cfg.upstream_urls["model-gpu-scale-1"] == "http://127.0.0.1:31300"
    # A record counts only when it carries the address the stack gave that server (what its agent registers).
    assert cfg.upstream_endpoints == {m.name: topo.url(m.name) for m in (*MODEL_SERVERS, *REPLICAS)}
    assert [(r.model, r.stable, r.canary, r.canary_weight) for r in cfg.canary] == [
        ("fraud-detector", "2.3.1", "2.4.0", 0.05)]
    assert (cfg.breaker.failure_threshold, cfg.breaker.cooldown_s, cfg.cache.ttl_s) == (3, 30.0, 30.0)


def test_records_of_servers_the_stack_did_not_define_are_ignored_and_counted() -> None:
    outsider = {**record("evil-1", queue=0, mem=0.0), "endpoint": "http://203.0.113.7:80"}
    impostor = {**record("model-gpu-2", queue=0, mem=0.0), "endpoint": "http://203.0.113.7:80"}
    stack = FakeStack(records=[outsider, impostor, record("model-cpu-1", device="cpu", queue=50)])
    h = make_harness(stack, upstreams={"model-gpu-2", "model-cpu-1"})
    answers = [h.predict() for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert {a.json()["server"] for a in answers} == {"model-cpu-1"}
    assert set(stack.upstream_calls()) == {"model-cpu-1"}  # never evil-1, never 203.0.113.7
    assert h.metric("chaosctl_gateway_ignored_records_total", {"reason": "unknown_server"}) >= 1
    assert h.metric("chaosctl_gateway_ignored_records_total", {"reason": "foreign_endpoint"}) >= 1


def test_only_outside_records_is_503_not_a_call_to_them() -> None:
    stack = FakeStack(records=[{**record("evil-1"), "endpoint": "http://203.0.113.7:80"}])
    h = make_harness(stack, upstreams={"model-gpu-1"})
    assert h.predict().status_code in (404, 503)
    assert stack.upstream_calls() == []


def test_upstream_calls_carry_the_service_credential() -> None:
    from _gateway_fakes import SERVICE_TOKEN

    h = _h()
    assert h.predict().status_code == 200
    upstream = [hd for hd, host in zip(h.stack.seen_headers, h.stack.calls) if host != "registry"]
    assert upstream and all(hd["authorization"] == f"Bearer {SERVICE_TOKEN}" for hd in upstream)
    h2 = make_harness(FakeStack(records=[record("model-gpu-1")]), service_token="another-install-token")
    assert h2.predict().status_code == 502  # the model server's 401 is no answer to give the client
