"""Node loss through the stack backend: process-kill, process-pause, process-restart.

The backend owns pids and process groups (local: supervised processes; docker:
containers), so these faults only speak logical component names. Verification
asks the backend and, where there is a pid, the OS itself (psutil): a killed
process must be gone, a paused one must be in state T (stopped).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chaosctl.errors import FaultError
from chaosctl.waiting import wait_until

from .base import Fault, FaultContext, FaultRecord


def _proc_state(pid: int | None) -> str:
    """psutil's status of pid ('stopped', 'running', 'zombie', ...) or 'gone'."""
    if pid is None:
        return "gone"
    import psutil

    try:
        return psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return "gone"


@dataclass
class _StackProcessFault:
    record: FaultRecord
    ctx: FaultContext
    _pid_before: int | None = field(default=None, init=False)

    @property
    def component(self) -> str:
        return self.record.target

    def _ensure_running(self, retry_s: float = 10.0) -> None:
        """Resume / restart the component (waiting until ready). Retried for a few
        seconds: right after a SIGKILL the dying group may still hold its listening
        port for a moment, and the backend then refuses to start ("port in use")."""
        from chaosctl.errors import StackUnavailable

        backend = self.ctx.backend

        def attempt() -> StackUnavailable | None:
            try:
                if backend.is_paused(self.component):
                    backend.resume(self.component)
                if not backend.is_running(self.component):
                    backend.start(self.component)  # waits until ready
            except StackUnavailable as exc:
                return exc
            return None

        failure = wait_until(attempt, retry_s, interval=0.2, done=lambda exc: exc is None)
        if failure is not None:
            raise failure


class ProcessKillFault(_StackProcessFault):
    def inject(self) -> None:
        self._pid_before = self.ctx.backend.pid(self.component)
        self.ctx.backend.kill(self.component)

    def verify(self) -> str:
        if self.ctx.backend.is_running(self.component):
            raise FaultError(f"process-kill {self.component}: the backend still reports it running")
        state = _proc_state(self._pid_before)
        if state not in ("gone", "zombie"):
            raise FaultError(f"process-kill {self.component}: pid {self._pid_before} is still {state}")
        return f"{self.component} (pid {self._pid_before}) is gone"

    def revert(self) -> None:
        self._ensure_running()


class ProcessPauseFault(_StackProcessFault):
    def inject(self) -> None:
        self.ctx.backend.pause(self.component)

    def verify(self) -> str:
        pid = self.ctx.backend.pid(self.component)
        state = _proc_state(pid)
        if not self.ctx.backend.is_paused(self.component) or state not in ("stopped", "tracing-stop", "gone"):
            raise FaultError(f"process-pause {self.component}: pid {pid} is {state}, not stopped")
        if state == "gone":  # docker backends have no host pid; the backend's word is the evidence
            return f"{self.component} paused (backend)"
        return f"{self.component} (pid {pid}) is in state T (stopped)"

    def revert(self) -> None:
        if self.ctx.backend.is_paused(self.component):
            self.ctx.backend.resume(self.component)


class ProcessRestartFault(_StackProcessFault):
    """Bounce a component: kill it, start it again and wait until it is ready."""

    def inject(self) -> None:
        self._pid_before = self.ctx.backend.pid(self.component)
        self.ctx.backend.kill(self.component)
        self.ctx.backend.start(self.component)

    def verify(self) -> str:
        pid = self.ctx.backend.pid(self.component)
        if not self.ctx.backend.is_running(self.component):
            raise FaultError(f"process-restart {self.component}: not running after the restart")
        if pid is not None and pid == self._pid_before:
            raise FaultError(f"process-restart {self.component}: still the same pid {pid}")
        return f"{self.component} restarted (pid {self._pid_before} -> {pid})"

    def revert(self) -> None:
        self._ensure_running()


def process_fault(record: FaultRecord, ctx: FaultContext) -> Fault:
    kinds = {"process-kill": ProcessKillFault, "process-pause": ProcessPauseFault, "process-restart": ProcessRestartFault}
    return kinds[record.type](record, ctx)
