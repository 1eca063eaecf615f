"""Per-client token buckets (client = JWT subject); a refused request learns when to retry."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimitConfig:
    rate_per_s: float = 200.0
    burst: float = 400.0
    max_clients: int = 10_000


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0

    @property
    def retry_after_header(self) -> str:
        # Retry-After carries whole seconds; never 0 for a refusal.
        return str(max(1, math.ceil(self.retry_after_s)))


@dataclass
class _Bucket:
    tokens: float
    updated: float
    rate: float
    burst: float


class RateLimiter:
    def __init__(self, config: RateLimitConfig = RateLimitConfig(), clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def check(self, client: str, rate_per_s: float | None = None, burst: float | None = None) -> Decision:
        """Take one token from `client`'s bucket (its own plan when given, else the default)."""
        rate = rate_per_s or self.config.rate_per_s
        default_cap = max(1.0, rate_per_s) if rate_per_s else self.config.burst
        cap = burst or default_cap
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None or bucket.rate != rate or bucket.burst != cap:
            self._evict_if_full()
            bucket = _Bucket(tokens=cap, updated=now, rate=rate, burst=cap)
            self._buckets[client] = bucket
        bucket.tokens = min(cap, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return Decision(True)
        return Decision(False, retry_after_s=(1.0 - bucket.tokens) / rate)

    def _evict_if_full(self) -> None:
        # Bounded memory under many subjects: forget the least recently used buckets.
        if len(self._buckets) < self.config.max_clients:
            return
        oldest = sorted(self._buckets, key=lambda k: self._buckets[k].updated)
        for key in oldest[: max(1, len(oldest) // 10)]:
            del self._buckets[key]
