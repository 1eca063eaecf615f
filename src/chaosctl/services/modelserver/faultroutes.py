"""`/admin/gpu/{lost,ecc,throttle}`: the GPU faults beyond memory exhaustion (gpufaults.py),
on the GPU router of app.py (admin token, 409 on a server without a GPU). Every POST sets the
fault, every DELETE clears it and is idempotent (what revert and `chaosctl recover` call)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from chaosctl.services.modelserver.device import SimulatedGpu
from chaosctl.services.modelserver.gpufaults import MAX_THROTTLE


class EccBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: float | None = Field(default=None, gt=0, le=1)
    count: int | None = Field(default=None, ge=1)


class ThrottleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    factor: float = Field(gt=1, le=MAX_THROTTLE)


def gpu_fault_routes(router: APIRouter, device: Callable[[], SimulatedGpu]) -> None:
    @router.post("/lost")
    async def lose(dev: SimulatedGpu = Depends(device)) -> dict[str, Any]:
        dev.faults.set_lost(True)
        return dev.faults.state()

    @router.delete("/lost")
    async def restore(dev: SimulatedGpu = Depends(device)) -> dict[str, Any]:
        dev.faults.set_lost(False)
        return dev.faults.state()

    @router.post("/ecc")
    async def ecc(body: EccBody, dev: SimulatedGpu = Depends(device)) -> dict[str, Any]:
        if (body.rate is None) == (body.count is None):
            raise HTTPException(422, "give exactly one of 'rate' (share of batches) or 'count' (next N batches)")
        dev.faults.set_ecc(rate=body.rate or 0.0, count=body.count or 0)
        return dev.faults.state()

    @router.delete("/ecc")
    async def no_ecc(dev: SimulatedGpu = Depends(device)) -> dict[str, Any]:
        dev.faults.set_ecc()
        return dev.faults.state()

    @router.post("/throttle")
    async def throttle(body: ThrottleBody, dev: SimulatedGpu = Depends(device)) -> dict[str, Any]:
        dev.faults.set_throttle(body.factor)
        return dev.faults.state()

    @router.delete("/throttle")
    async def no_throttle(dev: SimulatedGpu = Depends(device)) -> dict[str, Any]:
        dev.faults.set_throttle(1.0)
        return dev.faults.state()
