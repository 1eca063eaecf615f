"""SIGINT/SIGTERM handling for a run: interrupt the work, never the revert.

Outside a shield, SIGINT/SIGTERM raise `RunInterrupted` (a BaseException, so
that no library's `except Exception` swallows it) in the main thread; the
run's `finally` blocks then revert. Inside `shield()` (reverting), a signal is
only remembered and acknowledged on stderr; a second Ctrl-C cannot cut a revert
short. The remembered signal is raised when the outermost shield ends, so the
run still exits 130.

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
        self.received: int | None = None
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

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.received is None
        self.received = self.received or signum
        name = signal.Signals(signum).name
        if self._shield_depth:
            self._echo(f"chaosctl: {name} received; reverting faults first, please wait")
            return
        if first:
            self._echo(f"chaosctl: {name} received; reverting faults")
        raise RunInterrupted(signum)

    @contextmanager
    def shield(self) -> Iterator[None]:
        """Signals during this block are remembered, not raised."""
        self._shield_depth += 1
        try:
            yield
        finally:
            self._shield_depth -= 1
        if self._shield_depth == 0 and self.received is not None:
            raise RunInterrupted(self.received)

    def check(self) -> None:
        """Raise if a signal arrived while shielded (call between steps)."""
        if self.received is not None and self._shield_depth == 0:
            raise RunInterrupted(self.received)
