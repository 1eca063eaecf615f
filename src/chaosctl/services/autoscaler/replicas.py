"""The replicas' processes: started as real model servers, recorded (pid + create time) in
`STATE_DIR/autoscaler-replicas.json` before anything else happens to them, stopped by pid.

The record outlives the autoscaler: `chaosctl down` and `chaosctl recover` stop every replica it
names (`stop_recorded`), so a killed autoscaler leaves no model server or port behind. A pid whose
create time differs (reused by another process) is never signalled.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from chaosctl.faults import pidcheck

STATE_FILE = "autoscaler-replicas.json"
STOP_GRACE_S = 10.0


@dataclass(frozen=True)
class ReplicaProc:
    name: str
    pid: int
    create_time: float


class Launcher(Protocol):
    """What the controller needs of processes (a fake in unit tests)."""

    def start(self, name: str) -> ReplicaProc: ...

    def stop(self, proc: ReplicaProc) -> None: ...

    def alive(self, proc: ReplicaProc) -> bool: ...


def state_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


class StateFile:
    """name -> (pid, create time) of every replica started and not yet stopped; rewritten atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def read(self) -> dict[str, ReplicaProc]:
        try:
            raw = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        out = {}
        for name, rec in (raw.get("replicas") or {}).items():
            try:
                out[name] = ReplicaProc(name, int(rec["pid"]), float(rec["create_time"]))
            except (KeyError, TypeError, ValueError):
                continue  # a damaged entry names no process we could safely signal
        return out

    def put(self, proc: ReplicaProc) -> None:
        with self._lock:
            self._write({**self.read(), proc.name: proc})

    def remove(self, name: str) -> None:
        with self._lock:
            current = self.read()
            current.pop(name, None)
            self._write(current)

    def _write(self, replicas: dict[str, ReplicaProc]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        body = {n: {"pid": p.pid, "create_time": p.create_time} for n, p in replicas.items()}
        tmp.write_text(json.dumps({"replicas": body}, indent=2))
        os.replace(tmp, self.path)


class ProcessLauncher:
    """Replicas as `python -m chaosctl.services NAME --port-base N` in their own session, logs in
    `STATE_DIR/logs/NAME.log`, the secrets in the environment (inherited from the autoscaler)."""

    def __init__(self, state_dir: Path, port_base: int) -> None:
        self.state_dir, self.port_base = state_dir, port_base
        self.state = StateFile(state_path(state_dir))

    def start(self, name: str) -> ReplicaProc:
        from chaosctl.stack import procs

        argv = (sys.executable, "-m", "chaosctl.services", name, "--port-base", str(self.port_base))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        rec = procs.spawn(name, argv, self.state_dir / "logs" / f"{name}.log", env=env, cwd=self.state_dir)
        proc = ReplicaProc(name, rec.pid, rec.create_time)
        self.state.put(proc)
        return proc

    def stop(self, proc: ReplicaProc) -> None:
        pidcheck.terminate(proc.pid, proc.create_time, STOP_GRACE_S)
        self.state.remove(proc.name)

    def alive(self, proc: ReplicaProc) -> bool:
        return pidcheck.alive(proc.pid, proc.create_time)


def stop_recorded(state_dir: Path) -> list[str]:
    """Stop every replica the state file names (the autoscaler may be dead); the names stopped."""
    state = StateFile(state_path(state_dir))
    stopped = []
    for proc in state.read().values():
        if pidcheck.alive(proc.pid, proc.create_time):
            pidcheck.terminate(proc.pid, proc.create_time, STOP_GRACE_S)
            stopped.append(proc.name)
        state.remove(proc.name)
    state.path.unlink(missing_ok=True)
    return stopped


def stop_orphans(state_dir: Path, port_base: int) -> list[str]:
    """`recover`: replicas whose autoscaler is not running (killed, crashed) are stopped; a live
    autoscaler's replicas are its own to keep or stop."""
    from chaosctl.stack import procs, state
    from chaosctl.stack.topology import AUTOSCALER

    rec = state.load(state_dir, port_base).procs.get(AUTOSCALER)
    if rec is not None and procs.process(rec) is not None:
        return []
    return stop_recorded(state_dir)
