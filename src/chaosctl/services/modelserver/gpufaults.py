"""GPU faults beyond memory exhaustion, as device state: device lost, uncorrectable memory
(ECC) errors, thermal throttling. Driven by `/admin/gpu/{lost,ecc,throttle}` (the
`gpu-device-lost`, `gpu-ecc-error`, `gpu-thermal-throttle` faults); the engine asks
`batch_fault()` before each batch and `throttle_factor` after it.

All three are *simulated* on every device, and labelled so (`SIMULATED`, the metrics'
`simulated="true"`, the span events' `gpu.fault.simulated`): the reference models run their
inference with scikit-learn on the CPU, so no kernel runs on a device to lose, corrupt or
slow down. On a CUDA device a real Xid 79 (fallen off the bus), a real double-bit ECC error
or a real clock cap (`nvidia-smi -lgc`, root only) exist but have no user-space injection
API, and a capped clock would only slow kernels these models never launch; what *can* be
real on CUDA is memory (gpu-exhaustion's cudaMalloc) and it stays so.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass

SIMULATED = True
KINDS = ("device-lost", "ecc-error", "thermal-throttle")
MAX_THROTTLE = 100.0


class GpuFault(RuntimeError):
    """A batch the device failed; `kind` is one of KINDS."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class EccPlan:
    rate: float = 0.0  # share of batches failed
    count: int = 0  # or: the next `count` batches fail


class DeviceFaults:
    """Thread-safe fault state of one device, with counts of the batches each fault hit."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._lock = threading.Lock()
        self._rng = rng or random.Random()
        self.lost = False
        self.ecc = EccPlan()
        self._ecc_left = 0
        self.throttle_factor = 1.0
        self.failed: Counter[str] = Counter()  # failed batches by kind
        self.throttled = 0  # batches slowed by the throttle

    # -- admin --------------------------------------------------------------------

    def set_lost(self, lost: bool) -> None:
        with self._lock:
            self.lost = lost

    def set_ecc(self, rate: float = 0.0, count: int = 0) -> None:
        if not 0.0 <= rate <= 1.0 or count < 0:
            raise ValueError("ECC errors: rate within [0, 1], count >= 0")
        with self._lock:
            self.ecc, self._ecc_left = EccPlan(rate, count), count

    def set_throttle(self, factor: float) -> None:
        if not 1.0 <= factor <= MAX_THROTTLE:
            raise ValueError(f"throttle factor must be within [1, {MAX_THROTTLE:g}]")
        with self._lock:
            self.throttle_factor = factor

    def active(self) -> dict[str, bool]:
        with self._lock:
            ecc = self.ecc.rate > 0 or self._ecc_left > 0
            return {"device-lost": self.lost, "ecc-error": ecc, "thermal-throttle": self.throttle_factor > 1.0}

    def state(self) -> dict[str, object]:
        """What `GET /admin/gpu` shows under `faults` (and what the faults' verify reads)."""
        with self._lock:
            return {"simulated": SIMULATED, "device_lost": self.lost,
                    "ecc": {"rate": self.ecc.rate, "count": self.ecc.count, "left": self._ecc_left},
                    "throttle_factor": self.throttle_factor,
                    "failed_batches": dict(self.failed), "throttled_batches": self.throttled}  # fmt: skip

    # -- engine -------------------------------------------------------------------

    def before_batch(self) -> None:
        """Raise GpuFault('device-lost') while the device is lost: nothing reaches it."""
        with self._lock:
            if self.lost:
                self.failed["device-lost"] += 1
                raise GpuFault("device-lost", "GPU device lost (simulated): the device does not answer until restored")

    def after_batch(self) -> None:
        """Raise GpuFault('ecc-error') when this batch drew an uncorrectable memory error."""
        with self._lock:
            hit = self._ecc_left > 0 or (self.ecc.rate > 0 and self._rng.random() < self.ecc.rate)
            if not hit:
                return
            self._ecc_left = max(0, self._ecc_left - 1)
            self.failed["ecc-error"] += 1
        raise GpuFault("ecc-error", "uncorrectable ECC memory error (simulated): the batch in flight failed")

    def throttled_delay(self, compute_s: float) -> float:
        """Extra seconds that make a batch of `compute_s` take `factor` times as long."""
        with self._lock:
            if self.throttle_factor <= 1.0:
                return 0.0
            self.throttled += 1
            return (self.throttle_factor - 1.0) * compute_s
