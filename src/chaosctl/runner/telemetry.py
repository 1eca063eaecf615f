"""The run's own telemetry: one OpenTelemetry trace per run (a span per phase,
a child span per fault, exported to Jaeger as service `chaosctl-run`) and a
phase-marker endpoint on `topology.run_marker_port` that the stack's
Prometheus scrapes as job `chaosctl-run`:

  chaosctl_run_phase{scenario,phase}                1 while the phase runs, else 0
  chaosctl_run_fault_active{scenario,fault,target}  1 while the fault is in place, else 0

so dashboards can shade phases and faults. Both reuse the services' Telemetry
(own CollectorRegistry, own TracerProvider, exporter errors swallowed): the run
never fails because Jaeger is slow or the marker port is taken. With a Grafana
configured, phases and faults also become annotation regions (observe.grafana).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

from chaosctl.faults.base import FaultRecord
from chaosctl.stack.topology import HOST, Topology

if TYPE_CHECKING:
    from opentelemetry.trace import Span

SERVICE = "chaosctl-run"


class RunTelemetry:
    def __init__(self, scenario: str, topology: Topology, *, export: bool = True, exporter: Any = None,
                 grafana: Any = None) -> None:
        """`grafana`: an observe.grafana.GrafanaAnnotator (or None): phases and faults
        also become Grafana annotation regions."""
        from opentelemetry import trace
        from prometheus_client import Gauge

        from chaosctl.observe.grafana import RunAnnotations
        from chaosctl.services.telemetry import Telemetry

        self.scenario = scenario
        self.topology = topology
        self._trace = trace
        self._tel = Telemetry(SERVICE, topology, export=export, exporter=exporter)
        self.phase_gauge = Gauge("chaosctl_run_phase", "1 while the phase runs", ("scenario", "phase"),
                                 registry=self._tel.registry)
        self.fault_gauge = Gauge("chaosctl_run_fault_active", "1 while the fault is in place",
                                 ("scenario", "fault", "target"), registry=self._tel.registry)
        self._server: Any = None
        self._run_span: Span | None = None
        self._phase_span: Span | None = None
        self._fault_spans: dict[str, Span] = {}
        self.annotations = RunAnnotations(grafana, scenario)
        self.notes: list[str] = []

    # -- lifecycle ---------------------------------------------------------------

    def start(self, serve_marker: bool = True) -> None:
        self._run_span = self._tel.tracer.start_span(f"run {self.scenario}", attributes={"chaosctl.scenario": self.scenario})
        if serve_marker:
            self._serve()

    def _serve(self) -> None:
        from prometheus_client import start_http_server

        port = self.topology.run_marker_port
        try:
            self._server, _ = start_http_server(port, addr=HOST, registry=self._tel.registry)
        except OSError as exc:  # another run holds it: phases just will not be shaded
            self.notes.append(f"phase marker not served on {HOST}:{port}: {exc}")

    def close(self, verdict: str | None = None) -> None:
        for rec_id in list(self._fault_spans):
            self._fault_spans.pop(rec_id).end()
        if self._run_span is not None:
            if verdict:
                self._run_span.set_attribute("chaosctl.verdict", verdict)
            self._run_span.end()
            self._run_span = None
        self._tel.shutdown()
        self.annotations.finish()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- phases and faults -------------------------------------------------------

    def _child(self, parent: "Span | None", name: str, **attrs: Any) -> "Span":
        ctx = self._trace.set_span_in_context(parent) if parent is not None else None
        return self._tel.tracer.start_span(name, context=ctx, attributes=attrs)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        gauge = self.phase_gauge.labels(self.scenario, name)
        self._phase_span = self._child(self._run_span, f"phase {name}", **{"chaosctl.phase": name})
        gauge.set(1)
        self.annotations.phase_started(name, time.time())
        try:
            yield
        finally:
            gauge.set(0)
            self.annotations.phase_ended(name, time.time())
            self._phase_span.end()
            self._phase_span = None

    def event(self, name: str, **attrs: Any) -> None:
        span = self._phase_span or self._run_span
        if span is not None:
            span.add_event(name, attributes=attrs, timestamp=time.time_ns())

    def fault_injected(self, record: FaultRecord, evidence: str) -> None:
        self.fault_gauge.labels(self.scenario, record.type, record.target).set(1)
        self.annotations.fault_injected(record.id, record.label, time.time())
        self._fault_spans[record.id] = self._child(
            self._phase_span or self._run_span, f"fault {record.label}",
            **{"chaosctl.fault.type": record.type, "chaosctl.fault.target": record.target,
               "chaosctl.fault.id": record.id, "chaosctl.fault.evidence": evidence})

    def fault_reverted(self, record: FaultRecord) -> None:
        self.fault_gauge.labels(self.scenario, record.type, record.target).set(0)
        self.annotations.fault_reverted(record.id, time.time())
        span = self._fault_spans.pop(record.id, None)
        if span is not None:
            span.end()
