"""GPU faults on a reference model server, through its admin API.

gpu-exhaustion: occupy device memory (a fraction or a byte count) of a GPU
model server, optionally saturate its compute, through the server's admin API
(`X-Admin-Token`, the install's random admin token from its secrets file). On a real CUDA device the server really allocates; on the
simulated device it reserves from its memory pool. Either way the server's
`GET /admin/gpu` is the evidence.

The allocation id is only known after inject; the run journals it as an
update. If chaosctl died between the POST and that update, `recover` has no id
and frees every fault allocation on that server instead: only fault injection
allocates through the admin API, so those are all chaos leftovers.

gpu-device-lost, gpu-ecc-error, gpu-thermal-throttle (`/admin/gpu/{lost,ecc,throttle}`): simulated
on every device and labelled so (services/modelserver/gpufaults.py says why). Their revert is a
DELETE of the same route, idempotent and needing nothing learnt at inject, so `recover` rebuilds
it from the journal record alone. Every revert here counts a server that refuses the connection as
done: the fault state (and the memory) lived in its process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import httpx

from chaosctl.errors import FaultError

from .adminapi import admin_call, service_gone
from .base import FaultContext, FaultRecord, Param


@dataclass
class _AdminFault:
    """A fault driven through the model server's admin API (`X-Admin-Token`)."""

    record: FaultRecord
    ctx: FaultContext

    @property
    def base(self) -> str:
        """The model server's admin API: its System component's `admin_url`."""
        comp = self.ctx.component(self.record.target)  # FaultError for an undeclared target
        url = getattr(comp, "admin_url", None)
        if url is None:
            raise FaultError(f"{self.record.type}: {self.record.target!r} is not a model server with an admin API")
        return str(url).rstrip("/")

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return admin_call(self.ctx.http, method, self.base + path, self.record.label, who="the model server",
                          missing_ok=True, **kw)  # fmt: skip

    def state(self) -> dict[str, Any]:
        return self._call("GET", "/admin/gpu").json()


@dataclass
class GpuExhaustionFault(_AdminFault):
    allocation_id: str | None = field(default=None, init=False)
    allocated_bytes: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        known = self.record.params.get("allocation_id")
        self.allocation_id = str(known) if known else None

    def _allocation_body(self) -> dict[str, float]:
        p = self.record.params
        if p.get("bytes") is not None:
            return {"bytes": int(float(p["bytes"]))}
        fraction = p.get("memory", p.get("fraction"))
        if fraction is None:
            raise FaultError(f"gpu-exhaustion {self.record.target}: give memory (fraction) or bytes")
        return {"fraction": float(fraction)}

    @property
    def compute(self) -> float | None:
        c = self.record.params.get("compute")
        return None if c is None else float(c)

    def inject(self) -> None:
        got = self._call("POST", "/admin/gpu/allocate", json=self._allocation_body()).json()
        self.allocation_id = str(got["allocation_id"])
        self.allocated_bytes = int(got.get("bytes", 0))
        if self.compute:
            self._call("POST", "/admin/gpu/compute", json={"saturation": self.compute})

    def journal_state(self) -> Mapping[str, Param]:
        """Facts learnt by inject() that a later revert needs."""
        return {"allocation_id": self.allocation_id} if self.allocation_id else {}

    def verify(self) -> str:
        gpu = self.state()
        ids = {str(a.get("allocation_id", a.get("id"))) for a in gpu.get("allocations", []) if isinstance(a, dict)}
        used, total = int(gpu.get("memory_used_bytes", 0)), int(gpu.get("memory_total_bytes", 0))
        if self.allocation_id not in ids or used < self.allocated_bytes:
            raise FaultError(f"gpu-exhaustion {self.record.target}: allocation {self.allocation_id} not held "
                             f"(used {used} of {total} bytes)")
        if self.compute and float(gpu.get("compute_saturation", 0.0)) < self.compute - 1e-6:
            raise FaultError(f"gpu-exhaustion {self.record.target}: compute saturation is {gpu.get('compute_saturation')}")
        share = used / total if total else 0.0
        return f"{self.record.target}: device memory {used}/{total} bytes used ({share:.0%}), fault holds {self.allocated_bytes}"

    def revert(self) -> None:
        try:
            self._revert()
        except FaultError as exc:
            if not service_gone(exc):
                raise

    def _revert(self) -> None:
        if self.allocation_id:
            self._call("DELETE", f"/admin/gpu/allocations/{self.allocation_id}")
        else:  # recovering without the id: free every *fault* allocation (never weights or batches)
            for alloc in self.state().get("allocations", []):
                if isinstance(alloc, dict) and alloc.get("kind", "fault") == "fault":
                    self._call("DELETE", f"/admin/gpu/allocations/{alloc.get('allocation_id', alloc.get('id'))}")
        # Idempotent, and only faults saturate compute: always clear it.
        self._call("DELETE", "/admin/gpu/compute")


@dataclass
class _DeviceFault(_AdminFault):
    """POST the route to inject, DELETE it to revert; verify reads `GET /admin/gpu`'s `faults`."""

    route = ""

    def body(self) -> dict[str, float] | None:
        return None

    def inject(self) -> None:
        self._call("POST", self.route, json=self.body())

    def revert(self) -> None:
        try:
            self._call("DELETE", self.route)
        except FaultError as exc:
            if not service_gone(exc):
                raise

    def faults(self) -> dict[str, Any]:
        got = self.state().get("faults")
        if not isinstance(got, dict):
            raise FaultError(f"{self.record.label}: the model server reports no fault state (an older server?)")
        return got

    def verify(self) -> str:
        state = self.faults()
        if not self.holds(state):
            raise FaultError(f"{self.record.label}: not in effect on the server: {state}")
        kind = "simulated" if state.get("simulated") else "real"
        return f"{self.record.target}: {self.evidence(state)} ({kind})"

    def holds(self, state: dict[str, Any]) -> bool:
        raise NotImplementedError

    def evidence(self, state: dict[str, Any]) -> str:
        raise NotImplementedError


class GpuDeviceLostFault(_DeviceFault):
    route = "/admin/gpu/lost"

    def holds(self, state: dict[str, Any]) -> bool:
        return state.get("device_lost") is True

    def evidence(self, state: dict[str, Any]) -> str:
        return "device lost, every batch refused"


class GpuEccErrorFault(_DeviceFault):
    route = "/admin/gpu/ecc"

    def body(self) -> dict[str, float]:
        p = self.record.params
        if p.get("count") is not None:
            return {"count": int(float(p["count"]))}
        if p.get("rate") is None:
            raise FaultError(f"{self.record.label}: give rate or count")
        return {"rate": float(p["rate"])}

    def holds(self, state: dict[str, Any]) -> bool:
        ecc = state.get("ecc") or {}
        want = self.body()
        if "count" in want:  # batches may already have used some of the count up
            return int(ecc.get("count", 0)) == want["count"]
        return abs(float(ecc.get("rate", 0.0)) - want["rate"]) < 1e-9

    def evidence(self, state: dict[str, Any]) -> str:
        ecc = state.get("ecc") or {}
        return f"ECC errors: rate {ecc.get('rate')}, count {ecc.get('count')} ({ecc.get('left')} left)"


class GpuThermalThrottleFault(_DeviceFault):
    route = "/admin/gpu/throttle"

    def body(self) -> dict[str, float]:
        return {"factor": float(self.record.params.get("factor") or 0.0)}

    def holds(self, state: dict[str, Any]) -> bool:
        return abs(float(state.get("throttle_factor", 1.0)) - self.body()["factor"]) < 1e-9

    def evidence(self, state: dict[str, Any]) -> str:
        return f"batch time x{float(state.get('throttle_factor', 1.0)):g}"


_BY_TYPE: dict[str, type[_AdminFault]] = {"gpu-exhaustion": GpuExhaustionFault, "gpu-device-lost": GpuDeviceLostFault,
                                          "gpu-ecc-error": GpuEccErrorFault, "gpu-thermal-throttle": GpuThermalThrottleFault}


def gpu_fault(record: FaultRecord, ctx: FaultContext) -> _AdminFault:
    try:
        return _BY_TYPE[record.type](record, ctx)
    except KeyError:
        raise FaultError(f"{record.type} is not a GPU fault of a model server") from None
