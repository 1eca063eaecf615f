"""Fault specs: a discriminated union on `type`.

A spec is only data (what, where, how much, when within its phase); the
`chaosctl.faults` package turns it into something that injects and reverts.
Every field is a scalar so that `model_dump()` is the journal's params.

Timing within the phase: a fault goes in `after` seconds into its phase
(default 0) and comes out after `duration` (default: at the end of the phase).

One rule splits the specs: faults on the infrastructure (processes, links, GPU servers,
regions) are here; faults on requests at the reference services and the canary rollout
(set through a service's admin API) are in request_faults.py. FaultSpec, the union of
both, is defined here, and the request-level names stay importable from this module.
"""

# No `from __future__ import annotations` in model modules: pydantic would compile and eval each
# annotation string at class creation (a few % of `chaosctl validate`, benchmarks/validate_startup.py).

from typing import Annotated, Literal, Optional, Union

from pydantic import Field, ValidationInfo, WithJsonSchema, field_validator, model_validator

from chaosctl.stack.topology import MODEL_SERVERS

from .fault_base import FaultBase
from .request_faults import (  # noqa: F401  (re-exported: faults/, runner/ and tests import them from here)
    CanaryRollout,
    RequestAbort,
    RequestDelay,
    RequestMatch,
    rollout_weights,
)
from .types import BYTES_PATTERN, PERCENT_PATTERN, ByteSize, Duration, Fraction, RateKBps, topology_of, unknown_name
from .units import format_duration, format_percent

Direction = Literal["upstream", "downstream"]
_MEMORY_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": PERCENT_PATTERN},
        {"type": "string", "pattern": BYTES_PATTERN},
        {"type": "number", "minimum": 0, "maximum": 1},
    ],
    "description": "a fraction of device memory (95%, 0.95) or a size (14GiB)",
}


class _ProcessFault(FaultBase):
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


class _LinkFault(FaultBase):
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


class _GpuServerFault(FaultBase):
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


class RegionPartition(FaultBase):
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
