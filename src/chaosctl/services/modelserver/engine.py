"""The inference engine of one model server: models, device, batching, health and load figures.

GPU servers run each batch on the device (`SimulatedGpu`, or `cuda.CudaGpu` when one is given):
a concurrency slot, activation memory for the batch, then the real predict in a worker thread. CPU
servers run each request on a small thread pool, with no device pool.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from chaosctl.services.modelserver.batcher import DynamicBatcher, Pending, Slots
from chaosctl.services.modelserver.device import GiB, SimulatedGpu, cuda_visible
from chaosctl.services.modelserver.gpufaults import SIMULATED, GpuFault
from chaosctl.services.modelserver.models import MiB, LoadedModel, train
from chaosctl.stack.topology import ModelServerSpec


@dataclass(frozen=True)
class ModelServerConfig:
    memory_total_bytes: int = 16 * GiB
    max_concurrency: int = 2  # device streams (GPU) / worker threads (CPU)
    batching: bool = True
    max_batch_rows: int = 32
    batch_window_s: float = 0.010
    idle_dispatch: bool = True  # an idle device starts at once (no window wait); see DynamicBatcher
    warmup_s: float = 3.0
    activation_bytes_per_row: int = 16 * MiB
    saturation_delay_s: float = 0.2  # extra time per batch at compute saturation 1.0
    queue_saturated: int = 64  # queue depth from which the server calls itself saturated
    memory_saturated: float = 0.9
    max_rows_per_request: int = 1024
    heartbeat_s: float = 2.0
    ttl_s: int = 10


class ServeError(Exception):
    """A request the engine refuses; `status` is the HTTP status to answer."""

    status = 500


class UnknownModel(ServeError):
    status = 404


class BadInputs(ServeError):
    status = 422


class NotReady(ServeError):
    status = 503


class InjectedError(ServeError):
    status = 500


class GpuFailed(ServeError):
    """A batch a GPU fault failed: 503 while the device is lost (retry elsewhere), 500 for an ECC error."""

    def __init__(self, fault: GpuFault) -> None:
        super().__init__(str(fault))
        self.kind = fault.kind
        self.status = 503 if fault.kind == "device-lost" else 500


# span event per GPU fault kind (on the batch's inference spans and on each request's span)
FAULT_EVENTS = {"device-lost": "gpu.device_lost", "ecc-error": "gpu.ecc_error", "thermal-throttle": "gpu.thermal_throttle"}


@dataclass(frozen=True)
class Prediction:
    model: str
    version: str
    outputs: list[Any]
    confidence: list[float]
    batch_size: int


# observer(model, version, device, batch_rows, seconds, confidences) - metrics hook
Observer = Callable[[LoadedModel, int, float, np.ndarray], None]


class Engine:
    def __init__(
        self,
        spec: ModelServerSpec,
        config: ModelServerConfig = ModelServerConfig(),
        *,
        tracer: Any = None,
        clock: Callable[[], float] = time.monotonic,
        gpu_device: SimulatedGpu | None = None,
    ) -> None:
        self.spec = spec
        self.config = config
        self.tracer = tracer
        self.gpu = spec.device == "gpu"
        self.device: SimulatedGpu | None = None
        if self.gpu:  # a given device (CUDA, chosen at server start) or the simulated pool
            self.device = gpu_device or SimulatedGpu(config.memory_total_bytes, config.max_concurrency, clock)
        self.device_kind = self.device.kind if self.device else "cpu"
        self.cuda_visible = self.gpu and cuda_visible()
        self.models: dict[tuple[str, str], LoadedModel] = {}
        self.loaded = False
        self._placed = False  # place_models ran (whether it succeeded or not: see load_error)
        self.load_error: str | None = None
        self.error_rate = 0.0
        self.observers: list[Observer] = []
        self._executor = ThreadPoolExecutor(config.max_concurrency, thread_name_prefix="inference")
        self._slots: Slots | None = None
        self._batchers: dict[tuple[str, str], DynamicBatcher] = {}
        self._cpu_busy = 0
        self._waiting = 0  # requests waiting for a slot outside the batchers

    # -- lifecycle ----------------------------------------------------------------

    def place_models(self, trainer: Callable[[str, str, str], LoadedModel] = train) -> None:
        """Train (or load from the cache) every model and place its weights on the device: each
        model's warm-up runs from then. Blocking: `serve` calls it before the web stack is even
        imported (the warm-up then overlaps those imports), `load` in a thread. A failure is kept
        in `load_error` (reported by /healthz as unhealthy, not a crash)."""
        if self._placed:
            return
        try:
            for m in self.spec.models:
                model = trainer(m.name, m.version, m.capability)
                if self.device is not None:
                    self.device.load_weights(f"{m.name}:{m.version}", model.weight_bytes, self.config.warmup_s)
                self.models[(m.name, m.version)] = model
        except Exception as exc:  # noqa: BLE001 - see above
            self.load_error = f"{type(exc).__name__}: {exc}"
        self._placed = True

    async def load(self, trainer: Callable[[str, str, str], LoadedModel] = train) -> None:
        """The models placed (in a thread, unless `place_models` ran already: the server answers
        /healthz meanwhile), then the batchers; loaded once both are done (the warm-up may run on)."""
        self._slots = Slots(self.config.max_concurrency)
        if not self._placed:
            await asyncio.to_thread(self.place_models, trainer)
        if self.load_error is not None:
            return
        if self.device is not None and self.config.batching:
            for key, model in self.models.items():
                self._batchers[key] = DynamicBatcher(
                    functools.partial(self._run_batch, model=model),
                    self.config.max_batch_rows, self.config.batch_window_s, self._slots, self.config.idle_dispatch,
                )  # fmt: skip
        self.loaded = True

    async def close(self) -> None:
        for b in self._batchers.values():
            await b.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- state --------------------------------------------------------------------

    @property
    def warming(self) -> bool:
        return not self.loaded or (self.device is not None and self.device.warming())

    @property
    def queue_depth(self) -> int:
        return sum(b.waiting for b in self._batchers.values()) + self._waiting

    def health(self) -> str:
        if self.load_error is not None or (self.device is not None and self.device.faults.lost):
            return "unhealthy"
        if self.warming:
            return "warming"
        dev = self.device
        if self.queue_depth >= self.config.queue_saturated or (
            dev is not None
            and (dev.memory_ratio() > self.config.memory_saturated or dev.compute_saturation >= 0.9)
        ):
            return "saturated"
        return "ready"

    def utilization(self) -> float:
        if self.device is not None:
            return self.device.utilization()
        return min(1.0, self._cpu_busy / self.config.max_concurrency)

    def load_report(self) -> dict[str, Any]:
        dev = self.device
        return {
            "queue_depth": self.queue_depth,
            "memory_used_bytes": dev.used_bytes if dev else 0,
            "memory_total_bytes": dev.total_bytes if dev else 0,
            "utilization": round(self.utilization(), 4),
            "warming": self.warming,
            "device": self.spec.device,
            "device_kind": self.device_kind,
            "cuda_visible": self.cuda_visible,
            "health": self.health(),
        }

    # -- inference ----------------------------------------------------------------

    def resolve(self, name: str, version: str | None) -> LoadedModel:
        """The exact version asked for, else the server's first-listed (stable) one."""
        candidates = [m for (n, _v), m in self.models.items() if n == name]
        if not candidates and not self.loaded and any(m.name == name for m in self.spec.models):
            raise NotReady("loading")
        if version is None and candidates:
            return candidates[0]
        for m in candidates:
            if m.version == version:
                return m
        served = ", ".join(f"{k[0]} {k[1]}" for k in self.models)
        raise UnknownModel(f"model {name!r} version {version!r} not served here (serves: {served})")

    def _validate(self, model: LoadedModel, inputs: list[list[float]]) -> np.ndarray:
        if not inputs or len(inputs) > self.config.max_rows_per_request:
            raise BadInputs(f"inputs: 1 to {self.config.max_rows_per_request} rows expected")
        bad = next((i for i, row in enumerate(inputs) if len(row) != model.n_features), None)
        if bad is not None:
            raise BadInputs(f"inputs[{bad}]: {model.n_features} features expected, got {len(inputs[bad])}")
        rows = np.asarray(inputs, dtype=np.float64)
        if not np.isfinite(rows).all():
            raise BadInputs("inputs: every value must be a finite number")
        return rows

    async def predict(self, name: str, version: str | None, inputs: list[list[float]], context: Any = None) -> Prediction:
        model = self.resolve(name, version)
        rows = self._validate(model, inputs)
        if self.warming or (self.device is not None and self.device.warming(f"{model.name}:{model.version}")):
            raise NotReady("warming")
        if self.error_rate > 0 and random.random() < self.error_rate:
            raise InjectedError("injected failure (admin /admin/errors)")
        batcher = self._batchers.get((model.name, model.version))
        if batcher is not None:
            result: Prediction = await batcher.submit(rows, context)
            return result
        assert self._slots is not None
        pending = Pending(rows, context, 0.0)
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            (result,) = await self._run_batch(rows, [pending], model)
        finally:
            self._slots.release()
        return result

    async def _run_batch(self, rows: np.ndarray, batch: list[Pending], model: LoadedModel) -> list[Prediction]:
        alloc, dev, throttle = None, self.device, 0.0
        start_ns, t0 = time.time_ns(), time.perf_counter()
        if dev is not None:
            alloc = self._take_device(dev, rows, batch, model, start_ns)
        else:
            self._cpu_busy += 1
        fault: GpuFault | None = None
        try:
            classes, conf = await asyncio.get_running_loop().run_in_executor(self._executor, model.predict, rows)
            if dev is not None:
                throttle = await self._device_tail(dev, time.perf_counter() - t0)
        except GpuFault as exc:
            fault = exc
        finally:
            if dev is not None and alloc is not None:
                dev.release(alloc.id)
                dev.meter.change(-1)
            else:
                self._cpu_busy -= 1
        if fault is not None:
            raise self._failed(fault, model, batch, len(rows), start_ns) from None
        seconds = time.perf_counter() - t0
        for observe in self.observers:
            observe(model, len(rows), seconds, conf)
        marks = self._throttle_marks(throttle) if throttle > 0 else None
        self._spans(model, batch, len(rows), start_ns, time.time_ns(), marks)
        return self._split(model, batch, classes, conf)

    def _take_device(self, dev: SimulatedGpu, rows: np.ndarray, batch: list[Pending], model: LoadedModel,
                     start_ns: int) -> Any:  # fmt: skip
        """The batch's place on the device: none while the device is lost (GpuFailed), 503 when full."""
        from chaosctl.services.modelserver.device import DeviceOOM

        try:
            dev.faults.before_batch()  # a lost device takes no batch at all
        except GpuFault as fault:
            raise self._failed(fault, model, batch, len(rows), start_ns) from None
        try:
            alloc = dev.allocate(len(rows) * self.config.activation_bytes_per_row, "batch", model.name)
        except DeviceOOM as exc:
            raise NotReady(str(exc)) from None
        dev.meter.change(+1)
        return alloc

    async def _device_tail(self, dev: SimulatedGpu, compute_s: float) -> float:
        """After the batch's compute: throttling and compute saturation hold the device longer, then an
        ECC error may fail the batch in flight (GpuFault). Returns the throttle's added seconds."""
        throttle = dev.faults.throttled_delay(compute_s)
        extra = throttle + dev.compute_saturation * self.config.saturation_delay_s
        if extra > 0:
            await asyncio.sleep(extra)
        dev.faults.after_batch()
        return throttle

    def _throttle_marks(self, delay_s: float) -> tuple[str, dict[str, Any]]:
        factor = self.device.faults.throttle_factor if self.device is not None else 1.0
        return "thermal-throttle", {"gpu.throttle.factor": factor, "gpu.throttle.added_ms": round(delay_s * 1000, 3)}

    def _failed(self, fault: GpuFault, model: LoadedModel, batch: list[Pending], size: int, start_ns: int) -> GpuFailed:
        """The error every request of the batch gets; the batch's spans show the fault."""
        self._spans(model, batch, size, start_ns, time.time_ns(), (fault.kind, {"exception.message": str(fault)}))
        return GpuFailed(fault)

    def _split(self, model: LoadedModel, batch: list[Pending], classes: np.ndarray, conf: np.ndarray) -> list[Prediction]:
        out, i = [], 0
        for p in batch:
            n = len(p.rows)
            out.append(Prediction(model.name, model.version, classes[i : i + n].tolist(),
                                  [round(float(c), 6) for c in conf[i : i + n]], len(classes)))  # fmt: skip
            i += n
        return out

    def _spans(self, model: LoadedModel, batch: list[Pending], size: int, start_ns: int, end_ns: int,
               marks: tuple[str, dict[str, Any]] | None = None) -> None:  # fmt: skip
        """Queue and inference spans per request; `marks` = (GPU fault kind, event attributes): the
        inference span carries `gpu.fault` and the event, the request's own span the event too."""
        if self.tracer is None:
            return
        from opentelemetry import trace
        from opentelemetry.trace import Status, StatusCode

        attrs: dict[str, Any] = {"model": model.name, "version": model.version, "device": self.spec.device,
                                 "device.kind": self.device_kind, "batch.size": size, "server": self.spec.name}  # fmt: skip
        event: tuple[str, dict[str, Any]] | None = None
        if marks is not None:
            kind, extra = marks
            attrs |= {"gpu.fault": kind, "gpu.fault.simulated": SIMULATED}
            event = (FAULT_EVENTS[kind], {"gpu.fault": kind, "gpu.fault.simulated": SIMULATED,
                                          "device.kind": self.device_kind, **extra})  # fmt: skip
        failed = marks is not None and marks[0] != "thermal-throttle"
        for p in batch:
            if p.enqueued_ns < start_ns - 100_000:  # waited > 0.1 ms: show the queueing
                self.tracer.start_span("queue", context=p.context, start_time=p.enqueued_ns).end(end_time=start_ns)
            span = self.tracer.start_span("inference", context=p.context, start_time=start_ns, attributes=attrs)
            if event is not None:
                span.add_event(*event, timestamp=end_ns)
                if p.context is not None:  # the request's own span (still open: it awaits this batch)
                    trace.get_current_span(p.context).add_event(*event, timestamp=end_ns)
            if failed:
                span.set_status(Status(StatusCode.ERROR, str(event[1]["exception.message"]) if event else ""))
            span.end(end_time=end_ns)
