"""The prometheus-api-client wrapper with an in-memory transport (a requests adapter), and
through it the SLO no-data cases that only a real answer shape can produce."""

from __future__ import annotations

import json
import math

import pytest
import requests
from requests.adapters import BaseAdapter

from chaosctl.cli import exit_code_for
from chaosctl.errors import StackUnavailable
from chaosctl.observe.prometheus import MultipleSeries, Prometheus
from chaosctl.scenario.model import SLO
from chaosctl.verdict.model import PhaseWindow
from chaosctl.verdict.slo import evaluate

URL = "http://prometheus.test:9090"
FAULT = PhaseWindow("fault", 1000.0, 1060.0)


class FakeAdapter(BaseAdapter):
    def __init__(self, status: int, body: dict | str) -> None:
        super().__init__()
        self.status, self.body = status, body
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):  # noqa: ANN001 - requests' adapter signature
        self.requests.append(request)
        resp = requests.Response()
        resp.status_code = self.status
        resp._content = (self.body if isinstance(self.body, str) else json.dumps(self.body)).encode()
        resp.url = request.url
        resp.request = request
        return resp

    def close(self) -> None:
        pass


def prom_with(status: int, body: dict | str) -> tuple[Prometheus, FakeAdapter]:
    prom = Prometheus(URL)
    adapter = FakeAdapter(status, body)
    prom._client._session.mount(URL, adapter)  # in-memory transport in place of HTTP
    return prom, adapter


def vector(*values: tuple[dict, str]) -> dict:
    return {"status": "success", "data": {"resultType": "vector", "result": [{"metric": m, "value": [1060, v]} for m, v in values]}}


def slo(objective: str = "< 300ms") -> SLO:
    return SLO.model_validate({"name": "p99", "sli": "latency_p99", "phase": "fault", "objective": objective})


def test_query_sends_time_and_reads_one_value() -> None:
    prom, adapter = prom_with(200, vector(({}, "0.125")))
    assert prom.query("up", 1060.0) == 0.125
    assert "time=1060.000" in adapter.requests[0].url and "/api/v1/query?" in adapter.requests[0].url


def test_no_series_is_none_and_nan_is_nan() -> None:
    assert prom_with(200, vector())[0].query("x", 1.0) is None
    assert math.isnan(prom_with(200, vector(({}, "NaN")))[0].query("x", 1.0))


def test_several_series_raise_and_fail_the_slo() -> None:
    body = vector(({"route": "/a"}, "0.1"), ({"route": "/b"}, "0.2"))
    prom, _ = prom_with(200, body)
    with pytest.raises(MultipleSeries):
        prom.query("x", 1.0)
    check = evaluate(prom, [slo()], [FAULT])[0]
    assert check.status == "fail" and "2 series where one was expected" in check.reason


def test_nan_answer_fails_the_slo() -> None:
    check = evaluate(prom_with(200, vector(({}, "NaN")))[0], [slo()], [FAULT])[0]
    assert check.status == "fail" and "NaN" in check.reason


def test_inf_bucket_answer_fails_the_slo() -> None:
    check = evaluate(prom_with(200, vector(({}, "10")))[0], [slo()], [FAULT])[0]
    assert check.status == "fail" and "+Inf bucket" in check.reason


def test_rejected_query_fails_the_slo_with_prometheus_words() -> None:
    body = {"status": "error", "errorType": "bad_data", "error": "parse error at char 5"}
    check = evaluate(prom_with(400, body)[0], [slo()], [FAULT])[0]
    assert check.status == "fail" and "parse error" in check.reason


def test_server_error_is_stack_unavailable() -> None:
    with pytest.raises(StackUnavailable):
        prom_with(500, "boom")[0].query("x", 1.0)


def test_connection_refused_is_stack_unavailable_exit_3() -> None:
    with pytest.raises(StackUnavailable) as exc:
        evaluate(Prometheus("http://127.0.0.1:9"), [slo()], [FAULT])
    assert exit_code_for(exc.value) == 3 and "127.0.0.1:9" in str(exc.value)


def test_query_range_points() -> None:
    body = {"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [[1000, "0.1"], [1001, "NaN"]]}]}}
    prom, adapter = prom_with(200, body)
    points = prom.query_range("x", 1000.0, 1001.0, 1.0)
    assert points[0] == (1000.0, 0.1) and math.isnan(points[1][1])
    assert "step=1" in adapter.requests[0].url


def test_scrape_intervals_from_active_targets() -> None:
    body = {"status": "success", "data": {"activeTargets": [
        {"labels": {"job": "gateway"}, "scrapePool": "gateway", "scrapeInterval": "1s"},
        {"labels": {"job": "slow"}, "scrapePool": "slow", "scrapeInterval": "1m30s"},
        {"labels": {"job": "odd"}, "scrapePool": "odd", "scrapeInterval": "soon"},
    ]}}
    prom, adapter = prom_with(200, body)
    assert prom.scrape_intervals() == {"gateway": 1.0, "slow": 90.0}
    assert "/api/v1/targets?state=active" in adapter.requests[0].url


def test_metric_names() -> None:
    prom, adapter = prom_with(200, {"status": "success", "data": ["up", "chaosctl_http_requests_total"]})
    assert prom.metric_names() == ["up", "chaosctl_http_requests_total"]
    assert "/api/v1/label/__name__/values" in adapter.requests[0].url


def test_targets_api_down_is_stack_unavailable() -> None:
    with pytest.raises(StackUnavailable):
        prom_with(503, "down")[0].scrape_intervals()
