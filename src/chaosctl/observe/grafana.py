"""Phase and fault annotations posted to Grafana's HTTP API while a run goes on.

Annotations are a convenience for people watching a dashboard: a Grafana that
is down, slow or refuses the token must never fail or slow a run, so every call
has a short timeout and every error is logged and swallowed. Without Grafana,
the run's phase-marker metric still lets the *Chaos run* dashboard shade phases.

API: `POST /api/annotations` {time, timeEnd?, tags, text} -> {"id"};
`PATCH /api/annotations/{id}` {timeEnd} closes a region once its end is known.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

log = logging.getLogger(__name__)
TIMEOUT_S = 2.0
TAG = "chaosctl"


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


@dataclass
class GrafanaAnnotator:
    """Posts annotations to the Grafana at `url` (token: a service-account token or None)."""

    url: str
    token: str | None = None
    timeout_s: float = TIMEOUT_S
    failures: int = field(default=0, init=False)
    _http: httpx.Client | None = field(default=None, init=False, repr=False)

    def _client(self) -> httpx.Client:
        # One client for the annotator's life: building one per call costs a TLS context each time.
        if self._http is None:
            headers = {"Content-Type": "application/json"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._http = httpx.Client(base_url=self.url.rstrip("/"), headers=headers, timeout=self.timeout_s)
        return self._http

    def shutdown(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _send(self, method: str, path: str, body: dict[str, object]) -> httpx.Response | None:
        try:
            response = self._client().request(method, path, json=body)
            response.raise_for_status()
            return response
        except (httpx.HTTPError, ValueError) as exc:  # never raise into the run
            self.failures += 1
            log.warning("grafana annotation %s %s failed: %s", method, path, exc)
            return None

    def annotate(self, text: str, tags: list[str] | tuple[str, ...], start: float,
                 end: float | None = None) -> int | None:
        """One annotation (a region when `end` is given); epoch seconds. Its id, or None on failure."""
        body: dict[str, object] = {"time": _ms(start), "text": text, "tags": sorted({TAG, *tags})}
        if end is not None:
            body["timeEnd"] = _ms(end)
        response = self._send("POST", "/api/annotations", body)
        if response is None:
            return None
        try:
            ident = response.json().get("id")
        except ValueError:
            return None
        return ident if isinstance(ident, int) else None

    def close(self, annotation_id: int | None, end: float) -> bool:
        """Set the end of a region opened by `annotate`; False when it could not be done."""
        if annotation_id is None:
            return False
        return self._send("PATCH", f"/api/annotations/{annotation_id}", {"timeEnd": _ms(end)}) is not None


def annotator_from_settings(settings) -> GrafanaAnnotator | None:
    """The annotator of a run, or None when no Grafana URL is configured."""
    if not getattr(settings, "grafana_url", None):
        return None
    return GrafanaAnnotator(settings.grafana_url, settings.grafana_token)


@dataclass
class RunAnnotations:
    """Phase and fault regions of one run: opened when they start, closed when they end.

    The run engine calls these next to its phase marker. Calls return at once:
    the HTTP requests go out in order on one background thread, so a slow
    Grafana never delays a phase or a fault. `finish()` waits (bounded) for
    them at the end of the run. With `annotator=None` every call is a no-op.
    """

    annotator: GrafanaAnnotator | None
    scenario: str
    _open: dict[str, Future[int | None]] = field(default_factory=dict, init=False)
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    def _submit(self, fn, *args) -> Future | None:
        if self.annotator is None:
            return None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="grafana-annotations")
        return self._pool.submit(fn, *args)

    def _start(self, key: str, text: str, tags: tuple[str, ...], at: float) -> None:
        if self.annotator is not None:
            self._open[key] = self._submit(self.annotator.annotate, text, (*tags, self.scenario), at)

    def _end(self, key: str, at: float) -> None:
        opened = self._open.pop(key, None)
        if opened is not None and self.annotator is not None:
            # Same single worker, so `opened` has finished by the time this runs.
            self._submit(lambda: self.annotator.close(opened.result(), end=at))

    def phase_started(self, phase: str, at: float) -> None:
        self._start(f"phase:{phase}", f"{self.scenario}: phase {phase}", ("phase", phase), at)

    def phase_ended(self, phase: str, at: float) -> None:
        self._end(f"phase:{phase}", at)

    def fault_injected(self, fault_id: str, label: str, at: float) -> None:
        """`label` as in the fault record (`latency link:gateway->model-gpu-1`)."""
        self._start(f"fault:{fault_id}", f"{self.scenario}: fault {label}", ("fault",), at)

    def fault_reverted(self, fault_id: str, at: float) -> None:
        self._end(f"fault:{fault_id}", at)

    def finish(self, timeout_s: float = 5.0) -> None:
        """Wait up to `timeout_s` for the pending requests, then let go (never raises)."""
        if self._pool is None:
            return
        pending = self._submit(lambda: None)
        try:
            pending.result(timeout=timeout_s)
        except Exception:  # noqa: BLE001 - a stuck Grafana must not hold the run
            log.warning("grafana annotations: gave up waiting after %.0fs", timeout_s)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None
        if self.annotator is not None:
            self.annotator.shutdown()
