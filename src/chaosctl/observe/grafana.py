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

    def _client(self) -> httpx.Client:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return httpx.Client(base_url=self.url.rstrip("/"), headers=headers, timeout=self.timeout_s)

    def _send(self, method: str, path: str, body: dict[str, object]) -> httpx.Response | None:
        try:
            with self._client() as client:
                response = client.request(method, path, json=body)
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
