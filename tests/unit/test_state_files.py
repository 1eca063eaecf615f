"""Malformed files in the state folder: the fault journal and the Locust pid file are named
(FILE:LINE where there is one), exit 2 (StateInvalid), never a traceback and never a guess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaosctl.cli import exit_code_for
from chaosctl.errors import StateInvalid
from chaosctl.faults.base import FaultRecord
from chaosctl.faults.journal import Journal
from chaosctl.load.locust_run import stop_orphans

INJECT = {"event": "inject", "at": 1.0, "record": {"id": "f1", "type": "latency", "target": "link:a->b", "params": {}}}


def _journal(tmp_path: Path, body: bytes) -> Journal:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(body)
    return Journal(path)


@pytest.mark.parametrize("line, where", [
    (b"[1, 2]", ":2:"),
    (b'{"event": "inject", "record": {"id": "x"}}', ":2:"),
    (b'{"event": "inject", "record": "nope"}', ":2:"),
    (b'{"event": "inject", "record": {"id": "x", "type": "t", "target": "g", "params": [1]}}', ":2:"),
    (b'{"event": "update", "id": "f1", "params": 5}', ":2:"),
    (b"\xff\xfe garbage", ":2:"),
])  # fmt: skip
def test_malformed_journal_lines_are_named(tmp_path: Path, line: bytes, where: str) -> None:
    journal = _journal(tmp_path, json.dumps(INJECT).encode() + b"\n" + line + b"\n")
    with pytest.raises(StateInvalid, match=f"journal.jsonl{where}") as info:
        journal.pending()
    assert exit_code_for(info.value) == 2


def test_a_torn_write_is_skipped_and_the_next_event_starts_a_fresh_line(tmp_path: Path) -> None:
    journal = _journal(tmp_path, json.dumps(INJECT).encode() + b'\n{"event": "rev')  # SIGKILL mid-write
    assert [r.id for r in journal.pending()] == ["f1"]
    journal.record_inject(FaultRecord("f2", "process-kill", "gateway", {}))
    journal.record_reverted("f1")
    assert [r.id for r in journal.pending()] == ["f2"]  # the event after the fragment was not glued to it


def test_a_journal_that_is_a_directory_is_named(tmp_path: Path) -> None:
    (tmp_path / "journal.jsonl").mkdir()
    with pytest.raises(StateInvalid, match="cannot read the fault journal"):
        Journal(tmp_path / "journal.jsonl").pending()


def test_a_state_dir_that_is_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("x")
    with pytest.raises(StateInvalid, match="lock"):
        Journal(tmp_path / "state" / "journal.jsonl").pending()


@pytest.mark.parametrize("body", [b"{", b'{"pid": 1}', b"[1, 2]", b"\xff"])
def test_malformed_locust_pid_file_is_named(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "locust.pids"
    path.write_bytes(body)
    with pytest.raises(StateInvalid, match="locust.pids"):
        stop_orphans(path)


def test_pid_file_entries_that_name_no_process_of_ours_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "locust.pids"
    path.write_text(json.dumps([{"pid": 0, "create_time": 0}, {"pid": 1, "create_time": 0}, {"pid": "x"}, {"pid": 2**80, "create_time": 1},
                                {"pid": 4_000_000, "create_time": "soon"}]))
    assert stop_orphans(path) == []
    assert not path.exists()
