"""The pipeline's stage logic (services/pipeline/stages.py) and its two HTTP services."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient

from chaosctl.services.pipeline.app import create_app
from chaosctl.services.pipeline.stages import (
    DecisionPolicy, FeatureSchema, StageRejected, calibrated, decide, preprocess,
)
from chaosctl.services.telemetry import Telemetry

SERVICE = "unit-service-token-0123456789abcdef012345"
ADMIN = "unit-admin-token-0123456789abcdef0123456789"
AUTH = {"Authorization": f"Bearer {SERVICE}"}


def schema(width: int = 3, **kw: object) -> FeatureSchema:
    return FeatureSchema(width=width, means=(0.0,) * width, scales=(1.0,) * width, **kw)  # type: ignore[arg-type]


def test_preprocess_standardises_and_winsorises_outliers() -> None:
    s = FeatureSchema(width=2, clip=3.0, means=(10.0, 0.0), scales=(2.0, 1.0))
    out = preprocess([[12.0, -0.5], [10.0, 50.0]], s)
    assert out.features == [[1.0, -0.5], [0.0, 3.0]]
    assert out.clipped == 1


@pytest.mark.parametrize(("rows", "needle"), [
    ([[1.0, 2.0]], "inputs[0]: 2 features, the model takes 3"),
    ([[1.0, 2.0, 3.0], [1.0, math.nan, 0.0]], "inputs[1][1]"),
    ([[1.0, 2e7, 0.0]], "inputs[0][1]"),
    ([], "at least one row"),
])  # fmt: skip
def test_preprocess_refuses_what_is_not_a_transaction(rows: list[list[float]], needle: str) -> None:
    with pytest.raises(StageRejected, match=None) as err:
        preprocess(rows, schema())
    assert needle in str(err.value)


def test_schema_needs_one_statistic_per_feature() -> None:
    with pytest.raises(ValueError):
        FeatureSchema(width=2, means=(0.0,), scales=(1.0, 1.0))


def test_calibration_softens_extremes_and_keeps_the_middle() -> None:
    assert calibrated(0.5, 1.5) == pytest.approx(0.5)
    assert 0.9 < calibrated(0.99, 1.5) < 0.99
    assert 0.01 < calibrated(0.01, 1.5) < 0.1


def test_decisions_by_threshold_on_the_fraud_probability() -> None:
    policy = DecisionPolicy(review_at=0.5, block_at=0.9, temperature=1.0)
    got = decide([1, 1, 0, 0], [0.95, 0.6, 0.9, 0.55], policy)
    assert [d.decision for d in got] == ["block", "review", "allow", "allow"]
    # class 0 with confidence 0.9 is P(fraud) 0.1
    assert got[2].score == pytest.approx(0.1)
    assert "block threshold 0.90" in got[0].reason


@pytest.mark.parametrize(("outputs", "conf"), [([2], [0.5]), ([1], [1.5]), ([1, 0], [0.5]), ([], [])])
def test_decide_refuses_what_the_fraud_model_cannot_have_said(outputs: list[int], conf: list[float]) -> None:
    with pytest.raises(StageRejected):
        decide(outputs, conf, DecisionPolicy())


def _client(stage: str) -> tuple[TestClient, Telemetry]:
    tel = Telemetry(stage, None, export=False)
    return TestClient(create_app(stage, tel, SERVICE, ADMIN)), tel


def test_preprocess_service_needs_the_credential_and_validates_strictly() -> None:
    client, tel = _client("preprocess")
    row = [0.1] * 20
    assert client.post("/v1/preprocess/fraud-detector", json={"inputs": [row]}).status_code == 401
    assert client.post("/v1/preprocess/fraud-detector", json={"inputs": [[True] * 20]}, headers=AUTH).status_code == 422
    short = client.post("/v1/preprocess/fraud-detector", json={"inputs": [[0.1] * 3]}, headers=AUTH)
    assert short.status_code == 422 and "the model takes 20" in short.text
    assert client.post("/v1/preprocess/nope", json={"inputs": [row]}, headers=AUTH).status_code == 404
    resp = client.post("/v1/preprocess/fraud-detector", json={"inputs": [row, [9.0] * 20]}, headers=AUTH)
    assert resp.status_code == 200, resp.text
    assert resp.json()["features"][1] == [4.0] * 20 and resp.json()["clipped"] == 20
    assert tel.registry.get_sample_value("chaosctl_pipeline_rows_total", {"stage": "preprocess", "model": "fraud-detector"}) == 2
    assert tel.registry.get_sample_value("chaosctl_pipeline_rejected_total", {"stage": "preprocess", "model": "fraud-detector"}) == 1
    assert client.get("/healthz").status_code == 200
    assert b"chaosctl_pipeline_clipped_values_total" in client.get("/metrics").content


def test_postprocess_service_decides_and_counts() -> None:
    client, tel = _client("postprocess")
    body = {"version": "2.3.1", "outputs": [1, 0], "confidence": [0.99, 0.99]}
    assert client.post("/v1/postprocess/fraud-detector", json=body).status_code == 401
    resp = client.post("/v1/postprocess/fraud-detector", json=body, headers=AUTH)
    assert resp.status_code == 200, resp.text
    assert resp.json()["decisions"] == ["block", "allow"]
    assert tel.registry.get_sample_value("chaosctl_pipeline_decisions_total", {"model": "fraud-detector", "decision": "block"}) == 1
    bad = client.post("/v1/postprocess/fraud-detector", json={**body, "outputs": [7, 0]}, headers=AUTH)
    assert bad.status_code == 422 and "class 7" in bad.text


def test_a_stage_delay_is_an_admin_only_request_fault() -> None:
    client, _tel = _client("postprocess")
    rule = {"action": "abort", "status": 503, "percent": 1.0, "match": {}}
    assert client.put("/admin/request-faults/r1", json=rule).status_code == 401
    assert client.put("/admin/request-faults/r1", json=rule, headers={"X-Admin-Token": ADMIN}).status_code == 200
    body = {"version": "2.3.1", "outputs": [1], "confidence": [0.7]}
    assert client.post("/v1/postprocess/fraud-detector", json=body, headers=AUTH).status_code == 503


def test_each_stage_is_a_target_and_a_link_of_the_reference_system_and_takes_request_faults() -> None:
    from chaosctl.stack.topology import Topology
    from chaosctl.system.reference import reference_system

    topo = Topology(21000)
    system = reference_system(topo)
    for stage in ("preprocess", "postprocess"):
        comp = next(c for c in system.components if c.name == stage)
        assert str(comp.url).rstrip("/") == topo.url(stage) == f"http://127.0.0.1:{21090 + ('preprocess', 'postprocess').index(stage)}"
        assert {"process-kill", "request-delay", "request-abort"} <= set(comp.faults)
        link = system.link(f"link:gateway->{stage}")
        assert link.proxy == topo.link_to("gateway", stage).proxy_name
    # appended after the links that came before them (which keep their ports), in stage order
    dests = [ln.dest for ln in topo.links]
    assert dests.index("prediction-cache") < dests.index("preprocess") == dests.index("postprocess") - 1
