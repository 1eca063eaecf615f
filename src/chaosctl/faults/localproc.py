"""process-kill / -pause / -restart on a System's `process` component (a local process
chaosctl did not start), found by its pidfile or a command-line match.

The match must find exactly one live process at inject time (`resolve_pid`); 0 or
2+ is refused before any fault (the run's preflight resolves every targeted
process first, StackUnavailable, exit 3). The pid acted on is journaled, so a
revert from `chaosctl recover` resumes that very process. A kill is reverted by
running the component's `start` command (its own session, output to a log in
the state dir) and waiting for its ready check; a revert finds a running
process first and then does nothing (idempotent). The journal keeps the pid with its
process's create time: a pid the kernel has since given to another process is that
process, not ours ("already gone"), and is never signalled.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from chaosctl.errors import FaultError, StackUnavailable
from chaosctl.pids import same_start
from chaosctl.waiting import wait_until

from .base import Fault, FaultContext, FaultRecord, Param

if TYPE_CHECKING:
    from chaosctl.system.model import ProcessComponent, ReadyCheck

GONE_TIMEOUT_S = 5.0


def _candidates(pattern: str) -> list[tuple[int, str]]:
    import psutil

    me = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    rx = re.compile(pattern)
    out = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        info = proc.info
        if info["pid"] in me or not info["cmdline"] or info["status"] == psutil.STATUS_ZOMBIE:
            continue
        line = " ".join(info["cmdline"])
        if rx.search(line):
            out.append((int(info["pid"]), line))
    return out


def find_pid(comp: "ProcessComponent", base: Path | None = None) -> int | None:
    """The component's live pid, None when none runs; StackUnavailable when a match is ambiguous."""
    if comp.pidfile is not None:
        path = Path(comp.pidfile) if base is None or Path(comp.pidfile).is_absolute() else base / comp.pidfile
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _state(pid) not in ("gone", "zombie") else None
    found = _candidates(str(comp.match))
    if len(found) > 1:
        shown = "; ".join(f"pid {pid}: {line[:80]}" for pid, line in found[:5])
        raise StackUnavailable(f"component {comp.name!r}: match {comp.match!r} finds {len(found)} live processes "
                               f"({shown}); it must find exactly one (make the pattern more specific)")
    return found[0][0] if found else None


def resolve_pid(comp: "ProcessComponent", base: Path | None = None) -> int:
    """Exactly one live process, or StackUnavailable naming the component (exit 3)."""
    pid = find_pid(comp, base)
    if pid is None:
        how = f"pidfile {comp.pidfile}" if comp.pidfile else f"match {comp.match!r}"
        raise StackUnavailable(f"component {comp.name!r}: no live process found by {how}")
    return pid


def _state(pid: int | None, created: float | None = None) -> str:
    """The process's status; "gone" also when `pid` now belongs to a process started at
    another time than `created` (the pid was reused)."""
    import psutil

    if pid is None:
        return "gone"
    try:
        proc = psutil.Process(pid)
        if created is not None and not same_start(proc.create_time(), created):
            return "gone"
        return str(proc.status())
    except psutil.NoSuchProcess:
        return "gone"


def _create_time(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.NoSuchProcess:
        return None


def wait_ready(ready: "ReadyCheck | None", what: str) -> None:
    """Poll the ready check (HTTP 2xx or a TCP connect) until it answers or its timeout passes."""
    if ready is None:
        return
    import socket

    import httpx

    def answers() -> bool:
        try:
            if ready.http is not None:
                return httpx.get(ready.http, timeout=1.0).is_success
            host, port = str(ready.tcp).rsplit(":", 1)
            socket.create_connection((host.strip("[]"), int(port)), timeout=1.0).close()
            return True
        except (OSError, httpx.HTTPError):
            return False

    if not wait_until(answers, ready.timeout, interval=0.1):
        raise FaultError(f"{what}: not ready within {ready.timeout:.0f}s ({ready.http or ready.tcp})")


@dataclass
class LocalProcessFault:
    record: FaultRecord
    ctx: FaultContext
    pid: int | None = field(default=None, init=False)
    created: float | None = field(default=None, init=False)  # the pid's process create time (pid reuse)

    def __post_init__(self) -> None:
        known = self.record.params.get("pid")
        self.pid = int(known) if isinstance(known, (int, float, str)) and str(known).isdigit() else None
        when = self.record.params.get("create_time")
        self.created = float(when) if isinstance(when, (int, float)) and not isinstance(when, bool) else None

    @property
    def comp(self) -> "ProcessComponent":
        return self.ctx.component(self.record.target)  # type: ignore[no-any-return]

    @property
    def base(self) -> Path | None:
        return self.ctx.system_path.parent if self.ctx.system_path is not None else None

    def journal_state(self) -> Mapping[str, Param]:
        return {"pid": self.pid, "create_time": self.created} if self.pid is not None else {}

    def _signal(self, sig: int) -> None:
        self.pid = resolve_pid(self.comp, self.base)
        self.created = _create_time(self.pid)  # before the signal: a killed pid has none
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            raise FaultError(f"{self.record.label}: pid {self.pid} vanished before the signal") from None

    def _wait_gone(self) -> None:
        wait_until(lambda: _state(self.pid, self.created) in ("gone", "zombie"), GONE_TIMEOUT_S, interval=0.02)

    def start_again(self) -> None:
        """Run the `start` command unless the component runs; then wait until it is ready."""
        comp = self.comp
        if find_pid(comp, self.base) is not None:
            return
        if comp.start is None:
            raise FaultError(f"{self.record.label}: {comp.name!r} has no `start` command to bring it back")
        argv = shlex.split(comp.start) if isinstance(comp.start, str) else list(comp.start)
        cwd = comp.cwd if comp.cwd is None or self.base is None else str(self.base / comp.cwd)
        log = self.ctx.settings.state_dir / f"{comp.name}.start.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            try:
                subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True)
            except OSError as exc:
                raise FaultError(f"{self.record.label}: `start` failed: {exc}") from exc
        wait_ready(comp.ready, f"{comp.name} (started again)")


class LocalKillFault(LocalProcessFault):
    def inject(self) -> None:
        self._signal(signal.SIGKILL)
        self._wait_gone()

    def verify(self) -> str:
        state = _state(self.pid, self.created)
        if state not in ("gone", "zombie"):
            raise FaultError(f"process-kill {self.record.target}: pid {self.pid} is still {state}")
        return f"{self.record.target} (pid {self.pid}) is gone"

    def revert(self) -> None:
        self.start_again()


class LocalPauseFault(LocalProcessFault):
    def inject(self) -> None:
        self._signal(signal.SIGSTOP)
        # The kernel stops it asynchronously.
        wait_until(lambda: _state(self.pid, self.created) in ("stopped", "tracing-stop", "gone"), GONE_TIMEOUT_S,
                   interval=0.01)  # fmt: skip

    def verify(self) -> str:
        state = _state(self.pid, self.created)
        if state not in ("stopped", "tracing-stop"):
            raise FaultError(f"process-pause {self.record.target}: pid {self.pid} is {state}, not stopped")
        return f"{self.record.target} (pid {self.pid}) is in state T (stopped)"

    def revert(self) -> None:
        if self.pid is not None:  # the journaled process, only if that pid is still it (else already gone)
            if _state(self.pid, self.created) not in ("gone", "zombie"):
                os.kill(self.pid, signal.SIGCONT)
            return
        pid = find_pid(self.comp, self.base)
        if pid is not None and _state(pid) not in ("gone", "zombie"):
            os.kill(pid, signal.SIGCONT)


class LocalRestartFault(LocalProcessFault):
    def inject(self) -> None:
        self._signal(signal.SIGKILL)
        self._wait_gone()
        self.start_again()

    def verify(self) -> str:
        pid = find_pid(self.comp, self.base)
        if pid is None or pid == self.pid:
            raise FaultError(f"process-restart {self.record.target}: no new process (was pid {self.pid})")
        return f"{self.record.target} restarted (pid {self.pid} -> {pid})"

    def revert(self) -> None:
        self.start_again()


def local_process_fault(record: FaultRecord, ctx: FaultContext) -> Fault:
    kinds = {"process-kill": LocalKillFault, "process-pause": LocalPauseFault, "process-restart": LocalRestartFault}
    return kinds[record.type](record, ctx)
