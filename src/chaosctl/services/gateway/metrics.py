"""The gateway's own Prometheus metrics (names fixed in docs/contracts.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

IGNORED_REASONS = ("unknown_server", "foreign_endpoint")
UPSTREAM_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
)  # fmt: skip


class GatewayMetrics:
    # Set by the _*_metrics functions below (one per group of the gateway's metrics).
    upstream_requests: Any; upstream_duration: Any; retries: Any; retry_budget_exhausted: Any  # noqa: E702
    breaker_state: Any; fallbacks: Any; failovers: Any; inflight: Any  # noqa: E702
    cache: Any; cache_age: Any; rate_limited: Any; ignored_records: Any; routed: Any  # noqa: E702
    canary_weight: Any; canary_state: Any; canary_steps: Any; canary_rollbacks: Any  # noqa: E702
    canary_breaches: Any; canary_rollback_reaction: Any  # noqa: E702

    def __init__(self, registry: Any) -> None:
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}
        _upstream_metrics(self, registry)
        _registry_metrics(self, registry)
        _canary_metrics(self, registry)
        for result in ("hit", "miss", "stale"):
            self.cache.labels(result)  # exported at 0 from the start, so rate() works at once
        self.fallbacks.inc(0)
        for reason in IGNORED_REASONS:
            self.ignored_records.labels(reason)
        self.retry_budget_exhausted.inc(0)
        self.rate_limited.inc(0)

    def child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, looked up once: the request path asks for the same few children
        on every request, and each `.labels()` call takes a lock and builds its key."""
        key = (metric, labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def watch_breaker(self, upstream: str, state: Callable[[], int]) -> None:
        """Export a breaker's state as read at scrape time (open -> half-open happens by time)."""
        self.breaker_state.labels(upstream).set_function(lambda: float(state()))


def _upstream_metrics(m: GatewayMetrics, registry: Any) -> None:
    """Tries against the model servers: outcomes, durations, retries, breakers, fallbacks, failovers."""
    from prometheus_client import Counter, Gauge, Histogram

    m.upstream_requests = Counter(
        "chaosctl_gateway_upstream_requests_total", "Upstream tries by outcome (and the upstream's region)",
        ("upstream", "outcome", "region"), registry=registry,
    )  # fmt: skip
    m.upstream_duration = Histogram(
        "chaosctl_gateway_upstream_duration_seconds", "Duration of one upstream try", ("upstream", "region"),
        buckets=UPSTREAM_BUCKETS, registry=registry,
    )  # fmt: skip
    m.retries = Counter("chaosctl_gateway_retries_total", "Retries by upstream retried", ("upstream",), registry=registry)
    m.retry_budget_exhausted = Counter(
        "chaosctl_gateway_retry_budget_exhausted_total", "Retries refused by the retry budget", registry=registry
    )
    m.breaker_state = Gauge(
        "chaosctl_gateway_breaker_state", "Breaker state: 0 closed, 1 half-open, 2 open", ("upstream",), registry=registry
    )
    m.fallbacks = Counter("chaosctl_gateway_fallbacks_total", "Requests sent to the CPU pool", registry=registry)
    m.failovers = Counter(
        "chaosctl_gateway_region_failovers_total",
        "Requests sent to another region than the gateway's (once per request, by the region it went to)",
        ("region",), registry=registry,
    )  # fmt: skip
    m.inflight = Gauge("chaosctl_gateway_upstream_inflight", "Tries in flight per upstream", ("upstream",), registry=registry)


def _registry_metrics(m: GatewayMetrics, registry: Any) -> None:
    """Admission and the registry lookup: rate limiting, the registry cache, ignored records, routing."""
    from prometheus_client import Counter, Gauge

    m.cache = Counter(
        "chaosctl_gateway_registry_cache_total", "Registry lookups by cache result", ("result",), registry=registry
    )
    m.cache_age = Gauge(
        "chaosctl_gateway_registry_cache_age_seconds", "Age of the registry answer last served", registry=registry
    )
    m.rate_limited = Counter("chaosctl_gateway_rate_limited_total", "Requests refused with 429", registry=registry)
    m.ignored_records = Counter(
        "chaosctl_gateway_ignored_records_total",
        "Registry records not used: not an upstream the stack defined (reason unknown_server | foreign_endpoint)",
        ("reason",), registry=registry,
    )  # fmt: skip
    m.routed = Counter(
        "chaosctl_gateway_routed_requests_total",
        "Predict requests by the version routing chose (the answering version for a 200) and status code",
        ("model", "version", "code"), registry=registry,
    )  # fmt: skip


def _canary_metrics(m: GatewayMetrics, registry: Any) -> None:
    """Progressive canary (gateway/rollout.py): the canary's weight now, its steps and its rollbacks."""
    from prometheus_client import Counter, Gauge

    m.canary_weight = Gauge(
        "chaosctl_canary_weight", "Share of unpinned traffic routed to the canary version (0..1)", ("model", "version"),
        registry=registry,
    )  # fmt: skip
    m.canary_state = Gauge(
        "chaosctl_canary_state", "Canary rollout state: 0 static rule, 1 progressing, 2 promoted, 3 rolled back",
        ("model", "version"), registry=registry,
    )  # fmt: skip
    m.canary_steps = Counter(
        "chaosctl_canary_steps_total", "Canary weight steps taken (the start and the promotion included)",
        ("model", "version"), registry=registry,
    )  # fmt: skip
    m.canary_rollbacks = Counter(
        "chaosctl_canary_rollbacks_total", "Automatic canary rollbacks by the bound broken (error_ratio | latency)",
        ("model", "version", "reason"), registry=registry,
    )  # fmt: skip
    m.canary_breaches = Counter(
        "chaosctl_canary_breaches_total", "Canary bounds broken while automatic rollback was off (no rollback)",
        ("model", "version", "reason"), registry=registry,
    )  # fmt: skip
    m.canary_rollback_reaction = Gauge(
        "chaosctl_canary_rollback_reaction_seconds",
        "Last rollback: seconds from the first bad canary answer in the window to the rollback",
        ("model", "version"), registry=registry,
    )  # fmt: skip
