"""The gateway's request path, free of FastAPI: auth, rate limit, registry lookup
(cached), version routing, GPU-aware balancing, per-try timeouts, retries and
breakers. Every collaborator (transport, clocks, RNG, sleep) is injected.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import ValidationError

from chaosctl.services.credential import bearer_header
from chaosctl.services.gateway.auth import AuthError, Principal, bearer_token, verify_token
from chaosctl.services.gateway.balancer import Balancer, BalancerConfig, Candidate
from chaosctl.services.gateway.breaker import BreakerBoard, BreakerConfig, BreakerState, CircuitBreaker
from chaosctl.services.gateway.cache import CacheConfig, RegistryUnavailable
from chaosctl.services.gateway.metrics import GatewayMetrics
from chaosctl.services.gateway.prediction_cache import (
    CacheClient, LookupResult, PredictionCache, PredictionCacheConfig, inputs_digest, key_of, redis_client,
)
from chaosctl.services.gateway.ratelimit import RateLimitConfig, RateLimiter
from chaosctl.services.gateway.records import ServiceRecord
from chaosctl.services.gateway.registry_lookup import RegistryLookup
from chaosctl.services.gateway.retry import BREAKER_FAILURES, Outcome, RetryBudget, RetryBudgetConfig, RetryPolicy
from chaosctl.services.gateway.rollout import RolloutRecorder, Rollouts
from chaosctl.services.gateway.routing import CanaryRule, NoVersion, choose_versions
from chaosctl.services.gateway.upstream import HttpPool, PredictResponse, TryResult, predict_try
from chaosctl.services.request_faults import RequestAborted, RequestFacts, RequestFaults

if TYPE_CHECKING:  # pragma: no cover
    from chaosctl.services.telemetry import Telemetry

REGISTRY = "registry"
__all__ = ["Deps", "Gateway", "GatewayConfig", "GatewayError", "PredictResponse", "TryResult"]


class GatewayError(Exception):
    """An answer other than 200 (status, a message, extra headers)."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class GatewayConfig:
    jwt_secret: str
    registry_url: str
    # Server name -> base URL the gateway dials (its Toxiproxy link). Only these servers get
    # traffic: a registry record of any other name is ignored, never dialled at its endpoint.
    upstream_urls: Mapping[str, str] = field(default_factory=dict)
    # Server name -> the endpoint its record must carry (the server's own address, as the stack
    # defined it); a record claiming a known name with another endpoint is ignored. Empty: names decide.
    upstream_endpoints: Mapping[str, str] = field(default_factory=dict)
    # The service credential sent to the model servers (they refuse anonymous predicts).
    service_token: str = ""
    breaker: BreakerConfig = BreakerConfig()
    registry_breaker: BreakerConfig = BreakerConfig(failure_threshold=3, cooldown_s=5.0)
    cache: CacheConfig = CacheConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    retry: RetryPolicy = RetryPolicy()
    retry_budget: RetryBudgetConfig = RetryBudgetConfig()
    balancer: BalancerConfig = BalancerConfig()
    canary: tuple[CanaryRule, ...] = ()
    prediction_cache: PredictionCacheConfig = PredictionCacheConfig()
    registry_timeout_s: float = 1.0
    # Route only to these servers (None: every server the registry knows), e.g. to pin a
    # gateway to one pool or, in the overhead benchmark, to the server measured directly.
    servers: frozenset[str] | None = None
    # Guards /admin/request-faults (the install's admin token; empty: the routes refuse everyone).
    admin_token: str = ""
    # The gateway's own region: its servers are tried first ("" routes without regard to region).
    region: str = ""
    # Fail over to another region's servers when no local one can take the request (off: the local
    # region only, a 503 instead; CHAOSCTL_GATEWAY_REGION_FAILOVER=0, region-loss's broken variant).
    region_failover: bool = True
    # Every region there is (their failover counters are exported at 0 from the start).
    regions: tuple[str, ...] = ()
    # Where canary steps and rollbacks are annotated (gateway/rollout.py); None: no annotations.
    grafana_url: str | None = None
    grafana_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Deps:
    """What tests replace: the HTTP transport, clocks, randomness and sleeping."""

    transport: httpx.AsyncBaseTransport | None = None
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    # The prediction cache's client (None: a Redis client when the config names a URL).
    cache_client: CacheClient | None = None


class Gateway:
    def __init__(self, config: GatewayConfig, telemetry: Telemetry, deps: Deps = Deps()) -> None:
        self.config = config
        self.tel = telemetry
        self.deps = deps
        self.metrics = GatewayMetrics(telemetry.registry)
        self.pool = HttpPool(deps.transport, config.retry.per_try_timeout_s)
        self.breakers = BreakerBoard(config.breaker, deps.clock)
        self.registry_breaker = BreakerBoard(config.registry_breaker, deps.clock).get(REGISTRY)
        self.metrics.watch_breaker(REGISTRY, lambda: int(self.registry_breaker.state))
        self.registry = RegistryLookup(config, telemetry, self.metrics, self.pool, self.registry_breaker, deps.clock)
        self.cache = self.registry.cache
        self.limiter = RateLimiter(config.rate_limit, deps.clock)
        self.retry_budget = RetryBudget(config.retry_budget, deps.clock)
        self.balancer = Balancer(config.balancer)
        self.inflight: dict[str, int] = defaultdict(int)
        pc = config.prediction_cache
        client = deps.cache_client or (redis_client(pc) if pc.url else None)
        self.predictions = PredictionCache(pc, client, telemetry, deps.clock)
        self._watched: set[str] = set()  # breakers already exported as gauges
        for region in config.regions:
            if region != config.region:
                self.metrics.failovers.labels(region)
        self.request_faults = RequestFaults(telemetry.registry, deps.rng, deps.sleep)
        self.rollouts = Rollouts(deps.clock, config.canary)
        self.rollout_recorder = RolloutRecorder(self.metrics, _annotator(config), deps.wall_clock)
        self.rollout_recorder.export_static(config.canary)

    @property
    def client(self) -> httpx.AsyncClient:
        """One of the pooled HTTP clients (registry, pipeline stages), taken in turn."""
        return self.pool.client

    async def aclose(self) -> None:
        await self.pool.aclose()
        await self.predictions.aclose()
        self.rollout_recorder.close()

    # -- admission -------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> Principal:
        try:
            return verify_token(self.config.jwt_secret, bearer_token(authorization), clock=self.deps.wall_clock)
        except AuthError as exc:
            raise GatewayError(401, str(exc), {"WWW-Authenticate": "Bearer"}) from None

    def admit(self, principal: Principal) -> None:
        decision = self.limiter.check(principal.subject, principal.rate_per_s, principal.burst)
        if not decision.allowed:
            self.metrics.rate_limited.inc()
            detail = f"rate limit exceeded for client {principal.subject!r}"
            raise GatewayError(429, detail, {"Retry-After": decision.retry_after_header})

    # -- the request path --------------------------------------------------------

    async def predict(self, model: str, inputs: list[list[float]], requested: str | None) -> PredictResponse:
        return (await self.predict_cached(model, inputs, requested))[0]

    async def predict_cached(
        self, model: str, inputs: list[list[float]], requested: str | None, request: RequestFacts | None = None
    ) -> tuple[PredictResponse, LookupResult]:
        """The answer and what the prediction cache said. The version is resolved (canary rule
        included) before the cache is asked, and the key holds it: a request routed to one
        version never gets another version's cached answer."""
        try:
            records = await self.registry.lookup(model)
        except RegistryUnavailable as exc:
            raise GatewayError(503, str(exc)) from None
        try:
            versions = choose_versions(
                model, (r.version for r in records), requested, self.rollouts.rules(), self.deps.rng
            )
        except NoVersion as exc:
            raise GatewayError(404, str(exc)) from None
        start = self.deps.clock()
        try:
            answer, result = await self._routed(model, inputs, records, versions, request)
        except GatewayError as exc:  # counted under the version it was routed to: per-version error ratios
            self.metrics.child(self.metrics.routed, model, versions[0], str(exc.status)).inc()
            self._observe_rollout(model, versions[0], exc.status, start)
            raise
        self.metrics.child(self.metrics.routed, model, answer.version, "200").inc()
        self._observe_rollout(model, answer.version, 200, start)
        return answer, result

    def _observe_rollout(self, model: str, version: str, status: int, start: float) -> None:
        """Feed a rollout its answers; a step or rollback it takes is recorded on this request's span."""
        transition = self.rollouts.observe(model, version, status, self.deps.clock() - start)
        if transition is not None:
            rollout = self.rollouts.get(model)
            self.rollout_recorder.record(transition, rollout.state if rollout else "progressing")

    async def _routed(
        self, model: str, inputs: list[list[float]], records: tuple[ServiceRecord, ...], versions: list[str],
        request: RequestFacts | None,
    ) -> tuple[PredictResponse, LookupResult]:
        if request is not None:  # request-scoped faults: after routing (the version is known), before any work
            try:
                await self.request_faults.apply(request.routed(model, versions[0]))
            except RequestAborted as exc:
                raise GatewayError(exc.status, exc.detail, exc.headers) from None
        digest = inputs_digest(inputs)
        result, hit = await self._cached(model, versions[0], digest)
        if hit is not None:
            return hit, result
        candidates, skipped = self._candidates(records, versions)
        if not candidates:
            raise GatewayError(503, f"no healthy backend for {model!r} (skipped: {skipped or 'none'})")
        answer = await self._call_with_retries(model, inputs, candidates, has_gpu=any(r.is_gpu for r in records))
        if result != "bypass":  # an open cache breaker: do not knock on its door after the answer either
            # Under the version that answered (a fallback to another version is that version's answer).
            # Off the response path (the client does not wait for Redis's OK), still counted.
            self.predictions.store_later(key_of(model, answer.version, digest), answer.model_dump_json().encode())
        return answer, result

    async def _cached(self, model: str, version: str, digest: str) -> tuple[LookupResult, PredictResponse | None]:
        result, raw = await self.predictions.lookup(key_of(model, version, digest))
        if raw is None:
            return result, None
        try:
            answer = PredictResponse.model_validate_json(raw)
        except ValidationError:
            return "miss", None  # not ours (or an older format): ask the model, overwrite it
        # Belt and braces: the key holds the version, and so must the answer.
        return ("hit", answer) if (answer.model, answer.version) == (model, version) else ("miss", None)

    def _candidates(
        self, records: tuple[ServiceRecord, ...], versions: list[str]
    ) -> tuple[list[Candidate], list[str]]:
        out: list[Candidate] = []
        skipped: list[str] = []
        for version in versions:
            plan = self.balancer.plan(
                (r for r in records if r.version == version), self.inflight, self._breaker_blocks
            )
            out.extend(plan.ordered)
            skipped.extend(f"{s.name}@{version}: {s.reason}" for s in plan.skipped)
        return self._regional(out, skipped)

    def _is_remote(self, cand: Candidate) -> bool:
        return bool(self.config.region) and cand.record.region not in (self.config.region, "")

    def _regional(self, out: list[Candidate], skipped: list[str]) -> tuple[list[Candidate], list[str]]:
        """Local region first (its GPU servers, then its CPU pool), other regions after: a request
        reaches another region only when no local server can take it (skipped, breaker open) or
        every local try failed. Without failover, other regions' servers are no candidates at all."""
        near = [c for c in out if not self._is_remote(c)]
        far = [c for c in out if self._is_remote(c)]
        if self.config.region_failover:
            return near + far, skipped
        off = [f"{c.name}: region {c.record.region} (region failover off)" for c in far]
        return near, skipped + off

    def _breaker_blocks(self, name: str) -> bool:
        return not self._breaker(name).available()

    def _breaker(self, name: str) -> CircuitBreaker:
        breaker = self.breakers.get(name)
        if name not in self._watched:
            self._watched.add(name)
            self.metrics.watch_breaker(name, lambda: int(breaker.state))
        return breaker

    async def _call_with_retries(
        self, model: str, inputs: list[list[float]], candidates: list[Candidate], has_gpu: bool
    ) -> PredictResponse:
        policy = self.config.retry
        tried: set[str] = set()
        last: TryResult | None = None
        fell_back = failed_over = False
        self.retry_budget.record_request()
        for attempt in range(1, policy.max_attempts + 1):
            cand = self._pick(candidates, tried)
            if cand is None:
                break
            if has_gpu and not cand.is_gpu and not fell_back:
                fell_back = True
                self.metrics.fallbacks.inc()
            if not failed_over and self._is_remote(cand):  # once per request, under the region it went to
                failed_over = True
                self.metrics.failovers.labels(cand.record.region).inc()
            last = await self._try(cand, model, inputs, attempt)
            if last.outcome is Outcome.OK and last.body is not None:
                return last.body
            tried.add(cand.name)
            if not policy.should_retry(last.outcome, attempt):
                break
            if not self.retry_budget.try_spend():
                self.metrics.retry_budget_exhausted.inc()
                break
            self.metrics.retries.labels(cand.name).inc()
            await self.deps.sleep(policy.backoff_s(attempt, self.deps.rng))
        raise self._failure(model, last)

    def _pick(self, candidates: list[Candidate], tried: set[str]) -> Candidate | None:
        """A half-open server's probe first (else a recovered server ranked below a
        healthy one would never be probed and stay half-open); then the best candidate
        not yet tried whose breaker lets a call through; else the best one already
        tried (a retry on the only server left)."""
        fresh = [c for c in candidates if c.name not in tried]
        probing = [c for c in fresh if self._breaker(c.name).state is BreakerState.HALF_OPEN]
        for pool in (probing, fresh, candidates):
            for cand in pool:
                if self._breaker(cand.name).try_acquire():
                    return cand
        return None

    async def _try(self, cand: Candidate, model: str, inputs: list[list[float]], attempt: int) -> TryResult:
        name = cand.name
        breaker = self._breaker(name)
        attrs = {"attempt": attempt, "server": name, "model": model, "version": cand.record.version,
                 "device": cand.record.device, "region": cand.record.region}  # fmt: skip
        with self.tel.span(f"upstream {name}", SpanKind.CLIENT, attrs) as span:
            self.inflight[name] += 1
            region, m = cand.record.region, self.metrics
            m.child(m.inflight, name).inc()
            start = time.perf_counter()
            try:
                result = await self._send(cand, model, inputs)
            except BaseException:
                breaker.release()
                raise
            finally:
                self.inflight[name] -= 1
                m.child(m.inflight, name).dec()
                m.child(m.upstream_duration, name, region).observe(time.perf_counter() - start)
            m.child(m.upstream_requests, name, result.outcome.value, region).inc()
            outcome: dict[str, str | int] = {"outcome": result.outcome.value}
            if result.status is not None:
                outcome["http.response.status_code"] = result.status
            span.set_attributes(outcome)
            if result.outcome in BREAKER_FAILURES:
                breaker.record_failure()
                span.set_status(Status(StatusCode.ERROR, result.detail[:200]))
            else:
                breaker.record_success()
            return result

    async def _send(self, cand: Candidate, model: str, inputs: list[list[float]]) -> TryResult:
        url = f"{self.config.upstream_urls[cand.name]}/v1/models/{model}/predict"
        headers = self.tel.inject(bearer_header(self.config.service_token))
        payload = {"inputs": inputs, "version": cand.record.version}
        return await predict_try(self.pool, cand.name, url, payload, headers, self.config.retry.per_try_timeout_s)

    def _failure(self, model: str, last: TryResult | None) -> GatewayError:
        if last is None:
            return GatewayError(503, f"no healthy backend for {model!r}: every breaker is open")
        if last.outcome is Outcome.CLIENT_ERROR and last.status in (404, 422):
            return GatewayError(last.status, last.detail)
        if last.outcome is Outcome.SERVER_ERROR or last.outcome is Outcome.CLIENT_ERROR:
            return GatewayError(502, f"upstream failed: {last.detail}")
        return GatewayError(503, f"no healthy backend for {model!r} after fallback: {last.detail}")

    def breaker_states(self) -> dict[str, BreakerState]:
        return {**self.breakers.states(), REGISTRY: self.registry_breaker.state}


def _annotator(config: GatewayConfig) -> Any:
    if not config.grafana_url:
        return None
    from chaosctl.observe.grafana import GrafanaAnnotator

    return GrafanaAnnotator(config.grafana_url, config.grafana_token)
