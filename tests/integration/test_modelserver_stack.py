"""Registry and model servers inside the real stack (session `stack` fixture): self-registration
with full metadata, and trace context continuing into the registry, etcd calls and inference."""

from __future__ import annotations

import secrets
import time

import httpx
import pytest
from _gateway_live import wait_until

from chaosctl.stack.topology import MODEL_SERVERS

pytestmark = pytest.mark.integration


def _jaeger_trace(stack, trace_id: str, services: set[str], timeout_s: float = 30.0,
                  operations: frozenset[str] = frozenset()) -> list[dict]:
    """The trace's spans as {service, operation, parent, tags}, once every service in `services` has
    spans and every one of `operations` is in. A service exports in batches, so a parent span (which
    ends last) can come in a later batch than its children: CI once saw the etcd spans without
    their POST route span."""
    url = f"{stack.topology.url('jaeger')}/api/traces/{trace_id}"
    deadline = time.monotonic() + timeout_s
    spans: list[dict] = []
    while time.monotonic() < deadline:
        resp = httpx.get(url, timeout=5)
        if resp.status_code == 200 and resp.json().get("data"):
            trace = resp.json()["data"][0]
            procs = {k: v["serviceName"] for k, v in trace["processes"].items()}
            spans = [{
                "service": procs[s["processID"]], "operation": s["operationName"], "id": s["spanID"],
                "parent": next((r["spanID"] for r in s.get("references", []) if r["refType"] == "CHILD_OF"), None),
                "tags": {t["key"]: t["value"] for t in s["tags"]},
            } for s in trace["spans"]]  # fmt: skip
            if services <= {s["service"] for s in spans} and operations <= {s["operation"] for s in spans}:
                return spans
        time.sleep(0.5)
    pytest.fail(f"trace {trace_id} never showed spans of {services}: {spans}")


def _traceparent() -> tuple[str, str, str]:
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, parent, f"00-{trace_id}-{parent}-01"


def test_model_servers_registered_themselves_with_full_metadata(stack) -> None:
    q = {"capability": "fraud-detection", "version": "2.x", "device": "gpu"}

    def warm() -> list[dict] | None:  # a GPU server registers while still in its warm-up ("warming")
        got = httpx.get(f"{stack.topology.url('registry')}/v1/services", params=q).raise_for_status().json()["services"]
        return got if all(r["health"] in ("ready", "saturated") for r in got) else None

    found = wait_until(warm, 30.0, "every GPU server registered as ready")
    # Every GPU server of the topology serving a 2.x fraud model, in both regions (the autoscaler's
    # replicas are not in MODEL_SERVERS, and none runs on an idle stack).
    expected = sorted((m.name, spec.version) for m in MODEL_SERVERS if m.device == "gpu"
                      for spec in m.models if spec.capability == "fraud-detection" and spec.version.startswith("2."))
    assert ("model-gpu-b1", "2.3.1") in expected and ("model-gpu-2", "2.4.0") in expected
    assert sorted((r["name"], r["version"]) for r in found) == expected
    for r in found:
        assert r["endpoint"] == stack.topology.url(r["name"])
        assert r["health"] in ("ready", "saturated") and r["load"]["memory_total_bytes"] > 0
        assert r["region"] and r["p99_ms"] > 0 and 0.5 < r["accuracy"] <= 1 and r["tags"]


def test_trace_continues_into_registry_and_its_etcd_calls(stack) -> None:
    api = stack.topology.url("registry")
    trace_id, parent, header = _traceparent()
    rec = {"name": "trace-probe", "capability": "probe", "model": "probe", "version": "0.0.1", "device": "cpu",
           "p99_ms": 1, "endpoint": "http://127.0.0.1:9", "ttl": 5}  # fmt: skip
    service = {"Authorization": f"Bearer {stack.settings.service_token}"}
    resp = httpx.post(f"{api}/v1/services", json=rec, headers={"traceparent": header, **service})
    assert resp.status_code == 201, resp.text
    httpx.delete(f"{api}/v1/services/{resp.json()['id']}", headers=service)
    etcd = {"etcd kv/range", "etcd lease/grant", "etcd kv/put"}
    spans = _jaeger_trace(stack, trace_id, {"registry"}, operations=frozenset({"POST /v1/services", *etcd}))
    route = next(s for s in spans if s["operation"] == "POST /v1/services")
    assert route["parent"] == parent
    etcd_ops = {s["operation"] for s in spans if s["parent"] == route["id"]}
    assert etcd <= etcd_ops
    assert all(s["tags"].get("etcd.member") for s in spans if s["operation"].startswith("etcd "))


def test_inference_span_carries_model_version_device_and_batch_size(stack) -> None:
    trace_id, parent, header = _traceparent()
    url = f"{stack.topology.url('model-gpu-2')}/v1/models/fraud-detector/predict"
    headers = {"traceparent": header, "Authorization": f"Bearer {stack.settings.service_token}"}
    resp = httpx.post(url, json={"inputs": [[0.5] * 20] * 3, "version": "2.4.0"}, headers=headers)
    assert resp.status_code == 200, resp.text
    spans = _jaeger_trace(stack, trace_id, {"model-gpu-2"},
                          operations=frozenset({"POST /v1/models/{model}/predict", "inference"}))
    route = next(s for s in spans if s["operation"] == "POST /v1/models/{model}/predict")
    inference = next(s for s in spans if s["operation"] == "inference")
    assert route["parent"] == parent and inference["parent"] == route["id"]
    tags = inference["tags"]
    assert (tags["model"], tags["version"], tags["device"], tags["batch.size"]) == ("fraud-detector", "2.4.0", "gpu", 3)
