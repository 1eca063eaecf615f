"""The simulated GPU device: a memory pool, bounded concurrency, warm-up, compute saturation.

Used when no CUDA device exists (the inference itself runs on the CPU); `cuda.CudaGpu` is the
real device behind the same interface, and `cuda.select_gpu` picks one at server start. Model weights
(estimated bytes) and in-flight batches occupy the pool; a batch that does not fit
fails with `DeviceOOM`. Faults (`/admin/gpu/...`) add allocations of their own and
saturate compute. Time comes from an injectable clock so that tests need no sleeping.
"""

from __future__ import annotations

import itertools
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from chaosctl.services.modelserver.gpufaults import DeviceFaults

GiB = 1024**3


class DeviceOOM(RuntimeError):
    """The device memory pool cannot hold the requested allocation."""


@dataclass(frozen=True)
class Allocation:
    id: str
    bytes: int
    kind: str  # "weights" | "batch" | "fault"
    label: str


def cuda_visible() -> bool:
    """Cheap check for an NVIDIA driver (no torch import)."""
    return shutil.which("nvidia-smi") is not None


class BusyMeter:
    """Utilisation over a sliding window: busy slot-seconds / (window x slots)."""

    def __init__(self, slots: int, clock: Callable[[], float], window_s: float = 5.0) -> None:
        self.slots = slots
        self._clock = clock
        self._window = window_s
        self._busy = 0
        self._integral = 0.0
        self._last = clock()
        self._samples: deque[tuple[float, float]] = deque([(self._last, 0.0)])

    def _advance(self) -> float:
        now = self._clock()
        self._integral += self._busy * (now - self._last)
        self._last = now
        if now - self._samples[-1][0] >= 0.25:
            self._samples.append((now, self._integral))
        while len(self._samples) > 1 and now - self._samples[0][0] > self._window:
            self._samples.popleft()
        return now

    def change(self, delta: int) -> None:
        self._advance()
        self._busy += delta

    @property
    def busy(self) -> int:
        return self._busy

    def utilization(self) -> float:
        now = self._advance()
        t0, i0 = self._samples[0]
        if now - t0 < 0.05:  # no history yet: instantaneous
            return min(1.0, self._busy / self.slots)
        return min(1.0, (self._integral - i0) / ((now - t0) * self.slots))


class SimulatedGpu:
    """Memory pool + warm-up + saturation of one simulated device. Thread-safe bookkeeping."""

    kind = "simulated"  # reported as `device_kind` and by `chaosctl_gpu_device_info`

    def __init__(
        self,
        total_bytes: int = 16 * GiB,
        max_concurrency: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total_bytes = total_bytes
        self.max_concurrency = max_concurrency
        self._clock = clock
        self._lock = threading.Lock()
        self._allocs: dict[str, Allocation] = {}
        self._ids = itertools.count(1)
        self._ready_at: dict[str, float] = {}
        self.compute_saturation = 0.0
        self.meter = BusyMeter(max_concurrency, clock)
        self.faults = DeviceFaults()  # device lost / ECC / throttle: simulated on every device (gpufaults.py)

    # -- memory -------------------------------------------------------------------

    @property
    def used_bytes(self) -> int:
        with self._lock:
            return sum(a.bytes for a in self._allocs.values())

    @property
    def fault_bytes(self) -> int:
        with self._lock:
            return sum(a.bytes for a in self._allocs.values() if a.kind == "fault")

    def allocations(self, kind: str | None = None) -> list[Allocation]:
        with self._lock:
            return [a for a in self._allocs.values() if kind is None or a.kind == kind]

    def allocate(self, nbytes: int, kind: str, label: str = "") -> Allocation:
        if nbytes < 0:
            raise ValueError("allocation size must be >= 0")
        with self._lock:
            used = sum(a.bytes for a in self._allocs.values())
            if used + nbytes > self.total_bytes:
                free = self.total_bytes - used
                raise DeviceOOM(f"out of device memory: {kind} {label} needs {nbytes} bytes, {free} free")
            alloc = Allocation(f"{kind}-{next(self._ids)}", nbytes, kind, label)
            self._allocs[alloc.id] = alloc
            return alloc

    def allocate_fraction(self, fraction: float, label: str = "fault") -> Allocation:
        """A fault allocation that brings total use up to `fraction` of the pool (0 bytes if already there)."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be within [0, 1]")
        target = int(self.total_bytes * fraction)
        return self.allocate(max(0, target - self.used_bytes), "fault", label)

    def release(self, alloc_id: str) -> bool:
        with self._lock:
            return self._allocs.pop(alloc_id, None) is not None

    # -- warm-up ------------------------------------------------------------------

    def load_weights(self, key: str, nbytes: int, warmup_s: float) -> Allocation:
        """Place a model's weights; it is warming for `warmup_s` from now."""
        alloc = self.allocate(nbytes, "weights", key)
        self._ready_at[key] = self._clock() + warmup_s
        return alloc

    def warming(self, key: str | None = None) -> bool:
        now = self._clock()
        if key is not None:
            return now < self._ready_at.get(key, float("inf"))
        return any(now < t for t in self._ready_at.values())

    def warm_in(self) -> float:
        """Seconds until every placed model is warm (0 once they are)."""
        now = self._clock()
        return max((t - now for t in self._ready_at.values()), default=0.0) if self.warming() else 0.0

    # -- compute ------------------------------------------------------------------

    def utilization(self) -> float:
        return max(self.meter.utilization(), self.compute_saturation)

    def memory_ratio(self) -> float:
        return self.used_bytes / self.total_bytes if self.total_bytes else 0.0
