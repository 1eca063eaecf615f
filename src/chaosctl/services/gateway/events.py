"""The gateway's side of the event path: each scored transaction published to Kafka.

The real-time answer never waits for Kafka: `publish` hands the event to librdkafka's own
bounded queue (`queue.buffering.max.messages`) and returns; a full queue or a refused message
is a drop, counted, never an error to the client. A background thread serves the delivery
reports (delivered / failed after `message.timeout.ms`). The PRODUCER span is a child of the
request's span and its W3C context rides in the message headers, so the analyser's span joins
the same trace.

`mode="sync"` (CHAOSCTL_EVENTS_PUBLISH=sync) is the deliberately broken design the event-lag
scenario must catch: the request waits for the broker's ack (up to `sync_timeout_s`).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:  # pragma: no cover
    from chaosctl.services.telemetry import Telemetry

PUBLISH_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
MAX_ROWS_PUBLISHED = 8  # an event carries at most this many input rows (the analyser's features)


@dataclass(frozen=True)
class EventsConfig:
    bootstrap: str  # host:port of link:gateway->events
    topic: str
    mode: str = "async"  # "async" (the design) | "sync" (the broken variant: wait for the ack)
    buffer_messages: int = 10000  # librdkafka's queue bound: past it, events are dropped
    message_timeout_s: float = 30.0  # an event not delivered by then is failed (counted)
    sync_timeout_s: float = 2.0


class EventsMetrics:
    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.published = Counter("chaosctl_gateway_events_total",
                                 "Scored transactions handed to the event path, by result (queued | dropped)",
                                 ["result"], registry=registry)
        self.delivered = Counter("chaosctl_gateway_events_delivered_total",
                                 "Delivery reports from the broker, by result (ok | failed)", ["result"], registry=registry)
        self.buffered = Gauge("chaosctl_gateway_events_buffered", "Events waiting in the producer's bounded queue",
                              registry=registry)
        self.wait = Histogram("chaosctl_gateway_events_publish_seconds",
                              "Time the request path spent publishing its event", buckets=PUBLISH_BUCKETS,
                              registry=registry)
        self.queued, self.dropped = self.published.labels("queued"), self.published.labels("dropped")  # looked up once
        self.delivered_ok, self.delivered_failed = self.delivered.labels("ok"), self.delivered.labels("failed")


def producer_config(config: EventsConfig) -> dict[str, Any]:
    return {
        "bootstrap.servers": config.bootstrap,
        "queue.buffering.max.messages": config.buffer_messages,
        "message.timeout.ms": int(config.message_timeout_s * 1000),
        "linger.ms": 10,
        "acks": 1,
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 1000,
        "log_level": 3,
        "log.connection.close": False,
    }


class EventPublisher:
    """Publishes scored transactions; `producer` is a confluent_kafka.Producer (a fake in tests)."""

    def __init__(self, config: EventsConfig, telemetry: Telemetry, producer: Any | None = None,
                 clock: Callable[[], float] = time.perf_counter, wall: Callable[[], float] = time.time,
                 poll_thread: bool = True) -> None:
        if config.mode not in ("async", "sync"):
            raise ValueError(f"events mode {config.mode!r}: expected async or sync")
        if producer is None:
            from confluent_kafka import Producer

            producer = Producer(producer_config(config))
        self.config, self.tel, self.producer = config, telemetry, producer
        self.metrics = EventsMetrics(telemetry.registry)
        self.metrics.buffered.set_function(lambda: len(self.producer))
        self.clock, self.wall = clock, wall
        self._ids = random.Random()  # event ids: unique enough to tell events apart, not secrets
        self._stop = threading.Event()
        if poll_thread:
            threading.Thread(target=self._serve_reports, name="events-poll", daemon=True).start()

    def _serve_reports(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.2)

    def delivered(self, err: Any, _msg: Any) -> None:
        (self.metrics.delivered_failed if err is not None else self.metrics.delivered_ok).inc()

    def event(self, answer: Any, inputs: list[list[float]], subject: str) -> bytes:
        # orjson and a random (not urandom) id: json.dumps and uuid4 were ~3% of the gateway's CPU.
        return orjson.dumps({
            "id": f"{self._ids.getrandbits(128):032x}", "ts": self.wall(), "model": answer.model,
            "version": answer.version, "server": answer.server, "subject": subject, "outputs": answer.outputs,
            "confidence": answer.confidence, "inputs": inputs[:MAX_ROWS_PUBLISHED],
        })

    async def publish(self, answer: Any, inputs: list[list[float]], subject: str) -> str:
        """'queued' or 'dropped' (never raises). In sync mode, waits for the ack first."""
        from opentelemetry.trace import SpanKind

        start = self.clock()
        attrs = {"messaging.system": "kafka", "messaging.destination.name": self.config.topic}
        with self.tel.span(f"publish {self.config.topic}", SpanKind.PRODUCER, attrs) as span:
            headers = [(k, v.encode()) for k, v in self.tel.inject({}).items()]
            try:
                self.producer.produce(self.config.topic, self.event(answer, inputs, subject), key=subject,
                                      headers=headers, on_delivery=self.delivered)
                result = "queued"
            except Exception:  # noqa: BLE001 - a full queue or a refused message: dropped, counted
                result = "dropped"
            span.set_attribute("events.result", result)
            if self.config.mode == "sync" and result == "queued":
                left = await asyncio.to_thread(self.producer.flush, self.config.sync_timeout_s)
                span.set_attribute("events.unacked", left)
        (self.metrics.queued if result == "queued" else self.metrics.dropped).inc()
        self.metrics.wait.observe(self.clock() - start)
        return result

    def close(self, timeout_s: float = 1.0) -> None:
        self._stop.set()
        self.producer.flush(timeout_s)
