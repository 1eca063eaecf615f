"""gpu-exhaustion: occupy device memory (a fraction or a byte count) of a GPU
model server, optionally saturate its compute, through the server's admin API
(`X-Admin-Token`, the install's random admin token from its secrets file). On a real CUDA device the server really allocates; on the
simulated device it reserves from its memory pool. Either way the server's
`GET /admin/gpu` is the evidence.

The allocation id is only known after inject; the run journals it as an
update. If chaosctl died between the POST and that update, `recover` has no id
and frees every fault allocation on that server instead: only fault injection
allocates through the admin API, so those are all chaos leftovers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import httpx

from chaosctl.errors import FaultError

from .base import FaultContext, FaultRecord, Param


@dataclass
class GpuExhaustion:
    record: FaultRecord
    ctx: FaultContext
    allocation_id: str | None = field(default=None, init=False)
    allocated_bytes: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        known = self.record.params.get("allocation_id")
        self.allocation_id = str(known) if known else None

    @property
    def base(self) -> str:
        """The model server's admin API: its System component's `admin_url`."""
        comp = self.ctx.component(self.record.target)  # FaultError for an undeclared target
        url = getattr(comp, "admin_url", None)
        if url is None:
            raise FaultError(f"gpu-exhaustion: {self.record.target!r} is not a model server with an admin API")
        return str(url).rstrip("/")

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = self.ctx.http.request(method, self.base + path, **kw)
        except httpx.HTTPError as exc:
            raise FaultError(f"gpu-exhaustion {self.record.target}: admin API unreachable: {exc}") from exc
        if resp.status_code == 401:  # a stack started from another state dir has other secrets
            raise FaultError(f"gpu-exhaustion {self.record.target}: the model server refused this install's "
                             f"admin token (401); was the stack started with another --state-dir?")
        if resp.status_code >= 400 and not (method == "DELETE" and resp.status_code == 404):
            raise FaultError(f"gpu-exhaustion {self.record.target}: {method} {path} -> {resp.status_code} {resp.text.strip()[:200]}")
        return resp

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

    def state(self) -> dict[str, Any]:
        return self._call("GET", "/admin/gpu").json()

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
        if self.allocation_id:
            self._call("DELETE", f"/admin/gpu/allocations/{self.allocation_id}")
        else:  # recovering without the id: free every *fault* allocation (never weights or batches)
            for alloc in self.state().get("allocations", []):
                if isinstance(alloc, dict) and alloc.get("kind", "fault") == "fault":
                    self._call("DELETE", f"/admin/gpu/allocations/{alloc.get('allocation_id', alloc.get('id'))}")
        # Idempotent, and only faults saturate compute: always clear it.
        self._call("DELETE", "/admin/gpu/compute")
