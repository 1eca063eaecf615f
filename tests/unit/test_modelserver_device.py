"""Simulated GPU device: memory pool, OOM, fault allocations, warm-up, utilisation (fake clock)."""

from __future__ import annotations

import pytest

from chaosctl.services.modelserver.device import GiB, BusyMeter, DeviceOOM, SimulatedGpu


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_pool_accounts_weights_batches_and_faults_and_refuses_overflow() -> None:
    gpu = SimulatedGpu(total_bytes=10 * GiB, clock=FakeClock())
    gpu.load_weights("m:1", 4 * GiB, warmup_s=0)
    batch = gpu.allocate(1 * GiB, "batch", "m")
    assert gpu.used_bytes == 5 * GiB
    with pytest.raises(DeviceOOM, match="out of device memory"):
        gpu.allocate(6 * GiB, "batch", "m")
    assert gpu.release(batch.id) and not gpu.release(batch.id)
    fault = gpu.allocate_fraction(0.95)
    assert gpu.used_bytes == int(10 * GiB * 0.95) and gpu.fault_bytes == fault.bytes
    assert gpu.memory_ratio() == pytest.approx(0.95)
    assert gpu.allocate_fraction(0.5).bytes == 0  # already above: nothing more
    with pytest.raises(ValueError):
        gpu.allocate_fraction(1.5)


def test_warm_up_ends_after_its_duration() -> None:
    clock = FakeClock()
    gpu = SimulatedGpu(total_bytes=10 * GiB, clock=clock)
    assert not gpu.warming()
    gpu.load_weights("a:1", GiB, warmup_s=3.0)
    assert gpu.warming() and gpu.warming("a:1")
    clock.now += 2.9
    assert gpu.warming()
    clock.now += 0.2
    assert not gpu.warming() and not gpu.warming("a:1")
    assert gpu.warming("never-loaded")


def test_utilisation_is_busy_fraction_over_window_and_saturation_overrides() -> None:
    clock = FakeClock()
    meter = BusyMeter(slots=2, clock=clock, window_s=5.0)
    meter.change(+1)
    for _ in range(8):  # one of two slots busy for 2 s
        clock.now += 0.25
        meter.utilization()
    assert meter.utilization() == pytest.approx(0.5, abs=0.05)
    meter.change(+1)
    for _ in range(40):  # both busy for 10 s: the window forgets the half-busy start
        clock.now += 0.25
        meter.utilization()
    assert meter.utilization() == pytest.approx(1.0, abs=0.05)
    gpu = SimulatedGpu(total_bytes=GiB, clock=clock)
    assert gpu.utilization() == 0.0
    gpu.compute_saturation = 1.0
    assert gpu.utilization() == 1.0
