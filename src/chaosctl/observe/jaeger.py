"""Traces from Jaeger v2's query API (`/api/v3/traces`), parsed into `Span` records.

The window is cut into time slices; a slice that comes back full (as many traces as
`query.num_traces` allows) is halved and fetched again, down to `min_slice_s`, so that a busy
phase is read whole rather than as the most recent N traces. Jaeger answers 404 when a slice
holds no trace: that is an empty slice, not an error. Unreachable Jaeger or a 5xx raises
StackUnavailable (exit 3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import httpx

from chaosctl.errors import StackUnavailable
from chaosctl.observe.spans import Span, TraceFormatError, parse_otlp_text

if TYPE_CHECKING:
    from chaosctl.observe.span_table import SpanTable


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

    def within(self, service: str, start: float, end: float) -> "FetchResult":
        """What `fetch(service, start, end)` answers, cut from this wider, complete answer: the
        whole traces holding a span of `service` that started in [start, end], as Jaeger matches
        them (span start against the bounds at microsecond precision, as `rfc3339` sends them)."""
        lo, hi = micros(start), micros(end)
        keep = {s.trace_id for s in self.spans if s.service == service and lo <= s.start_us <= hi}
        return FetchResult(tuple(s for s in self.spans if s.trace_id in keep), 0, 0, 0.0)


@dataclass(frozen=True)
class StreamStats:
    """What `Jaeger.stream` read: as FetchResult without the spans (they went to the sink)."""

    requests: int
    saturated_slices: int
    seconds: float
    spans: int  # spans handed to the sink (a trace read in two slices counts twice here)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def micros(t: float) -> int:
    """The unix microsecond that `rfc3339(t)` names (the same rounding)."""
    return (datetime.fromtimestamp(t, tz=timezone.utc) - _EPOCH) // timedelta(microseconds=1)


SHARE_MAX_S = 120.0  # SharedFetches.stream: windows up to this long are fetched whole and shared


class SharedFetches:
    """A run's trace windows read from Jaeger once each: the bottleneck analysis and trace checks
    ask for every phase, the effect rules for the first phase again and for each fault's window
    inside its phase. A window inside one already read whole (no saturated slice) is cut from it
    (`FetchResult.within`); one that outlasts it (a revert ends a few ms after its phase) is cut
    from it up to its end and only the rest is asked; anything else goes to Jaeger. A trace
    matches a window when a span of the service starts in it, so the two parts' traces together
    are the whole window's. Fetching and parsing were most of the analysis' time."""

    def __init__(self, source: object) -> None:
        self.source = source  # a Jaeger, or anything with its fetch()
        self._read: dict[tuple[str, float, float], FetchResult] = {}

    def fetch(self, service: str, start: float, end: float) -> FetchResult:
        key = (service, start, end)
        if key in self._read:
            return self._read[key]
        for (svc, a, b), wide in self._read.items():
            if svc == service and a <= start <= b and not wide.saturated_slices:
                if end <= b:
                    return wide.within(service, start, end)
                return _union(wide.within(service, start, b), self._ask(service, b, end))
        return self._ask(service, start, end)

    def stream(self, service: str, start: float, end: float, sink: Callable[["SpanTable"], None]) -> StreamStats:
        """`Jaeger.stream` (a source without it: its fetch, as one table). A run's analysis streams
        each phase into aggregates so that its memory does not grow with the run's length; only
        the effect rules' windows are fetched and shared. A window up to SHARE_MAX_S is still
        read whole and kept (a few thousand traces), so that a short run's effect windows are cut
        from it as before rather than asked again."""
        stream = getattr(self.source, "stream", None)
        if stream is not None and end - start > SHARE_MAX_S:
            return stream(service, start, end, sink)
        from chaosctl.observe.span_table import table_from_spans

        got = self.fetch(service, start, end)  # short: read whole and kept, the effect rules cut theirs from it
        sink(table_from_spans(got.spans))
        return StreamStats(got.requests, got.saturated_slices, got.seconds, len(got.spans))

    def _ask(self, service: str, start: float, end: float) -> FetchResult:
        got = self.source.fetch(service, start, end)  # type: ignore[attr-defined]
        self._read[(service, start, end)] = got
        return got


def _union(first: FetchResult, rest: FetchResult) -> FetchResult:
    seen = {(s.trace_id, s.span_id) for s in first.spans}
    extra = tuple(s for s in rest.spans if (s.trace_id, s.span_id) not in seen)
    return FetchResult(first.spans + extra, first.requests + rest.requests,
                       first.saturated_slices + rest.saturated_slices, first.seconds + rest.seconds)


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

    def stream(self, service: str, start: float, end: float, sink: Callable[["SpanTable"], None]) -> StreamStats:
        """The window read slice after slice, each answer handed to `sink` as a SpanTable and then
        dropped: memory stays at one answer (page_size traces) whatever the window's length. As
        in `fetch`, a full slice is halved down to min_slice_s; here the width found is kept for
        the next slices (and doubled back while answers are under a quarter full), so a long busy
        window is not read twice over. A trace in two slices reaches the sink twice (the verdict's
        Aggregator counts a trace id once)."""
        import time

        t0 = time.perf_counter()
        requests = saturated = spans = 0
        a, width = start, self.slice_s
        while True:
            b = min(a + width, end)
            table = self._find_table(service, a, b)
            requests += 1
            full = len(table.trace_ids) >= self.page_size
            if full and (b - a) / 2 >= self.min_slice_s:
                width = (b - a) / 2  # and the next slices start at this width: a busy run's answers are not read twice
                continue
            saturated += full
            spans += len(table)
            sink(table)
            if b >= end:
                break
            a = b
            if len(table.trace_ids) < self.page_size // 4:
                width = min(width * 2, self.slice_s)  # quieter again: wider slices, fewer requests
        return StreamStats(requests, saturated, time.perf_counter() - t0, spans)

    def _find_table(self, service: str, a: float, b: float) -> "SpanTable":
        from chaosctl.observe.span_table import read_table, table_from_spans

        resp = self._get(service, a, b)
        if resp is None:
            return table_from_spans(())
        try:
            return read_table(resp.content, f"{self.url}/api/v3/traces")
        except TraceFormatError as exc:
            raise StackUnavailable(f"Jaeger sent an unreadable answer: {exc}") from None

    def _find(self, service: str, a: float, b: float) -> list[Span]:
        resp = self._get(service, a, b)
        if resp is None:
            return []
        try:
            return parse_otlp_text(resp.text, f"{self.url}/api/v3/traces")
        except TraceFormatError as exc:
            raise StackUnavailable(f"Jaeger sent an unreadable answer: {exc}") from None

    def _get(self, service: str, a: float, b: float) -> httpx.Response | None:
        """Jaeger's answer for one slice; None for 404 (no trace in it)."""
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
            return None  # "No traces found"
        if resp.status_code != 200:
            raise StackUnavailable(f"Jaeger at {self.url} answered {resp.status_code}: {resp.text[:300]}")
        return resp

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
