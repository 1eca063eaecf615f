"""The event path's logic with hand-written fakes: the analyser's windows, lag and event age, its
ensemble; the gateway's publisher (bounded buffer, drops counted, never raising, sync waits);
the broker's listeners advertised through the links."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

from chaosctl.services.analyser.window import (
    BadEvent, Ensemble, Event, Windower, consumer_lag, event_ages, parse_event,
)
from chaosctl.services.gateway.events import EventPublisher, EventsConfig
from chaosctl.services.telemetry import Telemetry
from chaosctl.stack import configs
from chaosctl.stack.topology import EVENTS, Topology


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _event(i: int, ts: float = 10.0, outputs=(0,), confidence=(0.9,)) -> Event:
    return Event(f"e{i}", ts, "fraud-detector", "2.3.1", tuple(outputs), tuple(confidence), ((0.1,) * 20,), 0, i)


def test_a_window_closes_at_its_size_or_when_its_first_event_has_waited():
    clock = FakeClock()
    win = Windower(3, 1.0, clock)
    assert not win.due()
    for i in range(2):
        win.add(_event(i))
    assert not win.due()
    clock.now += 0.99
    assert not win.due()
    clock.now += 0.01
    assert win.due() and [e.offset for e in win.take()] == [0, 1] and not win.due()
    for i in range(2, 9):
        win.add(_event(i))
    assert win.due() and [e.offset for e in win.take()] == [2, 3, 4]
    assert win.due(), "the rest of a burst opens the next window, full already"
    assert len(win) == 4


def test_lag_is_high_watermark_minus_position_and_unknown_is_never_zero():
    assert consumer_lag({0: 120}, {0: 100}) == 20
    assert consumer_lag({0: 120, 1: 5}, {0: 120, 1: 2}) == 3
    assert consumer_lag({0: 120}, {0: None}, {0: 90}) == 30  # not consumed yet: from the committed offset
    assert consumer_lag({0: 120}, {0: -1001}, {0: -1001}) is None  # nothing known: unknown, not 0
    assert consumer_lag({0: 10}, {0: 12}) == 0


def test_event_age_is_publish_to_analysed():
    assert event_ages([_event(0, ts=10.0), _event(1, ts=12.5)], now=13.0) == [3.0, 0.5]
    assert event_ages([_event(0, ts=20.0)], now=13.0) == [0.0]  # a clock step never gives a negative age


def test_events_parse_from_the_gateways_json_and_junk_is_refused():
    body = json.dumps({"id": "x", "ts": 5.0, "model": "m", "version": "1", "outputs": [1, 0],
                       "confidence": [0.8, 0.4], "inputs": [[1.0, 2.0]]}).encode()
    event = parse_event(body, 0, 7, [("traceparent", b"00-abc-def-01")])
    assert (event.offset, event.outputs, event.headers["traceparent"]) == (7, (1, 0), "00-abc-def-01")
    for junk in (b"not json", b"{}", json.dumps({"id": "x", "ts": "NaN", "model": "m", "version": "1"}).encode()):
        with pytest.raises(BadEvent):
            parse_event(junk)


def test_the_ensemble_averages_its_three_members_per_window():
    class Forest:  # flags the first row of each call anomalous
        def predict(self, rows):
            return [-1] + [1] * (len(rows) - 1)

    events = [_event(0, outputs=(1,), confidence=(0.55,)), _event(1), _event(2), _event(3)]
    result = Ensemble(Forest()).score("w1", events)
    assert (result.fraud_share, result.anomaly_share, result.low_confidence_share) == (0.25, 0.25, 0.25)
    assert result.score == 0.25 and not result.alert and (result.first_offset, result.last_offset) == (0, 3)
    assert json.loads(result.to_json())["window_id"] == "w1"


class FakeProducer:
    """librdkafka's bounded queue in miniature: produce raises BufferError when full."""

    def __init__(self, bound: int) -> None:
        self.bound, self.queue, self.flushed = bound, [], []

    def produce(self, topic, value, key=None, headers=None, on_delivery=None):
        if len(self.queue) >= self.bound:
            raise BufferError("Local: Queue full")
        self.queue.append((topic, value, dict(headers or []), on_delivery))

    def poll(self, timeout=0):
        return 0

    def flush(self, timeout=None):
        self.flushed.append(timeout)
        return len(self.queue)  # a paused broker acks nothing

    def __len__(self):
        return len(self.queue)


ANSWER = SimpleNamespace(model="fraud-detector", version="2.3.1", server="model-gpu-1", outputs=[0], confidence=[0.9])


def _publisher(mode: str, producer: FakeProducer) -> EventPublisher:
    config = EventsConfig("127.0.0.1:1", "scored-transactions", mode=mode, buffer_messages=producer.bound)
    return EventPublisher(config, Telemetry("gateway", None, export=False), producer, poll_thread=False)


def _count(pub: EventPublisher, name: str, **labels: str) -> float:
    return pub.tel.registry.get_sample_value(name, labels) or 0.0


def test_a_full_buffer_drops_and_counts_and_never_raises_or_waits():
    producer = FakeProducer(bound=3)
    pub = _publisher("async", producer)
    results = [asyncio.run(pub.publish(ANSWER, [[0.5] * 20] * 20, "client-a")) for _ in range(5)]
    assert results == ["queued"] * 3 + ["dropped"] * 2
    assert _count(pub, "chaosctl_gateway_events_total", result="dropped") == 2
    assert _count(pub, "chaosctl_gateway_events_buffered") == 3
    assert producer.flushed == [], "the async design never waits for the broker"
    topic, value, headers, _ = producer.queue[0]
    doc = json.loads(value)
    assert topic == "scored-transactions" and len(doc["inputs"]) == 8 and doc["subject"] == "client-a"
    assert "traceparent" in headers, "the request's trace context rides in the message headers"


def test_delivery_reports_are_counted():
    producer = FakeProducer(bound=3)
    pub = _publisher("async", producer)
    asyncio.run(pub.publish(ANSWER, [[0.5]], "c"))
    on_delivery = producer.queue[0][3]
    on_delivery(None, object())
    on_delivery("timed out", object())
    assert _count(pub, "chaosctl_gateway_events_delivered_total", result="ok") == 1
    assert _count(pub, "chaosctl_gateway_events_delivered_total", result="failed") == 1


def test_the_sync_variant_waits_for_the_ack_in_the_request_path():
    producer = FakeProducer(bound=3)
    pub = _publisher("sync", producer)
    asyncio.run(pub.publish(ANSWER, [[0.5]], "c"))
    assert producer.flushed == [pub.config.sync_timeout_s]
    with pytest.raises(ValueError, match="events mode 'later'"):
        EventPublisher(EventsConfig("h:1", "t", mode="later"), pub.tel, producer, poll_thread=False)


def test_each_client_path_has_its_listener_advertised_as_its_links_port(tmp_path):
    topo = Topology(24000)
    props = dict(line.split("=", 1) for line in configs.kafka_properties(topo, tmp_path).splitlines())
    gw, an = topo.link_to("gateway", EVENTS), topo.link_to("analyser", EVENTS)
    assert (gw.upstream_port, an.upstream_port) == (24034, 24035)
    assert props["advertised.listeners"] == f"GW://127.0.0.1:{gw.listen_port},AN://127.0.0.1:{an.listen_port},INTERNAL://127.0.0.1:24037"
    assert "CONTROLLER://127.0.0.1:24036" in props["listeners"] and props["inter.broker.listener.name"] == "INTERNAL"
    assert [link.name for link in topo.links[-2:]] == ["link:gateway->events", "link:analyser->events"]


def test_event_slis_read_the_analysers_series_and_a_system_without_them_says_so():
    from chaosctl.scenario.model import SLO
    from chaosctl.system.presets import Slis
    from chaosctl.system.reference import reference_system
    from chaosctl.verdict.slo import build_expr

    ref = reference_system(Topology(24000)).slis.resolved()
    for sli in ("consumer_lag", "event_age_p99"):
        spec = SLO.model_validate({"name": sli, "sli": sli, "phase": "fault", "objective": "< 100"})
        assert build_expr(spec, 30.0) == build_expr(spec, 30.0, ref)  # the reference System asks what the verdict asks
    assert ref.expr("consumer_lag", "30000ms") == "max(max_over_time(chaosctl_analyser_consumer_lag_messages[30000ms]))"
    assert "chaosctl_analyser_event_age_seconds_bucket[30000ms]" in ref.expr("event_age_p99", "30000ms")
    own = Slis(preset="otel-http", event_age_histogram='age_seconds_bucket{job="etl"}').resolved()
    assert 'age_seconds_bucket{job="etl"}' in own.expr("event_age_p99", "10s")
    with pytest.raises(ValueError, match=r"slis\.consumer_lag"):
        own.expr("consumer_lag", "10s")


def _one_answer_server(reply: bytes):
    """A TCP server on 127.0.0.1 that reads one request and answers `reply` (b"": closes)."""
    import socket
    import threading

    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.recv(4096)
            if reply:
                conn.sendall(reply)
        srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]


def test_the_broker_probe_wants_an_apiversions_answer_without_error():
    import struct

    from chaosctl.stack.health import kafka_broker

    ok = _one_answer_server(struct.pack(">iih", 6, 7, 0))  # size, correlation id 7, error 0
    assert kafka_broker("127.0.0.1", ok).ok
    refused = _one_answer_server(struct.pack(">iih", 6, 7, 35))  # UNSUPPORTED_VERSION
    assert "error 35" in kafka_broker("127.0.0.1", refused).reason
    closed = _one_answer_server(b"")
    assert "closed the connection" in kafka_broker("127.0.0.1", closed).reason


def _kafka_settings(tmp_path):
    """Settings whose tools folder holds a fake Kafka launcher and java (launch only checks they exist)."""
    from chaosctl.settings import Settings

    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("chaosctl-kafka", "java"):
        (tools / name).write_text("#!/bin/sh\n")
        (tools / name).chmod(0o755)
    return tools, Settings(state_dir=tmp_path / "state", tool_dirs=(tools,))


def test_the_broker_formats_once_then_starts_from_the_formatted_template(tmp_path):
    from chaosctl.stack import components

    tools, settings = _kafka_settings(tmp_path)
    topo = Topology(24000)
    first = components.launch(EVENTS, settings, topo, topo.components)
    assert first.argv[0] == "/bin/sh" and "StorageTool format" in first.argv[2] and "kafka.Kafka" in first.argv
    template = components.kafka_template(settings)
    template.mkdir(parents=True)
    (template / "meta.properties").write_text("cluster.id=x\n")  # what the format left (the sh kept a copy)
    again = components.launch(EVENTS, settings, topo, topo.components)
    assert again.argv[0] == str(tools / "chaosctl-kafka"), "no second format JVM"
    assert (components.kafka_dir(settings) / "data" / "meta.properties").read_text() == "cluster.id=x\n"
    assert "-Xmx256m" in again.argv and again.argv[-2:] == ("kafka.Kafka", str(settings.state_dir / "config" / "events.properties"))


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch):
    # CI failed 'kafka-storage: error: argument --cluster-id/-t: expected one argument' on an id '-7_DML…':
    # 1 random id in 64 starts with '-', which argparse takes for an option.
    import uuid

    from chaosctl.stack import configs

    ids = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x08" + bytes(15))])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(ids))
    cid = configs.kafka_cluster_id()
    assert cid == "CAAAAAAAAAAAAAAAAAAAAA" and not cid.startswith("-")


def test_the_format_command_binds_the_cluster_id_to_its_option(tmp_path):
    from chaosctl.stack import components

    _, settings = _kafka_settings(tmp_path)
    topo = Topology(24000)
    script = components.launch(EVENTS, settings, topo, topo.components).argv[2]
    assert '--cluster-id="$1"' in script
