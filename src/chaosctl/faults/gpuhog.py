"""gpu-exhaustion on a System's `gpu-host` component: a `chaosctl gpu-hog` process that
holds real device memory through the model server's CUDA path
(services.modelserver.cuda) until it is stopped.

The hog prints one line `holding N bytes on device D` once the memory is taken
(the fault waits for it), then sleeps until SIGTERM/SIGINT and frees on the way
out (the driver frees it anyway when the process dies). Its pid is journaled, so
a revert from `chaosctl recover` stops that very process (checked by its start
time, never a reused pid). Without a CUDA device the hog refuses with the
reason and exit 3, and the run's preflight refuses before any fault.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Mapping

from chaosctl.errors import FaultError, StackUnavailable
from chaosctl.faults.pidcheck import alive
from chaosctl.waiting import wait_until

from .base import FaultContext, FaultRecord, Param

READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0


def device_problem(device: int) -> str | None:
    """Why `device` cannot be hogged here (None: it can)."""
    from chaosctl.services.modelserver.cuda import load_cudart, probe

    count, why = probe(load_cudart())
    if count == 0:
        return f"no CUDA device on this machine: {why}"
    if device >= count:
        return f"CUDA device {device} does not exist (this machine has {count})"
    return None


def hold(device: int, nbytes: int | None, fraction: float | None) -> None:
    """The hog's body (`chaosctl gpu-hog`): take the memory, report, wait for a signal."""
    from chaosctl.services.modelserver.cuda import CudaGpu, load_cudart

    why = device_problem(device)
    if why is not None:
        raise StackUnavailable(f"gpu-hog: {why}")
    gpu = CudaGpu(load_cudart(), device)
    want = nbytes if nbytes is not None else int(gpu.mem_info()[0] * float(fraction or 0.0))
    alloc = gpu.allocate(want, "fault", "gpu-hog")
    stop: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, _f: stop.append(s))
    print(f"holding {alloc.bytes} bytes on device {device}", flush=True)
    while not stop:
        time.sleep(0.2)
    gpu.release(alloc.id)


@dataclass
class GpuHogFault:
    record: FaultRecord
    ctx: FaultContext
    pid: int | None = field(default=None, init=False)
    started: float = field(default=0.0, init=False)
    held: str = field(default="", init=False)

    def __post_init__(self) -> None:
        p = self.record.params
        if p.get("pid") is not None:
            self.pid, self.started = int(float(str(p["pid"]))), float(str(p.get("started", 0.0)))

    @property
    def device(self) -> int:
        return int(self.ctx.component(self.record.target).device)

    def command(self) -> list[str]:
        p = self.record.params
        size = ["--bytes", str(int(float(str(p["bytes"]))))] if p.get("bytes") is not None else \
            ["--fraction", str(float(str(p.get("memory", p.get("fraction", 0.9)))))]
        return [sys.executable, "-m", "chaosctl.cli", "gpu-hog", "--device", str(self.device), *size]

    def inject(self) -> None:
        why = device_problem(self.device)
        if why is not None:
            raise FaultError(f"{self.record.label}: {why}")
        proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, text=True)
        import psutil

        self.pid, self.started = proc.pid, psutil.Process(proc.pid).create_time()
        line = proc.stdout.readline() if proc.stdout is not None else ""  # the hog's one report line
        if not line.startswith("holding "):
            proc.wait(READY_TIMEOUT_S)
            raise FaultError(f"{self.record.label}: gpu-hog did not take the memory: {line.strip()}")
        self.held = line.strip()

    def journal_state(self) -> Mapping[str, Param]:
        return {"pid": self.pid, "started": self.started} if self.pid is not None else {}

    def verify(self) -> str:
        if self.pid is None or not alive(self.pid, self.started):
            raise FaultError(f"{self.record.label}: the gpu-hog process is not running")
        return f"gpu-hog pid {self.pid}: {self.held or 'holding device memory'}"

    def revert(self) -> None:
        if self.pid is None or not alive(self.pid, self.started):
            return
        os.kill(self.pid, signal.SIGTERM)
        wait_until(lambda: not alive(self.pid, self.started), STOP_GRACE_S, interval=0.05)
        if alive(self.pid, self.started):
            os.kill(self.pid, signal.SIGKILL)
