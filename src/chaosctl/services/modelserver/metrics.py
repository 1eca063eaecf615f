"""The AI metrics of a model server (names in docs/contracts.md), on the service's own registry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from chaosctl.services.modelserver.engine import Engine
from chaosctl.services.modelserver.gpufaults import SIMULATED, DeviceFaults
from chaosctl.services.modelserver.models import LoadedModel

INFERENCE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
CONFIDENCE_BUCKETS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


def install_metrics(engine: Engine, registry: Any) -> None:
    """Register the model-server metrics; gauges read the engine's state at scrape time."""
    from prometheus_client import Histogram

    device = engine.spec.device
    inference = Histogram("chaosctl_model_inference_duration_seconds", "Inference time of one batch",
                          ("model", "version", "device"), buckets=INFERENCE_BUCKETS, registry=registry)  # fmt: skip
    batch = Histogram("chaosctl_model_batch_size", "Rows per executed batch", ("model", "version"),
                      buckets=BATCH_BUCKETS, registry=registry)  # fmt: skip
    confidence = Histogram("chaosctl_model_confidence", "Prediction confidence (top class probability)",
                           ("model", "version"), buckets=CONFIDENCE_BUCKETS, registry=registry)  # fmt: skip
    dev = engine.device
    _state_gauges(engine, registry)

    def observe(model: LoadedModel, rows: int, seconds: float, conf: np.ndarray) -> None:
        inference.labels(model.name, model.version, device).observe(seconds)
        batch.labels(model.name, model.version).observe(rows)
        hist = confidence.labels(model.name, model.version)
        for c in conf:
            hist.observe(float(c))

    engine.observers.append(observe)
    if dev is not None:
        registry.register(GpuFaultCollector(dev.faults))


def _state_gauges(engine: Engine, registry: Any) -> None:
    """Gauges read from the engine at scrape time, and the info series (1 per device kind, version, region)."""
    from prometheus_client import Gauge

    device = engine.spec.device
    Gauge("chaosctl_model_queue_depth", "Requests waiting for the device", registry=registry).set_function(
        lambda: engine.queue_depth
    )
    dev = engine.device
    Gauge("chaosctl_gpu_memory_used_bytes", "Device memory in use (weights, batches, faults)",
          registry=registry).set_function(lambda: dev.used_bytes if dev else 0)  # fmt: skip
    Gauge("chaosctl_gpu_memory_total_bytes", "Device memory pool size",
          registry=registry).set_function(lambda: dev.total_bytes if dev else 0)  # fmt: skip
    Gauge("chaosctl_gpu_utilization_ratio", "Busy fraction of the device (or CPU workers) over ~5 s",
          registry=registry).set_function(engine.utilization)  # fmt: skip
    Gauge("chaosctl_model_warming", "1 while models load or warm up",
          registry=registry).set_function(lambda: 1.0 if engine.warming else 0.0)  # fmt: skip
    kind = Gauge("chaosctl_gpu_device_info", "Device kind: simulated, cuda or cpu", ("device", "kind"),
                 registry=registry)  # fmt: skip
    kind.labels(device, engine.device_kind).set(1)
    version_info = Gauge("chaosctl_model_version_info", "Model versions served (1 per served version)",
                         ("model", "version"), registry=registry)  # fmt: skip
    for m in engine.spec.models:
        version_info.labels(m.name, m.version).set(1)
    Gauge("chaosctl_model_server_region_info", "The server's region (1 for the region it is in)", ("region",),
          registry=registry).labels(engine.spec.region).set(1)  # fmt: skip


class GpuFaultCollector:
    """The GPU fault metrics, read from the device's fault state at scrape time. `simulated` is
    "true" for every kind on every device (why: gpufaults.py)."""

    def __init__(self, faults: DeviceFaults) -> None:
        self.faults = faults

    def describe(self) -> list[Any]:
        return []  # registered without a first collect; names are fixed, no clash to check

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        sim = "true" if SIMULATED else "false"
        active = GaugeMetricFamily("chaosctl_gpu_fault_active", "1 while a GPU fault of this kind is in place",
                                   labels=("kind", "simulated"))  # fmt: skip
        for kind, on in self.faults.active().items():
            active.add_metric((kind, sim), 1.0 if on else 0.0)
        failed = CounterMetricFamily("chaosctl_gpu_failed_batches", "Batches a GPU fault failed (device lost: refused)",
                                     labels=("reason", "simulated"))  # fmt: skip
        state = self.faults.state()
        counts = state["failed_batches"]
        assert isinstance(counts, dict)
        for kind in ("device-lost", "ecc-error"):
            failed.add_metric((kind, sim), float(counts.get(kind, 0)))
        throttled = CounterMetricFamily("chaosctl_gpu_throttled_batches", "Batches slowed by thermal throttling",
                                        labels=("simulated",))  # fmt: skip
        throttled.add_metric((sim,), float(self.faults.throttled))
        factor = GaugeMetricFamily("chaosctl_gpu_throttle_factor", "Batch time multiplier of thermal throttling (1: none)",
                                   labels=("simulated",))  # fmt: skip
        factor.add_metric((sim,), self.faults.throttle_factor)
        yield from (active, failed, throttled, factor)
