"""One phase: its faults go in at `after` and come out after `duration` (or at
the phase end); abort conditions are watched while any fault is in place; at
the end every fault still in place is reverted in reverse order, on every path."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from chaosctl.errors import ChaosctlError
from chaosctl.faults.base import Fault, FaultContext
from chaosctl.faults.catalogue import build_fault
from chaosctl.faults.journal import Journal
from chaosctl.verdict.model import Check, FaultRow, PhaseWindow

from .abort import AbortTrip, AbortWatcher
from .active import VERIFY_DEADLINE_S, ActiveFaults, Injected
from .signals import RunInterrupted, SignalGuard

if TYPE_CHECKING:
    from .telemetry import RunTelemetry

Echo = Callable[[str], None]


@dataclass
class PhaseEnv:
    """What a phase needs from the run (built once per run)."""

    fault_ctx: FaultContext
    journal: Journal
    guard: SignalGuard
    watcher: AbortWatcher
    telemetry: "RunTelemetry | None" = None
    echo: Echo = print
    build: Callable[[Any, FaultContext], Fault] = build_fault
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    verify_deadline_s: float = VERIFY_DEADLINE_S


@dataclass
class PhaseOutcome:
    window: PhaseWindow
    injected: list[Injected] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    trip: AbortTrip | None = None
    failure: str | None = None  # a fault that did not land
    revert_errors: list[str] = field(default_factory=list)
    interrupted: str | None = None  # the signal that cut the phase short (faults reverted after it)
    error: Exception | None = None  # an unexpected exception (a bug): the run ends with verdict error

    @property
    def stop_run(self) -> bool:
        return any(x is not None for x in (self.trip, self.failure, self.interrupted, self.error))


@dataclass
class _Planned:
    at: float  # seconds from phase start
    spec: Any
    fault: Fault | None = None
    out_at: float | None = None
    injected_at: float | None = None  # unix seconds inject() was called at (set once verified in effect)
    in_effect_at: float | None = None  # unix seconds verify() returned


def run_phase(phase: Any, env: PhaseEnv) -> PhaseOutcome:
    env.watcher.reset()
    active = ActiveFaults(env.journal, env.guard, observer=env.telemetry, verify_deadline_s=env.verify_deadline_s)
    planned = sorted((_Planned(spec.after, spec) for spec in phase.faults), key=lambda p: p.at)
    started, t0 = time.time(), env.clock()
    outcome = PhaseOutcome(PhaseWindow(phase.name, started, started))
    env.echo(f"phase {phase.name} ({phase.duration:g}s)")
    try:
        with env.guard.interruptible():  # only the waiting; the finally below cannot be interrupted
            _loop(phase, env, active, planned, t0, outcome)
    except RunInterrupted as exc:
        outcome.interrupted = str(exc)
        env.echo(f"  interrupted by {exc}; reverting")
    except Exception as exc:  # noqa: BLE001 - kept with the phase's window and checks, not thrown away
        outcome.error = exc
        env.echo(f"  unexpected {type(exc).__name__}: {exc}; reverting")
    finally:
        ended = time.time()  # the window closes when faults start coming out
        active.revert_all()
        outcome.revert_errors = list(active.revert_errors)
        labels = tuple(p.spec.label for p in planned if p.fault is not None)
        outcome.window = PhaseWindow(phase.name, started, ended, labels, _rows(planned, active.reverted_at))
    return outcome


def _loop(phase: Any, env: PhaseEnv, active: ActiveFaults, planned: Sequence[_Planned], t0: float,
          outcome: PhaseOutcome) -> None:
    while True:
        now = env.clock() - t0
        for p in planned:
            if p.fault is None and p.at <= now:
                if not _inject(p, env, active, outcome, now):
                    return
            elif p.fault is not None and p.out_at is not None and p.out_at <= now and p.fault in active.faults:
                _revert_one(p.fault, active)
        if now >= phase.duration:
            return
        upcoming = [p.at for p in planned if p.fault is None] + [
            p.out_at for p in planned if p.fault in active.faults and p.out_at is not None]
        until = t0 + min([phase.duration, *[u for u in upcoming if u > now]])
        if active.faults and env.watcher.conditions:
            trip = env.watcher.watch(until, sleep=env.sleep)
            if trip is not None:
                outcome.trip = trip
                outcome.checks.append(Check("abort", trip.condition.name, phase.name, "fail",
                                            trip.observed, trip.condition.name, trip.reason))
                env.echo(f"  ABORT {trip.reason}; reverting")
                return
        else:
            env.sleep(max(0.0, min(0.5, until - env.clock())))


def _inject(p: _Planned, env: PhaseEnv, active: ActiveFaults, outcome: PhaseOutcome, now: float) -> bool:
    """Inject one planned fault; False when it did not land (the run stops)."""
    label = p.spec.describe()
    # The effect window opens when inject() is called, not when verify() returns: a fault can do
    # all it does in between (a canary rolled back within ms of its first aborted requests).
    began = time.time()
    try:
        p.fault = env.build(p.spec, env.fault_ctx)
        done = active.inject(p.fault)
    except ChaosctlError as exc:  # FaultError, or the backend refusing (StackUnavailable)
        outcome.failure = f"{label}: did not land: {exc}"
        outcome.checks.append(Check("fault", label, outcome.window.name, "fail", "", "in effect", outcome.failure))
        env.echo(f"  FAULT DID NOT LAND {outcome.failure}")
        return False
    if p.spec.duration is not None:
        p.out_at = p.at + p.spec.duration
    p.injected_at, p.in_effect_at = began, time.time()
    outcome.injected.append(done)
    outcome.checks.append(Check("fault", label, outcome.window.name, "pass", done.evidence, "in effect"))
    env.echo(f"  + {label}: {done.evidence} ({(done.verified_at - done.decided_at) * 1000:.0f} ms)")
    if env.telemetry:
        env.telemetry.event("fault injected", fault=label)
    return True


def _revert_one(fault: Fault, active: ActiveFaults) -> None:
    """A fault whose own `duration` is over comes out before the phase ends."""
    active.faults.remove(fault)
    single = ActiveFaults(active.journal, active.guard, observer=active.observer, faults=[fault])
    active.revert_errors.extend(single.revert_all())
    active.reverted_at.update(single.reverted_at)


def _rows(planned: Sequence[_Planned], reverted_at: dict[str, float]) -> tuple[FaultRow, ...]:
    """The phase's faults with the times the effect and recovery verdicts measure from."""
    return tuple(FaultRow(p.spec.label, p.injected_at, reverted_at.get(p.fault.record.id), in_effect_at=p.in_effect_at)
                 for p in planned if p.fault is not None)
