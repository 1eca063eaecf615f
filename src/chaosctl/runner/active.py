"""The faults in place during one phase: journal first, then inject, verify;
revert in reverse order, shielded from signals, whatever happened before."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from chaosctl.errors import FaultError
from chaosctl.faults.base import Fault, FaultRecord
from chaosctl.faults.journal import Journal

from .signals import SignalGuard

VERIFY_DEADLINE_S = 5.0  # a kill or a toxic takes effect at once; give slow backends a little room


class FaultObserver(Protocol):
    def fault_injected(self, record: FaultRecord, evidence: str) -> None: ...
    def fault_reverted(self, record: FaultRecord) -> None: ...


@dataclass(frozen=True)
class Injected:
    record: FaultRecord
    evidence: str
    decided_at: float
    verified_at: float


def verify_until(fault: Fault, deadline_s: float, sleep: Callable[[float], None] = time.sleep) -> str:
    """Poll `verify()` until it succeeds or the deadline passes (then its last reason)."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            return fault.verify()
        except FaultError:
            if time.monotonic() >= end:
                raise
        sleep(0.05)


@dataclass
class ActiveFaults:
    journal: Journal
    guard: SignalGuard
    observer: FaultObserver | None = None
    verify_deadline_s: float = VERIFY_DEADLINE_S
    faults: list[Fault] = field(default_factory=list)
    revert_errors: list[str] = field(default_factory=list)
    reverted_at: dict[str, float] = field(default_factory=dict)  # fault id -> unix time its revert returned

    def inject(self, fault: Fault) -> Injected:
        """Journal, inject, verify. A FaultError here means the fault did not land."""
        decided = time.monotonic()
        # Shielded: a signal in the middle of inject() (e.g. a restart between spawning the
        # process and recording it) would leave something the revert cannot see. The signal
        # is acted on right after, and the revert then runs.
        with self.guard.shield():
            self.journal.record_inject(fault.record)  # before inject: a crash now still leaves a trace
            self.faults.append(fault)
            fault.inject()
            state = getattr(fault, "journal_state", None)
            if state is not None:
                self.journal.record_update(fault.record.id, state())
        evidence = verify_until(fault, self.verify_deadline_s)
        verified = time.monotonic()
        if self.observer:
            self.observer.fault_injected(fault.record, evidence)
        return Injected(fault.record, evidence, decided, verified)

    def revert_all(self) -> list[str]:
        """Revert every fault in reverse order; errors are collected, not raised,
        so one failing revert does not leave the others in place."""
        errors: list[str] = []
        with self.guard.shield():
            while self.faults:
                fault = self.faults.pop()
                try:
                    fault.revert()
                except Exception as exc:  # noqa: BLE001 - one bad revert must not skip the others
                    errors.append(f"revert of {fault.record.label} failed: {exc} (run `chaosctl recover`)")
                    print(f"chaosctl: {errors[-1]}", file=sys.stderr, flush=True)
                    continue
                self.reverted_at[fault.record.id] = time.time()
                try:  # the fault is out; a journal or telemetry failure must not skip the others
                    self.journal.record_reverted(fault.record.id)
                    if self.observer:
                        self.observer.fault_reverted(fault.record)
                except Exception as exc:  # noqa: BLE001
                    print(f"chaosctl: {fault.record.label} reverted, but recording it failed: {exc}", file=sys.stderr, flush=True)
            self.revert_errors.extend(errors)  # inside: leaving the shield may raise a remembered signal
        return errors
