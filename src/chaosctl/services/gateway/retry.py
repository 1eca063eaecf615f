"""Retry policy: per-try timeouts, exponential backoff with full jitter, idempotent failures only."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class Outcome(str, Enum):
    """How one upstream try ended (also the `outcome` label of the upstream metric)."""

    OK = "ok"
    CONNECT_ERROR = "connect_error"
    TIMEOUT = "timeout"
    BAD_GATEWAY = "502"
    UNAVAILABLE = "503"
    SERVER_ERROR = "5xx"
    CLIENT_ERROR = "4xx"
    BREAKER_OPEN = "breaker_open"


# Failures after which the same request may safely be sent again: the upstream did
# not (or could not) act on it. Inference is idempotent, so a timeout is included.
RETRYABLE = frozenset({Outcome.CONNECT_ERROR, Outcome.TIMEOUT, Outcome.BAD_GATEWAY, Outcome.UNAVAILABLE})
# Failures that count against an upstream's breaker (a 4xx is the client's fault).
BREAKER_FAILURES = RETRYABLE | {Outcome.SERVER_ERROR}


def outcome_for_status(status: int) -> Outcome:
    if status < 400:
        return Outcome.OK
    if status == 502:
        return Outcome.BAD_GATEWAY
    if status == 503:
        return Outcome.UNAVAILABLE
    if status >= 500:
        return Outcome.SERVER_ERROR
    return Outcome.CLIENT_ERROR


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    per_try_timeout_s: float = 1.0
    base_backoff_s: float = 0.025
    max_backoff_s: float = 0.5

    def should_retry(self, outcome: Outcome, attempt: int) -> bool:
        """After try number `attempt` (1-based) ended with `outcome`, try again?"""
        return outcome in RETRYABLE and attempt < self.max_attempts

    def backoff_s(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))]."""
        ceiling = min(self.max_backoff_s, self.base_backoff_s * (2 ** max(0, attempt - 1)))
        return rng.uniform(0.0, ceiling)


@dataclass(frozen=True)
class RetryBudgetConfig:
    """Retries may add at most `ratio` to the request rate (plus `min_per_s`), so that an
    overloaded upstream is not hit by a retry storm (as in Envoy's retry budgets)."""

    ratio: float = 0.2
    min_per_s: float = 5.0
    window_s: float = 10.0


class RetryBudget:
    def __init__(self, config: RetryBudgetConfig = RetryBudgetConfig(), clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._start = clock()
        # Counts of the current and the previous window: a cheap sliding-window estimate.
        self._requests = [0, 0]
        self._retries = [0, 0]

    def record_request(self) -> None:
        self._roll()
        self._requests[1] += 1

    def try_spend(self) -> bool:
        """Take one retry from the budget; False when retries already use their share."""
        self._roll()
        weight = 1.0 - (self._clock() - self._start) / self.config.window_s
        requests = self._requests[0] * weight + self._requests[1]
        retries = self._retries[0] * weight + self._retries[1]
        if retries + 1 > self.config.min_per_s * self.config.window_s + self.config.ratio * requests:
            return False
        self._retries[1] += 1
        return True

    def _roll(self) -> None:
        elapsed = self._clock() - self._start
        if elapsed < self.config.window_s:
            return
        windows = int(elapsed // self.config.window_s)
        keep_previous = windows == 1
        self._requests = [self._requests[1] if keep_previous else 0, 0]
        self._retries = [self._retries[1] if keep_previous else 0, 0]
        self._start += windows * self.config.window_s
