"""A finished phase's traces read from Jaeger while the later phases run, so that the analysis after
the run only waits for the last phase's (runner.analysis reads every window; this hands it the
ones already read).

Spans arrive late: a request still in flight at the phase's end is exported when it ends, in the
exporters' next batch (200-500 ms), and an asynchronous span joins its trace up to ~1 s after. So
a phase's window is asked for only once `settle_s` has passed since its end, and the answer is
used only when it was asked that late; one not yet asked when the analysis wants it, or that
failed, is dropped and the analysis asks Jaeger itself, as it does for the last phase.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .engine import Run

TRACE_SETTLE_S = 5.0  # the gateway's upstream deadline, the exporters' batch delays and late async spans, with margin
Key = tuple[str, float, float]


class Cancelled(Exception):
    """The analysis came first: this window is asked for there."""


class EarlyTraces:
    def __init__(self, jaeger: Any, service: str, settle_s: float = TRACE_SETTLE_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.jaeger = jaeger
        self.service = service
        self.settle_s = settle_s
        self._clock = clock
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="early-traces")
        self._futures: dict[Key, Future[tuple[Any, float]]] = {}

    def phase_ended(self, start: float, end: float) -> None:
        """Read [start, end] once `settle_s` has passed since `end` (call it only when a phase follows)."""
        from chaosctl.observe.jaeger import SHARE_MAX_S

        if end - start <= SHARE_MAX_S:  # longer windows are streamed by the analysis, not kept
            key = (self.service, start, end)
            self._futures[key] = self._pool.submit(self._fetch, key)

    def _fetch(self, key: Key) -> tuple[Any, float]:
        _, start, end = key
        while (left := end + self.settle_s - self._clock()) > 0:
            if self._stop.wait(min(left, 0.1)):
                raise Cancelled
        asked = self._clock()
        return self.jaeger.fetch(*key), asked

    def take(self, service: str, start: float, end: float) -> Any | None:
        """The window's early answer when it was asked `settle_s` after `end` and succeeded; else
        None (not asked yet: cancelled, so the analysis does not wait for the settle time)."""
        future = self._futures.pop((service, start, end), None)
        if future is None:
            return None
        if self._clock() < end + self.settle_s:
            future.cancel()
            return None
        try:
            got, asked = future.result()
        except Exception:  # noqa: BLE001 - Cancelled, or Jaeger's error: the analysis asks again
            return None
        return got if asked >= end + self.settle_s else None

    def wrap(self, jaeger: Any) -> "EarlyFirst":
        self._stop.set()  # the analysis begins: a window still settling is asked for there
        return EarlyFirst(jaeger, self)

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        closer = getattr(self.jaeger, "close", None)
        if closer is not None:
            closer()


class EarlyFirst:
    """The analysis' Jaeger: a window read early is handed over, anything else asked as usual."""

    def __init__(self, jaeger: Any, early: EarlyTraces) -> None:
        self.jaeger = jaeger
        self.early = early

    def fetch(self, service: str, start: float, end: float) -> Any:
        got = self.early.take(service, start, end)
        return got if got is not None else self.jaeger.fetch(service, start, end)

    def __getattr__(self, name: str) -> Any:  # stream, close, ...: Jaeger's own
        return getattr(self.jaeger, name)


def early_traces(run: "Run") -> EarlyTraces | None:
    """The run's early reader (None for a System without traces)."""
    if run.system.observability.jaeger is None:
        return None
    from chaosctl.system.runtime import trace_service

    from .outcome import jaeger_for

    return EarlyTraces(jaeger_for(run), trace_service(run.system), run.deps.trace_settle_s)
