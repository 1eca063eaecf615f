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

from chaosctl.errors import StateInvalid
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
    """The saved state, or an empty one for `port_base` when there is none.

    A malformed file is StateInvalid (exit 2) naming it: its pids are never guessed at,
    since `down` signals them."""
    path = state_path(state_dir)
    try:
        raw = json.loads(path.read_bytes().decode("utf-8"))
        procs = {str(name): ProcRecord.from_json(rec) for name, rec in raw["components"].items()}
        state = StackState(int(raw["port_base"]), procs)
    except FileNotFoundError:
        return StackState(port_base)
    except OSError as exc:  # a directory, or not readable
        raise StateInvalid(f"{path}: cannot read the stack state: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise StateInvalid(f"{path}: unreadable stack state ({type(exc).__name__}: {str(exc)[:120]}); "
                           "remove it if no stack runs") from None
    if any(rec.pid <= 1 for rec in state.procs.values()):
        raise StateInvalid(f"{path}: a pid <= 1 in the stack state (refused: signalling it would hit init or every process)")
    return state


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
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fh = open(state_dir / "stack.lock", "a+")
    except OSError as exc:  # the state dir is a file, or not ours
        raise StateInvalid(f"{state_dir}: cannot use it as the state folder: {exc.strerror or exc}") from None
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
