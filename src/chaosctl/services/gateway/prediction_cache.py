"""The gateway's prediction cache: answers of a model version for given inputs, kept in Redis.

Key = model, the version routing resolved, and the sha256 of the canonical inputs: a request
routed to the canary looks up the canary's key, so it never gets the stable version's answer
(and an answer is only stored under the version that produced it). Entries expire after
`ttl_s`. The cache may only ever make a request faster: a down, slow or unreachable Redis is
bypassed after `timeout_s` (counted), and after `failure_threshold` failures in a row it is not
asked at all for `cooldown_s` (a breaker), so that a blackholed link does not add the timeout to
every request.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from chaosctl.services.gateway.breaker import BreakerConfig, CircuitBreaker
from chaosctl.services.gateway.deadline import deadline

if TYPE_CHECKING:  # pragma: no cover
    from chaosctl.services.telemetry import Telemetry

KEY_PREFIX = "chaosctl:prediction:v1"


class _Held:
    """Stores asked for while an answer is being made, started once it was sent (`stores_held`). `open`
    turns False when the block ends: a task started inside it inherits this object with the context, and
    a store it asks for later must start at once, not join a list nobody drains any more."""

    __slots__ = ("starts", "open")

    def __init__(self) -> None:
        self.starts: list[Callable[[], None]] = []
        self.open = True


_HELD: ContextVar[_Held | None] = ContextVar("chaosctl_gateway_held_stores", default=None)
LookupResult = Literal["hit", "miss", "error", "timeout", "bypass", "off"]
LOOKUP_RESULTS: tuple[LookupResult, ...] = ("hit", "miss", "error", "timeout", "bypass")
CACHE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)


class CacheClient(Protocol):
    """What the cache needs of a Redis client (redis.asyncio.Redis has it; tests hand in a fake)."""

    async def get(self, name: str) -> bytes | None: ...

    async def set(self, name: str, value: bytes, px: int | None = None) -> Any: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class PredictionCacheConfig:
    url: str | None = None  # redis://host:port (the gateway's link); None: no cache
    password: str = ""
    ttl_s: float = 60.0
    # A cache answer slower than this is worth less than asking the model (GPU p99 ~50 ms); not
    # much less, or a busy event loop alone times lookups out (and each timeout drops a connection).
    timeout_s: float = 0.1
    failure_threshold: int = 5
    cooldown_s: float = 2.0

    def __post_init__(self) -> None:
        if not self.ttl_s > 0:
            raise ValueError(f"prediction cache ttl_s must be > 0 (got {self.ttl_s}): entries must expire")
        if not self.timeout_s > 0:
            raise ValueError(f"prediction cache timeout_s must be > 0 (got {self.timeout_s})")


def canonical_inputs(inputs: Sequence[Sequence[float]]) -> bytes:
    """One byte string per set of inputs: 1 and 1.0 alike, no whitespace (float repr round-trips)."""
    return json.dumps([[float(x) for x in row] for row in inputs], separators=(",", ":")).encode()


def cache_key(model: str, version: str, inputs: Sequence[Sequence[float]]) -> str:
    return key_of(model, version, inputs_digest(inputs))


def inputs_digest(inputs: Sequence[Sequence[float]]) -> str:
    """The inputs' part of a key (a miss needs it twice: lookup and store; computed once)."""
    return hashlib.sha256(canonical_inputs(inputs)).hexdigest()


def key_of(model: str, version: str, digest: str) -> str:
    return f"{KEY_PREFIX}:{model}:{version}:{digest}"


def redis_client(config: PredictionCacheConfig) -> CacheClient:
    """A pipelining asyncio Redis client (gateway/redis_lean.py). No timeouts of its own: `PredictionCache`
    bounds each call by `timeout_s` (connecting included); a late reply is dropped on arrival."""
    from chaosctl.services.gateway.redis_lean import LeanRedis

    return LeanRedis(config.url or "", config.password or None)


class stores_held:  # noqa: N801 - used as the context manager function it was
    """Stores asked for inside the block (this task's context) start when it ends: a handler sends its
    answer inside, so a store's span begins after the request's own work, whatever the server's
    send awaited meanwhile, and never counts on the request's critical path. A class, not a
    @contextmanager generator: entered on every predict request, it costs a third as much."""

    __slots__ = ("held", "token")

    def __enter__(self) -> None:
        self.held = _Held()
        self.token = _HELD.set(self.held)

    def __exit__(self, *_exc: object) -> None:
        held = self.held
        held.open = False
        _HELD.reset(self.token)
        for start in held.starts:
            start()


class CacheMetrics:
    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Histogram

        self.lookups = Counter(
            "chaosctl_gateway_prediction_cache_total",
            "Prediction cache lookups by result (hit | miss | error | timeout | bypass: breaker open)",
            ("result",), registry=registry,
        )  # fmt: skip
        self.stores = Counter(
            "chaosctl_gateway_prediction_cache_stores_total", "Prediction cache stores by result (ok | error | timeout)",
            ("result",), registry=registry,
        )  # fmt: skip
        self.duration = Histogram(
            "chaosctl_gateway_prediction_cache_duration_seconds", "Duration of one prediction cache call",
            ("op",), buckets=CACHE_BUCKETS, registry=registry,
        )  # fmt: skip
        for result in LOOKUP_RESULTS:
            self.lookups.labels(result)  # exported at 0 from the start, so rate() works at once
        for result in ("ok", "error", "timeout"):
            self.stores.labels(result)
        self._children: dict[tuple[Any, str], Any] = {}  # (metric, label) -> child: labels() locks and hashes

    def child(self, metric: Any, label: str) -> Any:
        child = self._children.get((metric, label))
        if child is None:  # made on first use, as labels() would (no series exported earlier than before)
            child = self._children[(metric, label)] = metric.labels(label)
        return child


class PredictionCache:
    def __init__(self, config: PredictionCacheConfig, client: CacheClient | None, telemetry: Telemetry,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        """`client` None (or no url): every lookup is "off" and nothing is stored."""
        self.config = config
        self.client = client
        self.tel = telemetry
        self.metrics = CacheMetrics(telemetry.registry)
        self.breaker = CircuitBreaker(BreakerConfig(config.failure_threshold, config.cooldown_s), clock)
        self._storing: set[asyncio.Task[None]] = set()  # stores under way off the response path

    async def lookup(self, key: str) -> tuple[LookupResult, bytes | None]:
        with self.tel.span("cache lookup") as span:
            result, value = await self._call("get", lambda c: c.get(key))
            span.set_attributes({"cache.hit": result == "hit", "cache.result": result})
            if result != "off":
                self.metrics.child(self.metrics.lookups, result).inc()
            return result, value

    async def store(self, key: str, value: bytes) -> None:
        ttl_ms = int(self.config.ttl_s * 1000)
        with self.tel.span("cache store") as span:
            result, _ = await self._call("set", lambda c: c.set(key, value, px=ttl_ms))
            span.set_attribute("cache.result", result)
            if result in ("hit", "miss"):
                self.metrics.child(self.metrics.stores, "ok").inc()
            elif result in ("error", "timeout"):
                self.metrics.child(self.metrics.stores, result).inc()

    def store_later(self, key: str, value: bytes) -> None:
        """`store`, off the response path: the client does not wait for Redis's reply to a SET it
        never reads. Started as a task of the running request's context, so its span stays a child
        of the request's; it begins after the request's own code has run (the answer is sent
        first), so the critical path no longer counts it. Same timeout, breaker and counts as
        `store`; `aclose` waits for the stores under way (none is lost at shutdown). Inside
        `stores_held` it starts when that block ends. On one Redis
        connection (gateway/redis_lean.py) the SET goes out before any later GET of the same
        key: a client repeating a request still gets the stored answer."""
        held = _HELD.get()
        if held is not None and held.open:
            held.starts.append(lambda: self._start_store(key, value))
        else:
            self._start_store(key, value)

    def _start_store(self, key: str, value: bytes) -> None:
        task = asyncio.get_running_loop().create_task(self.store(key, value))
        self._storing.add(task)
        task.add_done_callback(self._storing.discard)

    async def _call(self, op: str, call: Callable[[CacheClient], Any]) -> tuple[LookupResult, bytes | None]:
        """Run one Redis call within the timeout; never raises (but lets cancellation through)."""
        if self.client is None:
            return "off", None
        if not self.breaker.try_acquire():
            return "bypass", None
        start = time.perf_counter()
        try:
            with deadline(self.config.timeout_s):
                value = await call(self.client)
        except asyncio.CancelledError:
            self.breaker.release()
            raise
        except TimeoutError:
            self.breaker.record_failure()
            return "timeout", None
        except Exception:  # noqa: BLE001 - any Redis failure means: answer without the cache
            self.breaker.record_failure()
            return "error", None
        finally:
            self.metrics.child(self.metrics.duration, op).observe(time.perf_counter() - start)
        self.breaker.record_success()
        if op == "get" and isinstance(value, bytes):
            return "hit", value
        return "miss", None

    async def aclose(self) -> None:
        if self._storing:  # each bounded by timeout_s
            await asyncio.gather(*self._storing, return_exceptions=True)
        if self.client is not None:
            await self.client.aclose()
