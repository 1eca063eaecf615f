"""Request-scoped faults: rules that abort or delay only the requests they match.

One module for every place that applies them: the reference gateway (after version
routing, so a canary-only rule hits only requests routed to the canary), the reference
model servers (after the version is resolved) and the HTTP fault proxy chaosctl runs
on a user's link. Each applies the rules BEFORE doing the request's work.

A rule matches on model, version (exact or a semver range: `2.4.0`, `2.x`, `>=2.4,<3`),
headers (all given must be equal; names case-insensitive) and path (a glob when it holds
`*?[`, else a prefix); a field left out matches anything. Of the matching requests a
`percent` share (0..1) is faulted, drawn from the holder's random source (seeded in
tests). Each faulted request is counted in `chaosctl_request_faults_total{model,version,
action}` and its server span gets `request_fault.*` attributes and a `request fault` event.

Rules are set over `/admin/request-faults` (header `X-Admin-Token`, 401 without it):
`GET` lists, `PUT /{id}` sets one (idempotent), `DELETE /{id}` removes one, `DELETE`
removes all.
"""

from __future__ import annotations

import asyncio
import fnmatch
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chaosctl.services.registry.records import valid_range, version_matches

ADMIN_PREFIX = "/admin/request-faults"
FAULT_HEADER = "X-Request-Fault"
METRIC = "chaosctl_request_faults_total"
RULE_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
MAX_DELAY_S = 300.0
Action = Literal["abort", "delay"]


class Match(BaseModel):
    """Which requests a rule acts on; every field given must hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: Optional[str] = None
    version: Optional[str] = Field(None, description="exact (2.4.0) or a semver range (2.x, ~2.4, >=2.4,<3)")
    headers: dict[str, str] = Field(default_factory=dict, description="header name -> exact value")
    path: Optional[str] = Field(None, description="a glob (/v1/models/*/predict) or a path prefix")


class RuleBody(BaseModel):
    """A rule as the admin API takes it (its id is in the URL)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Action
    status: int = Field(503, ge=400, le=599, description="abort: the status answered")
    delay: float = Field(0.0, ge=0, le=MAX_DELAY_S, description="delay: seconds held before the work")
    percent: float = Field(1.0, ge=0, le=1, description="share of matching requests faulted (0..1)")
    match: Match = Field(default_factory=Match)

    @field_validator("match")
    @classmethod
    def _range_parses(cls, match: Match) -> Match:
        if match.version is not None and not valid_version_spec(match.version):
            raise ValueError(f"version {match.version!r} is neither a version nor a semver range")
        return match


class Rule(RuleBody):
    id: str = Field(pattern=RULE_ID_PATTERN)


def valid_version_spec(spec: str) -> bool:
    """An exact version or a semver range node-semver reads (blank is neither)."""
    return bool(spec.strip()) and valid_range(spec)


@dataclass(frozen=True)
class RequestFacts:
    """What a rule can look at. Header names are lower-cased; model/version None: not known here."""

    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    model: str | None = None
    version: str | None = None

    @classmethod
    def of(cls, path: str, headers: Mapping[str, str], model: str | None = None, version: str | None = None) -> "RequestFacts":
        return cls(path, {k.lower(): v for k, v in headers.items()}, model, version)

    def routed(self, model: str, version: str | None) -> "RequestFacts":
        return RequestFacts(self.path, self.headers, model, version)


def path_matches(pattern: str, path: str) -> bool:
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(path, pattern)
    return path.startswith(pattern)


def matches(match: Match, facts: RequestFacts) -> bool:
    """Every field of `match` holds for `facts`; a model or version the request lacks never matches."""
    if match.model is not None and facts.model != match.model:
        return False
    if match.version is not None:
        if facts.version is None:
            return False
        if facts.version != match.version and not version_matches(facts.version, match.version):
            return False
    if any(facts.headers.get(name.lower()) != value for name, value in match.headers.items()):
        return False
    return match.path is None or path_matches(match.path, facts.path)


class RequestAborted(Exception):
    """A rule aborted the request: answer `status` (the service maps it to its error type)."""

    def __init__(self, rule: Rule) -> None:
        self.status = rule.status
        self.detail = f"request fault {rule.id!r}: aborted with {rule.status}"
        self.headers = {FAULT_HEADER: f"abort; rule={rule.id}"}
        super().__init__(self.detail)


class RuleBook:
    """The active rules of one service, in the order they were set (the first that fires wins)."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self._rules: dict[str, Rule] = {}

    def put(self, rule: Rule) -> None:
        self._rules[rule.id] = rule

    def remove(self, rule_id: str) -> bool:
        return self._rules.pop(rule_id, None) is not None

    def clear(self) -> int:
        n = len(self._rules)
        self._rules.clear()
        return n

    def rules(self) -> list[Rule]:
        return list(self._rules.values())

    def decide(self, facts: RequestFacts) -> Rule | None:
        """The first matching rule whose share draw fires (each matching rule draws once)."""
        for rule in list(self._rules.values()):
            if matches(rule.match, facts) and self.rng.random() < rule.percent:
                return rule
        return None


class RequestFaults:
    """A service's rules, its faulted-request counter, and how a decision is applied."""

    def __init__(self, registry: Any, rng: random.Random | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        from prometheus_client import Counter

        self.book = RuleBook(rng)
        self.sleep = sleep
        self.counter = Counter(METRIC, "Requests faulted by a request-scoped fault rule", ("model", "version", "action"),
                               registry=registry)  # fmt: skip

    async def apply(self, facts: RequestFacts) -> Rule | None:
        """Delay or abort (RequestAborted) the request if a rule fires; the rule that fired, else None."""
        rule = self.book.decide(facts)
        if rule is None:
            return None
        self.counter.labels(facts.model or "", facts.version or "", rule.action).inc()
        _mark_span(rule, facts)
        if rule.action == "abort":
            raise RequestAborted(rule)
        await self.sleep(rule.delay)
        return rule


def _mark_span(rule: Rule, facts: RequestFacts) -> None:
    """The current span (the request's server span) says it was faulted, and for which version."""
    from opentelemetry import trace

    span = trace.get_current_span()
    attrs: dict[str, Any] = {"request_fault.rule": rule.id, "request_fault.action": rule.action}
    attrs.update({"request_fault.status": rule.status} if rule.action == "abort" else {"request_fault.delay_s": rule.delay})
    if facts.model is not None:
        span.set_attribute("model", facts.model)
    if facts.version is not None:
        span.set_attribute("version", facts.version)
    for key, value in attrs.items():
        span.set_attribute(key, value)
    span.add_event("request fault", attrs)


def admin_router(faults: RequestFaults, admin_token: str) -> Any:
    """`/admin/request-faults`, every route behind the admin token (401 without it)."""
    from fastapi import APIRouter, Depends, Path

    from chaosctl.services.credential import require_admin_token

    # Not in the OpenAPI document: an operator's fault API, not part of the service's contract.
    router = APIRouter(prefix=ADMIN_PREFIX, dependencies=[Depends(require_admin_token(admin_token))],
                       include_in_schema=False)  # fmt: skip
    book = faults.book

    @router.get("")
    async def list_rules() -> dict[str, Any]:
        return {"rules": [r.model_dump() for r in book.rules()]}

    @router.put("/{rule_id}")
    async def put_rule(body: RuleBody, rule_id: str = Path(pattern=RULE_ID_PATTERN)) -> dict[str, Any]:
        rule = Rule(id=rule_id, **body.model_dump())
        book.put(rule)
        return rule.model_dump()

    @router.delete("/{rule_id}")
    async def delete_rule(rule_id: str) -> dict[str, Any]:
        return {"id": rule_id, "removed": book.remove(rule_id)}

    @router.delete("")
    async def delete_all() -> dict[str, Any]:
        return {"removed": book.clear()}

    return router
