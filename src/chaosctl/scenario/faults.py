"""Fault specs: a discriminated union on `type`.

A spec is only data (what, where, how much, when within its phase); the
`chaosctl.faults` package turns it into something that injects and reverts.
Every field is a scalar so that `model_dump()` is the journal's params.

Timing within the phase: a fault goes in `after` seconds into its phase
(default 0) and comes out after `duration` (default: at the end of the phase).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional, Union

from pydantic import Field, ValidationInfo, WithJsonSchema, field_validator, model_validator

from chaosctl.stack.topology import MODEL_SERVERS, PREDICTION_CACHE

from .types import (
    BYTES_PATTERN,
    PERCENT_PATTERN,
    ByteSize,
    Duration,
    Fraction,
    Frozen,
    RateKBps,
    topology_of,
    unknown_name,
)
from .units import format_duration, format_percent

Direction = Literal["upstream", "downstream"]
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP field name (RFC 9110 token)
_MEMORY_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": PERCENT_PATTERN},
        {"type": "string", "pattern": BYTES_PATTERN},
        {"type": "number", "minimum": 0, "maximum": 1},
    ],
    "description": "a fraction of device memory (95%, 0.95) or a size (14GiB)",
}


class _FaultBase(Frozen):
    target: str = Field(description="a logical target from the topology, e.g. registry-store[0] or link:gateway->model-gpu-1")
    after: Duration = Field(0.0, description="when the fault goes in, from the start of its phase (default 0s)")
    duration: Optional[Duration] = Field(None, description="how long it stays (default: until the end of its phase)")
    expect_effect: bool = Field(
        False, description="fail the run unless the fault's effect is confirmed by what the system showed (docs/verdicts.md)"
    )

    @property
    def label(self) -> str:
        return f"{self.type} {self.target}"  # type: ignore[attr-defined]

    def describe(self) -> str:
        detail = self._detail()
        return f"{self.label} ({detail})" if detail else self.label

    def _detail(self) -> str:
        return ""


class _ProcessFault(_FaultBase):
    @field_validator("target")
    @classmethod
    def _known_component(cls, value: str, info: ValidationInfo) -> str:
        topology = topology_of(info)
        if value not in topology.components:
            if value in topology.targets:
                raise ValueError(f"{value!r} is a link: process faults target a component ({', '.join(topology.components)})")
            raise ValueError(unknown_name("target", value, topology.components))
        return value


class ProcessKill(_ProcessFault):
    """SIGKILL the component; revert restarts it and waits until it is ready."""

    type: Literal["process-kill"]


class ProcessPause(_ProcessFault):
    """SIGSTOP the component; revert sends SIGCONT."""

    type: Literal["process-pause"]


class ProcessRestart(_ProcessFault):
    """Kill and immediately restart the component (a node bounce)."""

    type: Literal["process-restart"]


class _LinkFault(_FaultBase):
    toxicity: Fraction = Field(1.0, description="share of connections affected (0..1 or 0%..100%)")
    direction: Direction = Field("downstream", description="downstream: responses; upstream: requests")

    @field_validator("target")
    @classmethod
    def _known_link(cls, value: str, info: ValidationInfo) -> str:
        topology = topology_of(info)
        links = tuple(link.name for link in topology.links)
        if value not in links:
            if value in topology.components:
                raise ValueError(f"{value!r} is a component: network faults target a link ({', '.join(links)})")
            raise ValueError(unknown_name("link target", value, links))
        return value

    def _detail(self) -> str:
        return f"{self.direction}, toxicity {format_percent(self.toxicity)}"


class Latency(_LinkFault):
    type: Literal["latency"]
    latency: Duration
    jitter: Duration = 0.0

    def _detail(self) -> str:
        jitter = f" ±{format_duration(self.jitter)}" if self.jitter else ""
        return f"+{format_duration(self.latency)}{jitter}, {super()._detail()}"


class Jitter(_LinkFault):
    """Jitter only (latency 0 +/- jitter)."""

    type: Literal["jitter"]
    jitter: Duration
    latency: Duration = 0.0

    def _detail(self) -> str:
        return f"±{format_duration(self.jitter)}, {super()._detail()}"


class Bandwidth(_LinkFault):
    type: Literal["bandwidth"]
    rate: RateKBps = Field(description="KB/s")

    def _detail(self) -> str:
        return f"{self.rate} KB/s, {super()._detail()}"


class Timeout(_LinkFault):
    """Stop all data and close the connection after `timeout` (0: never close)."""

    type: Literal["timeout"]
    timeout: Duration

    def _detail(self) -> str:
        return f"after {format_duration(self.timeout)}, {super()._detail()}"


class ResetPeer(_LinkFault):
    """TCP RST after `timeout` (0: at once)."""

    type: Literal["reset-peer"]
    timeout: Duration = 0.0


class SlowClose(_LinkFault):
    type: Literal["slow-close"]
    delay: Duration


class LimitData(_LinkFault):
    """Close the connection after `bytes` bytes went through."""

    type: Literal["limit-data"]
    bytes: ByteSize


class _GpuServerFault(_FaultBase):
    @field_validator("target")
    @classmethod
    def _gpu_server(cls, value: str, info: ValidationInfo) -> str:
        gpus = tuple(m.name for m in MODEL_SERVERS if m.device == "gpu")
        gpus = getattr(topology_of(info), "gpu_targets", gpus)  # a System's GPU components (system.fit)
        if value not in gpus:
            raise ValueError(unknown_name("GPU server target", value, gpus))
        return value


class GpuExhaustion(_GpuServerFault):
    """Occupy device memory (`memory` as a fraction, or `bytes`) and/or saturate compute."""

    type: Literal["gpu-exhaustion"]
    memory: Optional[Annotated[Fraction, WithJsonSchema(_MEMORY_SCHEMA)]] = Field(
        None, description="fraction of device memory, e.g. 95% (or a size: 14GiB)"
    )
    bytes: Optional[ByteSize] = Field(None, description="device memory to occupy, e.g. 14GiB")
    compute: Optional[Fraction] = Field(None, description="compute saturation, e.g. 100%")

    @model_validator(mode="before")
    @classmethod
    def _memory_as_size(cls, data: object) -> object:
        """`memory: 14GiB` means bytes: move it so each field keeps one unit."""
        if isinstance(data, dict) and isinstance(data.get("memory"), str) and "bytes" not in data:
            text = data["memory"].strip()
            if text and text[-1].lower() == "b":
                data = {k: v for k, v in data.items() if k != "memory"} | {"bytes": text}
        return data

    @model_validator(mode="after")
    def _something_to_do(self) -> "GpuExhaustion":
        if self.memory is None and self.bytes is None and self.compute is None:
            raise ValueError("gpu-exhaustion needs memory (e.g. 95% or 14GiB), bytes, or compute")
        if self.memory is not None and self.bytes is not None:
            raise ValueError("give memory as a fraction or as bytes, not both")
        return self

    def _detail(self) -> str:
        parts = []
        if self.memory is not None:
            parts.append(f"memory {format_percent(self.memory)}")
        if self.bytes is not None:
            parts.append(f"memory {self.bytes} bytes")
        if self.compute is not None:
            parts.append(f"compute {format_percent(self.compute)}")
        return ", ".join(parts)


class GpuDeviceLost(_GpuServerFault):
    """The GPU server's device is lost (simulated): every batch fails until the revert restores it."""

    type: Literal["gpu-device-lost"]

    def _detail(self) -> str:
        return "simulated"


class GpuEccError(_GpuServerFault):
    """Uncorrectable memory (ECC) errors (simulated): a share of batches (`rate`) or the next `count`
    batches fail after their work, so the batch in flight is lost."""

    type: Literal["gpu-ecc-error"]
    rate: Optional[Fraction] = Field(None, description="share of batches that fail, e.g. 50%")
    count: Optional[int] = Field(None, ge=1, description="or: the next N batches fail")

    @model_validator(mode="after")
    def _rate_or_count(self) -> "GpuEccError":
        if (self.rate is None) == (self.count is None):
            raise ValueError("gpu-ecc-error needs exactly one of rate (e.g. 50%) or count (e.g. 5)")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("gpu-ecc-error rate must be above 0%")
        return self

    def _detail(self) -> str:
        what = f"{format_percent(self.rate)} of batches" if self.rate is not None else f"next {self.count} batches"
        return f"{what} fail, simulated"


class GpuThermalThrottle(_GpuServerFault):
    """Thermal throttling (simulated): every batch takes `factor` times its compute time."""

    type: Literal["gpu-thermal-throttle"]
    factor: float = Field(gt=1, le=100, description="batch time multiplier, e.g. 4 (above 1, at most 100)")

    def _detail(self) -> str:
        return f"batch time x{self.factor:g}, simulated"


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


class _RequestFault(_FaultBase):
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


class CanaryRollout(_FaultBase):
    """A deployment event, not a fault: the reference gateway starts a progressive rollout of
    `canary` (its steps, health bounds and automatic rollback in services/gateway/rollout.py);
    the revert cancels it (the static canary rule routes again). Lets a scenario run its faults
    mid-rollout; `auto_rollback: false` is the deliberately broken deployment system."""

    type: Literal["canary-rollout"]
    model: str = Field(min_length=1, max_length=64, description="model name, e.g. fraud-detector")
    stable: str = Field(min_length=1, max_length=64, description="the version serving now, e.g. 2.3.1")
    canary: str = Field(min_length=1, max_length=64, description="the new version, e.g. 2.4.0")
    steps: str = Field("5%,25%,50%,100%", description="canary weights, rising, the last 100%")
    step_interval: Duration = Field(30.0, description="least time at a step before the next, e.g. 10s")
    window: Duration = Field(30.0, description="sliding window the canary's health is judged on")
    min_samples: int = Field(20, ge=1, description="canary answers in the window needed to step up")
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

    def _detail(self) -> str:
        return f"{self.model} {self.stable} -> {self.canary}, {self.steps} every {format_duration(self.step_interval)}" + (
            "" if self.auto_rollback else ", automatic rollback off")


def rollout_weights(steps: str) -> tuple[float, ...]:
    """`5%,25%,50%,100%` -> (0.05, 0.25, 0.5, 1.0); ValueError unless rising to 100%."""
    try:
        weights = tuple(float(p.strip().removesuffix("%")) / 100 for p in steps.split(","))
    except ValueError:
        raise ValueError(f"steps {steps!r}: write percentages separated by commas, e.g. 5%,25%,50%,100%") from None
    if any(not 0 < w <= 1 for w in weights) or list(weights) != sorted(set(weights)) or weights[-1] != 1.0:
        raise ValueError(f"steps {steps!r} must rise, each above 0%, to 100% (e.g. 5%,25%,50%,100%)")
    return weights


class RegionPartition(_FaultBase):
    """Cut one region off: every link into it (from a component outside it) holds every byte both
    ways, as a network partition drops packets, until the revert. A region is the `region` label
    of the System's components (the reference stack: its model servers, regions a and b)."""

    type: Literal["region-partition"]
    region: str = Field(description="the region cut off, e.g. a (a `region` label of the System's components)")
    target: str = Field("", description="region:NAME; set from `region` when left out")

    @model_validator(mode="before")
    @classmethod
    def _target_from_region(cls, data: object) -> object:
        if isinstance(data, dict) and "target" not in data and isinstance(data.get("region"), str):
            return {**data, "target": f"region:{data['region']}"}
        return data

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str, info: ValidationInfo) -> str:
        topology = topology_of(info)
        members = region_members(topology)
        regions = tuple(sorted(set(members.values())))
        if value not in regions:
            if not regions:
                raise ValueError("no component has a `region` label: there is no region to partition")
            raise ValueError(unknown_name("region", value, regions))
        if not links_into(topology, value):
            raise ValueError(f"no link leads into region {value!r} from outside it: nothing to cut")
        return value

    @model_validator(mode="after")
    def _target_is_the_region(self) -> "RegionPartition":
        if self.target != f"region:{self.region}":
            raise ValueError(f"a region-partition's target is region:{self.region} (or leave `target` out)")
        return self

    def _detail(self) -> str:
        return f"every link into region {self.region} cut"


def region_members(topology: object) -> dict[str, str]:
    """Component -> region: a System's `region` labels (system.fit), else the stack's model servers."""
    pairs = getattr(topology, "region_members", None)
    return dict(pairs) if pairs is not None else {m.name: m.region for m in MODEL_SERVERS}


def links_into(topology: object, region: str) -> tuple[str, ...]:
    """Names of the links from outside `region` to a component in it."""
    members = region_members(topology)
    return tuple(link.name for link in getattr(topology, "links", ())
                 if members.get(link.dest) == region and members.get(link.source) != region)  # fmt: skip


FaultSpec = Annotated[
    Union[
        ProcessKill, ProcessPause, ProcessRestart,
        Latency, Jitter, Bandwidth, Timeout, ResetPeer, SlowClose, LimitData,
        RequestAbort, RequestDelay, CanaryRollout,
        GpuExhaustion, GpuDeviceLost, GpuEccError, GpuThermalThrottle,
        RegionPartition,
    ],
    Field(discriminator="type"),
]  # fmt: skip
