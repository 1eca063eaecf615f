"""SIGINT/SIGTERM handling for a run: interrupt the waiting, never the putting back.

A signal becomes `RunInterrupted` (a BaseException, so that no library's
`except Exception` swallows it) only inside an `interruptible()` block: the
waits of a run (steady-state probes, load start, a phase's loop, analysis).
Everywhere else (the `finally` paths that revert faults, stop load, close the
journal, write reports) a signal is only remembered and acknowledged, so the
whole path from the end of a phase, or from an interrupt, to the last revert
cannot be cut short. A remembered signal is raised at the next interruptible
point, or read from `received` by the run at its end (exit 130 either way).

A signal is raised at most once: the second Ctrl-C (or a SIGTERM after it)
arrives while the run is already on its way out and is acknowledged, never
raised, so it cannot skip a revert however it is timed.

`shield()` marks a block that must not be interrupted even inside an
interruptible one (inject + journal, a single fault's revert); on leaving it,
a remembered signal is raised if the surrounding block is interruptible.

Why flags and not `pthread_sigmask`: a blocked mask is inherited by children,
and a revert may restart a component (process-kill's revert); that component
would then ignore SIGTERM for the rest of its life.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Any, Callable, Iterator

HANDLED = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(BaseException):
    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


class SignalGuard:
    def __init__(self, echo: Callable[[str], None] | None = None) -> None:
        self._shield_depth = 0
        self._open_depth = 0  # interruptible() nesting
        self._raised = False
        self.received: int | None = None
        self.count = 0  # signals received (the torture test's double signals show here)
        self._previous: dict[int, Any] = {}
        self._echo = echo or (lambda msg: print(msg, file=sys.stderr, flush=True))

    def __enter__(self) -> "SignalGuard":
        if threading.current_thread() is threading.main_thread():
            for sig in HANDLED:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.received).name if self.received is not None else ""

    def _may_raise(self) -> bool:
        return self.received is not None and not self._raised and self._open_depth > 0 and self._shield_depth == 0

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        name = signal.Signals(signum).name
        if self.received is not None:
            self._echo(f"chaosctl: {name} received again; still putting things back, please wait (exit 130 follows)")
            return
        self.received = signum
        if self._may_raise():
            self._echo(f"chaosctl: {name} received; reverting faults")
            self._raised = True
            raise RunInterrupted(signum)
        self._echo(f"chaosctl: {name} received; finishing the current step and reverting faults first, please wait")

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """A wait that a signal may cut short (raises a signal remembered earlier at once)."""
        self._open_depth += 1
        try:
            self.check()
            yield
        finally:
            self._open_depth -= 1

    @contextmanager
    def shield(self) -> Iterator[None]:
        """Signals during this block are remembered, not raised."""
        self._shield_depth += 1
        try:
            yield
        finally:
            self._shield_depth -= 1
        self.check()

    def check(self) -> None:
        """Raise a remembered signal if this point may be interrupted (and it was not raised yet)."""
        if self._may_raise():
            self._raised = True
            raise RunInterrupted(self.received)  # type: ignore[arg-type]
