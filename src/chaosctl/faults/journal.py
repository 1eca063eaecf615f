"""The fault journal: JSON lines in `settings.journal_path`, fsync'd on every append.

Events, one per line:
  {"event": "inject",   "at": t, "record": {id, type, target, params}}   written BEFORE inject()
  {"event": "update",   "at": t, "id": ..., "params": {...}}             facts learnt by inject() (e.g. a GPU allocation id)
  {"event": "reverted", "at": t, "id": ...}                              written AFTER revert()

A fault whose "inject" line has no matching "reverted" line may still be in
place: `chaosctl recover` reverts it. Writing before inject means a crash between
the two leaves a record of a fault that maybe never landed; reverts are
idempotent, so reverting it is harmless, whereas the other order could lose a
fault that did land. A torn line (SIGKILL mid-write: a JSON prefix, never valid
JSON) is skipped, and the next append starts on a fresh line so that it does not
glue itself to the fragment. Anything else malformed (valid JSON that is not an
event, an inject without id/type/target, bytes that are not UTF-8) is
StateInvalid naming FILE:LINE: guessing what a corrupt journal meant could leave
a fault in place.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from chaosctl.errors import StateInvalid

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
        for lineno, event in self._events():
            kind = event.get("event")
            if kind == "inject":
                rec = self._record(lineno, event.get("record"))
                records[rec.id] = rec
            elif kind == "update" and event.get("id") in records:
                params = event.get("params") or {}
                if not isinstance(params, dict):
                    raise StateInvalid(f"{self.path}:{lineno}: fault journal: an update's params must be an object")
                old = records[event["id"]]
                records[old.id] = FaultRecord(old.id, old.type, old.target, {**old.params, **params})
            elif kind == "reverted":
                records.pop(str(event.get("id")), None)
        return list(records.values())

    def _record(self, lineno: int, raw: Any) -> FaultRecord:
        if not isinstance(raw, dict) or not all(isinstance(raw.get(k), str) and raw.get(k) for k in ("id", "type", "target")):
            raise StateInvalid(f"{self.path}:{lineno}: fault journal: an inject event needs a record with id, type and target; "
                               "fix or remove the line after checking that the fault is not in place")
        if not isinstance(raw.get("params") or {}, dict):
            raise StateInvalid(f"{self.path}:{lineno}: fault journal: a record's params must be an object")
        return FaultRecord.from_json(raw)

    def _events(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(line number, event) for each complete event; torn fragments skipped."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StateInvalid(f"{self.path}: cannot read the fault journal: {exc.strerror or exc}") from None
        for lineno, line in enumerate(raw.splitlines(), 1):
            try:
                text = line.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise StateInvalid(f"{self.path}:{lineno}: fault journal: not UTF-8 text (the journal is JSON lines)") from None
            if not text:
                continue
            try:
                event = json.loads(text)
            except (json.JSONDecodeError, RecursionError):
                continue  # torn write from a SIGKILL: the other lines still count
            if not isinstance(event, dict):
                raise StateInvalid(f"{self.path}:{lineno}: fault journal: expected a JSON object per line")
            yield lineno, event

    # -- plumbing -----------------------------------------------------------

    def _append(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, sort_keys=True) + "\n"
        with self._locked():
            created = not self.path.exists()
            if not created and _ends_mid_line(self.path):
                line = "\n" + line  # after a torn write: never glue an event to the fragment
            with open(self.path, "a") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
            if created:
                _fsync_dir(self.path.parent)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time (a run and a `recover` may overlap)."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = open(lock_path, "a")
        except OSError as exc:  # the state dir is a file, or not ours
            raise StateInvalid(f"{lock_path}: cannot open the fault journal's lock: {exc.strerror or exc}") from None
        with lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _ends_mid_line(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return False
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) != b"\n"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
