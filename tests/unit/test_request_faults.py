"""Request-scoped faults: matching (models, version ranges, headers, paths), the seeded
share, the admin API's auth, and the gateway applying rules after version routing."""

from __future__ import annotations

import asyncio
import random

import pytest
from pydantic import ValidationError

from _gateway_fakes import CANARY, FakeStack, make_harness, record
from chaosctl.services.request_faults import (
    FAULT_HEADER, Match, RequestAborted, RequestFacts, RequestFaults, Rule, RuleBook, matches,
)  # fmt: skip

PREDICT = "/v1/models/fraud-detector/predict"
ADMIN = "0123456789abcdef0123456789abcdef-admin"


def facts(version: str | None = "2.4.0", model: str | None = "fraud-detector", path: str = PREDICT,
          **headers: str) -> RequestFacts:  # fmt: skip
    return RequestFacts.of(path, {k.replace("_", "-"): v for k, v in headers.items()}, model, version)


@pytest.mark.parametrize(("spec", "version", "hit"), [
    ("2.4.0", "2.4.0", True), ("2.4.0", "2.3.1", False), ("2.x", "2.3.1", True), ("~2.4", "2.4.9", True),
    ("~2.4", "2.3.1", False), (">=2.4,<3", "2.4.0", True), (">=2.4,<3", "3.0.0", False), ("^1", "2.4.0", False),
])  # fmt: skip
def test_version_exact_or_range(spec: str, version: str, hit: bool) -> None:
    assert matches(Match(version=spec), facts(version)) is hit


def test_a_request_without_a_known_version_or_model_never_matches_a_rule_that_names_one() -> None:
    assert not matches(Match(version="2.x"), facts(None))
    assert not matches(Match(model="fraud-detector"), facts(model=None))
    assert matches(Match(), facts(None, model=None))


def test_headers_case_insensitive_names_exact_values_all_must_hold() -> None:
    m = Match(headers={"X-Canary": "1", "X-Tenant": "a"})
    assert matches(m, facts(x_canary="1", x_tenant="a"))
    assert not matches(m, facts(x_canary="1"))
    assert not matches(m, facts(x_canary="01", x_tenant="a"))
    assert matches(Match(headers={"x-canary": "1"}), RequestFacts.of(PREDICT, {"X-CANARY": "1"}))


@pytest.mark.parametrize(("pattern", "path", "hit"), [
    ("/v1/models/*/predict", PREDICT, True), ("/v1/models/*/predict", "/v1/load", False),
    ("/v1/models/", PREDICT, True), ("/v1/load", PREDICT, False), ("/v1/models/fraud-*", PREDICT, True),
])  # fmt: skip
def test_path_glob_or_prefix(pattern: str, path: str, hit: bool) -> None:
    assert matches(Match(path=pattern), facts(path=path)) is hit


def test_percent_share_is_drawn_from_the_seeded_rng() -> None:
    def fired(seed: int) -> list[bool]:
        book = RuleBook(random.Random(seed))
        book.put(Rule(id="r", action="abort", percent=0.3, match=Match(version="2.4.0")))
        return [book.decide(facts()) is not None for _ in range(2000)]

    first = fired(11)
    assert first == fired(11)  # same seed, same requests faulted
    assert 0.25 < sum(first) / len(first) < 0.35
    book = RuleBook(random.Random(1))
    book.put(Rule(id="r", action="abort", percent=1.0, match=Match(version="2.4.0")))
    assert all(book.decide(facts("2.3.1")) is None for _ in range(200))  # non-matching: never, whatever the draw


@pytest.mark.parametrize("body", [
    {"action": "abort", "status": 200}, {"action": "abort", "percent": 1.5}, {"action": "explode"},
    {"action": "delay", "delay": -1}, {"action": "abort", "match": {"version": "not-a-range"}},
    {"action": "abort", "match": {"colour": "red"}},
])  # fmt: skip
def test_bad_rules_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Rule(id="r", **body)  # type: ignore[arg-type]


def test_apply_counts_marks_and_aborts_or_delays() -> None:
    from prometheus_client import CollectorRegistry

    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    reg = CollectorRegistry()
    faults = RequestFaults(reg, random.Random(0), sleep)
    faults.book.put(Rule(id="slow", action="delay", delay=0.25, match=Match(version="2.3.1")))
    faults.book.put(Rule(id="boom", action="abort", status=503, match=Match(version="2.4.0")))
    with pytest.raises(RequestAborted) as got:
        asyncio.run(faults.apply(facts("2.4.0")))
    assert got.value.status == 503 and got.value.headers[FAULT_HEADER] == "abort; rule=boom"
    assert asyncio.run(faults.apply(facts("2.3.1"))).id == "slow" and slept == [0.25]  # type: ignore[union-attr]
    sample = reg.get_sample_value
    assert sample("chaosctl_request_faults_total", {"model": "fraud-detector", "version": "2.4.0", "action": "abort"}) == 1
    assert sample("chaosctl_request_faults_total", {"model": "fraud-detector", "version": "2.3.1", "action": "delay"}) == 1


# ---------------------------------------------------------------- the gateway


def _gateway():  # noqa: ANN202
    stack = FakeStack(records=[record("model-gpu-1"), record("model-gpu-2"),
                               record("model-gpu-2", version="2.4.0")])  # fmt: skip
    return make_harness(stack, seed=3, canary=CANARY, admin_token=ADMIN)


def test_admin_routes_need_the_admin_token() -> None:
    h = _gateway()
    rule = {"action": "abort", "status": 503}
    assert h.client.put("/admin/request-faults/r1", json=rule).status_code == 401
    assert h.client.put("/admin/request-faults/r1", json=rule, headers={"X-Admin-Token": "wrong" * 8}).status_code == 401
    assert h.client.get("/admin/request-faults").status_code == 401
    assert h.client.delete("/admin/request-faults").status_code == 401
    ok = {"X-Admin-Token": ADMIN}
    assert h.client.put("/admin/request-faults/r1", json=rule, headers=ok).status_code == 200
    assert [r["id"] for r in h.client.get("/admin/request-faults", headers=ok).json()["rules"]] == ["r1"]
    assert h.client.put("/admin/request-faults/r1", json={"action": "abort", "status": 99}, headers=ok).status_code == 422
    assert h.client.delete("/admin/request-faults/r1", headers=ok).json()["removed"] is True
    assert h.client.delete("/admin/request-faults/r1", headers=ok).json()["removed"] is False
    assert h.client.get("/admin/request-faults", headers=ok).json()["rules"] == []


def test_gateway_without_an_admin_token_refuses_everyone() -> None:
    h = make_harness(FakeStack(records=[record("model-gpu-1")]))
    assert h.client.get("/admin/request-faults", headers={"X-Admin-Token": ""}).status_code == 401


def test_canary_only_abort_hits_only_requests_routed_to_the_canary() -> None:
    h = _gateway()
    rule = {"action": "abort", "status": 503, "percent": 1.0, "match": {"model": "fraud-detector", "version": "2.4.0"}}
    assert h.client.put("/admin/request-faults/canary", json=rule, headers={"X-Admin-Token": ADMIN}).status_code == 200
    by_version: dict[str, list[int]] = {"2.3.1": [], "2.4.0": []}
    for i in range(300):
        resp = h.predict(body={"inputs": [[float(i), 0.5, 0.25]]})
        version = resp.json()["version"] if resp.status_code == 200 else "2.4.0"
        by_version[version].append(resp.status_code)
        if resp.status_code != 200:
            assert resp.status_code == 503 and resp.headers[FAULT_HEADER] == "abort; rule=canary"
    assert set(by_version["2.3.1"]) == {200} and len(by_version["2.3.1"]) > 250
    assert by_version["2.4.0"] and set(by_version["2.4.0"]) == {503}
    aborted = len(by_version["2.4.0"])
    labels = {"model": "fraud-detector", "version": "2.4.0", "action": "abort"}
    assert h.metric("chaosctl_request_faults_total", labels) == aborted
    assert h.metric("chaosctl_request_faults_total", {**labels, "version": "2.3.1"}) == 0
    routes = [s for s in h.spans.get_finished_spans() if s.name == "POST /v1/models/{model}/predict"]
    faulted = [s for s in routes if s.attributes.get("request_fault.action") == "abort"]
    assert len(faulted) == aborted and {s.attributes["version"] for s in faulted} == {"2.4.0"}
    assert all(any(e.name == "request fault" for e in s.events) for s in faulted)
    assert all(s.attributes["version"] == "2.3.1" for s in routes if s not in faulted)


def test_aborted_requests_never_reach_a_server_and_header_rule_delays() -> None:
    h = _gateway()
    ok = {"X-Admin-Token": ADMIN}
    h.client.put("/admin/request-faults/all", json={"action": "abort", "status": 500, "match": {"version": "2.x"}}, headers=ok)
    assert h.predict(body={"inputs": [[9.0]]}).status_code == 500
    assert h.stack.upstream_calls() == []
    h.client.delete("/admin/request-faults", headers=ok)
    h.client.put("/admin/request-faults/slow", json={"action": "delay", "delay": 0.4, "match": {"headers": {"X-Test": "slow"}}},
                 headers=ok)  # fmt: skip
    token = h.token()
    resp = h.client.post(PREDICT, json={"inputs": [[8.0]]}, headers={"Authorization": f"Bearer {token}", "X-Test": "slow"})
    assert resp.status_code == 200 and 0.4 in h.sleeps
    before = list(h.sleeps)
    assert h.predict(body={"inputs": [[7.0]]}).status_code == 200 and h.sleeps == before


# ---------------------------------------------------------------- a model server


def test_model_server_applies_rules_after_its_credential_and_per_resolved_version() -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from test_modelserver_engine import TOKEN, _client, _rows, _wait_ready

    exporter = InMemorySpanExporter()
    with _client("model-gpu-2", exporter=exporter) as client:
        _wait_ready(client)
        admin = {"X-Admin-Token": TOKEN}
        rule = {"action": "abort", "status": 503, "match": {"version": "~2.4"}}
        assert client.put("/admin/request-faults/c", json=rule).status_code == 401  # the service credential is not admin
        assert client.put("/admin/request-faults/c", json=rule, headers=admin).status_code == 200
        path = "/v1/models/fraud-detector/predict"
        anon = client.post(path, json={"inputs": _rows()}, headers={"Authorization": "Bearer nope"})
        assert anon.status_code == 401  # never a fault for an anonymous caller
        canary = client.post(path, json={"inputs": _rows(), "version": "2.4.0"})
        assert canary.status_code == 503 and canary.headers["X-Request-Fault"] == "abort; rule=c"
        assert client.post(path, json={"inputs": _rows()}).json()["version"] == "2.3.1"  # no version: stable, not faulted
        assert client.post(path, json={"inputs": _rows(), "version": "2.3.1"}).status_code == 200
        text = client.get("/metrics").text
        assert 'chaosctl_request_faults_total{action="abort",model="fraud-detector",version="2.4.0"} 1.0' in text
        assert 'version="2.3.1"' not in "".join(ln for ln in text.splitlines() if ln.startswith("chaosctl_request_faults"))
        assert client.delete("/admin/request-faults", headers=admin).json() == {"removed": 1}
        assert client.post(path, json={"inputs": _rows(), "version": "2.4.0"}).status_code == 200
    faulted = [s for s in exporter.get_finished_spans() if s.attributes.get("request_fault.rule") == "c"]
    assert len(faulted) == 1 and faulted[0].attributes["version"] == "2.4.0"


def test_gateway_counts_answers_per_routed_version() -> None:
    h = _gateway()
    h.client.put("/admin/request-faults/c", json={"action": "abort", "status": 503, "match": {"version": "2.4.0"}},
                 headers={"X-Admin-Token": ADMIN})  # fmt: skip
    codes = [h.predict(body={"inputs": [[float(i)]]}).status_code for i in range(200)]
    routed = {v: {c: h.metric("chaosctl_gateway_routed_requests_total", {"model": "fraud-detector", "version": v, "code": c})
                  for c in ("200", "503")} for v in ("2.3.1", "2.4.0")}  # fmt: skip
    assert routed["2.4.0"]["200"] == 0 and routed["2.4.0"]["503"] == codes.count(503) > 0
    assert routed["2.3.1"]["503"] == 0 and routed["2.3.1"]["200"] == codes.count(200)
