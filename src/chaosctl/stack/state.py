"""The local stack's state file (`stack.json`): which process runs which
component, on which port base; plus a lock so that two commands never start or
stop the same stack at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from chaosctl.errors import StackUnavailable
from chaosctl.stack.procs import ProcRecord

STATE_VERSION = 1


@dataclass(frozen=True)
class StackState:
    port_base: int
    procs: dict[str, ProcRecord] = field(default_factory=dict)

    def with_proc(self, rec: ProcRecord) -> StackState:
        return replace(self, procs={**self.procs, rec.name: rec})

    def without(self, name: str) -> StackState:
        return replace(self, procs={k: v for k, v in self.procs.items() if k != name})


def state_path(state_dir: Path) -> Path:
    return state_dir / "stack.json"


def load(state_dir: Path, port_base: int) -> StackState:
    """The saved state, or an empty one for `port_base` when there is none."""
    path = state_path(state_dir)
    try:
        raw = json.loads(path.read_text())
        procs = {name: ProcRecord.from_json(rec) for name, rec in raw["components"].items()}
        return StackState(int(raw["port_base"]), procs)
    except FileNotFoundError:
        return StackState(port_base)
    except (ValueError, KeyError, TypeError) as exc:
        raise StackUnavailable(f"{path}: unreadable stack state ({exc}); remove it if no stack runs") from exc


def save(state_dir: Path, state: StackState) -> None:
    """Atomic write (tmp + rename); an empty state removes the file."""
    path = state_path(state_dir)
    if not state.procs:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "version": STATE_VERSION,
        "backend": "local",
        "port_base": state.port_base,
        "components": {name: rec.to_json() for name, rec in state.procs.items()},
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(body, indent=2))
    os.replace(tmp, path)


@contextlib.contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    """Exclusive lock of the stack's state folder for the duration of a change."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "stack.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
