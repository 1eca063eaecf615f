"""The analyser process: a Kafka consumer loop (its own thread) beside a small HTTP app
(`/healthz`, `/metrics`). `python -m chaosctl.services analyser --port-base N`.

Per window: each event gets a CONSUMER span whose parent is the gateway's PRODUCER span (its
W3C context travels in the message headers), so one trace runs gateway -> Kafka -> analyser;
the window's result goes to the results topic, then the offsets are committed (at least once).
Everything the consumer sees of the broker is through `link:analyser->events`.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from chaosctl.services.analyser.window import BadEvent, Ensemble, Event, Windower, consumer_lag, event_ages, parse_event
from chaosctl.services.telemetry import Telemetry
from chaosctl.settings import Settings
from chaosctl.stack.topology import ANALYSER, EVENTS, EVENTS_TOPIC, RESULTS_TOPIC, Topology

GROUP = "chaosctl-analyser"
AGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0)
LAG_EVERY_S = 1.0


@dataclass(frozen=True)
class AnalyserConfig:
    bootstrap: str  # host:port of the analyser's link to the broker
    topic: str = EVENTS_TOPIC
    results_topic: str = RESULTS_TOPIC
    window_events: int = 50
    window_wait_s: float = 1.0


class AnalyserMetrics:
    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.lag = Gauge("chaosctl_analyser_consumer_lag_messages",
                         "Messages in the scored-transactions topic not consumed yet (high watermark - position)",
                         registry=registry)
        self.age = Histogram("chaosctl_analyser_event_age_seconds",
                             "End-to-end event age: gateway publish -> window analysed", buckets=AGE_BUCKETS,
                             registry=registry)
        self.windows = Counter("chaosctl_analyser_windows_total", "Windows analysed", registry=registry)
        self.events = Counter("chaosctl_analyser_events_total", "Events consumed, by result", ["result"], registry=registry)
        self.results = Counter("chaosctl_analyser_results_total", "Window results published, by outcome", ["outcome"],
                               registry=registry)
        self.alerts = Counter("chaosctl_analyser_alerts_total", "Windows whose ensemble score crossed the alert line",
                              registry=registry)
        self.assigned = Gauge("chaosctl_analyser_assigned_partitions", "Partitions assigned to the analyser",
                              registry=registry)
        for name in ("ok", "bad"):
            self.events.labels(name)
        for name in ("ok", "failed"):
            self.results.labels(name)


def client_config(bootstrap: str) -> dict[str, Any]:
    """What both clients share: the link's address; quick reconnects after a fault."""
    return {"bootstrap.servers": bootstrap, "reconnect.backoff.ms": 100, "reconnect.backoff.max.ms": 1000,
            "log_level": 3, "log.connection.close": False}


class Analyser:
    """The consume -> window -> score -> publish -> commit loop, on its own thread."""

    def __init__(self, config: AnalyserConfig, telemetry: Telemetry, ensemble: Ensemble,
                 consumer: Any, producer: Any, clock: Any = time.monotonic, wall: Any = time.time) -> None:
        self.config, self.tel, self.ensemble = config, telemetry, ensemble
        self.consumer, self.producer = consumer, producer
        self.metrics = AnalyserMetrics(telemetry.registry)
        self.windower = Windower(config.window_events, config.window_wait_s, clock)
        self.clock, self.wall = clock, wall
        self.stopping = threading.Event()
        self.assigned: list[Any] = []
        self._received: dict[str, float] = {}
        self._lag_at = 0.0

    def on_assign(self, _consumer: Any, partitions: list[Any]) -> None:
        self.assigned = list(partitions)
        self.metrics.assigned.set(len(partitions))

    def run(self) -> None:
        self.consumer.subscribe([self.config.topic], on_assign=self.on_assign)
        while not self.stopping.is_set():
            self.step()
        self.consumer.close()

    def step(self) -> None:
        for msg in self.consumer.consume(num_messages=200, timeout=0.2):
            if msg.error():
                continue
            try:
                event = parse_event(msg.value(), msg.partition(), msg.offset(), msg.headers())
            except BadEvent:
                self.metrics.events.labels("bad").inc()
                continue
            self._received[event.event_id] = time.time_ns()
            self.windower.add(event)
        if self.windower.due():
            self.analyse(self.windower.take())
        self.producer.poll(0)
        if self.clock() - self._lag_at >= LAG_EVERY_S:
            self._lag_at = self.clock()
            self.sample_lag()

    def analyse(self, events: list[Event]) -> None:
        from opentelemetry.trace import SpanKind

        window_id = uuid.uuid4().hex[:12]
        result = self.ensemble.score(window_id, events)
        now_ns = time.time_ns()
        for event in events:  # each event's span continues its gateway trace (async: PRODUCER -> CONSUMER)
            span = self.tel.tracer.start_span(f"analyse {self.config.topic}", context=self.tel.extract(event.headers),
                                              kind=SpanKind.CONSUMER, start_time=self._received.pop(event.event_id, now_ns))
            for key, value in (("messaging.system", "kafka"), ("messaging.destination.name", self.config.topic),
                               ("messaging.kafka.offset", event.offset), ("window.id", window_id),
                               ("window.events", len(events)), ("window.score", result.score)):
                span.set_attribute(key, value)
            span.end(end_time=now_ns)
        for age in event_ages(events, self.wall()):
            self.metrics.age.observe(age)
        self.metrics.events.labels("ok").inc(len(events))
        self.metrics.windows.inc()
        if result.alert:
            self.metrics.alerts.inc()
        self.publish(result)

    def publish(self, result: Any) -> None:
        def delivered(err: Any, _msg: Any) -> None:
            self.metrics.results.labels("failed" if err is not None else "ok").inc()

        try:
            self.producer.produce(self.config.results_topic, result.to_json(), key=result.window_id, on_delivery=delivered)
        except BufferError:
            self.metrics.results.labels("failed").inc()
        try:
            self.consumer.commit(asynchronous=True)
        except Exception:  # noqa: BLE001 - nothing consumed yet or the broker away: the next window commits
            pass

    def sample_lag(self) -> None:
        if not self.assigned:
            return
        try:
            highs = {tp.partition: self.consumer.get_watermark_offsets(tp, timeout=0.5, cached=False)[1]
                     for tp in self.assigned}
            positions = {tp.partition: tp.offset for tp in self.consumer.position(self.assigned)}
            committed = {tp.partition: tp.offset for tp in self.consumer.committed(self.assigned, timeout=0.5)}
        except Exception:  # noqa: BLE001 - broker unreachable: keep the last sample (event age shows the delay)
            return
        lag = consumer_lag(highs, positions, committed)
        if lag is not None:
            self.metrics.lag.set(lag + len(self.windower))  # consumed but not analysed yet is still behind


def ensure_topics(bootstrap: str, topics: tuple[str, ...], stopping: threading.Event) -> bool:
    """Create the topics (one partition each) if missing, retrying while the broker starts
    (or is faulted); False when told to stop first."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(client_config(bootstrap))
    while not stopping.is_set():
        futures = admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1) for t in topics])
        try:
            for future in futures.values():
                try:
                    future.result(timeout=5)
                except KafkaException as exc:
                    if "TOPIC_ALREADY_EXISTS" not in str(exc):
                        raise
            return True
        except Exception:  # noqa: BLE001 - not up yet: ask again
            stopping.wait(0.5)
    return False


def create_app(analyser: Analyser, telemetry: Telemetry) -> Any:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI(title="chaosctl analyser", version="1")
    telemetry.install(app)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        if not analyser.assigned:
            return JSONResponse({"status": "starting", "reason": "no partition assigned yet"}, status_code=503)
        return JSONResponse({"status": "ok", "partitions": len(analyser.assigned)})

    return app


def serve(name: str, topology: Topology, settings: Settings) -> None:
    """Run the analyser until SIGTERM/SIGINT."""
    del settings
    from confluent_kafka import Consumer, Producer

    from chaosctl.services.telemetry import serve as run

    host_port = topology.via_proxy(ANALYSER, EVENTS).removeprefix("kafka://")
    config = AnalyserConfig(host_port)
    telemetry = Telemetry(name, topology)
    consumer = Consumer({**client_config(host_port), "group.id": GROUP, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    producer = Producer({**client_config(host_port), "linger.ms": 20})
    analyser = Analyser(config, telemetry, Ensemble.trained(), consumer, producer)
    thread = threading.Thread(target=_loop, args=(analyser, host_port), name="analyser", daemon=True)
    thread.start()
    try:
        run(create_app(analyser, telemetry), topology.analyser_port)
    finally:
        analyser.stopping.set()
        thread.join(timeout=5)
        producer.flush(2)
        telemetry.shutdown()


def _loop(analyser: Analyser, bootstrap: str) -> None:
    if ensure_topics(bootstrap, (analyser.config.topic, analyser.config.results_topic), analyser.stopping):
        analyser.run()
