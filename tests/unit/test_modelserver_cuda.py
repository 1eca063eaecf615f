"""The CUDA device (`cuda.CudaGpu`) driven through a hand-written fake of the CUDA runtime library,
device selection (CHAOSCTL_GPU), the admin API on a CUDA device, and one real-device test that
runs only where libcudart and a device exist."""

from __future__ import annotations

import ctypes
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chaosctl.services.errors import ServiceConfigInvalid, ServiceDependencyMissing
from chaosctl.services.modelserver.app import create_app
from chaosctl.services.modelserver.cuda import CHUNK_BYTES, CudaGpu, load_cudart, probe, select_gpu
from chaosctl.services.modelserver.device import GiB, DeviceOOM, SimulatedGpu
from chaosctl.services.modelserver.engine import Engine, ModelServerConfig
from chaosctl.services.modelserver.models import MiB
from chaosctl.services.telemetry import Telemetry
from chaosctl.stack.topology import model_server

TOKEN = "unit-admin-token-0123456789abcdef0123456"
SERVICE_TOKEN = "unit-service-token-0123456789abcdef012345"


class FakeCudart:
    """The five runtime calls CudaGpu makes, with libcudart's conventions (0 = success, out-pointers)."""

    def __init__(
        self, total: int = 8 * GiB, other_use: int = GiB, devices: int = 1, fail_after: int | None = None
    ) -> None:
        self.total, self.other_use, self.devices = total, other_use, devices
        self.fail_after = fail_after  # cudaMalloc errors once this many chunks are live (a failing device)
        self.live: dict[int, int] = {}  # device pointer -> bytes
        self.next_ptr = 0x7F00_0000_0000
        self.current: int | None = None
        self.bad_frees = 0

    def cudaGetDeviceCount(self, count: Any) -> int:  # noqa: N802 - the runtime's names
        count.contents.value = self.devices
        return 0 if self.devices else 100  # cudaErrorNoDevice

    def cudaSetDevice(self, index: int) -> int:  # noqa: N802
        if not 0 <= index < self.devices:
            return 101  # cudaErrorInvalidDevice
        self.current = index
        return 0

    def free_bytes(self) -> int:
        return self.total - self.other_use - sum(self.live.values())

    def cudaMemGetInfo(self, free: Any, total: Any) -> int:  # noqa: N802
        free.contents.value, total.contents.value = self.free_bytes(), self.total
        return 0

    def cudaMalloc(self, ptr: Any, size: ctypes.c_size_t) -> int:  # noqa: N802
        if size.value > self.free_bytes() or (self.fail_after is not None and len(self.live) >= self.fail_after):
            return 2  # cudaErrorMemoryAllocation
        ptr.contents.value = self.next_ptr
        self.live[self.next_ptr] = size.value
        self.next_ptr += size.value + 4096
        return 0

    def cudaFree(self, ptr: ctypes.c_void_p) -> int:  # noqa: N802
        if self.live.pop(ptr.value or 0, None) is None:
            self.bad_frees += 1
            return 1  # cudaErrorInvalidValue
        return 0


def test_memory_figures_are_what_the_device_reports() -> None:
    lib = FakeCudart(total=8 * GiB, other_use=GiB)
    gpu = CudaGpu(lib, index=0)
    assert gpu.kind == "cuda" and gpu.total_bytes == 8 * GiB
    assert gpu.used_bytes == GiB and gpu.memory_ratio() == pytest.approx(1 / 8)
    lib.other_use = 3 * GiB  # another process takes memory: it shows
    assert gpu.used_bytes == 3 * GiB and lib.current == 0


def test_fault_allocation_takes_real_chunks_and_release_is_idempotent() -> None:
    lib = FakeCudart()
    gpu = CudaGpu(lib)
    alloc = gpu.allocate(2 * CHUNK_BYTES + 88 * MiB, "fault", "admin")
    assert sorted(lib.live.values()) == [88 * MiB, CHUNK_BYTES, CHUNK_BYTES]
    assert gpu.used_bytes == GiB + alloc.bytes and gpu.fault_bytes == alloc.bytes
    assert [a.id for a in gpu.allocations("fault")] == [alloc.id]
    assert gpu.release(alloc.id) is True
    assert lib.live == {} and gpu.used_bytes == GiB
    assert gpu.release(alloc.id) is False and lib.bad_frees == 0  # second release: no double cudaFree
    assert gpu.allocate(0, "fault").bytes == 0 and lib.live == {}


def test_fraction_tops_the_device_use_up_to_that_fraction() -> None:
    lib = FakeCudart(total=8 * GiB, other_use=GiB)
    gpu = CudaGpu(lib)
    alloc = gpu.allocate_fraction(0.95, "admin")
    assert alloc.bytes == int(8 * GiB * 0.95) - GiB
    assert gpu.used_bytes == int(8 * GiB * 0.95) and gpu.memory_ratio() == pytest.approx(0.95)
    assert gpu.allocate_fraction(0.5).bytes == 0  # already above: nothing more
    gpu.release(alloc.id)
    assert lib.live == {}


def test_oom_frees_partial_chunks_and_batches_need_free_device_memory() -> None:
    lib = FakeCudart(total=8 * GiB, other_use=GiB)
    gpu = CudaGpu(lib)
    with pytest.raises(DeviceOOM, match=r"out of device memory: fault admin.*cudaErrorMemoryAllocation"):
        gpu.allocate(7 * GiB + MiB, "fault", "admin")
    assert lib.live == {} and gpu.allocations() == []  # the chunks taken before the failure are back
    broken = FakeCudart(fail_after=2)  # plenty free, but the third cudaMalloc fails
    with pytest.raises(DeviceOOM):
        CudaGpu(broken).allocate(3 * CHUNK_BYTES, "fault", "admin")
    assert broken.live == {}
    weights = gpu.load_weights("fraud-detector:2.3.1", 3 * GiB, warmup_s=0)  # bookkeeping: CPU inference
    assert lib.live == {} and gpu.used_bytes == GiB and weights.kind == "weights"
    gpu.allocate(6 * GiB, "fault", "admin")
    with pytest.raises(DeviceOOM, match="out of device memory: batch"):
        gpu.allocate(2 * GiB, "batch", "fraud-detector")
    batch = gpu.allocate(512 * MiB, "batch", "fraud-detector")
    assert gpu.release(batch.id) and len(lib.live) == 24  # the fault's 6 GiB still held


def test_selection_auto_simulated_and_forced_cuda() -> None:
    assert type(select_gpu(None, 16 * GiB, 2, loader=lambda: None)) is SimulatedGpu
    assert select_gpu("auto", 16 * GiB, 2, loader=lambda: FakeCudart(devices=0)).kind == "simulated"
    assert select_gpu("simulated", GiB, 2, loader=lambda: FakeCudart()).total_bytes == GiB
    picked = select_gpu("AUTO", 16 * GiB, 2, ordinal=1, loader=lambda: FakeCudart(devices=2))
    assert isinstance(picked, CudaGpu) and picked.index == 1 and picked.total_bytes == 8 * GiB
    assert select_gpu("cuda", 16 * GiB, 2, ordinal=1, loader=lambda: FakeCudart()).index == 0  # one device: shared
    with pytest.raises(ServiceDependencyMissing, match=r"CHAOSCTL_GPU=cuda but no CUDA runtime \(libcudart not found\)"):
        select_gpu("cuda", 16 * GiB, 2, loader=lambda: None)
    with pytest.raises(ServiceDependencyMissing, match="cudaErrorNoDevice"):
        select_gpu("cuda", 16 * GiB, 2, loader=lambda: FakeCudart(devices=0))
    with pytest.raises(ServiceConfigInvalid, match="expected one of auto, cuda, simulated"):
        select_gpu("gpu", 16 * GiB, 2, loader=lambda: None)


def test_admin_api_load_and_metrics_on_a_cuda_device() -> None:
    lib = FakeCudart(total=8 * GiB, other_use=GiB)
    engine = Engine(model_server("model-gpu-1"), ModelServerConfig(warmup_s=0.0), gpu_device=CudaGpu(lib))
    app = create_app(engine, Telemetry("model-gpu-1", None), TOKEN, trainer=_no_models, service_token=SERVICE_TOKEN)
    with TestClient(app, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}) as client:
        auth = {"X-Admin-Token": TOKEN}
        got = client.post("/admin/gpu/allocate", json={"fraction": 0.5}, headers=auth).json()
        assert got["bytes"] == 3 * GiB and sum(lib.live.values()) == 3 * GiB
        assert client.post("/admin/gpu/allocate", json={"bytes": 5 * GiB}, headers=auth).status_code == 409
        state = client.get("/admin/gpu", headers=auth).json()
        assert state["kind"] == "cuda" and state["memory_used_bytes"] == 4 * GiB
        load = client.get("/v1/load").json()
        assert load["device_kind"] == "cuda" and load["memory_total_bytes"] == 8 * GiB
        assert 'chaosctl_gpu_device_info{device="gpu",kind="cuda"} 1.0' in client.get("/metrics").text
        gone = client.delete(f"/admin/gpu/allocations/{got['allocation_id']}", headers=auth).json()
        assert gone["released"] is True and lib.live == {}


def _no_models(name: str, version: str, capability: str) -> Any:
    raise RuntimeError("not needed here")


def _no_real_device() -> str:
    """Why the real-device test cannot run here ('' when it can)."""
    lib = load_cudart()
    if lib is None:
        return "no CUDA runtime/device on this machine (libcudart not found)"
    count, why = probe(lib)
    return "" if count else f"no CUDA runtime/device on this machine ({why})"


NO_REAL_DEVICE = _no_real_device()


@pytest.mark.skipif(bool(NO_REAL_DEVICE), reason=NO_REAL_DEVICE or "-")
def test_real_device_allocates_and_frees_64_mib() -> None:
    gpu = select_gpu("cuda", 0, 2)
    before = gpu.used_bytes
    alloc = gpu.allocate(64 * MiB, "fault", "real-device-test")
    try:
        assert gpu.used_bytes >= before + 64 * MiB - 2 * MiB  # other processes may free meanwhile
    finally:
        assert gpu.release(alloc.id)
    assert gpu.used_bytes <= before + 2 * MiB
