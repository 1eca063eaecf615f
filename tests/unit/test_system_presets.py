"""SLI presets resolve to concrete PromQL; the reference preset is exactly what the verdict measures today."""

from __future__ import annotations

import pytest

from chaosctl.scenario.model import SLIS, SLO
from chaosctl.system.presets import PRESETS, Slis, split_selector
from chaosctl.verdict.slo import build_expr


def _slo(sli: str) -> SLO:
    if sli == "burn_rate":
        return SLO.model_validate({"name": "b", "sli": sli, "target": "99.9%", "objective": "burn_rate < 14.4"})
    return SLO.model_validate({"name": "x", "sli": sli, "objective": "< 1s" if sli.startswith("latency") else "< 1"})


@pytest.mark.parametrize("sli", SLIS)
def test_reference_preset_is_what_the_verdict_queries(sli: str) -> None:
    resolved = Slis(preset="chaosctl-reference").resolved()
    spec = _slo(sli)
    assert resolved.expr(sli, "37000ms", spec.target) == build_expr(spec, 37.0)


def test_otel_preset_with_a_selector() -> None:
    r = Slis(preset="otel-http", selector='job="checkout"').resolved()
    assert r.bucket_selector == 'http_server_request_duration_seconds_bucket{job="checkout"}'
    assert r.requests_selector == 'http_server_request_duration_seconds_count{job="checkout"}'
    assert r.errors_selector == 'http_server_request_duration_seconds_count{job="checkout",http_response_status_code=~"5.."}'
    assert r.expr("error_ratio", "30s") == (
        '(sum(rate(http_server_request_duration_seconds_count{job="checkout",http_response_status_code=~"5.."}[30s]))'
        ' or vector(0)) / sum(rate(http_server_request_duration_seconds_count{job="checkout"}[30s]))'
    )


def test_prometheus_client_preset_without_matchers_has_no_empty_braces() -> None:
    r = Slis(preset="prometheus-client").resolved()
    assert r.requests_selector == "http_requests_total"
    assert r.errors_selector == 'http_requests_total{status=~"5.."}'
    assert "{}" not in r.expr("latency_p99", "1m")


def test_overrides_replace_the_preset_parts() -> None:
    r = Slis(
        preset="otel-http",
        latency_histogram='api_latency_ms_bucket{route!="/health"}',
        errors='outcome="error"',
        latency_unit="milliseconds",
    ).resolved()
    assert r.bucket_selector == 'api_latency_ms_bucket{route!="/health"}'
    assert r.errors_selector == 'http_server_request_duration_seconds_count{outcome="error"}'
    # a millisecond histogram still gives seconds, as every latency SLI does
    assert r.expr("latency_p50", "10s") == '(histogram_quantile(0.5, sum by (le) (rate(api_latency_ms_bucket{route!="/health"}[10s])))) / 1000'


def test_without_a_preset_everything_is_needed() -> None:
    with pytest.raises(ValueError, match="without a preset, slis needs errors"):
        Slis(latency_histogram="h_seconds", requests="r_total")
    r = Slis(latency_histogram="h_seconds", requests="r_total", errors='code=~"5.."').resolved()
    assert r.bucket_selector == "h_seconds_bucket"


@pytest.mark.parametrize("bad", ['h{job="x"', "1h", 'h{job=x}', "h[5m]"])
def test_selectors_are_checked(bad: str) -> None:
    with pytest.raises(ValueError):
        Slis(preset="otel-http", latency_histogram=bad)


def test_split_selector() -> None:
    assert split_selector(' m{a="1", b=~"x,y"} ') == ("m", 'a="1", b=~"x,y"')
    assert split_selector("m") == ("m", "")


def test_burn_rate_needs_a_target() -> None:
    with pytest.raises(ValueError, match="target"):
        Slis(preset="otel-http").resolved().expr("burn_rate", "1m")
    assert set(PRESETS) == {"otel-http", "prometheus-client", "chaosctl-reference"}
