"""The run's own telemetry: spans per run/phase/fault, the phase-marker endpoint
(own registry, on topology.run_marker_port), Grafana regions opened and closed."""

from __future__ import annotations

import socket

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chaosctl.faults.base import FaultRecord
from chaosctl.runner.telemetry import RunTelemetry
from chaosctl.stack.topology import Topology


class RecordingGrafana:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def annotate(self, text, tags, start, end=None):
        self.calls.append(("open", text))
        return len(self.calls)

    def close(self, annotation_id, end):
        self.calls.append(("close", annotation_id))
        return True

    def shutdown(self) -> None:
        pass


def _free_topology() -> Topology:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return Topology(port - 80)  # run_marker_port = base + 80


def test_spans_marker_and_annotations():
    exporter, grafana, topo = InMemorySpanExporter(), RecordingGrafana(), _free_topology()
    tel = RunTelemetry("demo", topo, exporter=exporter, grafana=grafana)
    tel.start()
    try:
        url = f"http://127.0.0.1:{topo.run_marker_port}/metrics"
        rec = FaultRecord("f1", "latency", "link:gateway->registry", {})
        with tel.phase("fault"):
            tel.fault_injected(rec, "toxic listed")
            text = httpx.get(url).text
            assert 'chaosctl_run_phase{phase="fault",scenario="demo"} 1.0' in text
            assert 'chaosctl_run_fault_active{fault="latency",scenario="demo",target="link:gateway->registry"} 1.0' in text
            tel.fault_reverted(rec)
        text = httpx.get(url).text
        assert 'chaosctl_run_phase{phase="fault",scenario="demo"} 0.0' in text
        assert "chaosctl_run_fault_active" in text and 'target="link:gateway->registry"} 0.0' in text
    finally:
        tel.close("pass")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"run demo", "phase fault", "fault latency link:gateway->registry"}
    run, phase, fault = spans["run demo"], spans["phase fault"], spans["fault latency link:gateway->registry"]
    assert phase.parent.span_id == run.context.span_id and fault.parent.span_id == phase.context.span_id
    assert run.resource.attributes["service.name"] == "chaosctl-run"
    assert fault.attributes["chaosctl.fault.evidence"] == "toxic listed"
    assert grafana.calls == [("open", "demo: phase fault"), ("open", "demo: fault latency link:gateway->registry"),
                             ("close", 2), ("close", 1)]


def test_marker_port_taken_is_a_note_not_a_failure():
    topo = _free_topology()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", topo.run_marker_port))
        blocker.listen()
        tel = RunTelemetry("demo", topo, exporter=InMemorySpanExporter())
        tel.start()
        tel.close()
    assert tel.notes and "phase marker not served" in tel.notes[0]
