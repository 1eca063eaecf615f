"""Request-level fault specs: faults on matching HTTP requests, applied after routing by the
reference gateway or a reference model server (or chaosctl's HTTP fault proxy on a System
link), and the canary rollout, the deployment event that decides where those requests go.
Both are set through a service's admin API (faults/request.py, faults/rollout.py); the
infrastructure faults (processes, links, GPUs, regions) are in faults.py.
"""

# No `from __future__ import annotations` in model modules: pydantic would compile and eval each
# annotation string at class creation (a few % of `chaosctl validate`, benchmarks/validate_startup.py).

import re
from typing import Literal, Optional

from pydantic import Field, ValidationInfo, field_validator

from chaosctl.stack.topology import MODEL_SERVERS, PREDICTION_CACHE

from .fault_base import FaultBase
from .types import Duration, Fraction, Frozen, topology_of, unknown_name
from .units import format_duration, format_percent

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP field name (RFC 9110 token)


class RequestMatch(Frozen):
    """Which requests a request fault acts on; every field given must hold (none: every request)."""

    model: Optional[str] = Field(None, description="model name, e.g. fraud-detector")
    version: Optional[str] = Field(None, description="exact version (2.4.0) or a semver range (2.x, ~2.4, >=2.4,<3)")
    header: dict[str, str] = Field(default_factory=dict, description="header name -> exact value, e.g. {X-Canary: '1'}")
    path: Optional[str] = Field(None, description="a path glob (/v1/models/*/predict) or prefix (/v1/)")

    @field_validator("version")
    @classmethod
    def _version_or_range(cls, value: Optional[str]) -> Optional[str]:
        from chaosctl.services.request_faults import valid_version_spec

        if value is not None and not valid_version_spec(value):
            raise ValueError(f"{value!r} is neither a version (2.4.0) nor a semver range (2.x, ~2.4, >=2.4,<3)")
        return value

    @field_validator("header")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        # A name no request can carry would make a rule that silently never fires.
        bad = [name for name in value if not _HEADER_NAME.fullmatch(name)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a header name (letters, digits and !#$%&'*+-.^_`|~, no spaces)")
        return value

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not value.startswith(("/", "*")):
            raise ValueError(f"path {value!r} must start with / (a prefix) or be a glob such as /v1/models/*/predict")
        return value


class _RequestFault(FaultBase):
    """A fault on matching requests only: the reference gateway or a reference model server
    applies it after routing; on a System link, chaosctl's HTTP fault proxy does."""

    match: RequestMatch = Field(default_factory=RequestMatch, description="which requests (model, version, header, path)")
    percent: Fraction = Field(1.0, description="share of the matching requests faulted (50% or 0.5)")

    @field_validator("target")
    @classmethod
    def _request_target(cls, value: str, info: ValidationInfo) -> str:
        topology = topology_of(info)
        links = tuple(link.name for link in topology.links if link.dest != PREDICTION_CACHE)  # Redis speaks RESP, not HTTP
        default = ("gateway", *(m.name for m in MODEL_SERVERS))
        reach = tuple(getattr(topology, "request_targets", default))  # a System's gateway/model servers (system.fit)
        if value not in links and value not in reach:
            raise ValueError(unknown_name("request-fault target", value, (*reach, *links)))
        return value

    def _match_detail(self) -> str:
        m = self.match
        parts = [f"{k} {v}" for k, v in (("model", m.model), ("version", m.version), ("path", m.path)) if v]
        parts += [f"{k}: {v}" for k, v in m.header.items()]
        return f"{format_percent(self.percent)} of " + (", ".join(parts) if parts else "all requests")


class RequestAbort(_RequestFault):
    """Answer matching requests with `status` instead of serving them."""

    type: Literal["request-abort"]
    status: int = Field(503, ge=400, le=599, description="the HTTP status answered (400-599)")

    def _detail(self) -> str:
        return f"{self.status}, {self._match_detail()}"


class RequestDelay(_RequestFault):
    """Hold matching requests for `delay` before serving them."""

    type: Literal["request-delay"]
    delay: Duration = Field(description="how long each matching request is held, e.g. 500ms (at most 300s)")

    @field_validator("delay")
    @classmethod
    def _bounded(cls, value: float) -> float:
        if not 0 < value <= 300:
            raise ValueError("delay must be above 0 and at most 300s")
        return value

    def _detail(self) -> str:
        return f"+{format_duration(self.delay)}, {self._match_detail()}"


class CanaryRollout(FaultBase):
    """A deployment event, not a fault: the reference gateway starts a progressive rollout of
    `canary` (its steps, health bounds and automatic rollback in services/gateway/rollout.py);
    the revert cancels it (the static canary rule routes again). Lets a scenario run its faults
    mid-rollout; `auto_rollback: false` is the deliberately broken deployment system.

    The latency bound: the canary's p90 over the window at most `max_latency_ratio` x stable's
    p90 plus `latency_slack`, judged only once each version has `latency_min_samples` successful
    answers in the window (a p90 of 10 answers is their maximum: one slow answer would decide),
    leaving out the canary's answers in its first `latency_warmup` (a cold process's first
    answers; errors are never left out). A step up waits for the latency verdict too."""

    type: Literal["canary-rollout"]
    model: str = Field(min_length=1, max_length=64, description="model name, e.g. fraud-detector")
    stable: str = Field(min_length=1, max_length=64, description="the version serving now, e.g. 2.3.1")
    canary: str = Field(min_length=1, max_length=64, description="the new version, e.g. 2.4.0")
    steps: str = Field("5%,25%,50%,100%", description="canary weights, rising, the last 100%")
    step_interval: Duration = Field(30.0, description="least time at a step before the next, e.g. 10s (at most 24h)")
    window: Duration = Field(30.0, description="sliding window the canary's health is judged on (at most 1h)")
    min_samples: int = Field(20, ge=1, description="canary answers in the window needed to step up")
    max_latency_ratio: float = Field(2.0, ge=1, le=100, description="canary p90 at most this x stable's p90 (+ latency_slack)")
    latency_slack: Duration = Field(0.05, description="absolute slack on the latency bound, e.g. 50ms (at most 60s)")
    latency_min_samples: int = Field(
        20, ge=10, le=100000, description="successful answers of each version in the window before latency is judged (>= 10)"
    )
    latency_warmup: Duration = Field(0.0, description="canary answers this long after the start are not judged on latency")
    auto_rollback: bool = Field(True, description="false: a breach is only recorded (no rollback)")

    @field_validator("target")
    @classmethod
    def _gateway(cls, value: str, info: ValidationInfo) -> str:
        if value != "gateway":  # the rollout controller lives in the reference gateway only
            raise ValueError(f"canary-rollout targets the reference stack's gateway, not {value!r}")
        return value

    @field_validator("steps")
    @classmethod
    def _weights(cls, value: str) -> str:
        rollout_weights(value)
        return value

    @field_validator("step_interval", "window", "latency_slack", "latency_warmup")
    @classmethod
    def _bounded(cls, value: float, info: ValidationInfo) -> float:
        # The gateway's own bounds (services/gateway/rollout.RolloutPolicy), checked here so that a
        # bad value fails at its line in the file, not as a 422 when the phase starts.
        name = info.field_name or ""
        positive, high = _DURATION_BOUNDS[name]
        if value > high or value < 0 or (positive and value == 0):
            raise ValueError(f"{name} must be {'above 0' if positive else 'at least 0'} and at most {format_duration(high)}")
        return value

    def _detail(self) -> str:
        return f"{self.model} {self.stable} -> {self.canary}, {self.steps} every {format_duration(self.step_interval)}" + (
            "" if self.auto_rollback else ", automatic rollback off")


# name -> (must be above 0, at most this many seconds)
_DURATION_BOUNDS = {"step_interval": (True, 86400.0), "window": (True, 3600.0), "latency_slack": (False, 60.0),
                    "latency_warmup": (False, 3600.0)}  # fmt: skip


def rollout_weights(steps: str) -> tuple[float, ...]:
    """`5%,25%,50%,100%` -> (0.05, 0.25, 0.5, 1.0); ValueError unless rising to 100%."""
    try:
        weights = tuple(float(p.strip().removesuffix("%")) / 100 for p in steps.split(","))
    except ValueError:
        raise ValueError(f"steps {steps!r}: write percentages separated by commas, e.g. 5%,25%,50%,100%") from None
    if any(not 0 < w <= 1 for w in weights) or list(weights) != sorted(set(weights)) or weights[-1] != 1.0:
        raise ValueError(f"steps {steps!r} must rise, each above 0%, to 100% (e.g. 5%,25%,50%,100%)")
    return weights
