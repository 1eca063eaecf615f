"""A thin wrapper over prometheus-api-client: instant and range queries at exact times.

Unreachable Prometheus (connection refused, timeout, 5xx) raises StackUnavailable (exit 3);
a query Prometheus rejects (400/422: bad PromQL) raises QueryRejected; an instant query that
returns several series raises MultipleSeries, because a verdict must not pick one silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

from chaosctl.errors import StackUnavailable


class QueryRejected(ValueError):
    """Prometheus answered, but refused the query (bad PromQL)."""


class MultipleSeries(ValueError):
    """An instant query that should give one number gave several series."""


@dataclass(frozen=True)
class Sample:
    labels: tuple[tuple[str, str], ...]
    value: float


class Prometheus:
    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        self.url = url.rstrip("/")
        # Two quick retries: a scrape-time hiccup is not an outage, a dead server must fail fast.
        retry = Retry(total=2, backoff_factor=0.2, status_forcelist=(502, 503, 504), allowed_methods=None)
        self._client = PrometheusConnect(url=self.url, disable_ssl=True, retry=retry, timeout=timeout_s)

    def _call(self, fn, *args, **kwargs):
        import requests
        from prometheus_api_client import PrometheusApiClientException

        try:
            return fn(*args, **kwargs)
        except requests.RequestException as exc:
            raise StackUnavailable(f"Prometheus at {_where(self.url)} unreachable: {_why(exc)}") from None
        except PrometheusApiClientException as exc:
            text = str(exc)
            if "HTTP Status Code 4" in text:
                raise QueryRejected(f"Prometheus rejected the query: {text[:300]}") from None
            raise StackUnavailable(f"Prometheus at {self.url} failed: {text[:300]}") from None

    def samples(self, expr: str, at: float) -> tuple[Sample, ...]:
        """Every series of an instant query evaluated at unix time `at`."""
        result = self._call(self._client.custom_query, expr, params={"time": f"{at:.3f}"})
        return tuple(_sample(item) for item in result)

    def query(self, expr: str, at: float) -> float | None:
        """The single value of an instant query at `at`; None when it returns no series (may be NaN)."""
        found = self.samples(expr, at)
        if not found:
            return None
        if len(found) > 1:
            labels = ", ".join("{" + ",".join(f"{k}={v!r}" for k, v in s.labels) + "}" for s in found[:3])
            raise MultipleSeries(f"{len(found)} series where one was expected (aggregate with sum/max): {labels}")
        return found[0].value

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[tuple[float, float]]:
        """(unix seconds, value) points of the first series of a range query (empty when none)."""
        result = self._call(
            self._client.custom_query_range,
            expr,
            start_time=datetime.fromtimestamp(start, tz=timezone.utc),
            end_time=datetime.fromtimestamp(end, tz=timezone.utc),
            step=f"{step:g}",
        )
        if not result:
            return []
        return [(float(t), _float(v)) for t, v in result[0].get("values", [])]

    def scrape_intervals(self) -> dict[str, float]:
        """Configured scrape interval (seconds) of every job with an active target (/api/v1/targets):
        what a fully scraped window holds, for coverage."""
        body = self._call(self._get_json, "/api/v1/targets", {"state": "active"})
        out: dict[str, float] = {}
        for target in (body.get("data") or {}).get("activeTargets") or []:
            job = (target.get("labels") or {}).get("job") or target.get("scrapePool")
            seconds = _duration_s(str(target.get("scrapeInterval") or ""))
            if job and seconds:
                out[job] = min(seconds, out.get(job, seconds))
        return out

    def metric_names(self) -> list[str]:
        """Every metric name Prometheus holds (/api/v1/label/__name__/values)."""
        body = self._call(self._get_json, "/api/v1/label/__name__/values", {})
        return [str(n) for n in body.get("data") or []]

    def _get_json(self, path: str, params: dict[str, str]) -> dict:
        from prometheus_api_client import PrometheusApiClientException

        c = self._client
        resp = c._session.get(f"{self.url}{path}", params=params, headers=c.headers, timeout=c._timeout,
                              verify=c._session.verify)
        if resp.status_code != 200:
            raise PrometheusApiClientException(f"HTTP Status Code {resp.status_code} ({resp.content[:200]!r})")
        return resp.json()

    def ready(self) -> bool:
        try:
            return bool(self._call(self._client.check_prometheus_connection))
        except StackUnavailable:
            return False


def _where(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url


def _why(exc: Exception) -> str:
    """The cause in a few words: requests' own text carries the URL-encoded query, which says nothing."""
    import re

    import requests

    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    if found:
        return found.group(1).strip()
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return type(exc).__name__


def _float(raw: object) -> float:
    try:
        return float(raw)  # Prometheus sends "NaN", "+Inf" as strings; float() reads both
    except (TypeError, ValueError):
        return math.nan


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}


def _duration_s(text: str) -> float | None:
    """A Prometheus duration ('1s', '1m30s', '500ms') in seconds; None when it does not read."""
    import re

    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(int(n) * _UNITS[u] for n, u in parts)


def _sample(item: dict) -> Sample:
    labels = tuple(sorted((str(k), str(v)) for k, v in (item.get("metric") or {}).items()))
    value = item.get("value") or [0, "NaN"]
    return Sample(labels=labels, value=_float(value[1]))
