"""A real CUDA device behind the `SimulatedGpu` interface, through the CUDA runtime (ctypes, no new dependency).

Real on a CUDA device:
- memory: `used_bytes` / `total_bytes` are what `cudaMemGetInfo` reports (every process's use and the
  CUDA context included; `ModelServerConfig.memory_total_bytes` does not apply);
- fault allocations (`/admin/gpu/allocate`) are `cudaMalloc`'d in chunks and `cudaFree`'d on release;
  `fraction` tops the device's reported use up to that fraction. Any CUDA error while allocating is a
  `DeviceOOM` (the admin API answers 409), after the chunks already taken are freed.
Host-side, and why:
- inference stays scikit-learn on the CPU (the models have no CUDA path), so model weights and batch
  activations are bookkeeping only; a batch is still refused with `DeviceOOM` when the device's free
  memory could not hold its activations, so filling the real device has the effect of filling the pool;
- compute saturation is the same host-side concurrency hold as on the simulated device (extra time per
  batch, utilisation reads >= saturation); no kernel runs on the device.
Memory held by a fault is returned by the driver when the process exits, however it ends.

Selection (`select_gpu`, at model-server start): env CHAOSCTL_GPU = auto (default) | cuda | simulated.
`auto` takes the CUDA device when libcudart loads and reports >= 1 device, else the simulated one;
`cuda` without a device is an error. Several GPU servers on one host spread over its devices by ordinal.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from collections.abc import Callable, Iterator
from typing import Any

from chaosctl.services.errors import ServiceConfigInvalid, ServiceDependencyMissing
from chaosctl.services.modelserver.device import Allocation, DeviceOOM, SimulatedGpu

MiB = 1024**2
CHUNK_BYTES = 256 * MiB  # fault allocations in chunks: a nearly full device still takes the last pieces
MODES = ("auto", "cuda", "simulated")
LIB_NAMES = ("libcudart.so", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so.11")
_ERROR_NAMES = {1: "cudaErrorInvalidValue", 2: "cudaErrorMemoryAllocation", 3: "cudaErrorInitializationError",
                35: "cudaErrorInsufficientDriver", 100: "cudaErrorNoDevice", 101: "cudaErrorInvalidDevice"}  # fmt: skip
_P_SIZE = ctypes.POINTER(ctypes.c_size_t)
_ARGTYPES = {
    "cudaGetDeviceCount": [ctypes.POINTER(ctypes.c_int)],
    "cudaSetDevice": [ctypes.c_int],
    "cudaMemGetInfo": [_P_SIZE, _P_SIZE],
    "cudaMalloc": [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t],
    "cudaFree": [ctypes.c_void_p],
}


class CudaError(RuntimeError):
    """A CUDA runtime call returned an error code."""

    def __init__(self, call: str, code: int) -> None:
        super().__init__(f"{call} failed: CUDA error {code} ({_ERROR_NAMES.get(code, 'unknown')})")
        self.code = code


def load_cudart() -> Any | None:
    """The CUDA runtime library with typed entry points, or None when none loads."""
    found = ctypes.util.find_library("cudart")
    for name in ([found] if found else []) + list(LIB_NAMES):
        try:
            lib = ctypes.CDLL(name)
            for fn, argtypes in _ARGTYPES.items():
                getattr(lib, fn).argtypes = argtypes
        except (OSError, AttributeError):
            continue
        return lib
    return None


def probe(lib: Any | None) -> tuple[int, str]:
    """(device count, why there is none) for a loaded runtime (or None)."""
    if lib is None:
        return 0, "no CUDA runtime (libcudart not found)"
    count = ctypes.c_int(0)
    code = lib.cudaGetDeviceCount(ctypes.pointer(count))
    if code != 0:
        return 0, str(CudaError("cudaGetDeviceCount", code))
    return count.value, "" if count.value else "the CUDA runtime reports 0 devices"


def _chunks(nbytes: int) -> Iterator[int]:
    full, rest = divmod(nbytes, CHUNK_BYTES)
    yield from [CHUNK_BYTES] * full
    if rest:
        yield rest


class CudaGpu(SimulatedGpu):
    """Device `index` of the CUDA runtime `lib` (libcudart via ctypes, or a fake with the same calls)."""

    kind = "cuda"

    def __init__(self, lib: Any, index: int = 0, max_concurrency: int = 2,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self._lib = lib
        self.index = index
        self._chunks: dict[str, list[int]] = {}  # fault allocation id -> device pointers
        super().__init__(0, max_concurrency, clock)
        self.total_bytes = self.mem_info()[1]

    def _use_device(self) -> None:
        # The current device is per host thread: set it before every call, whichever thread asks.
        code = self._lib.cudaSetDevice(self.index)
        if code != 0:
            raise CudaError("cudaSetDevice", code)

    def _call(self, name: str, *args: Any) -> None:
        self._use_device()
        code = getattr(self._lib, name)(*args)
        if code != 0:
            raise CudaError(name, code)

    def mem_info(self) -> tuple[int, int]:
        """(free, total) bytes as the device reports them."""
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        self._call("cudaMemGetInfo", ctypes.pointer(free), ctypes.pointer(total))
        return free.value, total.value

    @property
    def used_bytes(self) -> int:
        free, total = self.mem_info()
        return total - free

    def allocate(self, nbytes: int, kind: str, label: str = "") -> Allocation:
        """Faults take real device memory; weights and batches are bookkeeping (inference is on the CPU)."""
        if nbytes < 0:
            raise ValueError("allocation size must be >= 0")
        with self._lock:
            ptrs = self._malloc(nbytes, label) if kind == "fault" else []
            if kind == "batch":
                free = self.mem_info()[0]
                if nbytes > free:
                    raise DeviceOOM(f"out of device memory: batch {label} needs {nbytes} bytes, {free} free")
            alloc = Allocation(f"{kind}-{next(self._ids)}", nbytes, kind, label)
            self._allocs[alloc.id] = alloc
            if ptrs:
                self._chunks[alloc.id] = ptrs
            return alloc

    def _malloc(self, nbytes: int, label: str) -> list[int]:
        ptrs: list[int] = []
        try:
            for size in _chunks(nbytes):
                ptr = ctypes.c_void_p()
                self._call("cudaMalloc", ctypes.pointer(ptr), ctypes.c_size_t(size))
                ptrs.append(int(ptr.value or 0))
        except CudaError as exc:
            self._free(ptrs)
            free = self.mem_info()[0]
            raise DeviceOOM(f"out of device memory: fault {label} needs {nbytes} bytes, {free} free ({exc})") from None
        return ptrs

    def _free(self, ptrs: list[int]) -> None:
        """Free every pointer, then report the first failure (one bad pointer must not leak the rest)."""
        if not ptrs:
            return
        self._use_device()
        codes = [self._lib.cudaFree(ctypes.c_void_p(p)) for p in ptrs]
        bad = next((c for c in codes if c != 0), 0)
        if bad:
            raise CudaError("cudaFree", bad)

    def release(self, alloc_id: str) -> bool:
        with self._lock:
            alloc = self._allocs.pop(alloc_id, None)
            ptrs = self._chunks.pop(alloc_id, [])
            self._free(ptrs)
        return alloc is not None


def select_gpu(
    mode: str | None,
    total_bytes: int,
    max_concurrency: int,
    *,
    ordinal: int = 0,
    clock: Callable[[], float] = time.monotonic,
    loader: Callable[[], Any | None] = load_cudart,
) -> SimulatedGpu:
    """The GPU server's device for CHAOSCTL_GPU=`mode` (None = auto). `ordinal` picks among several devices."""
    mode = (mode or "auto").strip().lower()
    if mode not in MODES:
        raise ServiceConfigInvalid(f"CHAOSCTL_GPU={mode!r}: expected one of {', '.join(MODES)}")
    if mode != "simulated":
        lib = loader()
        count, why = probe(lib)
        if count >= 1:
            return CudaGpu(lib, ordinal % count, max_concurrency, clock)
        if mode == "cuda":
            raise ServiceDependencyMissing(f"CHAOSCTL_GPU=cuda but {why}; set CHAOSCTL_GPU=auto or simulated "
                                   "to run on the simulated GPU device")  # fmt: skip
    return SimulatedGpu(total_bytes, max_concurrency, clock)
