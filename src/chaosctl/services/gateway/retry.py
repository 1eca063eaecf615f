"""Retry policy: per-try timeouts, exponential backoff with full jitter, idempotent failures only."""

from __future__ import annotations

import random
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
