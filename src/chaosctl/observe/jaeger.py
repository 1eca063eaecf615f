"""Traces from Jaeger v2's query API (`/api/v3/traces`), parsed into `Span` records.

The window is cut into time slices; a slice that comes back full (as many traces as
`query.num_traces` allows) is halved and fetched again, down to `min_slice_s`, so that a busy
phase is read whole rather than as the most recent N traces. Jaeger answers 404 when a slice
holds no trace: that is an empty slice, not an error. Unreachable Jaeger or a 5xx raises
StackUnavailable (exit 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import httpx

from chaosctl.errors import StackUnavailable
from chaosctl.observe.spans import Span, TraceFormatError, parse_otlp_text


@dataclass(frozen=True)
class Trace:
    trace_id: str
    spans: tuple[Span, ...]


@dataclass(frozen=True)
class FetchResult:
    spans: tuple[Span, ...]  # de-duplicated by (trace id, span id)
    requests: int
    saturated_slices: int  # slices still full at min_slice_s: some traces may be missing
    seconds: float  # wall time spent fetching and parsing

    def traces(self) -> list[Trace]:
        grouped: dict[str, list[Span]] = {}
        for s in self.spans:
            grouped.setdefault(s.trace_id, []).append(s)
        return [Trace(tid, tuple(spans)) for tid, spans in grouped.items()]


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Jaeger:
    def __init__(
        self,
        url: str,
        *,
        page_size: int = 500,
        slice_s: float = 60.0,
        min_slice_s: float = 0.5,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.page_size = page_size
        self.slice_s = slice_s
        self.min_slice_s = min_slice_s
        self._client = httpx.Client(base_url=self.url, timeout=timeout_s, transport=transport)

    def close(self) -> None:
        self._client.close()

    def traces(self, service: str, start: float, end: float) -> list[Trace]:
        return self.fetch(service, start, end).traces()

    def fetch(self, service: str, start: float, end: float) -> FetchResult:
        """Every span of every trace of `service` that started in [start, end] (unix seconds)."""
        import time

        t0 = time.perf_counter()
        seen: dict[tuple[str, str], Span] = {}
        todo = [(a, min(a + self.slice_s, end)) for a in _steps(start, end, self.slice_s)]
        requests = saturated = 0
        while todo:
            a, b = todo.pop()
            spans = self._find(service, a, b)
            requests += 1
            full = len({s.trace_id for s in spans}) >= self.page_size
            if full and (b - a) / 2 >= self.min_slice_s:
                mid = (a + b) / 2
                todo += [(a, mid), (mid, b)]
                continue
            saturated += full
            for s in spans:
                seen.setdefault((s.trace_id, s.span_id), s)
        return FetchResult(tuple(seen.values()), requests, saturated, time.perf_counter() - t0)

    def _find(self, service: str, a: float, b: float) -> list[Span]:
        params = {
            "query.service_name": service,
            "query.start_time_min": rfc3339(a),
            "query.start_time_max": rfc3339(b),
            "query.num_traces": str(self.page_size),
        }
        try:
            resp = self._client.get("/api/v3/traces", params=params)
        except httpx.HTTPError as exc:
            raise StackUnavailable(f"Jaeger at {self.url.split('://')[-1]} unreachable: {type(exc).__name__}: {exc}") from None
        if resp.status_code == 404:
            return []  # "No traces found"
        if resp.status_code != 200:
            raise StackUnavailable(f"Jaeger at {self.url} answered {resp.status_code}: {resp.text[:300]}")
        try:
            return parse_otlp_text(resp.text, f"{self.url}/api/v3/traces")
        except TraceFormatError as exc:
            raise StackUnavailable(f"Jaeger sent an unreadable answer: {exc}") from None

    def services(self) -> list[str]:
        try:
            resp = self._client.get("/api/v3/services")
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            raise StackUnavailable(f"Jaeger at {self.url}: {exc}") from None
        return list(resp.json().get("services") or [])


def _steps(start: float, end: float, step: float) -> list[float]:
    out, t = [], start
    while t < end:
        out.append(t)
        t += step
    return out or [start]
