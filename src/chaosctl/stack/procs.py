"""Process supervision: spawn a component in its own process group, signal it,
stop it (TERM, then KILL after a timeout, children included), read its log.

A process is identified by (pid, create_time), so a recycled pid is never
mistaken for ours and never signalled.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psutil

from chaosctl.pids import same_start
from chaosctl.waiting import Clock, Sleep, wait_until

# Popen handles of the children this process started, so that they are reaped
# (no zombies while a long-lived parent, such as a test session, runs on).
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ProcRecord:
    name: str
    pid: int
    create_time: float
    log: str

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "pid": self.pid, "create_time": self.create_time, "log": self.log}

    @staticmethod
    def from_json(raw: Mapping[str, object]) -> ProcRecord:
        return ProcRecord(str(raw["name"]), int(raw["pid"]), float(raw["create_time"]), str(raw["log"]))  # type: ignore[arg-type]


def spawn(name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> ProcRecord:
    """Start `argv` detached in its own session, stdout+stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        command = shlex.join(argv).replace("\n", "\\n")  # one header line, even for `python -c` code
        log.write(f"\n--- chaosctl: starting {name}: {command}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True, close_fds=True,
        )
    _children[proc.pid] = proc
    return ProcRecord(name, proc.pid, psutil.Process(proc.pid).create_time(), str(log_path))


def _reap(pid: int) -> None:
    # Poll (reaps the zombie) but keep the handle, so exit_status() can still tell.
    proc = _children.get(pid)
    if proc is not None:
        proc.poll()


def process(rec: ProcRecord) -> psutil.Process | None:
    """The live process of `rec`, or None when it exited (zombies count as exited)."""
    _reap(rec.pid)
    try:
        proc = psutil.Process(rec.pid)
        if not same_start(proc.create_time(), rec.create_time):
            return None  # the pid was recycled by another process
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except psutil.Error:
        return None


def exit_status(rec: ProcRecord) -> str:
    """How a child of this process ended ('exit code 1', 'signal 9'), when known."""
    proc = _children.get(rec.pid)
    code = proc.poll() if proc is not None else None
    if code is None:
        return "exit status unknown"
    return f"signal {-code}" if code < 0 else f"exit code {code}"


def is_paused(rec: ProcRecord) -> bool:
    proc = process(rec)
    try:
        return proc is not None and proc.status() == psutil.STATUS_STOPPED
    except psutil.Error:
        return False


def wait_paused(rec: ProcRecord, paused: bool, timeout: float = 3.0, *,
                clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> bool:
    """Wait until the kernel shows `rec` stopped (or not): signals are asynchronous."""

    def shown() -> bool | None:  # None: the process is gone and never will show it
        if is_paused(rec) == paused:
            return True
        return None if process(rec) is None else False

    return wait_until(shown, timeout, interval=0.02, done=lambda seen: seen is not False, clock=clock, sleep=sleep) is True


def signal_group(rec: ProcRecord, sig: signal.Signals) -> bool:
    """Send `sig` to the process group of `rec` (its own session). False if gone."""
    proc = process(rec)
    if proc is None:
        return False
    try:
        os.killpg(rec.pid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        proc.send_signal(sig)
    return True


def _group(rec: ProcRecord) -> list[psutil.Process]:
    """Members of the process group that `rec` leads, even after the leader died."""
    leader = process(rec)
    out = [leader] if leader is not None else []
    for proc in psutil.process_iter(["create_time"]):
        try:
            if proc.pid == rec.pid or os.getpgid(proc.pid) != rec.pid:
                continue
            # Left-over members of our group were created after the leader and lead no session
            # themselves (a recycled pid that started a new session would).
            if proc.info["create_time"] >= rec.create_time - 0.05 and os.getsid(proc.pid) != proc.pid:
                out.append(proc)
        except (OSError, psutil.Error):
            continue
    return out


def _tree(recs: Iterable[ProcRecord]) -> list[psutil.Process]:
    """Live processes of `recs`: group members and every descendant (a child may leave the group)."""
    found: dict[int, psutil.Process] = {}
    for rec in recs:
        roots = _group(rec)
        for proc in roots:
            found[proc.pid] = proc
            try:
                found.update((c.pid, c) for c in proc.children(recursive=True))
            except psutil.Error:
                pass
    return [p for p in found.values() if not _gone(p)]


def _signal_all(recs: Sequence[ProcRecord], procs: Sequence[psutil.Process], sig: signal.Signals) -> None:
    for rec in recs:
        signal_group(rec, sig)
    for proc in procs:
        try:
            proc.send_signal(sig)
            if sig == signal.SIGTERM:
                proc.send_signal(signal.SIGCONT)  # a paused process cannot act on TERM
        except psutil.Error:
            pass


def _gone(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def wait_gone(procs: Sequence[psutil.Process], timeout: float, *,
              clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> list[psutil.Process]:
    """Wait until every process exited; a zombie counts as exited (its parent, maybe
    an init that reaps lazily, is not ours to wait for). Returns the survivors."""

    def alive() -> list[psutil.Process]:
        for proc in procs:
            _reap(proc.pid)
        return [p for p in procs if not _gone(p)]

    return wait_until(alive, timeout, interval=0.05, done=lambda left: not left, clock=clock, sleep=sleep)


def stop(recs: Sequence[ProcRecord], timeout: float = 10.0, *,
         clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> list[psutil.Process]:
    """TERM every group (and stray descendants), KILL what is left after `timeout`.

    Returns the processes still alive afterwards (empty on success).
    """
    procs = _tree(recs)
    if not procs:
        return []
    _signal_all(recs, procs, signal.SIGTERM)
    alive = wait_gone(procs, timeout, clock=clock, sleep=sleep)
    if alive:
        _signal_all(recs, alive, signal.SIGKILL)
        alive = wait_gone(alive, 5.0, clock=clock, sleep=sleep)
    return alive


def kill(rec: ProcRecord, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> None:
    """SIGKILL the group of `rec` and wait until it is gone (a fault, not a shutdown)."""
    procs = _tree([rec])
    _signal_all([rec], procs, signal.SIGKILL)
    wait_gone(procs, 5.0, clock=clock, sleep=sleep)


def tail(log_path: str | Path, lines: int = 25) -> str:
    """The last `lines` lines of a log file ('' when it does not exist)."""
    try:
        with open(log_path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def listeners(ports: Iterable[int]) -> dict[int, int | None]:
    """Which of `ports` have a TCP socket in LISTEN state, and the owning pid."""
    wanted = set(ports)
    out: dict[int, int | None] = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port in wanted:
            out[conn.laddr.port] = conn.pid
    return out


def describe(pid: int | None) -> str:
    if pid is None:
        return "unknown process"
    try:
        return f"pid {pid} ({' '.join(psutil.Process(pid).cmdline()[:3])})"
    except psutil.Error:
        return f"pid {pid}"


class Launcher(Protocol):
    """What the local backend does to processes: start, look up, signal, stop, find listeners.
    `ProcessLauncher` is the real one; unit tests hand the backend a fake (no process started)."""

    def spawn(self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None,
              cwd: Path | None = None) -> ProcRecord: ...
    def process(self, rec: ProcRecord) -> Any | None: ...  # a handle while it runs (psutil.Process), else None
    def exit_status(self, rec: ProcRecord) -> str: ...
    def is_paused(self, rec: ProcRecord) -> bool: ...
    def wait_paused(self, rec: ProcRecord, paused: bool, timeout: float = 3.0) -> bool: ...
    def signal_group(self, rec: ProcRecord, sig: signal.Signals) -> bool: ...
    def stop(self, recs: Sequence[ProcRecord], timeout: float = 10.0) -> list[Any]: ...  # survivors, with .pid
    def kill(self, rec: ProcRecord) -> None: ...
    def listeners(self, ports: Iterable[int]) -> dict[int, int | None]: ...
    def describe(self, pid: int | None) -> str: ...


@dataclass(frozen=True)
class ProcessLauncher:
    """The real launcher: this module's functions, their waits on `clock` and `sleep`."""

    clock: Clock = time.monotonic
    sleep: Sleep = time.sleep

    def spawn(self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None,
              cwd: Path | None = None) -> ProcRecord:
        return spawn(name, argv, log_path, env=env, cwd=cwd)

    def process(self, rec: ProcRecord) -> psutil.Process | None:
        return process(rec)

    def exit_status(self, rec: ProcRecord) -> str:
        return exit_status(rec)

    def is_paused(self, rec: ProcRecord) -> bool:
        return is_paused(rec)

    def wait_paused(self, rec: ProcRecord, paused: bool, timeout: float = 3.0) -> bool:
        return wait_paused(rec, paused, timeout, clock=self.clock, sleep=self.sleep)

    def signal_group(self, rec: ProcRecord, sig: signal.Signals) -> bool:
        return signal_group(rec, sig)

    def stop(self, recs: Sequence[ProcRecord], timeout: float = 10.0) -> list[psutil.Process]:
        return stop(recs, timeout, clock=self.clock, sleep=self.sleep)

    def kill(self, rec: ProcRecord) -> None:
        kill(rec, clock=self.clock, sleep=self.sleep)

    def listeners(self, ports: Iterable[int]) -> dict[int, int | None]:
        return listeners(ports)

    def describe(self, pid: int | None) -> str:
        return describe(pid)
