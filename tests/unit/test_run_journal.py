"""The fault journal and the reverse-order revert of ActiveFaults, with fake faults."""

from __future__ import annotations

import json

import pytest
from _run_fakes import fake

from chaosctl.errors import FaultError
from chaosctl.faults.base import FaultRecord, record_from_spec
from chaosctl.faults.journal import Journal
from chaosctl.runner.active import ActiveFaults
from chaosctl.runner.signals import SignalGuard


class JournalSpy(Journal):
    """A real journal that also logs its writes into the faults' shared log."""

    def __init__(self, path, log):
        super().__init__(path)
        self.log = log

    def record_inject(self, record):
        self.log.append(f"journal {record.id}")
        super().record_inject(record)

    def record_reverted(self, fault_id):
        self.log.append(f"reverted {fault_id}")
        super().record_reverted(fault_id)


@pytest.fixture
def log():
    return []


@pytest.fixture
def active(tmp_path, log):
    return ActiveFaults(JournalSpy(tmp_path / "journal.jsonl", log), SignalGuard(), verify_deadline_s=0.0)


def test_record_is_written_before_inject_and_marked_after_revert(active, log):
    active.inject(fake("a", log))
    assert log == ["journal a", "inject a", "verify a"]
    assert [r.id for r in active.journal.pending()] == ["a"]
    active.revert_all()
    assert log[-2:] == ["revert a", "reverted a"]
    assert active.journal.pending() == []


def test_journal_line_is_on_disk_when_inject_runs(tmp_path, active, log):
    seen: list[list[str]] = []
    f = fake("a", log)
    original = f.inject

    def inject():
        seen.append([json.loads(line)["event"] for line in (tmp_path / "journal.jsonl").read_text().splitlines()])
        original()

    f.inject = inject
    active.inject(f)
    assert seen == [["inject"]]


def test_reverse_order_on_exception(active, log):
    active.inject(fake("a", log))
    active.inject(fake("b", log))
    with pytest.raises(FaultError):
        active.inject(fake("c", log, fail_inject=True))
    active.revert_all()
    assert [e for e in log if e.startswith("revert ")] == ["revert c", "revert b", "revert a"]
    assert active.journal.pending() == []


def test_a_fault_that_did_not_land_is_still_reverted(active, log):
    with pytest.raises(FaultError, match="did not land"):
        active.inject(fake("a", log, fail_verify=True))
    active.revert_all()
    assert "revert a" in log and active.journal.pending() == []


def test_failing_revert_does_not_skip_the_others_and_stays_pending(active, log):
    active.inject(fake("a", log))
    active.inject(fake("b", log, fail_revert=True))
    active.inject(fake("c", log))
    errors = active.revert_all()
    assert [e for e in log if e.startswith("revert ")] == ["revert c", "revert b", "revert a"]
    assert len(errors) == 1 and "b revert failed" in errors[0]
    assert [r.id for r in active.journal.pending()] == ["b"]


def test_pending_survives_a_torn_last_line_and_updates_merge(tmp_path):
    j = Journal(tmp_path / "j.jsonl")
    j.record_inject(FaultRecord("a", "gpu-exhaustion", "model-gpu-1", {"memory": 0.9}))
    j.record_update("a", {"allocation_id": "x1"})
    j.record_inject(FaultRecord("b", "process-kill", "registry", {}))
    with open(j.path, "a") as fh:
        fh.write('{"event": "reverted", "id": "b"')  # SIGKILL mid-write
    pending = j.pending()
    assert [r.id for r in pending] == ["a", "b"]
    assert pending[0].params == {"memory": 0.9, "allocation_id": "x1"}


def test_clear_if_done_only_when_nothing_pending(tmp_path):
    j = Journal(tmp_path / "j.jsonl")
    j.record_inject(FaultRecord("a", "latency", "link:gateway->registry", {}))
    assert not j.clear_if_done() and j.path.read_text()
    j.record_reverted("a")
    assert j.clear_if_done() and j.path.read_text() == ""


def test_record_from_spec_keeps_scalars_only():
    rec = record_from_spec({"type": "latency", "target": "link:gateway->registry", "latency": 0.2, "jitter": 0.0,
                            "direction": "downstream", "nested": {"x": 1}}, fault_id="f1")
    assert rec == FaultRecord("f1", "latency", "link:gateway->registry",
                              {"latency": 0.2, "jitter": 0.0, "direction": "downstream"})
    assert FaultRecord.from_json(json.loads(json.dumps(rec.to_json()))) == rec
