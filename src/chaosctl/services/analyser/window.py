"""The analyser's logic, free of Kafka: events, windows, the ensemble, lag and event age.

Pure and clock-injected, so unit tests drive it with fakes; app.py wires it to a real consumer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FRAUD_FEATURES = 20  # the fraud detector's input width (services/modelserver/models.py)


@dataclass(frozen=True)
class Event:
    """One scored transaction as the gateway published it, and where it sat in the topic."""

    event_id: str
    published_at: float  # the gateway's wall clock at publish (s)
    model: str
    version: str
    outputs: tuple[int, ...]
    confidence: tuple[float, ...]
    features: tuple[tuple[float, ...], ...]
    partition: int = 0
    offset: int = -1
    headers: Mapping[str, str] = field(default_factory=dict)


class BadEvent(ValueError):
    """A message that is not a scored transaction (counted and skipped, never fatal)."""


def parse_event(value: bytes | None, partition: int = 0, offset: int = -1,
                headers: Sequence[tuple[str, bytes | None]] | None = None) -> Event:
    try:
        doc = json.loads(value or b"")
        outputs = tuple(int(o) for o in _as_list(doc.get("outputs")))
        confidence = tuple(float(c) for c in _as_list(doc.get("confidence")))
        features = tuple(tuple(float(x) for x in row) for row in doc.get("inputs") or ())
        event = Event(str(doc["id"]), float(doc["ts"]), str(doc["model"]), str(doc["version"]), outputs,
                      confidence, features, partition, offset,
                      {k: (v or b"").decode("latin-1") for k, v in (headers or ())})
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BadEvent(f"partition {partition} offset {offset}: not a scored transaction ({type(exc).__name__})") from None
    if not math.isfinite(event.published_at):
        raise BadEvent(f"partition {partition} offset {offset}: timestamp is not a number")
    return event


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


class Windower:
    """Tumbling windows by count or time: a window closes at `max_events`, or once its first
    event has waited `max_wait_s` (a trickle still gets analysed, late by at most that)."""

    def __init__(self, max_events: int, max_wait_s: float, clock: Callable[[], float]) -> None:
        if max_events < 1 or max_wait_s <= 0:
            raise ValueError("a window needs max_events >= 1 and max_wait_s > 0")
        self.max_events, self.max_wait_s, self.clock = max_events, max_wait_s, clock
        self._items: list[Event] = []
        self._opened: float | None = None

    def add(self, event: Event) -> None:
        if self._opened is None:
            self._opened = self.clock()
        self._items.append(event)

    def __len__(self) -> int:
        return len(self._items)

    def due(self) -> bool:
        if not self._items:
            return False
        return len(self._items) >= self.max_events or self.clock() - (self._opened or 0.0) >= self.max_wait_s

    def take(self) -> list[Event]:
        """The window's events (at most max_events; the rest open the next window at once)."""
        window, self._items = self._items[: self.max_events], self._items[self.max_events :]
        self._opened = self.clock() if self._items else None
        return window


def consumer_lag(high_watermarks: Mapping[int, int], positions: Mapping[int, int | None],
                 committed: Mapping[int, int | None] | None = None) -> int | None:
    """Messages in the topic the analyser has not consumed yet, summed over its partitions.

    A partition whose position is not known yet counts from its committed offset; with neither
    (nothing consumed, nothing committed) the lag is unknown: None, never a made-up 0."""
    total = 0
    for partition, high in high_watermarks.items():
        pos = positions.get(partition)
        if pos is None or pos < 0:
            pos = (committed or {}).get(partition)
        if pos is None or pos < 0:
            return None
        total += max(0, high - pos)
    return total


def event_ages(events: Sequence[Event], now: float) -> list[float]:
    """End-to-end age of each event when its window was analysed (publish -> analysed), >= 0."""
    return [max(0.0, now - e.published_at) for e in events]


@dataclass(frozen=True)
class WindowResult:
    window_id: str
    events: int
    transactions: int
    fraud_share: float  # the real-time model's verdicts in the window
    anomaly_share: float  # the isolation forest's
    low_confidence_share: float
    score: float  # the ensemble: the mean of the three members
    alert: bool
    first_offset: int
    last_offset: int

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, separators=(",", ":")).encode()


class Ensemble:
    """Three members scored per window: the share of transactions the real-time model called fraud,
    the share an isolation forest (trained at start on the fraud detector's legitimate traffic)
    calls anomalous, and the share answered with low confidence. Their mean is the window's score."""

    def __init__(self, forest: Any | None = None, low_confidence: float = 0.6, alert_at: float = 0.5) -> None:
        self.forest = forest
        self.low_confidence, self.alert_at = low_confidence, alert_at

    @classmethod
    def trained(cls, seed: int = 7) -> "Ensemble":
        from sklearn.datasets import make_classification
        from sklearn.ensemble import IsolationForest

        x, y = make_classification(n_samples=1500, n_features=FRAUD_FEATURES, n_informative=8, n_redundant=4,
                                   weights=[0.9], random_state=seed)
        forest = IsolationForest(n_estimators=25, max_samples=256, contamination=0.05, random_state=seed)
        return cls(forest.fit(x[y == 0]))

    def score(self, window_id: str, events: Sequence[Event]) -> WindowResult:
        outputs = [o for e in events for o in e.outputs]
        conf = [c for e in events for c in e.confidence]
        rows = [r for e in events for r in e.features if len(r) == FRAUD_FEATURES]
        fraud = sum(1 for o in outputs if o == 1) / len(outputs) if outputs else 0.0
        low = sum(1 for c in conf if c < self.low_confidence) / len(conf) if conf else 0.0
        anomaly = 0.0
        if rows and self.forest is not None:
            flags = self.forest.predict(rows)
            anomaly = float(sum(1 for f in flags if f == -1)) / len(rows)
        score = (fraud + anomaly + low) / 3
        offsets = [e.offset for e in events] or [-1]
        return WindowResult(window_id, len(events), len(outputs), round(fraud, 4), round(anomaly, 4), round(low, 4),
                            round(score, 4), score >= self.alert_at, min(offsets), max(offsets))
