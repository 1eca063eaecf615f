"""The autoscaler's metrics (its own registry) and its span events on scale decisions."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Every cause a scale event can carry (label values are bounded: the free-text reason goes to the span).
CAUSES = {"up": ("below_min", "saturated", "queue_depth", "utilization"), "down": ("above_max", "idle", "failed")}
WARMUP_BUCKETS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 45, 60, 90)


class AutoscalerMetrics:
    def __init__(self, registry: CollectorRegistry, pools: tuple[str, ...], tracer: Any = None) -> None:
        self.tracer = tracer or trace.NoOpTracer()
        self.desired = Gauge("chaosctl_autoscaler_desired_replicas", "Replicas the autoscaler wants per pool",
                             ["pool"], registry=registry)  # fmt: skip
        self.ready = Gauge("chaosctl_autoscaler_ready_replicas", "Replicas registered and taking traffic",
                           ["pool"], registry=registry)  # fmt: skip
        self.warming = Gauge("chaosctl_autoscaler_warming_replicas", "Replicas started and not yet registered",
                             ["pool"], registry=registry)  # fmt: skip
        self.enabled = Gauge("chaosctl_autoscaler_enabled", "1 while the autoscaler acts on its decisions",
                             registry=registry)  # fmt: skip
        self.events = Counter("chaosctl_autoscaler_scale_events_total", "Scale-ups and scale-downs by cause",
                              ["pool", "direction", "cause"], registry=registry)  # fmt: skip
        self.failures = Counter("chaosctl_autoscaler_replica_failures_total",
                                "Replicas that never became ready (exited, warm-up or registration failed)",
                                ["pool"], registry=registry)  # fmt: skip
        self.warmup = Histogram("chaosctl_autoscaler_warmup_seconds",
                                "Replica start to registered (process start, model load, warm-up inferences)",
                                ["pool"], buckets=WARMUP_BUCKETS, registry=registry)  # fmt: skip
        self.last_scale_up = Gauge("chaosctl_autoscaler_last_scale_up_seconds",
                                   "Decision to replica registered, of the last scale-up", ["pool"],
                                   registry=registry)  # fmt: skip
        self.enabled.set(1)
        for pool in pools:  # every series exists from the start (dashboards and SLOs read zeros, not 'no data')
            for gauge in (self.desired, self.ready, self.warming):
                gauge.labels(pool).set(0)
            self.failures.labels(pool)
            self.warmup.labels(pool)
            for direction, causes in CAUSES.items():
                for cause in causes:
                    self.events.labels(pool, direction, cause)

    def decision(self, pool: str, direction: str, cause: str, reason: str, desired: int) -> None:
        """A scale event: counted, and a span with its event (the reason in words)."""
        self.events.labels(pool, direction, cause).inc()
        with self.tracer.start_as_current_span("autoscaler scale decision") as span:
            span.set_attribute("autoscaler.pool", pool)
            span.add_event(f"autoscaler.scale_{direction}",
                           {"autoscaler.pool": pool, "autoscaler.reason": reason, "autoscaler.desired": desired})  # fmt: skip
