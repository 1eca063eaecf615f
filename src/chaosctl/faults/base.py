"""What every fault is: a journal record plus inject / verify / revert.

A fault is built from a JSON-able `FaultRecord` (id, type, target, params), so
that the record written to the journal before `inject()` is enough to rebuild
the fault and revert it later (`chaosctl recover`, after a SIGKILL of the run).
`build_fault(spec, ctx)` turns a scenario fault spec into a record first and
then goes through the same path as recovery: one way to build a fault.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Union

from chaosctl.errors import FaultError
from chaosctl.settings import Settings
from chaosctl.stack.topology import Topology

if TYPE_CHECKING:  # the backend is built lazily: `recover` on a dead stack must still load
    import httpx

    from chaosctl.stack.backend import Backend

    from .link import ToxiproxyClient

Param = Union[str, float, int, bool, None]

PROCESS_TYPES = ("process-kill", "process-pause", "process-restart")
LINK_TYPES = ("latency", "jitter", "bandwidth", "timeout", "reset-peer", "slow-close", "limit-data")
GPU_TYPES = ("gpu-exhaustion",)
FAULT_TYPES = PROCESS_TYPES + LINK_TYPES + GPU_TYPES


@dataclass(frozen=True)
class FaultRecord:
    """The journal's view of a fault: everything needed to revert it from scratch."""

    id: str
    type: str
    target: str
    params: Mapping[str, Param] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Human-readable, e.g. `latency link:gateway->model-gpu-1`."""
        return f"{self.type} {self.target}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "target": self.target, "params": dict(self.params)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "FaultRecord":
        return cls(id=str(raw["id"]), type=str(raw["type"]), target=str(raw["target"]), params=dict(raw.get("params") or {}))


class Fault(Protocol):
    record: FaultRecord

    def inject(self) -> None: ...

    def verify(self) -> str:
        """Evidence that the fault is in effect; raises FaultError when it is not."""
        ...

    def revert(self) -> None:
        """Undo the fault; safe to call twice and on a fault that never landed."""
        ...


@dataclass
class FaultContext:
    """Handles a fault needs. Built once per run (or per `recover`)."""

    settings: Settings
    topology: Topology
    backend_factory: Callable[[], "Backend"]
    timeout_s: float = 5.0
    _backend: "Backend | None" = None
    _toxiproxy: "ToxiproxyClient | None" = None
    _http: "httpx.Client | None" = None

    @classmethod
    def for_settings(cls, settings: Settings) -> "FaultContext":
        def factory() -> "Backend":
            from chaosctl.stack.backend import get_backend

            return get_backend(settings)

        return cls(settings=settings, topology=Topology(settings.port_base), backend_factory=factory)

    @property
    def backend(self) -> "Backend":
        if self._backend is None:
            self._backend = self.backend_factory()
        return self._backend

    @property
    def toxiproxy(self) -> "ToxiproxyClient":
        if self._toxiproxy is None:
            from .link import ToxiproxyClient

            self._toxiproxy = ToxiproxyClient(self.topology.url("toxiproxy"), timeout_s=self.timeout_s)
        return self._toxiproxy

    @property
    def http(self) -> "httpx.Client":
        """Client for the model servers' admin endpoints (carries the admin token)."""
        if self._http is None:
            import httpx

            self._http = httpx.Client(timeout=self.timeout_s, headers={"X-Admin-Token": self.settings.admin_token})
        return self._http

    def close(self) -> None:
        """Close the HTTP handles; they are reopened if a fault is used again."""
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._toxiproxy is not None:
            self._toxiproxy.close()
            self._toxiproxy = None


def new_fault_id() -> str:
    return uuid.uuid4().hex[:12]


def record_from_spec(spec: Any, fault_id: str | None = None) -> FaultRecord:
    """A scenario fault spec (pydantic model or mapping) -> a journal record.

    Every field other than `type` and `target` becomes a param; units are
    already parsed by the scenario loader (seconds, fractions, bytes).
    """
    raw = spec.model_dump(mode="json", exclude_none=True) if hasattr(spec, "model_dump") else dict(spec)
    ftype = str(raw.pop("type"))
    target = str(raw.pop("target"))
    params = {k: v for k, v in raw.items() if isinstance(v, (str, int, float, bool))}
    return FaultRecord(id=fault_id or new_fault_id(), type=ftype, target=target, params=params)


def fault_from_record(record: FaultRecord, ctx: FaultContext) -> Fault:
    """Rebuild a fault from its record (the run and `chaosctl recover` both use this)."""
    if record.type in PROCESS_TYPES:
        from .process import process_fault

        return process_fault(record, ctx)
    if record.type in LINK_TYPES:
        from .link import LinkFault

        return LinkFault(record, ctx)
    if record.type in GPU_TYPES:
        from .gpu import GpuExhaustion

        return GpuExhaustion(record, ctx)
    raise FaultError(f"unknown fault type {record.type!r} (known: {', '.join(FAULT_TYPES)})")


def build_fault(spec: Any, ctx: FaultContext) -> Fault:
    return fault_from_record(record_from_spec(spec), ctx)
