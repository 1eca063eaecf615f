"""The fault journal: JSON lines in `settings.journal_path`, fsync'd on every append.

Events, one per line:
  {"event": "inject",   "at": t, "record": {id, type, target, params}}   written BEFORE inject()
  {"event": "update",   "at": t, "id": ..., "params": {...}}             facts learnt by inject() (e.g. a GPU allocation id)
  {"event": "reverted", "at": t, "id": ...}                              written AFTER revert()

A fault whose "inject" line has no matching "reverted" line may still be in
place: `chaosctl recover` reverts it. Writing before inject means a crash between
the two leaves a record of a fault that maybe never landed; reverts are
idempotent, so reverting it is harmless, whereas the other order could lose a
fault that did land. A torn last line (SIGKILL mid-write) is ignored.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from .base import FaultRecord, Param


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    # -- writing ------------------------------------------------------------

    def record_inject(self, record: FaultRecord) -> None:
        self._append({"event": "inject", "at": time.time(), "record": record.to_json()})

    def record_update(self, fault_id: str, params: Mapping[str, Param]) -> None:
        if params:
            self._append({"event": "update", "at": time.time(), "id": fault_id, "params": dict(params)})

    def record_reverted(self, fault_id: str) -> None:
        self._append({"event": "reverted", "at": time.time(), "id": fault_id})

    def clear_if_done(self) -> bool:
        """Empty the file when nothing is pending (so an empty journal means a clean system)."""
        with self._locked():
            if self._pending_unlocked():
                return False
            if self.path.exists():
                with open(self.path, "w") as fh:
                    fh.flush()
                    os.fsync(fh.fileno())
            return True

    # -- reading ------------------------------------------------------------

    def pending(self) -> list[FaultRecord]:
        """Faults injected (or about to be) and not reverted, in injection order."""
        with self._locked():
            return self._pending_unlocked()

    def _pending_unlocked(self) -> list[FaultRecord]:
        records: dict[str, FaultRecord] = {}
        for event in self._events():
            kind = event.get("event")
            if kind == "inject":
                rec = FaultRecord.from_json(event["record"])
                records[rec.id] = rec
            elif kind == "update" and event.get("id") in records:
                old = records[event["id"]]
                records[old.id] = FaultRecord(old.id, old.type, old.target, {**old.params, **event.get("params", {})})
            elif kind == "reverted":
                records.pop(str(event.get("id")), None)
        return list(records.values())

    def _events(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with open(self.path) as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue  # torn write from a SIGKILL: the previous lines still count
                if isinstance(event, dict):
                    yield event

    # -- plumbing -----------------------------------------------------------

    def _append(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, sort_keys=True) + "\n"
        with self._locked():
            created = not self.path.exists()
            with open(self.path, "a") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
            if created:
                _fsync_dir(self.path.parent)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time (a run and a `recover` may overlap)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
